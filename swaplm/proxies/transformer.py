"""Transformer baselines of Serianni & Kalita (ACL 2023, FlexiBERT study): head confidence, synaptic saliency,
synaptic diversity (their activation distance lives in ``nwot.py``), and the layer-finding helpers the other
transformer proxies (``w_pca``, ``meco``, ``dss``) share.

Layers are found by module name (lower-cased), so BERT-style, FlexiBERT, GPT-2 and OPT/LLaMA-style names work:

* token-mixing Linears: the name contains one of ``MIXING_WORDS`` ("attention", "attn", "mixer", ...);
* feed-forward Linears: not token-mixing, and the name contains one of ``FF_WORDS`` ("intermediate",
  "feed_forward", "mlp", "fc1", ...) or ends with "output.dense" (BERT's FF output);
* q/k/v projections: token-mixing Linears whose last name part is in ``QKV_NAMES`` (includes FlexiBERT's
  "input" / "weight" projections of the linear-transform and WMA operators).

Blocks (:func:`blocks`): the children of the model's largest ``nn.ModuleList`` of non-leaf modules of one class
(FlexiBERT ``encoder.layers``, BERT/RoBERTa ``encoder.layer``, GPT-2 ``h``, Llama ``layers``).

Gradients. ``synaptic_saliency`` follows the published definition (anchors §1.2): ∂/∂W of Σ last_hidden_state
(``out.backward(ones_like(out))``). Behind a final LayerNorm with equal gains that sum is constant, so the exact
gradient is 0 and what is measured is float32 rounding in the LayerNorm backward; its size still depends on the
architecture, and it is what Serianni & Kalita published. ``synaptic_saliency_surrogate`` (the earlier
swaplm version) and ``synaptic_diversity`` use the label-free surrogate of ``_grad`` instead, whose gradient does
not vanish.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from swaplm.errors import SwapError

from ._grad import expand_mask, objective_name, run, sum_over_weights, token_mask
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


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, block)`` for the transformer blocks: the children of the ``nn.ModuleList`` (of non-leaf modules,
    all of one class) holding the most parameters. SwapError when the model has none."""
    best, best_size = None, 0
    for name, m in model.named_modules():
        if not isinstance(m, nn.ModuleList) or len(m) == 0:
            continue
        kids = list(m)
        if len({type(k) for k in kids}) != 1 or not any(True for _ in kids[0].children()):
            continue
        size = sum(p.numel() for p in m.parameters())
        if size > best_size:
            best, best_size = [(f"{name}.{i}" if name else str(i), k) for i, k in enumerate(kids)], size
    if not best:
        raise SwapError(f"no list of transformer blocks found in {type(model).__name__}; this proxy is for "
                        "transformers (see swaplm/proxies/transformer.py)")
    return best


def ff_in(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """Per block, ``(block name, its feed-forward Linears)``: the first of them called in a forward is the FFN's
    first Linear (FlexiBERT ``dense_in``, BERT ``intermediate.dense``, GPT-2 ``mlp.c_fc``, Llama
    ``mlp.gate_proj``). Blocks without a feed-forward Linear are left out; SwapError when none has one."""
    ff = _pick(model, "ff")
    out = []
    for bname, _ in blocks(model):
        mods = [m for n, m in ff if n.startswith(bname + ".")]
        if mods:
            out.append((bname, mods))
    if not out:
        raise SwapError(f"no feed-forward Linear inside the blocks of {type(model).__name__}")
    return out


def is_mixing(name: str) -> bool:
    """True for a token-mixing (attention) module name (``MIXING_WORDS``)."""
    return _is_mixing(name)


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


def backward_output_sum(model, batch, ctx: ProxyContext, device) -> None:
    """Backpropagate Σ of the model's main output (last_hidden_state), over real tokens only when
    ``ctx.padding == "mask"``; the gradients land in ``.grad`` (inside a ``session(..., grad=True)``)."""
    batch = to_device(batch, device)
    out = run(model, batch)
    seed = torch.ones_like(out)
    m = expand_mask(token_mask(batch, ctx), out)
    if m is not None:
        seed = seed * m.to(seed.dtype)
    out.backward(seed)


def _synaptic_saliency(model, batch, ctx: ProxyContext) -> float:
    """Σ|W ⊙ ∂(Σ out)/∂W| over the feed-forward Linears; out = the main output (last_hidden_state), summed over
    real tokens only when ``ctx.padding == "mask"`` (Serianni & Kalita sum every position)."""
    layers = _pick(model, "ff")
    with session(model, ctx, grad=True) as device:
        backward_output_sum(model, batch, ctx, device)
        return float(sum((mod.weight.detach() * mod.weight.grad).abs().sum() for _, mod in layers
                         if mod.weight.grad is not None))


def _synaptic_saliency_surrogate(model, batch, ctx: ProxyContext) -> float:
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
    Proxy("synaptic_saliency", _synaptic_saliency, families=("transformer",), needs_gradients=True,
          cost="1 forward + 1 backward",
          card="Σ|W ⊙ ∂R/∂W| over the feed-forward (intermediate + output) Linear layers, R = Σ last_hidden_state "
               "(backward of ones; real tokens only under padding='mask'). Transformers only. Serianni & Kalita, "
               "ACL 2023, as published. Behind a final LayerNorm R is constant, so this measures float32 rounding "
               "of the LayerNorm backward (tiny values, device-dependent); see synaptic_saliency_surrogate."),
    Proxy("synaptic_saliency_surrogate", _synaptic_saliency_surrogate, families=("transformer",),
          needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ|W ⊙ ∂L/∂W| over feed-forward Linear layers with L = {_OBJ}, whose gradient does not vanish "
               "behind a LayerNorm. Transformers only. swaplm's variant of Serianni & Kalita's synaptic saliency "
               "(the published one, synaptic_saliency, uses L = Σ last_hidden_state)."),
    Proxy("synaptic_diversity", _synaptic_diversity, families=("transformer",), needs_gradients=True, cost="1 forward + 1 backward",
          card=f"Σ ‖W‖_nuc · ‖∂L/∂W‖_nuc over token-mixing (attention) Linear layers; L = {_OBJ}. "
               "Transformers only. Serianni & Kalita, ACL 2023 (they used L = Σ last_hidden_state)."),
]
