"""Held-out masked-LM loss: the label-free baseline every checkpoint score must beat.

For a model with a masked-LM head (a Hugging Face ``*ForMaskedLM`` model, or an encoder that ``swaplm rank`` /
``SwapCallback`` loaded from such a checkpoint, which carries its head along), a fixed 15 % of the batch's real,
non-special tokens (at least one; chosen with a generator seeded by ``ctx.seed``, so every checkpoint sees the
same positions) are replaced by [MASK], and the score is the mean cross-entropy of the original tokens at those
positions. No 80/10/10 replacement: every chosen token becomes [MASK], so the value is deterministic. Lower is
better. Devlin et al., "BERT", NAACL 2019 (the masked-LM objective); used as the held-out pretraining-loss baseline
of Du et al. (NeurIPS 2024) and Liu et al. (ICML 2023).

Only the masked positions go through the vocabulary projection (a pre-hook on the model's output embeddings), so
a large vocabulary stays cheap; the value equals the cross-entropy of the full logits at those positions.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from swaplm.errors import SwapError

from ._session import hooks, session, to_device
from .base import Proxy, ProxyContext

MASK_FRACTION = 0.15
MASK_SEED_OFFSET = 15485863  # the position generator's seed is ctx.seed + this
#: BERT uncased WordPiece ids ([PAD], [UNK], [CLS], [SEP], [MASK]) used when a bare BERT-vocabulary MLM model
#: comes without its tokenizer
BERT_SPECIAL = (0, 100, 101, 102, 103)
BERT_MASK = 103
ATTR = "_swaplm_lm"  # (lm model, mask id, special ids) attached by swaplm.rank.attach_lm


def attach_lm(base, lm, tokenizer=None):
    """Let ``base`` (the encoder that is scored) carry its masked-LM model ``lm`` and the tokenizer's mask/special
    ids, without registering ``lm`` as a submodule (so parameter counts and SWAP hooks see the encoder only)."""
    mask_id = getattr(tokenizer, "mask_token_id", None) if tokenizer is not None else None
    special = tuple(getattr(tokenizer, "all_special_ids", ()) or ()) if tokenizer is not None else ()
    base.__dict__[ATTR] = (lm, mask_id, special)
    return base


def _lm_of(model):
    held = model.__dict__.get(ATTR)
    if held is not None:
        return held
    name = type(model).__name__
    if name.endswith(("ForMaskedLM", "ForPreTraining")) and callable(getattr(model, "get_output_embeddings", None)) \
            and model.get_output_embeddings() is not None:
        return model, None, ()
    raise SwapError("mlm_loss needs a masked-LM head (a transformers *ForMaskedLM checkpoint); "
                    f"{name} has none")


def mask_positions(batch, special: tuple, seed: int) -> torch.Tensor:
    """(N, L) bool: the positions masked for ``seed`` (15 % of the real, non-special tokens, at least one)."""
    ids = batch["input_ids"]
    ok = torch.ones_like(ids, dtype=torch.bool)
    am = batch.get("attention_mask")
    if isinstance(am, torch.Tensor):
        ok &= am.bool()
    for s in special:
        ok &= ids != s
    flat = ok.flatten().nonzero().flatten().cpu()
    if flat.numel() == 0:
        raise SwapError("the batch has no real, non-special tokens to mask")
    k = max(1, int(round(MASK_FRACTION * flat.numel())))
    gen = torch.Generator().manual_seed(seed + MASK_SEED_OFFSET)
    chosen = flat[torch.randperm(flat.numel(), generator=gen)[:k]]
    out = torch.zeros(ids.numel(), dtype=torch.bool)
    out[chosen] = True
    return out.view(ids.shape).to(ids.device)


def _mlm_loss(model, batch, ctx: ProxyContext) -> float:
    lm, mask_id, special = _lm_of(model)
    if not isinstance(batch, Mapping) or "input_ids" not in batch:
        raise SwapError("mlm_loss needs a token batch with input_ids")
    vocab = getattr(getattr(lm, "config", None), "vocab_size", None)
    if mask_id is None:
        if vocab != 30522:
            raise SwapError("mlm_loss: no tokenizer to give the [MASK] id of this model's vocabulary")
        mask_id, special = BERT_MASK, special or BERT_SPECIAL
    out_emb = lm.get_output_embeddings()
    with session(lm, ctx) as device, torch.no_grad():
        batch = to_device(batch, device)
        pos = mask_positions(batch, tuple(special) or BERT_SPECIAL, ctx.seed)
        targets = batch["input_ids"][pos]
        masked = dict(batch, input_ids=batch["input_ids"].masked_fill(pos, mask_id))
        caught = {}

        def gather(_m, args):
            x = args[0]
            if x.dim() == 3 and tuple(x.shape[:2]) == tuple(pos.shape):
                caught["gathered"] = True
                return (x[pos], *args[1:])
            return None

        def keep(_m, _a, y):
            caught["logits"] = y

        handles = [out_emb.register_forward_pre_hook(gather), out_emb.register_forward_hook(keep)] \
            if out_emb is not None else []
        with hooks(handles):
            out = lm(**masked)
        if caught.get("gathered") and "logits" in caught:
            logits = caught["logits"]
        else:  # a head that does not call its output-embedding module: gather the full logits
            full = getattr(out, "logits", None)
            if full is None:
                raise SwapError(f"{type(lm).__name__} returned no logits")
            logits = full[pos]
        return float(F.cross_entropy(logits.double(), targets))


PROXY = Proxy("mlm_loss", _mlm_loss, higher_is_better=False, families=("transformer",),
              cost="1 forward (vocabulary projection at the masked positions only)",
              card="Held-out masked-LM loss: mean cross-entropy at a fixed, seeded 15 % of the batch's real tokens "
                   "replaced by [MASK] (needs a masked-LM head; lower is better). The BERT objective (Devlin et "
                   "al., 2019); the pretraining-loss baseline of Du et al., NeurIPS 2024.")
