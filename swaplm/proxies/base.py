"""The proxy type and the context a proxy is computed in."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch.nn as nn


@dataclass(frozen=True)
class ProxyContext:
    """Settings shared by all proxies of one run.

    ``labels`` (N,) long tensor when the task data has labels; ``num_classes`` the head size when known.
    """

    seed: int = 0
    repeats: int = 1
    init: str | None = None
    mode: str | None = None
    padding: str = "mask"
    regularise: Any = None  # swaplm.Regularise | None
    labels: Any = None
    num_classes: int | None = None


@dataclass(frozen=True)
class Proxy:
    """A zero-cost proxy: ``fn(model, batch, ctx) -> float``.

    ``card`` says in one or two sentences what it measures, its cost and its reference.
    """

    name: str
    fn: Callable[[nn.Module, Any, ProxyContext], float]
    higher_is_better: bool = True
    needs_labels: bool = False
    needs_gradients: bool = False
    cost: str = "1 forward"
    card: str = ""
    #: optional shortcut for benchmark runs: when every proxy named in ``requires`` is computed in the same run,
    #: ``derive(values, ctx)`` gives this proxy's value from theirs (no model run), exactly as ``fn`` would
    requires: tuple[str, ...] = ()
    #: model families the proxy applies to ("cnn", "transformer"); ``available(family)`` filters on it
    families: tuple[str, ...] = ("cnn", "transformer")
    derive: Callable[[dict, ProxyContext], float] | None = None
    #: the proxy reads ``ctx.regularise`` (the size prior): stored values are filed under the prior too
    uses_regularise: bool = False
    #: part of the stored values' identity: change it when the values change for a reason the proxy's source
    #: code does not show (e.g. a data file it reads)
    version: str | None = None

    def compute(self, model: nn.Module, batch, ctx: ProxyContext | None = None) -> float:
        """Value of the proxy for ``model`` on ``batch``; raises SwapError when it is not finite."""
        import math

        from swaplm.errors import SwapError

        value = float(self.fn(model, batch, ctx or ProxyContext()))
        if not math.isfinite(value):
            raise SwapError(f"proxy {self.name!r} is not finite ({value}) for this model")
        return value
