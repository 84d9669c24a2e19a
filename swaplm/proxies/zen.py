"""Zen-score (Lin et al., ICCV 2021).

Re-initialise with ``gaussian_init`` (or ``ctx.init`` when set) under ``ctx.seed``; BatchNorm uses batch
statistics, everything else (dropout) is in eval mode. Two forwards without gradients, on x and x + 0.01 ε:

* images: x, ε ~ N(0, 1) shaped like the batch (data-free, as Zen-NAS);
* text: x = the input-embedding output of the batch's tokens, ε ~ N(0, 1) added there through a forward hook.

Features f = the input of the last ``AdaptiveAvgPool`` call (the pre-GAP feature map); models without one use
their main output (``last_hidden_state`` / logits). Δ = mean over samples of Σ|f(x) − f(x')| (real tokens only);
score = log Δ + Σ_BN log √mean_c(var_c), var_c the unbiased batch variance of channel c of each BatchNorm's
input on x (= the running variance after one step of momentum 1).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from swaplm.errors import SwapError

from ._grad import expand_mask, run, token_mask
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext

MIXUP = 0.01
_GAP = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_BN = nn.modules.batchnorm._BatchNorm


def _features(model, batch, gaps: list[nn.Module]) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    with hooks([g.register_forward_pre_hook(lambda _m, args: seen.append(args[0])) for g in gaps]):
        out = run(model, batch)
    return seen[-1] if seen else out


def _zen(model, batch, ctx: ProxyContext) -> float:
    gaps = [m for m in model.modules() if isinstance(m, _GAP)]
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    with session(model, ctx, init=ctx.init or "gaussian", mode="eval") as device, torch.no_grad():
        for m in bns:
            m.train()
        batch = to_device(batch, device)
        mask = token_mask(batch, ctx)
        log_bn: list[torch.Tensor] = []

        def bn_var(_m, args):
            x = args[0]
            var = x.transpose(0, 1).reshape(x.shape[1], -1).var(dim=1, unbiased=True)
            log_bn.append(0.5 * torch.log(var.mean()))

        if isinstance(batch, torch.Tensor):
            dtype = batch.dtype if batch.dtype.is_floating_point else torch.float32
            x = torch.randn(batch.shape, device=device, dtype=dtype)
            eps = torch.randn(batch.shape, device=device, dtype=dtype)
            with hooks([m.register_forward_pre_hook(bn_var) for m in bns]):
                f1 = _features(model, x, gaps)
            f2 = _features(model, x + MIXUP * eps, gaps)
        else:
            emb = model.get_input_embeddings() if callable(getattr(model, "get_input_embeddings", None)) else None
            if not isinstance(emb, nn.Module):
                raise SwapError(f"zen on a dict batch needs {type(model).__name__}.get_input_embeddings()")
            with hooks([m.register_forward_pre_hook(bn_var) for m in bns]):
                f1 = _features(model, batch, gaps)
            perturb = emb.register_forward_hook(lambda _m, _a, out: out + MIXUP * torch.randn_like(out))
            with hooks([perturb]):
                f2 = _features(model, batch, gaps)
        diff = (f1 - f2).abs()
        keep = expand_mask(mask, diff)
        if keep is not None:
            diff = diff * keep.to(diff.dtype)
        delta = diff.reshape(diff.shape[0], -1).sum(1).mean()
        return float(torch.log(delta) + sum(log_bn))


PROXY = Proxy("zen", _zen, cost="2 forwards (no gradients)",
              card="Zen-score: log E‖f(x) − f(x + 0.01ε)‖₁ of pre-GAP features (else the model output) under "
                   "Gaussian re-init, plus Σ_BN log √mean batch-variance; images: x ~ N(0,1) (data-free), text: "
                   "perturbation of the input embeddings. Lin et al., ICCV 2021.")
