"""LPZero's published best proxy (Dong et al., EMNLP 2024 Findings; anchors §1.5).

LPZero searches symbolic proxy expressions by genetic programming. Its "current best" genotype is inputs
(weight, grad), unary ops [[pow, l1_norm], [softmax, pow]], binary op sum: per layer

    mean(W²) + mean(softmax(∂R/∂W, dim=0)²)

(``l1_norm`` there is Σ|x| / numel, ``pow`` squares, ``softmax`` runs over dim 0 = output rows), and the score is
the mean over layers. The layers are the Linear layers of each block's token-mixing operator (its BERT inputs;
``transformer._pick(model, "mixing")``; GPT-2 ``Conv1D`` weights are transposed to (out, in) first). R = Σ of the
model's main output (``backward(ones)``, as LPZero's gradient input; real tokens only under ``padding="mask"``).
One forward and one backward, float32, no labels.

**Label leakage**: the expression was selected by Spearman ρ against GLUE on the first 50 NAS-Bench-BERT
architectures (ids 0-49); evaluate it on the other records only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from swaplm.errors import SwapError

from ._session import session
from .base import Proxy, ProxyContext
from .transformer import _pick, backward_output_sum



def _as_out_in(m, t: torch.Tensor) -> torch.Tensor:
    return t.t() if type(m).__name__ == "Conv1D" else t  # transformers' Conv1D stores (in, out)


def layer_term(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """mean(W²) + mean(softmax(g, dim=0)²) for one layer (float64)."""
    return w.double().pow(2).mean() + F.softmax(g.double(), dim=0).pow(2).mean()


def _lpzero(model, batch, ctx: ProxyContext) -> float:
    layers = _pick(model, "mixing")
    with session(model, ctx, grad=True) as device:
        backward_output_sum(model, batch, ctx, device)
        terms = [layer_term(_as_out_in(mod, mod.weight.detach()), _as_out_in(mod, mod.weight.grad))
                 for _, mod in layers if mod.weight.grad is not None]
    if not terms:
        raise SwapError("lpzero: no token-mixing Linear received a gradient")
    return float(torch.stack(terms).mean())


PROXY = Proxy("lpzero", _lpzero, families=("transformer",), needs_gradients=True, cost="1 forward + 1 backward",
              card="LPZero's published best expression: mean over the attention (token-mixing) Linears of "
                   "mean(W²) + mean(softmax(∂R/∂W, dim=0)²), R = Σ last_hidden_state. Dong et al., EMNLP 2024 "
                   "Findings. NOTE: fitted (genetic programming, Spearman vs GLUE) on NAS-Bench-BERT ids 0-49; "
                   "exclude those records from its evaluation. Transformers only.")
