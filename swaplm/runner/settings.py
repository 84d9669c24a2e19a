"""Scoring settings of one run, resolved from a space's reference protocol and validated before any model is
built."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swaplm.errors import SwapError

MODES = (None, "train", "eval")
PADDINGS = ("mask", "reference")


@dataclass(frozen=True)
class Settings:
    """What every candidate of a run is scored with.

    ``n``: samples in the batch; ``repeats``: forwards averaged (fresh weights each with ``init``);
    ``init``: None (keep the built weights), "gaussian" or "default"; ``mode``: None (as built), "train" or
    "eval"; ``padding``: "mask" or "reference"; ``regularise``: the swap_reg size prior (a
    :class:`swaplm.Regularise`) or None; ``data``: the source passed to ``space.inputs`` (None: its default);
    ``inputs_options``: extra keywords for ``space.inputs`` (e.g. ``max_length``).
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

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 2:
            raise SwapError(f"the batch needs at least 2 samples (SWAP compares samples), got n={self.n}")
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


def resolve(space: Any, *, n: int | None = None, batch_size: int | None = None, repeats: int | None = None,
            init: Any = ..., mode: Any = ..., padding: str | None = None, seed: int = 0,
            device: str = "cpu", regularise: Any = ..., data: str | None = None,
            inputs_options: Mapping[str, Any] | None = None) -> Settings:
    """Settings for ``space``: values left unset (None, or ``...`` where None is meaningful) come from
    ``space.protocol``; ``batch_size`` is an alias of ``n``."""
    from swaplm.spaces.base import Protocol_

    proto = getattr(space, "protocol", None) or Protocol_()
    if batch_size is not None and n is not None and batch_size != n:
        raise SwapError(f"n={n} and batch_size={batch_size} disagree (batch_size is an alias of n)")
    n = n if n is not None else batch_size if batch_size is not None else proto.n
    return Settings(
        n=n,
        repeats=repeats if repeats is not None else proto.repeats,
        init=proto.init if init is ... else init,
        mode=proto.mode if mode is ... else mode,
        padding=padding if padding is not None else proto.padding,
        seed=seed,
        device=str(device),
        regularise=getattr(proto, "regularise", None) if regularise is ... else regularise,
        data=data,
        inputs_options=dict(inputs_options or {}),
    )


__all__ = ["Settings", "resolve", "MODES", "PADDINGS"]
