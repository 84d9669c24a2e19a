"""SWAP variants (swaplm.proxies.swap_variants) and rank ensembles (swaplm.stats.rank_ensemble), each against a
plain computation written here (sign patterns as Python tuples, counted with a set)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from swaplm import swap_score
from swaplm.proxies import ProxyContext, available, get_proxy
from swaplm.proxies.swap_variants import profile, variant
from swaplm.stats import rank_ensemble


class TextNet(nn.Module):
    """(N, L) token ids -> two GELU layers of (N, L, D) outputs (the second called twice, like FlexiBERT's
    shared FF activation)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(50, 8)
        self.fc1, self.fc2, self.fc3 = nn.Linear(8, 6), nn.Linear(6, 5), nn.Linear(5, 5)
        self.act1, self.act2 = nn.GELU(), nn.GELU()

    def forward(self, input_ids, attention_mask=None):
        h = self.act1(self.fc1(self.emb(input_ids)))
        h = self.act2(self.fc2(h))
        return self.act2(self.fc3(h))


def batch(n=12, length=6, pad=False):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    if pad:
        mask[: n // 2, length - 2:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def outputs(model, b, inputs=False):
    """The hooked GELU outputs (or inputs), in call order."""
    got = []
    hs = [m.register_forward_hook(lambda mod, i, o: got.append((i[0] if inputs else o).detach().clone()))
          for m in (model.act1, model.act2)]
    torch.manual_seed(0)
    with torch.no_grad():
        model(**b)
    for h in hs:
        h.remove()
    return got


def plain_distinct(x, keep=None):
    """Distinct per-neuron sign patterns of x (N, V) (column j's pattern over the N rows); keep zeroes states."""
    s = torch.sign(x)
    if keep is not None:
        s = s * keep
    return len({tuple(s[:, j].tolist()) for j in range(s.shape[1])})


def test_pooled_equals_swap_and_layers_are_plain_counts():
    model, b = TextNet(), batch()
    ctx = ProxyContext(mode="eval", padding="reference")
    prof = profile(model, b, ctx)[0]
    outs = outputs(model, b)
    assert len(prof.layers) == 3
    for lay, o in zip(prof.layers, outs):
        x = o.reshape(o.shape[0], -1)
        assert lay.neurons == x.shape[1]
        assert lay.distinct == plain_distinct(x)
    assert prof.pooled == plain_distinct(torch.cat([o.reshape(o.shape[0], -1) for o in outs], 1))
    assert prof.pooled == swap_score(model, b, mode="eval", padding="reference").raw_score
    assert get_proxy("swap_pooled").compute(model, b, ctx) == prof.pooled


def test_layer_log_and_mean():
    model, b = TextNet(), batch()
    ctx = ProxyContext(mode="eval", padding="reference")
    outs = [o.reshape(o.shape[0], -1) for o in outputs(model, b)]
    counts = [plain_distinct(x) for x in outs]
    assert get_proxy("swap_layer_log").compute(model, b, ctx) == pytest.approx(sum(math.log(c) for c in counts))
    assert get_proxy("swap_layer_mean").compute(model, b, ctx) == pytest.approx(
        np.mean([c / x.shape[1] for c, x in zip(counts, outs)]))


def test_tokens_as_samples():
    model, b = TextNet(), batch()
    ctx = ProxyContext(mode="eval", padding="reference")
    t = 4
    counts, rows = [], []
    for o in outputs(model, b):  # (N, L, D): the pattern of unit d of sample i over its first t positions
        pats = {tuple(torch.sign(o[i, :t, d]).tolist()) for i in range(o.shape[0]) for d in range(o.shape[2])}
        counts.append(len(pats))
        rows.append(o.shape[0] * o.shape[2])
    p = variant("tokens", "mean", tokens=t)
    assert p.compute(model, b, ctx) == pytest.approx(np.mean([c / r for c, r in zip(counts, rows)]))
    assert variant("tokens", "log", tokens=t).compute(model, b, ctx) == pytest.approx(sum(map(math.log, counts)))
    # fewer positions than T: all positions are used
    assert variant("tokens", "log", tokens=99).compute(model, b, ctx) == pytest.approx(
        variant("tokens", "log", tokens=6).compute(model, b, ctx))


def test_small_groups():
    model, b = TextNet(), batch(n=12)
    ctx = ProxyContext(mode="eval", padding="reference")
    n = 4
    counts = []
    for o in outputs(model, b):
        x = o.reshape(o.shape[0], -1)
        counts.append(np.mean([plain_distinct(x[g * n:(g + 1) * n]) for g in range(3)]))
    assert variant("small", "log", n=n).compute(model, b, ctx) == pytest.approx(sum(map(math.log, counts)))
    # a group as large as the batch: the full count
    assert variant("small", "log", n=64).compute(model, b, ctx) == pytest.approx(
        get_proxy("swap_layer_log").compute(model, b, ctx))


def test_pre_activation_and_padding_mask():
    model, b = TextNet(), batch(pad=True)
    ctx = ProxyContext(mode="eval", padding="mask")
    ins, outs = outputs(model, b, inputs=True), outputs(model, b)
    keep = b["attention_mask"].bool()
    flat = []
    for i in ins:
        k = keep[:, :, None].expand_as(i).reshape(i.shape[0], -1).float()
        flat.append(torch.sign(i.reshape(i.shape[0], -1)) * k)
    assert get_proxy("swap_pre").compute(model, b, ctx) == plain_distinct(torch.cat(flat, 1))
    prof = profile(model, b, ctx)[0]
    for lay, o in zip(prof.layers, outs):
        k = keep[:, :, None].expand_as(o).reshape(o.shape[0], -1).float()
        assert lay.distinct == plain_distinct(o.reshape(o.shape[0], -1), k)
    assert prof.pooled == swap_score(model, b, mode="eval", padding="mask").raw_score


def test_repeats_with_init_match_swap_and_leave_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = ProxyContext(seed=2, repeats=3, init="gaussian", mode="train")
    got = get_proxy("swap_pooled").compute(model, x, ctx)
    assert got == swap_score(model, x, repeats=3, init="gaussian", seed=2, mode="train").raw_score
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # tokens on a CNN: the first T spatial positions of each (sample, channel)
    assert math.isfinite(get_proxy("swap_tokens_mean").compute(model, x, ctx))


def test_registered_variants_are_transformer_and_cnn_proxies():
    for name in ("swap_layer_log", "swap_layer_mean", "swap_tokens_log", "swap_tokens_mean", "swap_small_log",
                 "swap_small_mean", "swap_pre"):
        assert name in available("transformer") and name in available("cnn")
        assert get_proxy(name).card


def test_rank_ensemble_plain():
    a = [3.0, 1.0, 2.0, None]
    b = [10.0, 30.0, 20.0, 40.0]
    got = rank_ensemble([a, b], higher_is_better=[True, False])
    ra = np.array([3, 1, 2, 0]) / 3  # None is worst
    rb = np.array([3, 1, 2, 0]) / 3  # lower is better
    assert np.allclose(got, (ra + rb) / 2)
    w = rank_ensemble([a, [1, 2, 3, 4]], weights=[3, 1])
    assert np.allclose(w, (3 * ra + np.array([0, 1, 2, 3]) / 3) / 4)
    ties = rank_ensemble([[1, 1, 2]])
    assert np.allclose(ties, [0.25, 0.25, 1.0])
    with pytest.raises(ValueError):
        rank_ensemble([[1, 2], [1, 2, 3]])
