"""Jacobian covariance (Mellor et al. 2020 "NASWOT" v1; NASLib ``jacov``).

Per-sample input gradients J_i = ∂ℓ_i/∂x_i, flattened; C = corrcoef(J) (N×N); eigenvalues λ of C;
score = −Σ [log(λ + k) + 1/(λ + k)], k = 1e-5. Higher is better (less correlated input sensitivities).
ℓ_i is the label-free surrogate of sample i (½‖f(x_i) − t_i‖², seeded target): the original ``Σ output``
has an identically zero gradient behind a final LayerNorm. For text the "input" is the output of the input
embedding module (N, L, E), made a leaf through a forward hook.
"""
from __future__ import annotations

import torch

from swaplm.errors import SwapError

from ._grad import input_leaf, run, surrogate, token_mask
from ._session import session, to_device
from .base import Proxy, ProxyContext

K = 1e-5


def input_jacobian(model, batch, ctx: ProxyContext) -> torch.Tensor:
    """(N, D) float64 per-sample gradients of the summed surrogate w.r.t. the network input."""
    with session(model, ctx) as device:
        batch = to_device(batch, device)
        with input_leaf(model, batch) as (run_batch, leaves):
            out = run(model, run_batch)
            if len(leaves) != 1:
                raise SwapError(f"jacov expects one input embedding call per forward, saw {len(leaves)}")
            loss = surrogate(out, ctx, token_mask(batch, ctx), reduction="sum")
            (jac,) = torch.autograd.grad(loss, leaves)
    return jac.reshape(jac.shape[0], -1).double()


def _jacov(model, batch, ctx: ProxyContext) -> float:
    corr = torch.corrcoef(input_jacobian(model, batch, ctx))
    if not bool(torch.isfinite(corr).all()):  # a constant gradient row: correlation undefined
        return float("nan")
    lam = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(lam + K) + 1.0 / (lam + K)).sum())


PROXY = Proxy("jacov", _jacov, needs_gradients=True, cost="1 forward + 1 backward (input gradient)",
              card="−Σ[log(λ+k) + 1/(λ+k)] over eigenvalues λ of the correlation matrix of per-sample input "
                   "gradients (k = 1e-5); gradient of ½‖f(x)−t‖² to a seeded N(0,1) target (label-free); text: "
                   "w.r.t. the input-embedding output. Mellor et al. 2020 / NASLib.")
