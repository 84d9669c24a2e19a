"""FlexiBERT model: operators, spectral transforms, mask handling, HF registration and save/load."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn as nn
from transformers import AutoConfig, AutoModel
from transformers.activations import GELUActivation

from swaplm.activations import select
from swaplm.errors import SwapError
from swaplm.spaces.flexibert import FlexiBertConfig, FlexiBertModel
from swaplm.spaces.flexibert.modeling import FlexiBertDropout
from swaplm.spaces.flexibert.spectral import spectral_mix

OPERATORS = [("SA", "SDP"), ("SA", "WMA"), ("LT", "DFT"), ("LT", "DCT"), ("DSC", 5), ("DSC", 9)]


def layer(op="SA", param="SDP", heads=4, ffd=1024, nff=1):
    return {"operation_type": op, "operation_parameter": param, "num_operation_heads": heads,
            "feed_forward_dimension": ffd, "num_feed_forward": nff}


def small_model(layers, build="reference", hidden=64, seed=0, **kw) -> FlexiBertModel:
    torch.manual_seed(seed)
    cfg = FlexiBertConfig(layers=layers, build=build, hidden_size=hidden, intermediate_size=4 * hidden,
                          vocab_size=120, max_position_embeddings=64, **kw)
    return FlexiBertModel(cfg).eval()


# ------------------------------------------------------------------------------------------- spectral
@pytest.mark.parametrize("heads", [1, 2, 4])
def test_dft_equals_real_part_of_fft2_per_head(heads):
    x = torch.randn(3, 11, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = torch.fft.fft2(x.view(3, 11, heads, 16 // heads), dim=(1, 3)).real.reshape(3, 11, 16)
    torch.testing.assert_close(spectral_mix(x, "dft", heads), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_dct_equals_unnormalised_type2_dct_per_head(heads):
    x = torch.randn(2, 9, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = scipy.fft.dctn(x.view(2, 9, heads, 16 // heads).numpy(), type=2, axes=(1, 3))  # norm=None: factor 2
    torch.testing.assert_close(spectral_mix(x, "dct", heads), torch.from_numpy(ref).reshape(2, 9, 16),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["dft", "dct"])
def test_masked_spectral_mix_uses_each_samples_own_length(kind):
    x = torch.randn(3, 10, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False  # right padding
    mask[2, :3] = False  # left padding
    out = spectral_mix(x, kind, 2, mask)
    torch.testing.assert_close(out[0], spectral_mix(x[:1], kind, 2)[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(out[1, :6], spectral_mix(x[1:2, :6], kind, 2)[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(out[2, 3:], spectral_mix(x[2:3, 3:], kind, 2)[0], rtol=0, atol=1e-10)
    assert out[1, 6:].abs().max() == 0 and out[2, :3].abs().max() == 0


# ------------------------------------------------------------------------------------------ operators
@pytest.mark.parametrize("op,param", OPERATORS)
@pytest.mark.parametrize("heads", [2, 4])
@pytest.mark.parametrize("length", [1, 7, 33])
def test_operator_and_model_output_shapes(op, param, heads, length):
    model = small_model([layer(op, param, heads, nff=3), layer(op, param, heads)])
    x = torch.randn(2, length, 64)
    with torch.no_grad():
        assert model.encoder.layers[0].mixer(x).shape == (2, length, 64)
        out = model(input_ids=torch.randint(1, 120, (2, length)))
    assert out.last_hidden_state.shape == (2, length, 64)
    assert torch.isfinite(out.last_hidden_state).all()


def test_dsc_uses_half_the_heads_for_attention_and_matching_conv_width():
    for heads, attn_heads in ((2, 1), (4, 2)):
        mixer = small_model([layer("DSC", 9, heads)] * 2).encoder.layers[0].mixer
        assert mixer.heads == attn_heads and mixer.head_size == 64 // heads
        assert mixer.query.out_features == 32 and mixer.kernel.out_features == attn_heads * 9
        assert mixer.key_conv.depthwise.weight.shape == (64, 1, 9)


def _naive_attention(q, k, v, heads):
    """Per-head loops: softmax(q k^T / sqrt(d)) v for (L, heads*d) matrices of one sample."""
    d = q.shape[1] // heads
    outs = []
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        outs.append(torch.softmax(q[:, sl] @ k[:, sl].T / d ** 0.5, dim=-1) @ v[:, sl])
    return outs  # list of (L, d)


@pytest.mark.parametrize("weighted", [False, True])
def test_self_attention_matches_naive_per_head_loop(weighted):
    model = small_model([layer("SA", "WMA" if weighted else "SDP", 4)] * 2)
    mix = model.encoder.layers[0].mixer
    x = torch.randn(2, 6, 64)
    with torch.no_grad():
        out = mix(x)
        for b in range(2):
            q = mix.query(x[b])
            q = mix.weight(q) if weighted else q
            ctx = torch.cat(_naive_attention(q, mix.key(x[b]), mix.value(x[b]), 4), dim=1)
            torch.testing.assert_close(out[b], mix.output(ctx, x[b]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("heads,ksize", [(2, 5), (4, 9)])
def test_dynamic_conv_matches_naive_position_loop(heads, ksize):
    model = small_model([layer("DSC", ksize, heads)] * 2)
    mix = model.encoder.layers[0].mixer
    a, d, length = mix.heads, mix.head_size, 7
    x = torch.randn(2, length, 64)
    with torch.no_grad():
        out = mix(x)
        for b in range(2):
            q = mix.query(x[b])
            key_conv = mix.key_conv(x[b].T.unsqueeze(0))[0].T  # (L, a*d)
            taps = torch.softmax(mix.kernel(key_conv * q).view(length, a, ksize), dim=-1)
            values = mix.conv_out(x[b])
            conv = torch.zeros(length, a, d)
            for pos in range(length):
                for h in range(a):
                    for j in range(ksize):
                        src = pos + j - ksize // 2
                        if 0 <= src < length:
                            conv[pos, h] += taps[pos, h, j] * values[src, h * d:(h + 1) * d]
            att = _naive_attention(q, mix.key(x[b]), mix.value(x[b]), a)
            mixed = torch.cat([torch.stack(att, 1), conv], dim=1).reshape(length, 64)  # attention heads, then conv
            torch.testing.assert_close(out[b], mix.output(mixed, x[b]), rtol=0, atol=1e-5)


def test_lt_has_no_output_projection_and_wma_has_bias_free_query_weight():
    model = small_model([layer("LT", "DFT"), layer("SA", "WMA")])
    lt, wma = model.encoder.layers[0].mixer, model.encoder.layers[1].mixer
    assert [n for n, _ in lt.named_parameters()] == ["input.weight", "input.bias"]
    assert wma.weight.bias is None and wma.weight.weight.shape == (64, 64)


def test_shared_gelu_fires_num_feed_forward_times_per_layer():
    model = small_model([layer(nff=3), layer("LT", "DCT", nff=1), layer("DSC", 5, nff=3), layer(nff=1)])
    gelus = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.GELU, GELUActivation))]
    assert [n for n, _ in gelus] == [f"encoder.layers.{i}.feed_forward.act" for i in range(4)]
    calls = {n: 0 for n, _ in gelus}
    for n, m in gelus:
        m.register_forward_hook(lambda mod, i, o, n=n: calls.__setitem__(n, calls[n] + 1))
    with torch.no_grad():
        model(input_ids=torch.randint(1, 120, (2, 5)))
    assert list(calls.values()) == [3, 1, 3, 1]
    assert [n for n, _ in select(model)] == [n for n, _ in gelus]  # exactly what SWAP hooks by default


def test_faithful_feed_forward_widths_follow_the_record():
    cfg = FlexiBertConfig.from_record({"hidden_size": 128, "nas_config": {"encoder_layers": [
        layer(ffd=512, nff=3), layer("LT", "DFT", 2, ffd=1024, nff=1)]}}, build="faithful")
    model = FlexiBertModel(cfg)
    ff0, ff1 = (l.feed_forward for l in model.encoder.layers)
    assert (ff0.dense_in.in_features, ff0.dense_in.out_features) == (128, 512)
    assert [(d.in_features, d.out_features) for d in ff0.dense_hidden] == [(512, 512), (512, 512)]
    assert (ff0.dense_out.in_features, ff0.dense_out.out_features) == (512, 128)
    assert (ff1.dense_in.out_features, ff1.dense_out.in_features, len(ff1.dense_hidden)) == (512, 512, 0)
    ref = FlexiBertModel(FlexiBertConfig.from_record(cfg.layers, build="reference"))
    assert ref.config.hidden_size == 256
    assert all(d.out_features == 1024 for d in ref.encoder.layers[0].feed_forward.dense_hidden)


@torch.no_grad()
def test_hf_init_statistics():
    model = small_model([layer("DSC", 5, 4), layer()], hidden=256)
    w = model.encoder.layers[0].feed_forward.dense_in.weight
    assert abs(float(w.std()) - 0.02) < 0.001 and float(model.encoder.layers[0].feed_forward.dense_in.bias.abs().max()) == 0
    assert float(model.embeddings.word_embeddings.weight[0].abs().max()) == 0  # pad row
    conv = model.encoder.layers[0].mixer.key_conv
    assert abs(float(conv.pointwise.weight.std()) - 0.02) < 0.002 and float(conv.pointwise.bias.abs().max()) == 0
    ln = model.encoder.layers[0].feed_forward.LayerNorm
    assert bool((ln.weight == 1).all()) and bool((ln.bias == 0).all())


def test_invalid_layers_raise_swap_error():
    with pytest.raises(SwapError, match="operation_parameter"):
        FlexiBertConfig(layers=[layer("LT", "SDP")])
    with pytest.raises(SwapError, match="num_operation_heads"):
        FlexiBertConfig(layers=[layer(heads=3)])
    with pytest.raises(SwapError, match="build"):
        FlexiBertConfig(build="tf")
    model = small_model([layer()] * 2)
    with pytest.raises(SwapError, match="max_position_embeddings"):
        model(input_ids=torch.ones(1, 65, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- masks
def _padded_batch(lengths, total, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 120, (len(lengths), total), generator=g)
    mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ids * mask, mask  # pad id 0


@pytest.mark.parametrize("op,param", OPERATORS)
@pytest.mark.parametrize("heads", [2, 4])
def test_faithful_build_padding_never_changes_real_positions(op, param, heads):
    model = small_model([layer(op, param, heads, nff=3), layer(op, param, heads)], build="faithful")
    lengths = [12, 7, 3]
    ids, mask = _padded_batch(lengths, 12, seed=5)
    with torch.no_grad():
        base = model(input_ids=ids, attention_mask=mask).last_hidden_state
        noisy = torch.where(mask.bool(), ids, torch.randint(1, 120, ids.shape))  # other tokens at padded slots
        other = model(input_ids=noisy, attention_mask=mask).last_hidden_state
        longer_ids = torch.cat([ids, torch.randint(1, 120, (3, 9))], 1)  # 9 more padded positions
        longer = model(input_ids=longer_ids, attention_mask=torch.cat([mask, torch.zeros(3, 9, dtype=torch.long)], 1))
        alone = [model(input_ids=ids[i:i + 1, :n]).last_hidden_state[0] for i, n in enumerate(lengths)]
    for i, n in enumerate(lengths):
        torch.testing.assert_close(other[i, :n], base[i, :n], rtol=0, atol=1e-5)
        torch.testing.assert_close(longer.last_hidden_state[i, :n], base[i, :n], rtol=0, atol=1e-5)
        torch.testing.assert_close(alone[i], base[i, :n], rtol=0, atol=1e-5)


@pytest.mark.parametrize("op,param", OPERATORS)
def test_reference_build_ignores_the_mask(op, param):
    model = small_model([layer(op, param, 4), layer(op, param, 2)], build="reference")
    ids, mask = _padded_batch([12, 5], 12, seed=6)
    with torch.no_grad():
        with_mask = model(input_ids=ids, attention_mask=mask).last_hidden_state
        without = model(input_ids=ids).last_hidden_state
        noisy = torch.where(mask.bool(), ids, torch.randint(1, 120, ids.shape))
        other = model(input_ids=noisy, attention_mask=mask).last_hidden_state
    assert torch.equal(with_mask, without)
    assert (other[1, :5] - with_mask[1, :5]).abs().max() > 1e-3  # pad tokens leak into real positions


# ------------------------------------------------------------------------------------ HF integration
def test_auto_classes_and_save_load_round_trip(tmp_path):
    cfg = AutoConfig.for_model("flexibert", layers=[layer("DSC", 9, 2, nff=3), layer("LT", "DCT", 4)],
                               build="faithful", hidden_size=128, intermediate_size=512)
    assert isinstance(cfg, FlexiBertConfig)
    torch.manual_seed(0)
    model = AutoModel.from_config(cfg).eval()
    assert isinstance(model, FlexiBertModel)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, FlexiBertModel)
    assert loaded.config.layers == cfg.layers and loaded.config.build == "faithful"
    ids, mask = _padded_batch([10, 4], 10, seed=7)
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask).last_hidden_state
        b = loaded(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(a, b)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in loaded.parameters())


def test_output_tuple_and_hidden_states():
    model = small_model([layer(), layer("LT", "DFT")])
    ids = torch.randint(1, 120, (2, 6))
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        tup = model(input_ids=ids, return_dict=False)
    assert len(out.hidden_states) == 3 and torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert torch.equal(tup[0], out.last_hidden_state)


# ------------------------------------------------------------------------------------------- dropout
def test_fast_dropout_rate_scaling_and_determinism():
    drop = FlexiBertDropout(0.1)
    x = torch.ones(400, 500)
    torch.manual_seed(0)
    y = drop(x)
    rate = float((y == 0).float().mean())
    assert abs(rate - 0.1) < 0.003  # 200k draws: 3 sigma ~ 0.002
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 65536 / (65536 - 6554)))
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)
    drop.eval()
    assert drop(x) is x


def test_train_mode_is_stochastic_and_eval_mode_deterministic():
    model = small_model([layer(nff=3), layer("DSC", 5)])
    ids = torch.randint(1, 120, (2, 8))
    with torch.no_grad():
        e1, e2 = (model(input_ids=ids).last_hidden_state for _ in range(2))
        model.train()
        t1, t2 = (model(input_ids=ids).last_hidden_state for _ in range(2))
    assert torch.equal(e1, e2) and not torch.equal(t1, t2)
    assert np.isfinite(t1.numpy()).all()
