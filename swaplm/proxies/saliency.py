"""Gradient saliency proxies (NASLib / zero-cost-nas family; Abdelfattah et al., ICLR 2021): snip, grasp,
fisher, grad_norm.

Each sums a per-weight (or per-channel) array over all Conv/Linear layers (``_grad.weight_layers``), from one
batch and the objective of ``_grad.objective`` (cross-entropy with labels on logits, else the seeded
label-free surrogate).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ._grad import objective, objective_name, run, sum_over_weights, weight_layers
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext


def _loss(model, batch, ctx: ProxyContext) -> torch.Tensor:
    return objective(run(model, batch), batch, ctx)


def _snip(model, batch, ctx: ProxyContext) -> float:
    return sum_over_weights(model, batch, ctx, weight_layers(model), lambda w, g: (w * g).abs().sum())


def _grad_norm(model, batch, ctx: ProxyContext) -> float:
    return sum_over_weights(model, batch, ctx, weight_layers(model), lambda w, g: g.norm())


def _grasp(model, batch, ctx: ProxyContext) -> float:
    """Σ −θ ⊙ (H g): g = ∇L, Hg by double backward of ⟨∇L, stop_grad(g)⟩ (one forward)."""
    weights = [m.weight for _, m in weight_layers(model)]
    with session(model, ctx, grad=True) as device, sdpa_kernel(SDPBackend.MATH):  # math SDPA: double-backward
        loss = _loss(model, to_device(batch, device), ctx)
        grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
        used = [(w, g) for w, g in zip(weights, grads) if g is not None]
        z = sum((g * g.detach()).sum() for _, g in used)
        hg = torch.autograd.grad(z, [w for w, _ in used], allow_unused=True)
        return float(sum((-w.detach() * h).sum() for (w, _), h in zip(used, hg) if h is not None))


def _channel_fisher(act: torch.Tensor, grad: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """½ · mean over samples of (Σ over non-channel positions of act·grad)², summed over channels."""
    prod = (act * grad).movedim(channel_dim, -1)
    per = prod.reshape(prod.shape[0], -1, prod.shape[-1]).sum(1)
    return 0.5 * per.pow(2).mean(0).sum()


def _fisher(model, batch, ctx: ProxyContext) -> float:
    terms: list[torch.Tensor] = []

    def hook(m, _inp, out):
        if isinstance(out, torch.Tensor) and out.requires_grad:
            dim = 1 if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) else out.dim() - 1
            act = out.detach()
            out.register_hook(lambda g: terms.append(_channel_fisher(act, g.detach(), dim)))

    layers = weight_layers(model)
    with session(model, ctx, grad=True) as device:
        with hooks([m.register_forward_hook(hook) for _, m in layers]):
            _loss(model, to_device(batch, device), ctx).backward()
    return float(sum(terms)) if terms else 0.0


_OBJ = objective_name()
PROXIES = [
    Proxy("snip", _snip, needs_labels=True, needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ|θ ⊙ ∂L/∂θ| over Conv/Linear weights; L = {_OBJ}. Lee et al. 2019; Abdelfattah et al. 2021."),
    Proxy("grasp", _grasp, needs_labels=True, needs_gradients=True, cost="1 forward + 2 backward (double)",
          card=f"Σ −θ ⊙ (H ∂L/∂θ) over Conv/Linear weights (Hessian-gradient product); L = {_OBJ}. "
               "Wang et al. 2020; Abdelfattah et al. 2021."),
    Proxy("fisher", _fisher, needs_labels=True, needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ over Conv/Linear output channels of ½·mean_batch(Σ_positions act·∂L/∂act)²; L = {_OBJ}. "
               "Theis et al. 2018; Turner et al. 2020; Abdelfattah et al. 2021."),
    Proxy("grad_norm", _grad_norm, needs_labels=True, needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ over Conv/Linear layers of ‖∂L/∂W‖₂; L = {_OBJ}. Abdelfattah et al. 2021."),
]
