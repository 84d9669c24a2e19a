"""Zero-cost proxies: every registered proxy on a CNN, a tiny BERT and a FlexiBERT member (finite,
deterministic, model left untouched), plus known answers for params, flops, nwot, grasp and synflow."""
from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn as nn

from conftest import make_tiny_bert
from swaplm.errors import SwapError
from swaplm.proxies import ProxyContext, available, get_proxy
from swaplm.proxies.transformer import _pick
from swaplm.swap import Regularise

TRANSFORMER_ONLY = {"head_confidence", "synaptic_saliency", "synaptic_saliency_surrogate", "synaptic_diversity",
                    "mlm_loss", "w_pca", "v_pca", "meco", "dss", "zico", "lpzero"}
NEEDS_MLM_HEAD = {"mlm_loss"}  # these families' models have no masked-LM head (tests/test_rank_proxies.py has one)


# ----------------------------------------------------------------------------------------------- models
def small_convnet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def make_cnn() -> nn.Module:
    """A DARTS scoring network (the shipped space; a failure to build it is a failure of this test)."""
    from swaplm.spaces import get_space

    torch.manual_seed(0)
    space = get_space("darts")
    return space.build(space.sample(random.Random(1)))


def tiny_bert() -> nn.Module:
    return make_tiny_bert(hidden=32, intermediate=64, positions=32)


def text_batch(seed: int = 0, vocab: int = 100, pad_from: int | None = 12) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (8, 16), generator=g)
    mask = torch.ones(8, 16, dtype=torch.long)
    if pad_from is not None:  # half the batch padded: exercises the padding mask
        mask[:4, pad_from:] = 0
        ids[:4, pad_from:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(8, 16, dtype=torch.long)}


def flexibert_member():
    """A FlexiBERT member with every operation type (the shipped space: no skip if it fails to build)."""
    from swaplm.spaces import get_space
    from swaplm.spaces.flexibert import FlexiBertArch, LayerChoice

    space = get_space("flexibert")
    arch = FlexiBertArch(128, (LayerChoice("SA", "WMA", 4, 512, 1), LayerChoice("LT", "DFT", 2, 512, 1),
                               LayerChoice("DSC", 5, 4, 512, 3), LayerChoice("SA", "SDP", 2, 512, 1)))
    torch.manual_seed(0)
    return space.build(arch)


FAMILIES = {
    # (model factory, batch factory, context): the CNN uses the DARTS protocol (Gaussian re-init, train mode);
    # each context carries a size prior for swap_reg near its model's size (there is no default prior)
    "cnn": (make_cnn, lambda: torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)),
            ProxyContext(seed=3, init="gaussian", mode="train", labels=torch.arange(8) % 10, num_classes=10,
                         regularise=Regularise(2.0, 10.0, unit="k"))),
    "bert": (tiny_bert, text_batch, ProxyContext(seed=0, mode="eval", regularise=Regularise(20.0, 100.0, unit="k"))),
    "flexibert": (flexibert_member, lambda: text_batch(vocab=1000, pad_from=None),
                  ProxyContext(seed=0, mode="train", padding="reference", regularise=Regularise(2.0, 256.0, unit="M"))),
}
_MODELS: dict[str, nn.Module] = {}


def family(name: str):
    make, batch, ctx = FAMILIES[name]
    if name not in _MODELS:
        _MODELS[name] = make()
    return _MODELS[name], batch(), ctx


def snapshot(model: nn.Module):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()],
            [(p.requires_grad, p.grad) for p in model.parameters()])


def assert_unchanged(model: nn.Module, before) -> None:
    state, modes, flags = snapshot(model)
    assert state.keys() == before[0].keys()
    for k, v in state.items():
        assert v.dtype == before[0][k].dtype and torch.equal(v, before[0][k]), f"{k} changed"
    assert modes == before[1]
    assert flags == before[2]
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, "a hook was left behind"


# ------------------------------------------------------------------------------------- every proxy, every family
@pytest.mark.parametrize("fam", list(FAMILIES))
@pytest.mark.parametrize("name", available())
def test_proxy_runs_deterministic_and_clean(name, fam):
    model, batch, ctx = family(fam)
    proxy = get_proxy(name)
    before = snapshot(model)
    if (fam == "cnn" and name in TRANSFORMER_ONLY) or name in NEEDS_MLM_HEAD:
        with pytest.raises(SwapError, match="transformers"):
            proxy.compute(model, batch, ctx)
        assert_unchanged(model, before)
        return
    first = proxy.compute(model, batch, ctx)
    assert_unchanged(model, before)
    assert math.isfinite(first)
    if name == "swap_reg":  # the family's prior is near the model's size: not a factor of 0
        assert first > 0
    assert proxy.compute(model, batch, ctx) == first
    assert proxy.card and proxy.cost


def test_families_select_applicable_proxies():
    assert set(available("cnn")) == set(available()) - set(TRANSFORMER_ONLY)
    assert available("transformer") == available()
    assert all(get_proxy(n).families == ("transformer",) for n in TRANSFORMER_ONLY)


# ----------------------------------------------------------------------------------------------- known answers
def hand_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def test_params_and_flops_by_hand():
    net, x = hand_net(), torch.randn(5, 3, 8, 8)
    assert get_proxy("params").compute(net, x) == 4 * 3 * 3 * 3 + (144 * 10 + 10)
    conv = 2 * (4 * 6 * 6) * (3 * 3 * 3)  # multiply-adds per output element × outputs
    linear = 2 * 144 * 10
    assert get_proxy("flops").compute(net, x) == conv + linear  # per sample, independent of N = 5


def test_nwot_equals_direct_hamming_logdet():
    net, x = hand_net(), torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        codes = (net[0](x).reshape(8, -1) > 0).int()  # the ReLU's input, binarised
    n_units = codes.shape[1]
    K = torch.tensor([[n_units - int((codes[i] != codes[j]).sum()) for j in range(8)] for i in range(8)],
                     dtype=torch.float64)
    expected = torch.linalg.slogdet(K)[1].item()
    assert get_proxy("nwot").compute(net, x) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("rows, units, chunk", [(7, 1000, 1 << 22), (33, 5003, 64), (1, 300, 16), (70, 129, 70)])
def test_nwot_dense_kernel_equals_a_direct_count(monkeypatch, rows, units, chunk):
    """The one-matmul float32 accumulation gives the direct agreement count exactly: random values with
    exact zeros and -0.0 (ties: not > 0), odd sizes, and chunk sizes that split the units unevenly."""
    from swaplm.proxies import nwot

    g = torch.Generator().manual_seed(rows + units)
    x = torch.randn(rows, units, generator=g)
    x[torch.rand(rows, units, generator=g) < 0.2] = 0.0
    x[torch.rand(rows, units, generator=g) < 0.05] = -0.0
    monkeypatch.setattr(nwot, "CHUNK_ELEMENTS", chunk)
    K = torch.zeros(rows, rows, dtype=torch.float64)
    nwot._accumulate(K, x, None)
    nwot._accumulate(K, -x, None)  # accumulates across calls
    codes = [(x > 0).int(), (-x > 0).int()]
    direct = torch.tensor([[sum(int((c[i] == c[j]).sum()) for c in codes) for j in range(rows)]
                           for i in range(rows)], dtype=torch.float64)
    assert torch.equal(K, direct)


def test_grasp_equals_explicit_hessian():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 3, bias=False))
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    w1, w2 = (m.weight.detach().clone() for m in (net[0], net[2]))

    def loss(flat):
        a, b = flat[:12].view(4, 3), flat[12:].view(3, 4)
        return nn.functional.cross_entropy(torch.tanh(x @ a.t()) @ b.t(), y)

    theta = torch.cat([w1.flatten(), w2.flatten()])
    g = torch.autograd.grad(loss(theta.requires_grad_()), theta)[0]
    H = torch.autograd.functional.hessian(loss, theta.detach())
    expected = float(-(theta.detach() * (H @ g)).sum())
    got = get_proxy("grasp").compute(net, x, ProxyContext(labels=y))
    assert got == pytest.approx(expected, rel=1e-4)


def test_synflow_ignores_the_data():
    net = make_cnn()
    a, b = torch.randn(4, 3, 32, 32), 5 + 3 * torch.randn(8, 3, 32, 32)
    for name in ("synflow", "logsynflow"):
        assert get_proxy(name).compute(net, a) == get_proxy(name).compute(net, b)
    bert = tiny_bert()
    assert get_proxy("synflow").compute(bert, text_batch(1)) == get_proxy("synflow").compute(bert, text_batch(2))


# ------------------------------------------------------------------------------------------------ behaviour
def test_padded_tokens_do_not_matter():
    """With padding="mask", ids at padded positions change nothing (BERT masks them out of attention)."""
    bert, ctx = tiny_bert(), ProxyContext(seed=0, mode="eval")
    a, b = text_batch(), text_batch()
    b["input_ids"][:4, 12:] = 7
    for name in ("nwot", "head_confidence", "snip", "activation_distance"):
        assert get_proxy(name).compute(bert, a, ctx) == pytest.approx(get_proxy(name).compute(bert, b, ctx),
                                                                      rel=1e-5), name


def test_labels_init_and_seed_are_honoured():
    net, x = small_convnet(), torch.randn(8, 3, 16, 16)
    snip = get_proxy("snip")
    plain = snip.compute(net, x, ProxyContext(seed=0))
    assert snip.compute(net, x, ProxyContext(seed=0, labels=torch.arange(8) % 10)) != plain
    assert snip.compute(net, x, ProxyContext(seed=0, init="gaussian")) != plain
    assert snip.compute(net, x, ProxyContext(seed=1)) != plain  # the surrogate's random target follows the seed
    zen = get_proxy("zen")
    assert zen.compute(net, x, ProxyContext(seed=0)) != zen.compute(net, x, ProxyContext(seed=1))


def test_transformer_layer_patterns_on_bert():
    bert = tiny_bert()
    ff = {n for n, _ in _pick(bert, "ff")}
    mixing = {n for n, _ in _pick(bert, "mixing")}
    qkv = {n for n, _ in _pick(bert, "qkv")}
    for i in range(2):
        p = f"encoder.layer.{i}."
        assert {p + "intermediate.dense", p + "output.dense"} <= ff
        assert {p + "attention.self.query", p + "attention.self.key", p + "attention.self.value",
                p + "attention.output.dense"} <= mixing
        assert {p + "attention.self." + s for s in ("query", "key", "value")} <= qkv
    assert not ff & mixing and "pooler.dense" not in ff | mixing


def test_nan_is_reported():
    net = small_convnet()
    with torch.no_grad():
        net[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SwapError, match="not finite"):
        get_proxy("snip").compute(net, torch.randn(4, 3, 8, 8))
