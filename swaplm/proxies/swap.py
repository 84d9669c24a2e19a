"""SWAP-Score and regularised SWAP as proxies.

Both share one engine run per (model, batch, settings): swap_reg reuses swap's raw score when it is asked for
the same model object, batch object and settings and every parameter and buffer still equals (torch.equal) the
copy kept from that run, so asking for both costs one run.
"""
import weakref

import torch

from swaplm.errors import SwapError
from swaplm.swap import Regularise, count_params, swap_score

from .base import Proxy, ProxyContext

_memo: dict = {}


def _tensors(model) -> list:
    return list(model.parameters()) + list(model.buffers())


def _settings(ctx: ProxyContext) -> tuple:
    return ctx.seed, ctx.repeats, ctx.init, ctx.mode, ctx.padding


def raw_swap(model, batch, ctx: ProxyContext) -> float:
    """Unregularised SWAP of ``model`` on ``batch`` under ``ctx`` (memoised for the last model/batch)."""
    ref = _memo.get("model")
    if ref is not None and ref() is model and _memo["batch"] is batch and _memo["settings"] == _settings(ctx):
        now = _tensors(model)
        if len(now) == len(_memo["tensors"]) and all(torch.equal(a, b) for a, b in zip(now, _memo["tensors"])):
            return _memo["raw"]
    raw = swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                     padding=ctx.padding).raw_score
    _memo.clear()
    _memo.update(model=weakref.ref(model), batch=batch, settings=_settings(ctx), raw=raw,
                 tensors=[t.detach().clone() for t in _tensors(model)])
    return raw


def _prior(ctx: ProxyContext) -> Regularise:
    """The size prior of swap_reg. There is no default: a prior is only meaningful near the sizes it was tuned for
    (one far from the model's size makes the factor exactly 0), so it comes from the space's protocol (tuned on
    its benchmark's tuning split) or from the caller."""
    if ctx.regularise is None:
        raise SwapError("swap_reg needs a size prior (Regularise(mu, sigma, unit)) for this model: pass one "
                        "(--reg-mu/--reg-sigma) or use a space whose protocol has one")
    return ctx.regularise


def _swap_reg(model, batch, ctx: ProxyContext) -> float:
    prior = _prior(ctx)  # before the engine run
    return raw_swap(model, batch, ctx) * prior.factor(count_params(model))


def _derive_swap_reg(values: dict, ctx: ProxyContext) -> float:
    """swap_reg from the same run's swap (raw score) and params (count_params) values."""
    return values["swap"] * _prior(ctx).factor(int(values["params"]))


PROXIES = [
    Proxy("swap", raw_swap, cost="repeats × 1 forward",
          card="Number of distinct sample-wise activation patterns (sign of every hooked unit over the batch); "
               "Peng et al., ICLR 2024."),
    Proxy("swap_reg", _swap_reg, cost="repeats × 1 forward (shared with swap)",
          card="SWAP × exp(-(Θ-μ)²/σ), Θ = parameters (in the Regularise setting's unit); a size prior that "
               "also steers search. No default prior: the space's protocol or --reg-mu/--reg-sigma give it.",
          requires=("swap", "params"), derive=_derive_swap_reg, uses_regularise=True),
]
