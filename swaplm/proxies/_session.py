"""Run a proxy on a model and leave the model exactly as it was.

:func:`session` seeds torch (inside a forked RNG), optionally re-initialises the weights, sets the train/eval
mode, and afterwards restores weights, buffers, dtypes, train/eval flags, ``requires_grad`` flags and ``.grad``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.init import get_init

from .base import ProxyContext


def model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def to_device(batch, device: torch.device):
    """Move an image tensor or a dict of tensors to ``device`` (a dict comes back as a plain dict)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    raise SwapError(f"a proxy batch must be a tensor (N, ...) or a dict of tensors, got {type(batch).__name__}")


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    named = dict(model.named_parameters())
    named.update({f"buffer:{k}": v for k, v in model.named_buffers()})
    return named


def set_mode(model: nn.Module, mode: str | None) -> None:
    """None leaves the modes; "train" / "eval" set the whole model."""
    if mode not in (None, "train", "eval"):
        raise SwapError(f"mode must be None, 'train' or 'eval', got {mode!r}")
    if mode is not None:
        model.train(mode == "train")


@contextmanager
def session(model: nn.Module, ctx: ProxyContext, *, init: str | None = None, mode: str | None = None,
            grad: bool = False) -> Iterator[torch.device]:
    """Seeded scope for one proxy evaluation; yields the model's device.

    ``init`` (default ``ctx.init``) re-initialises under ``torch.manual_seed(ctx.seed)``; ``mode`` (default
    ``ctx.mode``) sets train/eval; ``grad`` makes every parameter require grad and clears ``.grad`` first.
    Everything is restored on exit, also after an error.
    """
    init = init if init is not None else ctx.init
    init_fn = get_init(init) if init is not None else None
    device = model_device(model)
    params = list(model.parameters())
    modes = {m: m.training for m in model.modules()}
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    live = _tensors(model)
    saved = {k: v.detach().clone() for k, v in live.items()}  # values and dtypes (synflow changes both)
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(ctx.seed)
            if init_fn is not None:
                init_fn(model)
            set_mode(model, mode if mode is not None else ctx.mode)
            if grad:
                for p in params:
                    p.requires_grad_(True)
                    p.grad = None
            yield device
    finally:
        with torch.no_grad():
            for k, t in live.items():
                if t.dtype == saved[k].dtype and t.shape == saved[k].shape:
                    t.copy_(saved[k])
                else:
                    t.data = saved[k]
        for p, flag, g in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = g
        for m, training in modes.items():
            m.training = training


@contextmanager
def hooks(handles: list) -> Iterator[list]:
    """Remove the given hook handles on exit (the list may be filled inside the block)."""
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()
