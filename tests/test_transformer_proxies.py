"""Transformer proxies from the literature (w_pca, v_pca, meco, dss, zico, lpzero) and the published forms of
Serianni & Kalita's synaptic_saliency and activation_distance: each against a plain computation of its definition
written here, and finite on tiny FlexiBERT, BERT, RoBERTa, MiniLM, GPT-2 and Llama models built from configs."""
from __future__ import annotations

import copy
import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import (BertConfig, BertForMaskedLM, BertModel, GPT2Config, GPT2LMHeadModel, GPT2Model,
                          LlamaConfig, LlamaModel, RobertaConfig, RobertaModel)

from swaplm.errors import SwapError
from swaplm.proxies import ProxyContext, available, get_proxy

NEW = ("w_pca", "v_pca", "meco", "dss", "zico", "lpzero")
FIXED = ("synaptic_saliency", "activation_distance")
EVAL = ProxyContext(seed=0, mode="eval")


# ----------------------------------------------------------------------------------------------- models
def bert(layers: int = 2, hidden: int = 32, ff: int = 64) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=100, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                                intermediate_size=ff, max_position_embeddings=32))


def minilm() -> BertModel:  # MiniLM is a BERT architecture: deeper, narrower
    return bert(layers=3, hidden=24, ff=48)


def roberta() -> RobertaModel:
    torch.manual_seed(0)
    return RobertaModel(RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=40, pad_token_id=1))


def gpt2(head: bool = False) -> nn.Module:
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=32, bos_token_id=0,
                     eos_token_id=0)
    return GPT2LMHeadModel(cfg) if head else GPT2Model(cfg)


def llama() -> LlamaModel:
    torch.manual_seed(0)
    return LlamaModel(LlamaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  num_key_value_heads=2, intermediate_size=64, max_position_embeddings=32,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=0))


def flexibert() -> nn.Module:
    """A two-layer FlexiBERT member (faithful build, hidden 128) with an attention and a DSC layer."""
    from swaplm.spaces import get_space
    from swaplm.spaces.flexibert import FlexiBertArch, LayerChoice

    space = get_space("flexibert", build="faithful")
    torch.manual_seed(0)
    return space.build(FlexiBertArch(128, (LayerChoice("SA", "SDP", 2, 512, 3), LayerChoice("DSC", 5, 4, 512, 1))))


def text_batch(n: int = 8, length: int = 16, vocab: int = 100, pad: bool = True, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, vocab, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    if pad:
        mask[: n // 2, 12:] = 0
        ids[: n // 2, 12:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def hook_outputs(modules, pre: bool = False) -> tuple[list, list]:
    """Forward hooks recording each module's output (or first input with ``pre``); returns (records, handles)."""
    rec: list = []

    def hook(_m, args, out):
        rec.append((args[0] if pre else (out[0] if isinstance(out, tuple) else out)).detach())

    return rec, [m.register_forward_hook(hook) for m in modules]


def eval_records(model, batch, modules, pre: bool = False) -> list:
    """What :func:`hook_outputs` records during one no-grad eval-mode forward of ``model`` on ``batch``."""
    rec, handles = hook_outputs(modules, pre)
    model.eval()
    with torch.no_grad():
        model(**batch)
    for h in handles:
        h.remove()
    return rec


def real_rows(h: torch.Tensor, batch: dict) -> np.ndarray:
    return h[batch["attention_mask"].bool()].double().numpy()


# ------------------------------------------------------------------------------------------ registration
def test_registered_for_transformers_only(capsys, monkeypatch):
    for name in NEW + FIXED[:1] + ("synaptic_saliency_surrogate",):
        p = get_proxy(name)
        assert p.families == ("transformer",) and name in available("transformer") and name not in available("cnn")
        assert p.card and p.cost
    from swaplm.cli import main

    monkeypatch.setattr(sys, "argv", ["swaplm", "proxies", "--json"])
    capsys.readouterr()
    try:
        main()
    except SystemExit as e:
        assert not e.code
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    for name in ("w_pca", "meco", "dss", "zico", "lpzero"):
        assert listed[name]["families"] == ["transformer"]
    assert "0-49" in listed["lpzero"]["card"]  # the label leakage is on the card
    for name, paper in (("w_pca", "ICLR 2025"), ("meco", "NeurIPS 2023"), ("dss", "CVPR 2022"),
                        ("zico", "ICLR 2023"), ("lpzero", "EMNLP 2024")):
        assert paper in listed[name]["card"]


def test_cnn_is_refused():
    net, x = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)), torch.randn(4, 3, 8, 8)
    for name in NEW:
        with pytest.raises(SwapError, match="transformers"):
            get_proxy(name).compute(net, x)


# ----------------------------------------------------------------------------- finite on every model family
FAMILIES = {"flexibert": (flexibert, 1000), "bert": (bert, 100), "roberta": (roberta, 100), "minilm": (minilm, 100),
            "gpt2": (gpt2, 100), "llama": (llama, 100)}


@pytest.mark.parametrize("fam", list(FAMILIES))
def test_finite_and_clean_on_every_family(fam):
    make, vocab = FAMILIES[fam]
    model = make()
    batch = text_batch(n=16 if fam == "flexibert" else 8, vocab=vocab, pad=fam != "flexibert")
    ctx = ProxyContext(seed=0, mode="train", padding="reference") if fam == "flexibert" else EVAL
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name in NEW + FIXED:
        value = get_proxy(name).compute(model, batch, ctx)
        assert math.isfinite(value), (fam, name)
        assert get_proxy(name).compute(model, batch, ctx) == value, (fam, name)  # seeded: deterministic
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------- each against a plain computation
def pca_count(z: np.ndarray, eta: float = 0.99) -> int:
    lam = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1].clip(min=0)
    share = np.cumsum(lam) / lam.sum()
    return int(np.argmax(share > eta)) + 1


@pytest.mark.parametrize("make", [bert, gpt2, llama])
def test_w_pca_and_v_pca_by_hand(make):
    model, batch = make(), text_batch()
    first = {bert: lambda m: [l.intermediate.dense for l in m.encoder.layer],
             gpt2: lambda m: [b.mlp.c_fc for b in m.h],
             llama: lambda m: [l.mlp.gate_proj for l in m.layers]}[make](model)
    rec = eval_records(model, batch, first)
    v = sum(pca_count(real_rows(h, batch)) for h in rec)
    assert 0 < v <= sum(h.shape[-1] for h in rec)
    assert get_proxy("v_pca").compute(model, batch, EVAL) == v
    params = sum(p.numel() for p in model.parameters())
    assert get_proxy("w_pca").compute(model, batch, EVAL) == params * v
    assert get_proxy("w_pca").derive({"v_pca": v, "params": params}, EVAL) == params * v


def min_corr_eig(z: np.ndarray) -> float:
    c = np.nan_to_num(np.corrcoef(z, rowvar=False))
    return float(np.linalg.eigvalsh(c)[0])


def test_meco_by_hand_pre_and_post_ln():
    # pre-LN GPT-2: the block outputs themselves
    model, batch = gpt2(), text_batch()
    rec = eval_records(model, batch, list(model.h))
    expected = sum(min_corr_eig(real_rows(h, batch)) for h in rec)
    assert get_proxy("meco").compute(model, batch, EVAL) == pytest.approx(expected, rel=1e-7, abs=1e-12)
    # post-LN BERT: the input of each block's final LayerNorm (its output is singular: rows sum to 0)
    model = bert()
    rec = eval_records(model, batch, [l.output.LayerNorm for l in model.encoder.layer], pre=True)
    expected = sum(min_corr_eig(real_rows(h, batch)) for h in rec)
    assert expected > 1e-9
    assert get_proxy("meco").compute(model, batch, EVAL) == pytest.approx(expected, rel=1e-6)


def test_dss_by_hand():
    model = bert()
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    ones = {"input_ids": torch.ones(1, 16, dtype=torch.long), "attention_mask": torch.ones(1, 16, dtype=torch.long)}
    keep = {}  # R = Σ of the final LayerNorm's input (Σ of its output is constant)
    handle = net.encoder.layer[-1].output.LayerNorm.register_forward_hook(lambda m, a, o: keep.setdefault("x", a[0]))
    net(**ones)
    handle.remove()
    keep["x"].sum().backward()
    expected = 0.0
    for name, m in net.named_modules():
        if isinstance(m, nn.Linear) and m.weight.grad is not None:
            w, g = m.weight.detach().numpy(), m.weight.grad.numpy()
            if "attention" in name:
                expected += np.linalg.norm(w, "nuc") * np.linalg.norm(g, "nuc")
            else:
                expected += np.abs(w * g).sum()
    got = get_proxy("dss").compute(model, text_batch(), EVAL)
    assert got == pytest.approx(expected, rel=1e-9)
    assert get_proxy("dss").compute(model, text_batch(seed=5), EVAL) == got  # data-free


def zico_by_hand(grads: list[dict]) -> float:
    total = 0.0
    for name in grads[0]:
        g = np.stack([gr[name] for gr in grads])
        std = g.std(axis=0)
        nz = std > 0
        s = (np.abs(g).mean(axis=0)[nz] / std[nz]).sum()
        if s > 0:
            total += math.log(s)
    return total


def linear_grads(model) -> dict:
    return {n: m.weight.grad.double().numpy().copy() for n, m in model.named_modules()
            if (isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D") and m.weight.grad is not None}


def test_zico_by_hand_causal_lm_head():
    model, batch = gpt2(head=True), text_batch()
    model.eval()
    grads = []
    for part in range(2):
        sl = slice(4 * part, 4 * part + 4)
        ids, am = batch["input_ids"][sl], batch["attention_mask"][sl]
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=ids, attention_mask=am).logits
        ok = (am[:, :-1] * am[:, 1:]).bool()  # position t predicts token t+1, both real
        F.cross_entropy(logits[:, :-1][ok], ids[:, 1:][ok]).backward()
        grads.append(linear_grads(model))
    model.zero_grad(set_to_none=True)
    assert get_proxy("zico").compute(model, batch, EVAL) == pytest.approx(zico_by_hand(grads), rel=1e-6)


def test_zico_by_hand_masked_lm_tied_readout():
    from swaplm.proxies.mlm_loss import mask_positions  # the shared seeded choice of positions

    model, batch = bert(), text_batch()
    model.eval()
    mask_id = model.config.vocab_size - 1
    special = (0, mask_id)  # pad id of the config, and the mask id
    grads = []
    for part in range(2):
        sub = {k: v[4 * part:4 * part + 4] for k, v in batch.items()}
        pos = mask_positions(sub, special, seed=part)
        assert pos.any() and not (pos & ~sub["attention_mask"].bool()).any()
        model.zero_grad(set_to_none=True)
        h = model(input_ids=sub["input_ids"].masked_fill(pos, mask_id), attention_mask=sub["attention_mask"])[0]
        logits = h[pos] @ model.embeddings.word_embeddings.weight.detach().T
        F.cross_entropy(logits, sub["input_ids"][pos]).backward()
        grads.append(linear_grads(model))
    model.zero_grad(set_to_none=True)
    assert get_proxy("zico").compute(model, batch, EVAL) == pytest.approx(zico_by_hand(grads), rel=1e-6)


def test_lpzero_by_hand():
    model, batch = llama(), text_batch(pad=False)  # RMSNorm output: Σ out has a real gradient
    model.eval()
    out = model(**batch).last_hidden_state
    out.backward(torch.ones_like(out))
    terms = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and "self_attn" in name:
            w, g = m.weight.detach().double(), m.weight.grad.double()
            sm = torch.exp(g) / torch.exp(g).sum(dim=0, keepdim=True)
            terms.append(float((w ** 2).mean() + (sm ** 2).mean()))
    model.zero_grad(set_to_none=True)
    assert len(terms) == 8
    assert get_proxy("lpzero").compute(model, batch, EVAL) == pytest.approx(sum(terms) / len(terms), rel=1e-9)


@pytest.mark.parametrize("make", [bert, llama])
def test_synaptic_saliency_is_the_published_sum_of_outputs(make):
    model, batch = make(), text_batch(pad=False)
    model.eval()
    out = model(**batch).last_hidden_state
    out.backward(torch.ones_like(out))  # Serianni & Kalita: backward of Σ last_hidden_state
    ff = ([(l.intermediate.dense, l.output.dense) for l in model.encoder.layer] if make is bert else
          [(l.mlp.gate_proj, l.mlp.up_proj, l.mlp.down_proj) for l in model.layers])
    expected = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for group in ff for m in group)
    model.zero_grad(set_to_none=True)
    got = get_proxy("synaptic_saliency").compute(model, batch, EVAL)
    assert got == pytest.approx(expected, rel=1e-5)
    if make is bert:  # behind BERT's final LayerNorm Σ out is constant: only rounding is left
        assert got < 1e-3 * get_proxy("synaptic_saliency_surrogate").compute(model, batch, EVAL)


def test_activation_distance_by_hand():
    model, batch = bert(), text_batch()
    rec = eval_records(model, batch, [l.intermediate.intermediate_act_fn for l in model.encoder.layer])
    expected = 0.0
    for h in rec:  # sample 0, its real tokens as rows, units as columns
        x = (h[0][batch["attention_mask"][0].bool()] > 0).double().numpy()
        expected += (x @ x.T + (1 - x) @ (1 - x).T).sum()
    assert get_proxy("activation_distance").compute(model, batch, EVAL) == expected
