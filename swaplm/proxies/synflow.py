"""SynFlow (Tanaka et al., NeurIPS 2020; as a zero-cost proxy: Abdelfattah et al., ICLR 2021) and LogSynFlow
(Cavagnero et al., FreeREA 2022). Data-free: only the batch's shape is used.

The network runs in float64, in eval mode (dropout off; BatchNorm running statistics set to mean 0 / var 1 so
no data statistics enter), with every parameter replaced by its absolute value, on an all-ones input of batch
size 1. ``R = Σ output``; the per-weight saliency is ``θ ⊙ ∂R/∂θ`` over Conv/Linear weights. Weights, dtypes
and buffers are restored afterwards.

Text batches become ``input_ids`` = 1 (token id 1), ``attention_mask`` = 1 and other integer tensors 0, shape
(1, L). Caveat: for a headless transformer whose output is a LayerNorm with equal gains, Σ output is constant
and every gradient before it is analytically 0, so SynFlow measures rounding noise there.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn as nn

from swaplm.errors import SwapError

from ._grad import run, weight_layers
from ._session import session
from .base import Proxy, ProxyContext


def ones_batch(batch, device: torch.device):
    """An all-ones probe shaped like one sample of ``batch`` (float64 for float tensors)."""
    if isinstance(batch, torch.Tensor):
        return torch.ones((1, *batch.shape[1:]), dtype=torch.float64, device=device)
    if not isinstance(batch, Mapping):
        raise SwapError(f"a proxy batch must be a tensor (N, ...) or a dict of tensors, got {type(batch).__name__}")
    probe = {}
    for k, v in batch.items():
        if not isinstance(v, torch.Tensor) or v.dim() == 0:
            probe[k] = v
        elif v.dtype.is_floating_point:
            probe[k] = torch.ones((1, *v.shape[1:]), dtype=torch.float64, device=device)
        else:
            fill = 1 if k in ("input_ids", "attention_mask") else 0
            probe[k] = torch.full((1, *v.shape[1:]), fill, dtype=v.dtype, device=device)
    return probe


def linearise(model: nn.Module) -> None:
    """SynFlow's |θ|-network, in place: BatchNorm running statistics reset (mean 0, var 1), every parameter
    replaced by its absolute value, float64 (call inside a mutating proxy session, which restores the model)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
        for p in model.parameters():
            p.abs_()
    model.double()


def synflow_sum(model: nn.Module, batch, ctx: ProxyContext,
                remap: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Σ over Conv/Linear weights of |θ| · remap(∂R/∂θ) under the SynFlow probe (module docstring)."""
    layers = weight_layers(model)
    with session(model, ctx, mode="eval", grad=True, mutates=True) as device:
        linearise(model)
        run(model, ones_batch(batch, device)).sum().backward()
        total = torch.zeros((), dtype=torch.float64, device=device)
        for _, m in layers:
            if m.weight.grad is not None:
                total += (m.weight.detach().abs() * remap(m.weight.grad)).sum()
    return float(total)


def _synflow(model, batch, ctx: ProxyContext) -> float:
    return float(torch.log(torch.tensor(synflow_sum(model, batch, ctx, torch.abs), dtype=torch.float64)))


def _logsynflow(model, batch, ctx: ProxyContext) -> float:
    return synflow_sum(model, batch, ctx, lambda g: torch.log1p(g.abs()))


PROXIES = [
    Proxy("synflow", _synflow, needs_gradients=True, cost="1 forward + 1 backward (batch 1, float64)",
          card="log Σ|θ ⊙ ∂R/∂θ| over Conv/Linear weights, R = Σ output of the |θ|-network on an all-ones input "
               "(float64, eval, BN neutral); data- and label-free. Tanaka et al. 2020 / Abdelfattah et al. 2021 "
               "(NASLib log form). Degenerate (rounding noise) for outputs that end in a LayerNorm."),
    Proxy("logsynflow", _logsynflow, needs_gradients=True, cost="1 forward + 1 backward (batch 1, float64)",
          card="Σ |θ| · log(1 + |∂R/∂θ|) with SynFlow's probe: gradients log-compressed before weighting. "
               "Cavagnero et al. (FreeREA) 2022; the exact log remap of the original is unverified."),
]
