"""L2 norm of the weights (NASLib ``l2_norm``): a data-free baseline."""
from __future__ import annotations

import torch

from ._grad import weight_layers
from ._session import session
from .base import Proxy, ProxyContext


def _l2_norm(model, batch, ctx: ProxyContext) -> float:
    """Σ over Conv/Linear layers of ‖W‖₂ (Frobenius), after ``ctx.init`` re-initialisation when set."""
    layers = weight_layers(model)
    with session(model, ctx), torch.no_grad():
        return float(sum(m.weight.detach().double().norm() for _, m in layers))


PROXY = Proxy("l2_norm", _l2_norm, cost="none (no forward)",
              card="Σ over Conv/Linear layers of the Frobenius norm of the weight; ignores the data. "
                   "Abdelfattah et al. 2021 / NASLib.")
