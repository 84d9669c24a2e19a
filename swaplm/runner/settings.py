"""Scoring settings of one run, resolved from a space's reference protocol and validated before any model is
built."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swaplm.errors import SwapError, check_samples

MODES = (None, "train", "eval")
PADDINGS = ("mask", "reference")
DTYPES = ("float32", "bfloat16", "float16")


class _Default:
    """The type of :data:`DEFAULT`: a keyword left at it takes its value from elsewhere (a space's protocol,
    the default store), for keywords where None is itself a meaningful value."""

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self):
        return "DEFAULT"


#: "not given": use the default (``init``/``mode``/``regularise`` from the space's protocol, ``cache_dir`` /
#: ``store`` the default store); None means "none" there
DEFAULT = _Default()


@dataclass(frozen=True)
class Settings:
    """What every candidate of a run is scored with.

    ``n``: samples in the batch; ``repeats``: forwards averaged (fresh weights each with ``init``);
    ``init``: None (keep the built weights), "gaussian" or "default"; ``mode``: None (as built), "train" or
    "eval"; ``padding``: "mask" or "reference"; ``regularise``: the swap_reg size prior (a
    :class:`swaplm.Regularise`) or None; ``data``: the source passed to ``space.inputs`` (None: its default);
    ``inputs_options``: extra keywords for ``space.inputs`` (only ``max_length``); ``dtype``: what the model
    and float inputs are cast to ("float32", "bfloat16", "float16").
    """

    n: int
    repeats: int = 1
    init: str | None = None
    mode: str | None = None
    padding: str = "mask"
    seed: int = 0
    device: str = "cpu"
    regularise: Any = None
    data: str | None = None
    inputs_options: Mapping[str, Any] = field(default_factory=dict)
    dtype: str = "float32"

    def __post_init__(self):
        check_samples(self.n)
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise SwapError(f"repeats must be >= 1, got {self.repeats}")
        if self.init is not None:
            from swaplm.init import INITS as known

            if self.init not in known:
                raise SwapError(f"unknown init {self.init!r}; choose none, {', '.join(known)}")
        if self.mode not in MODES:
            raise SwapError(f"unknown mode {self.mode!r}; choose train, eval or as-is")
        if self.padding not in PADDINGS:
            raise SwapError(f"unknown padding {self.padding!r}; choose mask or reference")
        if self.dtype not in DTYPES:
            raise SwapError(f"unknown dtype {self.dtype!r}; choose {', '.join(DTYPES)}")
        unknown = sorted(set(self.inputs_options) - {"max_length"})
        if unknown:
            raise SwapError(f"unknown input option(s) {', '.join(unknown)}; spaces take max_length only")


def resolve_device(device: Any = "auto") -> str:
    """``"auto"``: CUDA when present, else CPU; ``"cuda"`` without a CUDA device is a one-line error."""
    import torch

    name = str(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SwapError(f"device {name} was asked but no CUDA device is available; use --device cpu or auto")
    try:
        return str(torch.device(name))
    except RuntimeError:
        raise SwapError(f"unknown device {name!r}; choose auto, cpu or cuda") from None


def resolve(space: Any, *, n: int | None = None, batch_size: int | None = None, repeats: int | None = None,
            init: Any = DEFAULT, mode: Any = DEFAULT, padding: str | None = None, seed: int = 0,
            device: str = "cpu", regularise: Any = DEFAULT, data: str | None = None,
            inputs_options: Mapping[str, Any] | None = None, dtype: str = "float32") -> Settings:
    """Settings for ``space`` (a :class:`swaplm.spaces.Space`): values left unset (None, or :data:`DEFAULT`
    where None is meaningful) come from ``space.protocol``; ``batch_size`` is an alias of ``n``."""
    proto = space.protocol
    if batch_size is not None and n is not None and batch_size != n:
        raise SwapError(f"n={n} and batch_size={batch_size} disagree (batch_size is an alias of n)")
    n = n if n is not None else batch_size if batch_size is not None else proto.n
    return Settings(
        n=n,
        repeats=repeats if repeats is not None else proto.repeats,
        init=proto.init if init is DEFAULT else init,
        mode=proto.mode if mode is DEFAULT else mode,
        padding=padding if padding is not None else proto.padding,
        seed=seed,
        device=resolve_device(device),
        regularise=proto.regularise if regularise is DEFAULT else regularise,
        data=data,
        inputs_options=dict(inputs_options or {}),
        dtype=dtype,
    )


__all__ = ["Settings", "resolve", "resolve_device", "DEFAULT", "MODES", "PADDINGS", "DTYPES"]
