"""ZiCo (Li et al., ICLR 2023; anchors §1.8), with a label-free language-model loss.

The batch is split into ``MINIBATCHES`` (2) equal parts. For each part the gradients are cleared, the loss is
back-propagated and the weight gradients of every Conv/Linear layer (``_grad.weight_layers``) are recorded. Per
layer, over the parts: mean|g| and std(g) (population std, as NumPy's) per weight; the layer's term is
log Σ (mean|g| / std) over the weights with std > 0 (layers whose sum is 0 are skipped); ZiCo = Σ of the terms.

The loss (ZiCo used cross-entropy with class labels; a language model has none, so the text itself is the target):

* encoders (masked LM): a fixed 15 % of each part's real, non-special tokens (seeded by ``ctx.seed`` and the
  part's index; ``mlm_loss.mask_positions``) are replaced by the mask token, and the loss is the mean
  cross-entropy of the original tokens at those positions;
* decoders (a ``model_type`` transformers lists as causal-LM only, e.g. GPT-2, Llama, or ``config.is_decoder``):
  next-token cross-entropy over the real tokens;
* logits come from the model's own LM head when it has one (``get_output_embeddings()``); a bare model is read
  out through its input embedding matrix, detached (tied weights, as BERT/GPT-2 tie theirs), mapped to the
  hidden width by the model's ``embeddings_project`` when it has one (FlexiBERT, ELECTRA).

Mask token: ``config.mask_token_id`` when set, else 103 ([MASK] of the 30522-token BERT WordPiece vocabulary),
else the last vocabulary id (RoBERTa's <mask>).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from swaplm.errors import SwapError

from ._grad import first_tensor, weight_layers
from ._session import session, to_device
from .base import Proxy, ProxyContext
from .mlm_loss import BERT_MASK, BERT_SPECIAL, mask_positions

MINIBATCHES = 2


def _config(model):
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "vocab_size"):
        raise SwapError(f"{type(model).__name__} has no language-model config (vocab_size): zico and its "
                        "language-model loss are for transformers")
    return cfg


def is_causal(model) -> bool:
    """True for decoder-only language models (next-token loss), False for encoders (masked-LM loss)."""
    cfg = _config(model)
    if getattr(cfg, "is_decoder", False):
        return True
    try:
        from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                            MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    except ImportError:  # pragma: no cover
        return False
    kind = getattr(cfg, "model_type", None)
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _mask_id(cfg) -> int:
    mid = getattr(cfg, "mask_token_id", None)
    if isinstance(mid, int):
        return mid
    return BERT_MASK if cfg.vocab_size == 30522 else cfg.vocab_size - 1


def _special(cfg) -> tuple:
    if cfg.vocab_size == 30522:
        return BERT_SPECIAL
    ids = {getattr(cfg, k, None) for k in ("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id",
                                            "sep_token_id")}
    return tuple(i for i in ids if isinstance(i, int)) + (_mask_id(cfg),)


def _tied_readout(model) -> torch.Tensor:
    """(vocab, hidden) output embedding of a headless model: its input embeddings, detached, projected to the
    hidden width by ``embeddings_project`` when the model has one."""
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Embedding):
        raise SwapError(f"{type(model).__name__} has neither an LM head nor input embeddings to read tokens out")
    u = emb.weight.detach()
    proj = getattr(model, "embeddings_project", None)
    if isinstance(proj, nn.Linear):
        with torch.no_grad():
            u = proj(u)
    return u


def lm_loss(model, batch, seed: int) -> torch.Tensor:
    """The label-free language-model loss of ``batch`` (module docstring); differentiable."""
    if not isinstance(batch, Mapping) or "input_ids" not in batch:
        raise SwapError("zico needs a token batch with input_ids (it is for transformers)")
    cfg = _config(model)
    ids = batch["input_ids"]
    am = batch.get("attention_mask")
    real = am.bool() if isinstance(am, torch.Tensor) else torch.ones_like(ids, dtype=torch.bool)
    get_head = getattr(model, "get_output_embeddings", None)
    has_head = callable(get_head) and get_head() is not None
    if is_causal(model):
        pos = real.clone()
        pos[:, -1] = False
        pos &= torch.roll(real, -1, dims=1)  # position t predicts token t+1, both real
        targets = torch.roll(ids, -1, dims=1)[pos]
        inputs = batch
    else:
        pos = mask_positions(batch, _special(cfg), seed)
        targets = ids[pos]
        inputs = dict(batch, input_ids=ids.masked_fill(pos, _mask_id(cfg)))
    if targets.numel() == 0:
        raise SwapError("zico: no token to predict in the batch")
    out = first_tensor(model(**inputs))
    if has_head:
        logits = out[pos]
    else:
        u = _tied_readout(model).to(out.dtype)
        if u.shape[1] != out.shape[-1]:
            raise SwapError(f"zico: hidden width {out.shape[-1]} differs from the embedding width {u.shape[1]} "
                            "and the model has no embeddings_project to map it")
        logits = out[pos] @ u.T
    return F.cross_entropy(logits.float(), targets)


def split_batch(batch: Mapping, parts: int) -> list[dict]:
    """``batch`` cut into ``parts`` consecutive, equal-sized parts along the sample axis."""
    n = batch["input_ids"].shape[0]
    if n < parts:
        raise SwapError(f"zico needs at least {parts} samples (one per minibatch), got {n}")
    size = n // parts
    return [{k: (v[i * size:(i + 1) * size] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == n else v)
             for k, v in batch.items()} for i in range(parts)]


def zico_of(grads: list[list[torch.Tensor]]) -> float:
    """Σ over layers of log Σ_weights mean|g|/std(g) from per-part gradients ``grads[part][layer]``."""
    total = 0.0
    for per_layer in zip(*grads):
        g = torch.stack([t.double() for t in per_layer])
        std = g.std(dim=0, unbiased=False)
        nz = std > 0
        s = float((g.abs().mean(dim=0)[nz] / std[nz]).sum())
        if s > 0:
            total += math.log(s)
    return total


def _zico(model, batch, ctx: ProxyContext) -> float:
    layers = weight_layers(model)
    if not isinstance(batch, Mapping):
        raise SwapError("zico needs a token batch with input_ids (it is for transformers)")
    _config(model)
    grads: list[list[torch.Tensor]] = []
    with session(model, ctx, grad=True) as device:
        batch = to_device(batch, device)
        for i, part in enumerate(split_batch(batch, MINIBATCHES)):
            for p in model.parameters():
                p.grad = None
            lm_loss(model, part, ctx.seed + i).backward()
            grads.append([m.weight.grad.detach().clone() if m.weight.grad is not None
                          else torch.zeros_like(m.weight) for _, m in layers])
    return zico_of(grads)


PROXY = Proxy("zico", _zico, families=("transformer",), needs_gradients=True,
              cost=f"{MINIBATCHES} × (forward + backward) on halves of the batch",
              card="ZiCo: Σ over Conv/Linear layers of log Σ_weights mean|g|/std(g), g the weight gradients over 2 "
                   "minibatches (halves of the batch), with a label-free LM loss: masked-LM cross-entropy at a "
                   "seeded 15 % of tokens for encoders, next-token cross-entropy for decoders (own LM head, else "
                   "the tied input embeddings). Transformers only. Li et al., ICLR 2023.")
