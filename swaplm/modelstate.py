"""Small model and batch helpers shared by the engine, the proxies and the evaluation layer.

* :func:`snapshot` / :func:`restore`: copy a model's parameters, buffers and train/eval flags and put them back
  (so several proxies see identical starting weights);
* :func:`to_device`: move an image tensor or a dict / ``BatchEncoding`` of tensors;
* :func:`batch_len`: the number of samples N of a batch.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import SwapError


@dataclass
class ModelState:
    """What :func:`restore` puts back. ``slots``: every (owning dict, name, tensor, saved copy) of the model's
    parameters and buffers of the kinds saved (a conversion such as ``model.double()`` may put new tensor objects
    into those dicts, so restoring goes through the slots; a tensor shared by several slots is copied once, and
    its later slots hold None); ``training``: each module's train flag."""

    slots: list
    training: dict


_PLAIN_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def hold_norm_stats(modules) -> list[nn.Module]:
    """Stop the running-statistics updates of torch's own BatchNorm layers (the exact classes BatchNorm1d/2d/3d,
    not subclasses) among ``modules`` until :func:`release_norm_stats`: their ``track_running_stats`` flag is
    cleared, so a train-mode forward normalises with the batch statistics as before but leaves the buffers alone
    (its output is unchanged, tests/test_modelstate.py), and an eval-mode forward, which uses the buffers, is as
    before. Returns the layers held. Cheaper than saving and restoring their three buffers on every score."""
    held = [m for m in modules if type(m) in _PLAIN_BN and m.track_running_stats]
    for m in held:  # a plain attribute: set in the instance dict (what Module.__setattr__ ends up doing, ~10x faster)
        m.__dict__["track_running_stats"] = False
    return held


def release_norm_stats(held: list[nn.Module]) -> None:
    """Undo :func:`hold_norm_stats`."""
    for m in held:
        m.__dict__["track_running_stats"] = True


def named_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``list(model.named_modules())``, the same pairs in the same order (depth first, each module once, under
    its first name), built by one recursive walk instead of nested generators: about a third faster, and the
    engine walks the model on every score."""
    out, seen = [], set()

    def visit(prefix: str, m: nn.Module) -> None:
        seen.add(m)
        out.append((prefix, m))
        for name, child in m._modules.items():
            if child is not None and child not in seen:
                visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    return out


def snapshot(model: nn.Module, params: bool = True, buffers: bool = True, modules=None,
             modes: bool = True, held=()) -> ModelState:
    """Copy of the model's parameters (``params``) and buffers (``buffers``) and its per-module train flags
    (``modes``). Only what a caller can change needs saving: a forward changes buffers (BatchNorm statistics), a
    re-init changes parameters, a mode switch the flags. ``modules``: ``list(model.modules())`` when the caller
    has it already; ``held``: layers from :func:`hold_norm_stats`, whose buffers are not saved."""
    mods = list(model.modules()) if modules is None else modules
    # only the kinds being saved are tracked (a forward does not replace parameter objects)
    stores = [m._parameters for m in mods if m._parameters] if params else []
    if buffers:
        skip = set(held)
        stores += [m._buffers for m in mods if m._buffers and m not in skip]
    slots = [(store, name, t) for store in stores for name, t in store.items() if t is not None]
    first = {}
    for i, (_, _, t) in enumerate(slots):
        first.setdefault(id(t), i)  # a shared tensor is copied once, for its first slot
    with torch.no_grad():  # (no detach needed: under no_grad the copies carry no autograd history)
        copies = iter(torch._foreach_clone([slots[i][2] for i in first.values()]) if first else [])
    saved = set(first.values())
    slots = [(store, name, t, next(copies) if i in saved else None) for i, (store, name, t) in enumerate(slots)]
    return ModelState(slots, {m: m.training for m in mods} if modes else {})


def restore(model: nn.Module, state: ModelState, clear_grads: bool = False) -> None:
    """Put a :func:`snapshot` back in place: the same tensor objects in their slots, their saved values
    (copied, or swapped in when a dtype/shape/device changed), the train flags; ``clear_grads`` drops ``.grad``."""
    dst, src = [], []
    with torch.no_grad():
        for store, name, t, value in state.slots:
            if store[name] is not t:
                store[name] = t
            if value is None:
                continue
            if t.dtype is value.dtype and t.shape == value.shape and (t.is_cpu and value.is_cpu
                                                                       or t.device == value.device):
                dst.append(t)
                src.append(value)
            else:
                t.data = value.clone()
        if dst:
            torch._foreach_copy_(dst, src)  # one call for all tensors (same as t.copy_(value) each)
    for m, training in state.training.items():
        if m.training is not training:
            m.training = training
    if clear_grads:
        model.zero_grad(set_to_none=True)


def to_device(batch, device: torch.device | str):
    """``batch`` on ``device``: a tensor, a ``BatchEncoding`` (kept as one) or a dict of tensors (non-tensor
    values kept); None stays None."""
    if batch is None:
        return None
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        if hasattr(batch, "to") and hasattr(batch, "data"):  # transformers.BatchEncoding
            return batch.to(device)
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    raise SwapError(f"a batch must be a tensor (N, ...) or a dict of tensors, got {type(batch).__name__}")


def batch_len(batch) -> int:
    """Number of samples N: the first dimension of an image tensor, or of ``input_ids`` (else the first
    tensor with a dimension) of a dict of tensors."""
    if isinstance(batch, torch.Tensor):
        if not batch.dim():
            raise SwapError("a batch tensor must have a sample dimension, got a scalar")
        return int(batch.shape[0])
    if isinstance(batch, Mapping):
        ids = batch.get("input_ids")
        if isinstance(ids, torch.Tensor) and ids.dim():
            return int(ids.shape[0])
        for v in batch.values():
            if isinstance(v, torch.Tensor) and v.dim():
                return int(v.shape[0])
    raise SwapError(f"a batch must be a tensor (N, ...) or a dict of tensors, got {type(batch).__name__}")


@contextmanager
def no_tf32():
    """TF32 matmuls and convolutions off inside the block (CUDA): TF32 rounds inputs to 10 mantissa bits, and a
    sign that flips near zero changes an activation pattern. Restores the previous flags."""
    cuda, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = cuda, cudnn


__all__ = ["ModelState", "named_modules", "snapshot", "restore", "hold_norm_stats", "release_norm_stats", "to_device", "batch_len", "no_tf32"]
