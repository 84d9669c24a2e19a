"""Weight (re-)initialisers used before scoring. Both act in place and draw from torch's global RNG.

Every initialiser declares two properties the engine reads (:func:`declare`; an undeclared one gets the safe
answers):

* ``resets_norm_stats``: whether it resets BatchNorm running statistics. When it does not, the engine holds
  torch's BatchNorm statistics during a score (``swaplm.modelstate.hold_norm_stats``) instead of saving them;
  a held layer's ``reset_running_stats`` does nothing, so an init that resets them must say so (default True).
* ``normal_weights``: whether it draws exactly N(0, 1) into the ``weight`` of every Conv/Linear/Embedding, in
  module order, and sets every other tensor it touches to a constant. Vectorised repeats then draw later copies
  straight into their rows (checked once per score against a real re-init; default False).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


@torch.no_grad()
def gaussian_init(model: nn.Module) -> None:
    """The reference re-init: Conv/Linear weights ~ N(0, 1), biases 0; norm layers gamma 1, beta 0.

    Embeddings are drawn N(0, 1) too. Each module is visited exactly once.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS):
            if getattr(m, "weight", None) is not None:
                nn.init.ones_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


@contextlib.contextmanager
def _loaded_flags_lifted(model: nn.Module):
    """Lift transformers' "already initialised" marks for the duration of the block, then put them back.

    transformers >= 5 sets ``_is_hf_initialized = True`` on every tensor ``from_pretrained`` loaded, and its
    initialisers (``transformers.initialization.normal_`` etc., used by ``_init_weights``) skip a tensor so marked:
    without lifting the mark a re-init of a pretrained model would keep the pretrained weights.
    """
    marked = [t for t in (*model.parameters(), *model.buffers()) if getattr(t, "_is_hf_initialized", False)]
    for t in marked:
        t._is_hf_initialized = False
    try:
        yield
    finally:
        for t in marked:
            t._is_hf_initialized = True


@torch.no_grad()
def default_init(model: nn.Module) -> None:
    """Re-run the model's own initialiser: HF ``_init_weights`` when present, else each module's
    ``reset_parameters``. Weights loaded by ``from_pretrained`` are re-drawn too (transformers 5 marks them as
    initialised; the marks are lifted while the initialiser runs and restored afterwards)."""
    hf_init = getattr(model, "_init_weights", None)
    with _loaded_flags_lifted(model):
        for m in model.modules():
            if hf_init is not None:
                hf_init(m)
            elif hasattr(m, "reset_parameters") and m is not model:
                m.reset_parameters()
        if hf_init is None and hasattr(model, "reset_parameters"):
            model.reset_parameters()


def declare(init_fn, *, resets_norm_stats: bool = True, normal_weights: bool = False):
    """Attach the engine-facing properties (see the module docstring) to ``init_fn``; returns it."""
    init_fn.resets_norm_stats = resets_norm_stats
    init_fn.normal_weights = normal_weights
    return init_fn


declare(gaussian_init, resets_norm_stats=False, normal_weights=True)
declare(default_init, resets_norm_stats=True)  # reset_parameters() of BatchNorm resets its statistics

INITS = {"gaussian": gaussian_init, "default": default_init}


def get_init(name: str):
    from .errors import SwapError

    if name not in INITS:
        raise SwapError(f"unknown init {name!r}; choose one of: {', '.join(INITS)} (or None for current weights)")
    return INITS[name]
