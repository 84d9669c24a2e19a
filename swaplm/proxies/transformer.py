"""Transformer baselines of Serianni & Kalita (ACL 2023, FlexiBERT study): head confidence, synaptic saliency,
synaptic diversity. (Their activation distance lives in ``nwot.py``.)

Layers are found by module name (lower-cased), so BERT-style, FlexiBERT, GPT-2 and OPT/LLaMA-style names work:

* token-mixing Linears: the name contains one of ``MIXING_WORDS`` ("attention", "attn", "mixer", ...);
* feed-forward Linears: not token-mixing, and the name contains one of ``FF_WORDS`` ("intermediate",
  "feed_forward", "mlp", "fc1", ...) or ends with "output.dense" (BERT's FF output);
* q/k/v projections: token-mixing Linears whose last name part is in ``QKV_NAMES`` (includes FlexiBERT's
  "input" / "weight" projections of the linear-transform and WMA operators).

Serianni's gradients come from ``backward`` of Σ last_hidden_state; that sum is constant behind a final
LayerNorm with equal gains (zero gradient), so we use the label-free surrogate of ``_grad`` instead.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from swaplm.errors import SwapError

from ._grad import objective_name, run, sum_over_weights, token_mask
from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext

MIXING_WORDS = ("attention", "attn", "mixer", "token_mix")
FF_WORDS = ("intermediate", "feed_forward", "feedforward", "ffn", "mlp", "fc1", "fc2", "dense_h_to_4h",
            "dense_4h_to_h")
QKV_NAMES = {"query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin", "q", "k", "v",
             "qkv", "c_attn", "query_key_value", "wqkv", "in_proj", "input", "weight"}


def _linears(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"]


def _is_mixing(name: str) -> bool:
    return any(w in name.lower() for w in MIXING_WORDS)


def _pick(model: nn.Module, kind: str) -> list[tuple[str, nn.Module]]:
    """Linears of ``kind`` ("mixing", "ff" or "qkv"); SwapError when the model has none."""
    if kind == "mixing":
        chosen = [(n, m) for n, m in _linears(model) if _is_mixing(n)]
    elif kind == "ff":
        chosen = [(n, m) for n, m in _linears(model) if not _is_mixing(n)
                  and (any(w in n.lower() for w in FF_WORDS) or n.endswith("output.dense"))]
    else:
        chosen = [(n, m) for n, m in _linears(model) if _is_mixing(n) and n.rsplit(".", 1)[-1].lower() in QKV_NAMES]
    if not chosen:
        what = {"mixing": "token-mixing (attention)", "ff": "feed-forward", "qkv": "attention q/k/v"}[kind]
        raise SwapError(f"no {what} Linear layers found in {type(model).__name__} by module name; this proxy "
                        "is for transformers (see swaplm/proxies/transformer.py for the name patterns)")
    return chosen


def _head_confidence(model, batch, ctx: ProxyContext) -> float:
    """Σ over q/k/v Linear calls of mean_{sample, feature} max_{position} output."""
    terms: list[torch.Tensor] = []
    layers = _pick(model, "qkv")
    with session(model, ctx) as device, torch.no_grad():
        batch = to_device(batch, device)
        mask = token_mask(batch, ctx)

        def hook(_m, _a, out):
            if isinstance(out, torch.Tensor) and out.dim() >= 3:
                if mask is not None and tuple(out.shape[:2]) == tuple(mask.shape):
                    fill = ~mask.view(*mask.shape, *([1] * (out.dim() - 2)))
                    out = out.masked_fill(fill, float("-inf"))
                terms.append(out.amax(dim=1).mean())

        with hooks([m.register_forward_hook(hook) for _, m in layers]):
            run(model, batch)
    if not terms:
        raise SwapError("head_confidence: no q/k/v Linear produced a (N, L, D) output")
    return float(sum(terms))


def _synaptic_saliency(model, batch, ctx: ProxyContext) -> float:
    return sum_over_weights(model, batch, ctx, _pick(model, "ff"), lambda w, g: (w * g).abs().sum(), labels=False)


def _nuclear(t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(t.double().reshape(t.shape[0], -1), ord="nuc")


def _synaptic_diversity(model, batch, ctx: ProxyContext) -> float:
    return sum_over_weights(model, batch, ctx, _pick(model, "mixing"), lambda w, g: _nuclear(w) * _nuclear(g),
                            labels=False)


_OBJ = objective_name(labels=False)
PROXIES = [
    Proxy("head_confidence", _head_confidence, families=("transformer",), cost="1 forward",
          card="Σ over attention q/k/v Linear outputs (N, L, D) of the max over the sequence axis averaged over "
               "samples and features (real tokens only). Transformers only. Serianni & Kalita, ACL 2023."),
    Proxy("synaptic_saliency", _synaptic_saliency, families=("transformer",), needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ|W ⊙ ∂L/∂W| over feed-forward Linear layers; L = {_OBJ}. Transformers only. "
               "Serianni & Kalita, ACL 2023 (they used L = Σ last_hidden_state)."),
    Proxy("synaptic_diversity", _synaptic_diversity, families=("transformer",), needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ ‖W‖_nuc · ‖∂L/∂W‖_nuc over token-mixing (attention) Linear layers; L = {_OBJ}. "
               "Transformers only. Serianni & Kalita, ACL 2023 (they used L = Σ last_hidden_state)."),
]
