"""W-PCA and V-PCA (S. Wang, ICLR 2025; anchors §1.4). Gradient- and label-free: one forward.

For each transformer block (``transformer.blocks``), the output of the FFN's first Linear *before* its activation
(the first feed-forward Linear the block calls: FlexiBERT ``dense_in``, BERT ``intermediate.dense``, GPT-2
``mlp.c_fc``, Llama ``mlp.gate_proj``) is taken for the whole batch as a (tokens, d_ff) matrix (real tokens only
under ``padding="mask"``). It is centred (float64), its d_ff × d_ff covariance formed in the activations' dtype and
eigendecomposed in float64, and PCA_l is the number of leading eigenvalues whose cumulative share of the variance
first exceeds η = 0.99.

* ``v_pca``  = Σ_l PCA_l
* ``w_pca``  = #params × Σ_l PCA_l (#params as the ``params`` proxy counts them)
"""
from __future__ import annotations

import torch

from swaplm.errors import SwapError
from swaplm.swap import count_params

from ._grad import expand_mask, run, token_mask
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext
from .transformer import ff_in

ETA = 0.99  # cumulative explained-variance threshold (W-PCA's mysupernet setting)


def pca_dim(z: torch.Tensor, eta: float = ETA) -> int:
    """Number of principal components of the rows of ``z`` (tokens, d) needed to explain more than ``eta`` of
    the variance (0 when the variance is 0)."""
    zc = (z.double() - z.double().mean(dim=0, keepdim=True)).to(z.dtype)  # centred in float64
    cov = (zc.T @ zc).double() / max(1, z.shape[0] - 1)  # the product in the activations' dtype (float32: 2x faster)
    lam = torch.linalg.eigvalsh(cov).flip(0).clamp_min(0)
    total = lam.sum()
    if not total > 0:
        return 0
    ratio = torch.cumsum(lam, 0) / total
    return min(int((ratio <= eta).sum()) + 1, lam.numel())


def pca_dims(model, batch, ctx: ProxyContext) -> list[int]:
    """PCA_l of every block with a feed-forward Linear (see the module docstring)."""
    groups = ff_in(model)
    caught: dict[int, torch.Tensor] = {}
    with session(model, ctx) as device, torch.no_grad():
        batch = to_device(batch, device)
        mask = token_mask(batch, ctx)

        def hook_for(index: int):
            def hook(_m, _a, out):
                if index not in caught and isinstance(out, torch.Tensor):
                    caught[index] = out.detach()
            return hook

        handles = [m.register_forward_hook(hook_for(i)) for i, (_, mods) in enumerate(groups) for m in mods]
        with hooks(handles):
            run(model, batch)
        dims = []
        for i in range(len(groups)):
            if i not in caught:
                continue
            h = caught[i]
            keep = expand_mask(mask, h)
            z = h[keep[..., 0]] if keep is not None else h.reshape(-1, h.shape[-1])
            dims.append(pca_dim(z.reshape(-1, h.shape[-1])))
    if not dims:
        raise SwapError("w_pca: no feed-forward Linear was called in the forward pass")
    return dims


def _v_pca(model, batch, ctx: ProxyContext) -> float:
    return float(sum(pca_dims(model, batch, ctx)))


def _w_pca(model, batch, ctx: ProxyContext) -> float:
    return float(count_params(model)) * _v_pca(model, batch, ctx)


PROXIES = [
    Proxy("w_pca", _w_pca, families=("transformer",), cost="1 forward + 1 d_ff×d_ff eigendecomposition per block",
          requires=("v_pca", "params"), derive=lambda v, _ctx: v["v_pca"] * v["params"],
          card="W-PCA: #params × Σ over blocks of the number of principal components (cumulative variance > 0.99) "
               "of the FFN's first-Linear output before the activation, over all tokens of the batch. Gradient- "
               "and label-free. Transformers only. S. Wang, ICLR 2025 (W-PCA)."),
    Proxy("v_pca", _v_pca, families=("transformer",), cost="1 forward + 1 d_ff×d_ff eigendecomposition per block",
          card="V-PCA: Σ over blocks of the number of principal components (cumulative variance > 0.99) of the "
               "FFN's first-Linear pre-activation over all tokens of the batch (W-PCA without the #params "
               "factor). Transformers only. S. Wang, ICLR 2025 (W-PCA)."),
]
