"""MeCo, transformer port (Jiang et al., NeurIPS 2023; anchors §1.7). Label- and gradient-free: one forward.

MeCo takes each module's output for one sample reshaped to (channels, positions), forms the channels × channels
Pearson correlation matrix (NaN / inf set to 0) and sums its minimum eigenvalue over modules. The port here:

* modules = the transformer blocks (``transformer.blocks``); each block's output is (N, L, d). When the block
  ends in a LayerNorm (post-LN encoders: BERT, FlexiBERT), its output sums to a constant over the hidden units
  at every token, which makes the correlation matrix singular (λ_min = 0 for every model); that LayerNorm's
  *input* (the residual sum) is used instead. Pre-LN blocks (GPT-2, Llama) are used as they are;
* channels = the d hidden units, observations = the tokens. One sample has fewer tokens than units in most
  language models (L = 128 < d = 256), which makes the d × d correlation singular (minimum eigenvalue 0 for
  every model), so the real tokens of *all* samples of the batch are the observations (padded positions are
  dropped under ``padding="mask"``);
* score = Σ_blocks λ_min(corr), computed in float64. Units with zero variance get a zero row and column (as
  MeCo's NaN → 0).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from swaplm.errors import SwapError

from ._grad import expand_mask, first_tensor, run, token_mask
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext
from .transformer import blocks


def min_corr_eigenvalue(z: torch.Tensor) -> float:
    """Smallest eigenvalue of the Pearson correlation matrix of the columns of ``z`` (observations, channels)."""
    z = z.double()
    zc = z - z.mean(dim=0, keepdim=True)
    cov = zc.T @ zc
    sd = cov.diagonal().sqrt()
    corr = cov / (sd[:, None] * sd[None, :])
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(torch.linalg.eigvalsh(corr)[0])


def block_outputs(model, batch) -> list[torch.Tensor]:
    """Each block's output (N, L, d), or the input of the LayerNorm that produced it (module docstring)."""
    outs: list[torch.Tensor] = []
    last: dict[str, torch.Tensor] = {}

    def norm_hook(_m, args, out):
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            last["in"], last["out"] = args[0], out

    def block_hook(_m, _a, out):
        t = first_tensor(out) if not isinstance(out, torch.Tensor) else out
        pre, post = last.pop("in", None), last.pop("out", None)
        if post is not None and post.data_ptr() == t.data_ptr() and post.shape == t.shape:
            t = pre
        if t.dim() >= 3:
            outs.append(t.detach())

    handles = [b.register_forward_hook(block_hook) for _, b in blocks(model)]
    handles += [m.register_forward_hook(norm_hook) for _, b in blocks(model) for m in b.modules()
                if isinstance(m, nn.LayerNorm)]
    with hooks(handles):
        run(model, batch)
    return outs


def _meco(model, batch, ctx: ProxyContext) -> float:
    if not isinstance(batch, Mapping):
        raise SwapError("meco's port takes a token batch (a dict with input_ids): it is for transformers")
    with session(model, ctx) as device, torch.no_grad():
        batch = to_device(batch, device)
        mask = token_mask(batch, ctx)
        outs = block_outputs(model, batch)
        if not outs:
            raise SwapError("meco: no block produced an (N, L, d) output")
        total = 0.0
        for h in outs:
            keep = expand_mask(mask, h)
            z = h[keep[..., 0]] if keep is not None else h.reshape(-1, h.shape[-1])
            if z.shape[0] < 2:
                raise SwapError("meco needs at least 2 tokens")
            total += min_corr_eigenvalue(z.reshape(-1, h.shape[-1]))
    return total


PROXY = Proxy("meco", _meco, families=("transformer",), cost="1 forward + 1 d×d eigendecomposition per block",
              card="MeCo (transformer port): Σ over blocks of the minimum eigenvalue of the d×d Pearson correlation "
                   "of the block output's hidden units (the final LayerNorm's input for post-LN blocks), the "
                   "observations being the real tokens of all samples (one sample has fewer tokens than units). "
                   "Label- and gradient-free. Transformers only. Jiang et al., NeurIPS 2023.")
