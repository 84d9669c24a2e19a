"""Run a proxy on a model and leave the model exactly as it was.

:func:`session` seeds torch (inside a forked RNG), optionally re-initialises the weights, sets the train/eval
mode, and afterwards restores weights, buffers, dtypes, train/eval flags, ``requires_grad`` flags and ``.grad``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.init import get_init
from swaplm.modelstate import (kept_rng, no_tf32, restore, seed_rng, snapshot,  # noqa: F401 (to_device: the proxies')
                               to_device)

from .base import ProxyContext


def model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def set_mode(model: nn.Module, mode: str | None) -> None:
    """None leaves the modes; "train" / "eval" set the whole model."""
    if mode not in (None, "train", "eval"):
        raise SwapError(f"mode must be None, 'train' or 'eval', got {mode!r}")
    if mode is not None:
        model.train(mode == "train")


@contextmanager
def session(model: nn.Module, ctx: ProxyContext, *, init: str | None = None, mode: str | None = None,
            grad: bool = False, mutates: bool = False) -> Iterator[torch.device]:
    """Seeded scope for one proxy evaluation; yields the model's device.

    ``init`` (default ``ctx.init``) re-initialises under ``seed_rng(ctx.seed, device)``; ``mode`` (default
    ``ctx.mode``) sets train/eval; ``grad`` makes every parameter require grad and clears ``.grad`` first;
    ``mutates`` says the caller changes parameter values or dtypes. Buffers, modes, flags and grads are always
    restored on exit (also after an error); parameter values when re-initialised or ``mutates``.
    """
    init = init if init is not None else ctx.init
    init_fn = get_init(init) if init is not None else None
    device = model_device(model)
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    state = snapshot(model, params=init_fn is not None or mutates)
    try:
        with no_tf32(), kept_rng(device):
            seed_rng(ctx.seed, device)
            if init_fn is not None:
                init_fn(model)
            set_mode(model, mode if mode is not None else ctx.mode)
            if grad:
                for p in params:
                    p.requires_grad_(True)
                    p.grad = None
            yield device
    finally:
        restore(model, state)
        for p, flag, g in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = g


@contextmanager
def hooks(handles: list) -> Iterator[list]:
    """Remove the given hook handles on exit (the list may be filled inside the block)."""
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()
