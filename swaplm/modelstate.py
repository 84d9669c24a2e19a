"""Small model and batch helpers shared by the engine, the proxies and the evaluation layer.

* :func:`snapshot` / :func:`restore`: copy a model's parameters, buffers and train/eval flags and put them back
  (so several proxies see identical starting weights);
* :func:`to_device`: move an image tensor or a dict / ``BatchEncoding`` of tensors;
* :func:`batch_len`, :func:`padding_mask`, :func:`forward`: the samples N of a batch, its padded positions, and
  the model called on it; :func:`count_params`, :func:`input_device`: the scored network's size and device;
* :func:`seed_rng` / :class:`kept_rng` / :func:`no_tf32`: the one RNG and TF32 policy of every score (the engine's
  and every proxy's): seed the generators a forward on the model's device draws from, put them back afterwards,
  and compute in true float32 on GPUs.
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


def forward(model: nn.Module, batch):
    """Call the model on a tensor batch or on keyword tensors (HF models)."""
    return model(batch) if isinstance(batch, torch.Tensor) else model(**batch)


def padding_mask(batch, padding: str) -> torch.Tensor | None:
    """(N, L) bool, True for real tokens, when ``padding == "mask"`` and the batch has padded positions
    (attention_mask == 0); else None."""
    if padding != "mask" or not isinstance(batch, Mapping):
        return None
    am = batch.get("attention_mask")
    if not isinstance(am, torch.Tensor) or not bool((am == 0).any()):
        return None
    return am.bool()


def count_params(model: nn.Module, named=None) -> int:
    """Parameters of the scored network, excluding names containing "auxiliary" (as the reference); each
    shared tensor counted once. ``named``: ``list(model.named_modules())`` when the caller has it already."""
    if named is None:
        return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
    seen, total = set(), 0
    for prefix, m in named:
        aux = "auxiliary" in prefix  # (the word has no dot, so it is in "prefix.key" iff in one of them)
        for key, p in m._parameters.items():
            if p is not None and id(p) not in seen:
                seen.add(id(p))  # as named_parameters(): the first name of a shared tensor decides
                if not aux and "auxiliary" not in key:
                    total += p.numel()
    return total


def input_device(model: nn.Module, named=None) -> torch.device:
    """Where the batch goes: the first parameter's device, or for a model spread over devices by accelerate
    (``hf_device_map``) the first mapped device that holds weights (its hooks move tensors between devices).
    ``named``: ``list(model.named_modules())`` when the caller has it already."""
    device_map = getattr(model, "hf_device_map", None)
    if device_map:
        for where in device_map.values():
            if where not in ("disk", "meta"):
                return torch.device(f"cuda:{where}" if isinstance(where, int) else where)
        return torch.device("cpu")
    if named is None:
        first = next(model.parameters(), None)
    else:  # the first parameter in named_parameters() order
        first = next((p for _, m in named for p in m._parameters.values() if p is not None), None)
    return first.device if first is not None else torch.device("cpu")


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


def seed_rng(seed: int, device: torch.device) -> None:
    """``torch.manual_seed`` for the generators a forward on ``device`` draws from: the CPU generator, plus the
    CUDA ones for a CUDA model (a CPU run queues no lazy CUDA seed, which costs about 1 ms a call)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    elif device.type != "cpu":
        torch.manual_seed(seed)


class kept_rng:
    """``torch.random.fork_rng`` for one device in fewer steps: the CPU generator's state, and the CUDA one of a
    CUDA ``device``, are put back on exit (also after an error)."""

    def __init__(self, device: torch.device):
        self.cuda = device if device.type == "cuda" else None

    def __enter__(self):
        self.cpu = torch.default_generator.get_state()
        self.gpu = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None

    def __exit__(self, *exc):
        torch.default_generator.set_state(self.cpu)
        if self.gpu is not None:
            torch.cuda.set_rng_state(self.gpu, self.cuda)
        return False


@contextmanager
def scoring_scope(model: nn.Module, device: torch.device, modules=None, init_fn=None, modes: bool = True):
    """The scope of one score: the RNG and TF32 policy (:class:`kept_rng`, :func:`no_tf32`), and the model put
    back on exit, also after an error. Yields the :class:`ModelState` saved on entry (for an early
    :func:`restore`). ``init_fn``: the re-init the block runs (parameters are saved then); torch's BatchNorm
    statistics are held (:func:`hold_norm_stats`) unless it declares ``resets_norm_stats`` (swaplm.init).
    ``modes``: whether the block changes train/eval flags; ``modules``: ``list(model.modules())`` if known."""
    modules = list(model.modules()) if modules is None else modules
    held = hold_norm_stats(modules) if init_fn is None or not getattr(init_fn, "resets_norm_stats", True) else []
    state = snapshot(model, params=init_fn is not None, modules=modules, modes=modes, held=held)
    try:
        with no_tf32(), kept_rng(device):
            yield state
    finally:
        restore(model, state)
        release_norm_stats(held)


__all__ = ["ModelState", "named_modules", "count_params", "input_device", "snapshot", "restore", "hold_norm_stats",
           "release_norm_stats", "to_device", "batch_len", "forward", "padding_mask", "no_tf32", "seed_rng",
           "kept_rng", "scoring_scope"]
