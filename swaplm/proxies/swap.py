"""SWAP-Score and regularised SWAP as proxies."""
from swaplm.swap import Regularise, swap_score

from .base import Proxy, ProxyContext

DEFAULT_REG = Regularise(mu=1.5, sigma=1.5, unit="k")  # overridden by ctx.regularise


def _swap(model, batch, ctx: ProxyContext) -> float:
    return swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                      padding=ctx.padding).score


def _swap_reg(model, batch, ctx: ProxyContext) -> float:
    return swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                      padding=ctx.padding, regularise=ctx.regularise or DEFAULT_REG).score


PROXIES = [
    Proxy("swap", _swap, cost="repeats × 1 forward",
          card="Number of distinct sample-wise activation patterns (sign of every hooked unit over the batch); "
               "Peng et al., ICLR 2024."),
    Proxy("swap_reg", _swap_reg, cost="repeats × 1 forward",
          card="SWAP × exp(-(Θ-μ)²/σ), Θ = parameters (unit of the Regularise setting, default thousands); "
               "a size prior that also steers search."),
]
