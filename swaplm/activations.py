"""Which modules SWAP hooks: a registry of activation classes (SPEC §3).

Every class here is an ``nn.Module`` whose output sign is the unit's on/off state. ``NONNEGATIVE`` classes
(ReLU-like) never output a negative value, which lets the engine skip the negative bit-plane.
Users extend the registry with :func:`register` or pass ``activations=`` to :func:`swaplm.swap_score`.
"""
from __future__ import annotations

import fnmatch
import sys
from collections import Counter
from typing import Iterable

import torch.nn as nn

from .errors import SwapError
from .modelstate import named_modules

_TORCH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU,
          nn.Mish, nn.Hardswish, nn.Softplus)
_NONNEG_TORCH = (nn.ReLU, nn.ReLU6, nn.Softplus)  # Softplus is > 0 everywhere -> always "on" (still a valid state)

# transformers' activation modules, by class name (looked up lazily so importing swaplm stays cheap)
_HF_NAMES = ("GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation",
             "ClippedGELUActivation", "AccurateGELUActivation", "GELUTanh", "PytorchGELUTanh", "SiLUActivation",
             "MishActivation", "LaplaceActivation", "ReLUSquaredActivation", "XIELUActivation")
_HF_NONNEG = ("ReLUSquaredActivation", "LaplaceActivation")

_extra: list[type] = []
_extra_nonneg: list[type] = []


def _hf_classes(names: Iterable[str]) -> tuple[type, ...]:
    # a model can only hold transformers' activation modules if that module was imported already, so
    # importing it here (seconds) is never needed for plain PyTorch models
    hf = sys.modules.get("transformers.activations")
    if hf is None:
        return ()
    return tuple(getattr(hf, n) for n in names if isinstance(getattr(hf, n, None), type))


def registered() -> tuple[type, ...]:
    """All activation classes SWAP hooks by default (torch.nn, transformers.activations, user additions)."""
    return _TORCH + _hf_classes(_HF_NAMES) + tuple(_extra)


def register(cls: type, *, nonnegative: bool = False) -> type:
    """Add an activation module class to the registry (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{cls!r} is not an nn.Module subclass")
    _extra.append(cls)
    if nonnegative:
        _extra_nonneg.append(cls)
    return cls


def _nonnegative_classes() -> tuple[type, ...]:
    return _NONNEG_TORCH + _hf_classes(_HF_NONNEG) + tuple(_extra_nonneg)


# per module type, the answers of registered() / _nonnegative_classes(), valid while the registry is unchanged
# (a subclass check per type instead of an isinstance against ~25 classes per module: the engine asks for every
# module of the model on every score)
_memo: dict = {"key": None, "hooked": {}, "nonneg": {}}


def _answers(which: str) -> dict[type, bool]:
    key = ("transformers.activations" in sys.modules, tuple(_extra), tuple(_extra_nonneg))
    if _memo["key"] != key:
        _memo.update(key=key, hooked={}, nonneg={})
    return _memo[which]


def _of(answers: dict[type, bool], classes, cls: type) -> bool:
    hit = answers.get(cls)
    if hit is None:
        hit = answers[cls] = issubclass(cls, classes())
    return hit


def is_nonnegative(module: nn.Module) -> bool:
    """True when the module's output can never be negative (only the positive bit-plane is needed)."""
    return _of(_answers("nonneg"), _nonnegative_classes, type(module))


def _registered_modules(named) -> list[tuple[str, nn.Module]]:
    answers = _answers("hooked")
    new = {type(m) for _, m in named}.difference(answers)
    if new:
        classes = registered()
        answers.update((t, issubclass(t, classes)) for t in new)
    return [(n, m) for n, m in named if answers[type(m)]]


def select(model: nn.Module, activations: Iterable[type | str] | None = None,
           named=None) -> list[tuple[str, nn.Module]]:
    """Return ``(name, module)`` for every module of ``model`` SWAP should hook (``named``:
    ``list(model.named_modules())`` when the caller has it already).

    ``activations`` replaces the default class list: entries are module classes or glob patterns over module
    names (``"encoder.layer.*.intermediate.*"``). Raises :class:`SwapError` naming the module types the model
    does contain when nothing matches.
    """
    named = named_modules(model) if named is None else named
    if activations is None:  # the registry's classes, answered once per module type
        chosen = _registered_modules(named)
    else:
        items = list(activations)
        classes = tuple(a for a in items if isinstance(a, type))
        patterns = [a for a in items if isinstance(a, str)]
        chosen = [(n, m) for n, m in named  # no patterns: no per-module generator
                  if (classes and isinstance(m, classes))
                  or (patterns and any(fnmatch.fnmatchcase(n, p) for p in patterns))]
    if not chosen:
        kinds = Counter(type(m).__name__ for _, m in model.named_modules() if not list(m.children()))
        listing = ", ".join(f"{k}×{v}" for k, v in kinds.most_common(12)) or "none"
        raise SwapError(
            f"no hookable activation module in {type(model).__name__} (leaf modules: {listing}); activations "
            "called functionally (F.relu/F.gelu inside forward) cannot be hooked — pass activations=[...] "
            "classes or module-name patterns, or swaplm.activations.register(YourClass)")
    return chosen
