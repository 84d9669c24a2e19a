"""Label-free spectrum scores of a network's final representations: RankMe and α-ReQ.

Both look at the model's main output (``last_hidden_state`` of a Hugging Face encoder, the output tensor of any
other network) on one batch, with no labels and no gradients. Token outputs (N, L, D) contribute one row per real
token (padded positions dropped when the batch has an attention mask); any other output (N, ...) one row per
sample, flattened. Computed in float64.

* RankMe (Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the downstream performance of pretrained
  self-supervised representations by their rank", ICML 2023): with σ_k the singular values of the feature matrix
  Z (rows = samples), p_k = σ_k / ‖σ‖₁ + ε (ε = 1e-7), RankMe = exp(−Σ_k p_k log p_k), a smooth effective rank in
  [1, min(rows, D)]. Higher = more dimensions used. The authors use it to compare runs of one method.
* α-ReQ (Agrawal, Mondal, Ghosh, Richards, ..., "α-ReQ: Assessing Representation Quality in Self-Supervised
  Learning by measuring eigenspectrum decay", NeurIPS 2022): the eigenvalues λ_1 ≥ λ_2 ≥ ... of the covariance of
  the centred features are fitted by a power law λ_i ∝ i^(−α) (least squares of log λ_i on log i over every
  eigenvalue above 1e-10 · λ_1); the score is α. The paper finds good representations inside an interval of α
  (around 1), not at one end, so the direction registered here (lower α = slower decay = better, the same
  direction as RankMe) is a choice, reported as such.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from swaplm.errors import SwapError

from ._session import session, to_device
from .base import Proxy, ProxyContext

RANKME_EPS = 1e-7
ALPHA_FLOOR = 1e-10


def features(model, batch, ctx: ProxyContext) -> torch.Tensor:
    """(rows, D) float64 feature matrix of the model's final representations on ``batch`` (see module doc)."""
    with session(model, ctx) as device, torch.no_grad():
        batch = to_device(batch, device)
        out = model(batch) if isinstance(batch, torch.Tensor) else model(**batch)
        h = getattr(out, "last_hidden_state", None)
        if h is None:
            from ._grad import first_tensor

            h = first_tensor(out)
        h = h.detach().double()
        if h.dim() == 3 and isinstance(batch, Mapping) and isinstance(batch.get("attention_mask"), torch.Tensor) \
                and tuple(batch["attention_mask"].shape) == tuple(h.shape[:2]):
            z = h[batch["attention_mask"].bool()]
        elif h.dim() == 3:
            z = h.reshape(-1, h.shape[-1])
        else:
            z = h.reshape(h.shape[0], -1)
    if z.shape[0] < 2 or z.shape[1] < 1:
        raise SwapError(f"too few feature rows ({z.shape[0]}) for a spectrum")
    if not bool(torch.isfinite(z).all()):
        raise SwapError("the model's final representations are not finite")
    return z


def rankme_of(z: torch.Tensor) -> float:
    """RankMe of a feature matrix (rows = samples)."""
    s = torch.linalg.svdvals(z.double())
    total = s.sum()
    if not total > 0:
        raise SwapError("all singular values are 0 (constant zero representations)")
    p = s / total + RANKME_EPS
    return float(torch.exp(-(p * torch.log(p)).sum()))


def alpha_of(z: torch.Tensor) -> float:
    """α-ReQ power-law decay coefficient of the centred feature covariance spectrum."""
    z = z.double()
    zc = z - z.mean(dim=0, keepdim=True)
    lam = torch.linalg.eigvalsh(zc.T @ zc / (z.shape[0] - 1)).flip(0)
    if not lam[0] > 0:
        raise SwapError("the feature covariance is 0 (constant representations)")
    lam = lam[lam > ALPHA_FLOOR * lam[0]]
    if lam.numel() < 2:
        raise SwapError("fewer than 2 non-zero covariance eigenvalues: no decay to fit")
    x = torch.log(torch.arange(1, lam.numel() + 1, dtype=torch.float64))
    y = torch.log(lam)
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    if not math.isfinite(slope):
        raise SwapError("the power-law fit is not finite")
    return -slope


PROXIES = [
    Proxy("rankme", lambda model, batch, ctx: rankme_of(features(model, batch, ctx)), cost="1 forward + 1 SVD",
          card="RankMe: exp(entropy) of the normalised singular values of the final representations (one row per "
               "real token of last_hidden_state; per sample otherwise), an effective rank. Label-free. "
               "Garrido et al., ICML 2023."),
    Proxy("alpha_req", lambda model, batch, ctx: alpha_of(features(model, batch, ctx)), higher_is_better=False,
          cost="1 forward + 1 eigendecomposition",
          card="α-ReQ: power-law decay α of the eigenspectrum of the centred final-representation covariance "
               "(λ_i ∝ i^-α, least squares in log-log). Lower = slower decay; the paper finds good models in an "
               "α interval, not at an end. Agrawal et al., NeurIPS 2022."),
]
