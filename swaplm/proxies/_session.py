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


def _slots(model: nn.Module) -> list[tuple[dict, str, torch.Tensor]]:
    """Every (owning dict, name, tensor) of the model's parameters and buffers; conversions such as
    ``model.double()`` may put new tensor objects into these dicts, so restoring goes through the slots."""
    return [(store, name, t) for m in model.modules() for store in (m._parameters, m._buffers)
            for name, t in store.items() if t is not None]


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

    ``init`` (default ``ctx.init``) re-initialises under ``torch.manual_seed(ctx.seed)``; ``mode`` (default
    ``ctx.mode``) sets train/eval; ``grad`` makes every parameter require grad and clears ``.grad`` first;
    ``mutates`` says the caller changes parameter values or dtypes. Buffers, modes, flags and grads are always
    restored on exit (also after an error); parameter values when re-initialised or ``mutates``.
    """
    init = init if init is not None else ctx.init
    init_fn = get_init(init) if init is not None else None
    device = model_device(model)
    params = list(model.parameters())
    modes = {m: m.training for m in model.modules()}
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    slots = _slots(model)
    keep_params = init_fn is not None or mutates
    saved = {id(t): t.detach().clone() for _, _, t in slots if keep_params or not isinstance(t, nn.Parameter)}
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
            for store, name, t in slots:
                store[name] = t
                value = saved.get(id(t))
                if value is None:
                    continue
                if t.dtype == value.dtype and t.shape == value.shape:
                    t.copy_(value)
                else:
                    t.data = value
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
