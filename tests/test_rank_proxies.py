"""The label-free companions of swaplm rank against plain computations written here: held-out MLM loss
(cross-entropy of the full logits at the masked positions), RankMe (entropy of normalised singular values) and
α-ReQ (log-log least-squares slope of the covariance eigenvalues)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from swaplm.data import bert_tokenizer, text_batch
from swaplm.errors import SwapError
from swaplm.proxies import ProxyContext, get_proxy
from swaplm.proxies.mlm_loss import attach_lm, mask_positions
from swaplm.proxies.spectrum import alpha_of, rankme_of

CTX = ProxyContext(seed=0, mode="eval")


def mlm_model() -> BertForMaskedLM:
    torch.manual_seed(0)
    return BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32, max_position_embeddings=32)).eval()


def test_mlm_loss_equals_full_logits_cross_entropy():
    lm, tok = mlm_model(), bert_tokenizer()
    batch = dict(text_batch("builtin:sst2", n=8, max_length=24))  # padded sentences
    pos = mask_positions(batch, tuple(tok.all_special_ids), CTX.seed)
    real = (batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], torch.tensor(tok.all_special_ids)))
    assert not (pos & ~real).any()  # only real, non-special tokens are masked
    assert int(pos.sum()) == round(0.15 * int(real.sum()))
    with torch.no_grad():
        logits = lm(**dict(batch, input_ids=batch["input_ids"].masked_fill(pos, tok.mask_token_id))).logits
    logp = torch.log_softmax(logits.double(), -1)[pos]
    plain = float(-logp.gather(1, batch["input_ids"][pos][:, None]).mean())
    proxy = get_proxy("mlm_loss")
    assert proxy.compute(lm, batch, CTX) == pytest.approx(plain, rel=1e-9)  # the model itself
    base = attach_lm(lm.base_model, lm, tok)  # the encoder carrying its head (what swaplm rank scores)
    assert proxy.compute(base, batch, CTX) == pytest.approx(plain, rel=1e-9)
    assert proxy.compute(base, batch, CTX) == proxy.compute(base, batch, CTX)  # same seed, same value
    assert not proxy.higher_is_better and "Devlin" in proxy.card


def test_mlm_loss_other_seed_masks_other_positions_and_headless_fails():
    lm, tok = mlm_model(), bert_tokenizer()
    batch = dict(text_batch("builtin:wikitext2", n=4, max_length=16))
    a, b = (mask_positions(batch, tuple(tok.all_special_ids), s) for s in (0, 1))
    assert not torch.equal(a, b)
    with pytest.raises(SwapError, match="masked-LM head"):
        get_proxy("mlm_loss").compute(lm.base_model, batch, CTX)  # a bare encoder has no head


def test_rankme_and_alpha_against_numpy():
    rng = np.random.default_rng(0)
    # a known spectrum: columns scaled by i^-1 (covariance eigenvalues decay like i^-2)
    z = rng.standard_normal((4000, 12)) * (np.arange(1, 13) ** -1.0)
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum() + 1e-7
    assert rankme_of(torch.from_numpy(z)) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)
    lam = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1]
    slope = np.polyfit(np.log(np.arange(1, 13)), np.log(lam), 1)[0]
    assert alpha_of(torch.from_numpy(z)) == pytest.approx(-slope, rel=1e-9)
    assert 1.6 < alpha_of(torch.from_numpy(z)) < 2.4  # near the planted decay of 2
    iso = rng.standard_normal((4000, 12))
    assert rankme_of(torch.from_numpy(iso)) > 11.5  # isotropic: close to full rank
    with pytest.raises(SwapError):
        alpha_of(torch.ones(10, 4, dtype=torch.float64))


def test_spectrum_proxies_use_real_tokens_of_last_hidden_state():
    lm = mlm_model()
    batch = dict(text_batch("builtin:sst2", n=8, max_length=24))
    with torch.no_grad():
        h = lm.base_model(**batch).last_hidden_state.double()
    z = h[batch["attention_mask"].bool()]
    assert get_proxy("rankme").compute(lm.base_model, batch, CTX) == pytest.approx(rankme_of(z), rel=1e-12)
    assert get_proxy("alpha_req").compute(lm.base_model, batch, CTX) == pytest.approx(alpha_of(z), rel=1e-12)
    assert "Garrido" in get_proxy("rankme").card and "Agrawal" in get_proxy("alpha_req").card
