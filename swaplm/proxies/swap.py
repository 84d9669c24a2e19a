"""SWAP-Score and regularised SWAP as proxies.

Both share one engine run per (model, batch, settings): swap_reg reuses swap's raw score when the model is
unchanged since (same parameter objects at the same in-place versions), so asking for both costs one run.
"""
import weakref

from swaplm.swap import Regularise, count_params, swap_score

from .base import Proxy, ProxyContext

DEFAULT_REG = Regularise(mu=1.5, sigma=1.5, unit="k")  # overridden by ctx.regularise
_memo: dict = {}


def _state(model, batch, ctx: ProxyContext) -> tuple:
    return (tuple((id(p), p._version) for p in model.parameters()), id(batch), ctx.seed, ctx.repeats, ctx.init,
            ctx.mode, ctx.padding)


def raw_swap(model, batch, ctx: ProxyContext) -> float:
    """Unregularised SWAP of ``model`` on ``batch`` under ``ctx`` (memoised for the last model/batch)."""
    ref = _memo.get("model")
    if ref is not None and ref() is model and _memo.get("batch") is batch and _memo["key"] == _state(model, batch, ctx):
        return _memo["raw"]
    raw = swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                     padding=ctx.padding).raw_score
    _memo.update(model=weakref.ref(model), batch=batch, key=_state(model, batch, ctx), raw=raw)
    return raw


def _swap_reg(model, batch, ctx: ProxyContext) -> float:
    return raw_swap(model, batch, ctx) * (ctx.regularise or DEFAULT_REG).factor(count_params(model))


PROXIES = [
    Proxy("swap", raw_swap, cost="repeats × 1 forward",
          card="Number of distinct sample-wise activation patterns (sign of every hooked unit over the batch); "
               "Peng et al., ICLR 2024."),
    Proxy("swap_reg", _swap_reg, cost="repeats × 1 forward (shared with swap)",
          card="SWAP × exp(-(Θ-μ)²/σ), Θ = parameters (unit of the Regularise setting, default thousands); "
               "a size prior that also steers search."),
]
