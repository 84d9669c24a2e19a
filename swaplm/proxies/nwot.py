"""Hamming kernels of binary activation codes: NWOT (Mellor et al., ICML 2021) and Serianni & Kalita's
activation distance (ACL 2023).

Both binarise activations ``c = 1[x > 0]`` of every hooked activation module (``swaplm.activations.select``:
ReLU, GELU, ... — the same modules SWAP hooks) and accumulate ``K += c cᵀ + (1 − c)(1 − c)ᵀ`` over all calls,
i.e. ``K_ij`` = number of units on which rows i and j agree (= N_A − Hamming(c_i, c_j)). Padded token positions
(``ctx.padding == "mask"``) count for neither row of a pair.

Activation distance = Σ of all entries of K with rows = the tokens of sample 0, summed over every call of every
activation module (FlexiBERT's FF block reuses one GELU module, so it counts once per stacked FF layer). This is
Serianni & Kalita's definition (anchors §1.2). Their published per-architecture column is inflated by hooks left
registered on transformers' shared GELU instance: for NAS-Bench-BERT records 0-59 it equals exactly
M_i · (their "Normalized" column) · Σ num_feed_forward with M_i = 26 + Σ_{j ≤ i} layers_j (hooks of every model
scored before, in id order); the value here matches their de-leaked value ("Normalized" · Σ num_feed_forward)
at Spearman 0.998 on those records (reference build, 128 WikiText-2 blocks of 128 tokens).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from swaplm import activations as _acts
from swaplm.errors import SwapError
from swaplm.swap import batch_size

from ._grad import expand_mask, run, token_mask
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext

CHUNK_ELEMENTS = 1 << 22  # codes per matmul chunk (< 2^24: float32 counts stay exact)


def _accumulate(K: torch.Tensor, x: torch.Tensor, keep: torch.Tensor | None) -> None:
    """K (R, R) += agreement counts of the codes 1[x > 0] of x (R, V); ``keep`` (R, V) drops units."""
    if keep is None:
        _accumulate_dense(K, x)
        return
    on = (x > 0) & keep
    off = ~(x > 0) & keep
    step = max(1, CHUNK_ELEMENTS // x.shape[0])
    for s in range(0, x.shape[1], step):
        a, b = on[:, s:s + step].double(), off[:, s:s + step].double()
        K += a @ a.t() + b @ b.t()


def _accumulate_dense(K: torch.Tensor, x: torch.Tensor) -> None:
    """:func:`_accumulate` without a mask, with one matmul per chunk: with a = 1[x > 0] over v units and row
    sums r, (1 − a)(1 − a)ᵀ = v − r 1ᵀ − 1 rᵀ + a aᵀ, so K += 2 a aᵀ − r 1ᵀ − 1 rᵀ + v. The matmul runs in
    float32: each entry of a chunk's a aᵀ is a count of at most ``CHUNK_ELEMENTS`` < 2^24, exact in float32
    (every partial sum too), and chunks are added in float64, so K equals the float64 computation exactly."""
    step = max(1, CHUNK_ELEMENTS // x.shape[0])
    for s in range(0, x.shape[1], step):
        a = (x[:, s:s + step] > 0).float()
        r = a.sum(1, dtype=torch.float64)
        K += 2 * (a @ a.t()).double() - r[:, None] - r[None, :] + a.shape[1]


def hamming_kernel(model, batch, ctx: ProxyContext, *, inputs: bool, token_rows: bool) -> torch.Tensor:
    """The kernel K over the hooked activation modules.

    ``inputs``: binarise the module inputs (NWOT) instead of outputs. ``token_rows``: for dict (text) batches
    and outputs shaped (N, L, ...) the rows are the real tokens of sample 0 (Serianni) instead of the N samples.
    """
    selected = _acts.select(model)
    n = batch_size(batch)
    state: dict[str, torch.Tensor] = {}
    with session(model, ctx) as device:
        batch = to_device(batch, device)
        mask = token_mask(batch, ctx)
        tokens = token_rows and isinstance(batch, Mapping)

        def add(x) -> None:
            if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] != n:
                return
            x = x.detach()
            keep = expand_mask(mask, x)
            if tokens and x.dim() >= 3:
                x = x[0] if mask is None or keep is None else x[0][mask[0]]
                keep = None
            x = x.reshape(x.shape[0], -1)
            keep = keep.reshape(x.shape) if keep is not None else None
            if "K" not in state:
                state["K"] = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
            elif state["K"].shape[0] != x.shape[0]:
                raise SwapError("activation_distance needs every hooked output to have the same rows")
            _accumulate(state["K"], x, keep)

        if inputs:
            handles = [m.register_forward_pre_hook(lambda _m, args: add(args[0] if args else None))
                       for _, m in selected]
        else:
            handles = [m.register_forward_hook(lambda _m, _a, out: add(out)) for _, m in selected]
        with hooks(handles), torch.no_grad():
            run(model, batch)
    if "K" not in state:
        raise SwapError(f"none of the {len(selected)} hooked activation modules saw a batch of {n} samples")
    return state["K"]


def _nwot(model, batch, ctx: ProxyContext) -> float:
    return float(torch.linalg.slogdet(hamming_kernel(model, batch, ctx, inputs=True, token_rows=False))[1])


def _activation_distance(model, batch, ctx: ProxyContext) -> float:
    return float(hamming_kernel(model, batch, ctx, inputs=False, token_rows=True).sum())


PROXIES = [
    Proxy("nwot", _nwot, cost="1 forward",
          card="NASWOT: log|det K| of the N×N Hamming-agreement kernel of the binarised (x > 0) inputs of every "
               "activation module (ReLU, GELU, ...), rows = samples; labels unused. Mellor et al., ICML 2021 "
               "(plain-forward variant, as NASLib)."),
    Proxy("activation_distance", _activation_distance, cost="1 forward",
          card="Σ of all entries of the NWOT-style agreement kernel x xᵀ + (1−x)(1−x)ᵀ of the binarised activation "
               "*outputs*, summed over activation calls; for text batches the rows are the tokens of sample 0 "
               "(real ones only under padding='mask'), otherwise the N samples. Serianni & Kalita, ACL 2023 (their "
               "published column also carries a leaked-hook factor, see swaplm/proxies/nwot.py). Grows with unit "
               "count."),
]
