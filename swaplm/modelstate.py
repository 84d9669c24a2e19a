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


def snapshot(model: nn.Module, params: bool = True, buffers: bool = True, modules=None) -> ModelState:
    """Copy of the model's parameters (``params``) and buffers (``buffers``) and its per-module train flags.
    Only what a caller can change needs saving: a forward changes buffers (BatchNorm statistics), a re-init
    changes parameters. ``modules``: ``list(model.modules())`` when the caller has it already."""
    mods = list(model.modules()) if modules is None else modules
    # only the kinds being saved are tracked (a forward does not replace parameter objects)
    stores = [m._parameters for m in mods if m._parameters] if params else []
    stores += [m._buffers for m in mods if m._buffers] if buffers else []
    slots = [(store, name, t) for store in stores for name, t in store.items() if t is not None]
    first = {}
    for i, (_, _, t) in enumerate(slots):
        first.setdefault(id(t), i)  # a shared tensor is copied once, for its first slot
    with torch.no_grad():  # (no detach needed: under no_grad the copies carry no autograd history)
        copies = iter(torch._foreach_clone([slots[i][2] for i in first.values()]) if first else [])
    saved = set(first.values())
    slots = [(store, name, t, next(copies) if i in saved else None) for i, (store, name, t) in enumerate(slots)]
    return ModelState(slots, {m: m.training for m in mods})


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


__all__ = ["ModelState", "snapshot", "restore", "to_device", "batch_len", "no_tf32"]
