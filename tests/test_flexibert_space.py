"""FlexiBERT space: benchmark file, sampling, variation, keys, and parameter counts of the reference build."""
from __future__ import annotations

import json
import random
import statistics

import pytest
import torch

from swaplm.errors import SwapError
from swaplm.spaces import Record, get_space
from swaplm.spaces.base import Space
from swaplm.spaces.flexibert import FlexiBertArch, FlexiBertConfig, FlexiBertModel, FlexiBertSpace, LayerChoice
from swaplm.spaces.flexibert.benchmark import default_path, load_benchmark

GLUE_TASKS = ("cola", "mnli", "mrpc", "qnli", "qqp", "rte", "sst", "sts")


@pytest.fixture(scope="module")
def space() -> FlexiBertSpace:
    return FlexiBertSpace()


@pytest.fixture(scope="module")
def records(space) -> list[Record]:
    return space.benchmark()


# ------------------------------------------------------------------------------------------ benchmark
def test_space_protocol_and_registry(space):
    assert isinstance(space, Space)
    assert isinstance(get_space("nas-bench-bert"), FlexiBertSpace)
    assert space.name == "flexibert" and space.tasks[0] == "glue" and set(space.tasks[1:]) == set(GLUE_TASKS)
    p = space.protocol
    assert (p.n, p.repeats, p.init, p.mode, p.padding) == (128, 1, None, "train", "reference")


def test_benchmark_records(records):
    assert [r.id for r in records] == list(range(500))
    for r in records:
        assert set(r.scores) == {"glue", *GLUE_TASKS}
        assert r.scores["glue"] == pytest.approx(sum(r.scores[t] for t in GLUE_TASKS) / 8, abs=1e-9)
        assert 1382 < r.extra["time_to_train"] < 4462
    glue = [r.scores["glue"] for r in records]
    assert min(glue) == pytest.approx(53.66, abs=0.01) and max(glue) == pytest.approx(75.13, abs=0.01)
    assert records[0].scores["cola"] == 42.69 and records[47].scores["rte"] == 0


def test_benchmark_statistics_match_method_facts(records):
    assert sum(r.arch.hidden_size == 128 for r in records) == 251
    assert sum(len(r.arch.layers) == 2 for r in records) == 239
    ops = [l.operator for r in records for l in r.arch.layers]
    assert len(ops) == 1522
    assert {o: ops.count(o) for o in set(ops)} == {"SA-SDP": 259, "SA-WMA": 244, "LT-DFT": 278, "LT-DCT": 260,
                                                   "DSC-5": 259, "DSC-9": 222}


@pytest.mark.parametrize("content, match", [
    ("[{\"id\": 0, \"scores\": {", "corrupt or truncated"),
    ("{\"id\": 0}", "expected a JSON list"),
    ("[{\"id\": 0, \"time_to_train\": 1.0, \"scores\": {}, \"hparams\": {}}]", "record 0"),
])
def test_corrupt_benchmark_file_raises_swap_error(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SwapError, match=match):
        load_benchmark(path)


def test_invalid_architecture_in_file_is_reported(tmp_path):
    raw = json.loads(default_path().read_text())[:3]
    raw[2]["hparams"]["model_hparam_overrides"]["nas_config"]["encoder_layers"][0]["num_operation_heads"] = 3
    path = tmp_path / "bad_arch.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SwapError, match="record 2 is invalid.*num_operation_heads"):
        load_benchmark(path)


# ------------------------------------------------------------------------------------- sampling, keys
def test_sampling_reproduces_the_benchmark_draw(space, records):
    rng = random.Random(0)
    assert [space.sample(rng) for _ in range(500)] == [r.arch for r in records]


def test_keys_are_canonical_and_parseable(space, records):
    keys = [space.key(r.arch) for r in records]
    assert keys[0] == "h256/SA-WMA-h4-ff1024x3/LT-DCT-h2-ff512x3/SA-SDP-h4-ff512x3/SA-SDP-h4-ff1024x1"
    assert all(space.parse(k) == r.arch for k, r in zip(keys, records))
    assert len(set(keys)) == 491  # distinct configs in the file
    assert len({space.build_key(r.arch) for r in records}) == 457  # distinct reference builds
    faithful = FlexiBertSpace(build="faithful")
    assert faithful.build_key(records[0].arch) == keys[0]
    assert space.build_key(records[0].arch) == "ref/SA-WMA-h4-x3/LT-DCT-h2-x3/SA-SDP-h4-x3/SA-SDP-h4-x1"
    with pytest.raises(SwapError, match="invalid FlexiBERT key"):
        space.parse("h256/SA-XYZ-h4-ff1024x3/SA-SDP-h4-ff512x3")


def test_mutation_changes_exactly_what_it_may(space):
    rng = random.Random(1)
    faithful = FlexiBertSpace(build="faithful")
    for _ in range(300):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert isinstance(child, FlexiBertArch) and space.build_key(child) != space.build_key(arch)
        assert child.hidden_size == arch.hidden_size  # the reference build ignores hidden size ...
        if len(child.layers) == len(arch.layers):      # ... and FF dimensions: never spend a mutation on them
            assert [l.feed_forward_dimension for l in child.layers] == [l.feed_forward_dimension for l in arch.layers]
        f_child = faithful.mutate(arch, rng)
        assert faithful.key(f_child) != faithful.key(arch)
        diff = sum(a != b for a, b in zip(f_child.layers, arch.layers))
        assert diff <= 1 or len(f_child.layers) != len(arch.layers) or f_child.hidden_size != arch.hidden_size


def test_mutation_reaches_every_kind_of_change():
    space, rng = FlexiBertSpace(build="faithful"), random.Random(2)
    arch = FlexiBertArch(128, (LayerChoice("SA", "SDP", 2, 512, 1),) * 2)
    seen = set()
    for _ in range(400):
        child = space.mutate(arch, rng)
        if child.hidden_size != arch.hidden_size:
            seen.add("hidden")
        elif len(child.layers) != 2:
            seen.add("depth")
        else:
            (new,) = [c for c, p in zip(child.layers, arch.layers) if c != p]
            seen.update(f for f in LayerChoice.__dataclass_fields__
                        if getattr(new, f) != getattr(arch.layers[0], f) and f != "operation_parameter")
            if new.operation_type == "SA" and new.operation_parameter == "WMA":
                seen.add("operation_parameter")
    assert seen == {"hidden", "depth", "operation_type", "operation_parameter", "num_operation_heads",
                    "feed_forward_dimension", "num_feed_forward"}


def test_crossover_takes_each_gene_from_a_parent(space):
    rng = random.Random(3)
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        c = space.crossover(a, b, rng)
        assert c.hidden_size in (a.hidden_size, b.hidden_size)
        assert len(c.layers) in (len(a.layers), len(b.layers))
        for i, l in enumerate(c.layers):
            assert l in [p.layers[i] for p in (a, b) if i < len(p.layers)]


def test_trivial_baselines(space, records):
    assert space.num_layers(records[0].arch) == 4 and space.sum_feed_forward(records[0].arch) == 10
    assert space.sum_feed_forward(space.key(records[3].arch)) == sum(l.num_feed_forward for l in records[3].arch.layers)


# ------------------------------------------------------------------------- parameter counts (closed form)
V, E, P, T = 30522, 128, 512, 2   # vocab, embedding size, positions, token types
H, I = 256, 1024                  # reference build: hidden and FF width of every model


def embeddings_params() -> int:
    # word + position + token-type tables, embedding LayerNorm (gamma, beta), projection Linear(128 -> 256)
    return V * E + P * E + T * E + 2 * E + (E * H + H)


def self_output_params() -> int:
    return H * H + H + 2 * H  # Linear(H, H) + LayerNorm


def operator_params(layer: LayerChoice) -> int:
    if layer.operation_type == "SA":  # q, k, v Linear(H, H); WMA adds a bias-free Linear(H, H) on the query
        return 3 * (H * H + H) + (H * H if layer.operation_parameter == "WMA" else 0) + self_output_params()
    if layer.operation_type == "LT":  # one Linear(H, H); no SelfOutput
        return H * H + H
    k, heads = layer.operation_parameter, layer.num_operation_heads  # DSC
    a = max(1, heads // 2)              # attention heads
    width = a * (H // heads)            # attention (and conv) width = H / 2
    return (3 * (H * width + width)     # q, k, v
            + H * k + H * width + width  # separable conv: depthwise (no bias) + pointwise (+ bias)
            + width * a * k + a * k     # kernel generator Linear(width, heads * k)
            + H * width + width         # conv value projection
            + self_output_params())


def feed_forward_params(nff: int) -> int:
    return H * I + I + (nff - 1) * (I * I + I) + I * H + H + 2 * H  # in, stacked, out Linears + LayerNorm


def closed_form(arch: FlexiBertArch) -> int:
    return embeddings_params() + sum(operator_params(l) + feed_forward_params(l.num_feed_forward) for l in arch.layers)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("op,param", [("SA", "SDP"), ("SA", "WMA"), ("LT", "DFT"), ("LT", "DCT"), ("DSC", 5),
                                      ("DSC", 9)])
def test_every_layer_variant_matches_its_closed_form_term(op, param):
    for heads in (2, 4):
        for nff in (1, 3):
            layer = LayerChoice(op, param, heads, 512, nff)
            with torch.device("meta"):
                model = FlexiBertModel(FlexiBertConfig.from_record([layer.to_dict()], build="reference"))
            assert n_params(model.embeddings) + n_params(model.embeddings_project) == embeddings_params()
            assert n_params(model.encoder.layers[0].mixer) == operator_params(layer)
            assert n_params(model.encoder.layers[0].feed_forward) == feed_forward_params(nff)


def test_reference_builds_match_closed_form_and_published_counts(space, records):
    with torch.device("meta"):
        for r in records[::10]:  # 50 full builds
            assert n_params(space.build(r.arch)) == closed_form(r.arch)
    counts = [closed_form(r.arch) for r in records]
    # Serianni & Kalita's "Number of Parameters" column (data/BERT_results_activation.csv), ids 0-10
    published = [13330176, 11106199, 8840082, 5526167, 11104143, 5356549, 7654282, 13066752, 13437852, 9585920,
                 5557138]
    assert counts[:11] == published
    assert round(min(counts) / 1e6, 2) == 5.19 and round(max(counts) / 1e6, 2) == 15.57
    assert round(statistics.median(counts) / 1e6, 2) == 9.14


def test_faithful_build_uses_record_hidden_size(records):
    faithful = FlexiBertSpace(build="faithful")
    r = next(r for r in records if r.arch.hidden_size == 128)
    with torch.device("meta"):
        model = faithful.build(r.arch)
    assert model.config.hidden_size == 128 and model.config.intermediate_size == 512
    assert model.embeddings_project is None  # embedding size 128 == hidden: no projection
    assert n_params(model) < closed_form(r.arch)


def test_features_feed_the_report_baselines(space, records):
    rec = records[0]
    feats = space.features(rec.arch)
    assert feats == {"num_layers": space.num_layers(rec.arch), "sum_feed_forward": space.sum_feed_forward(rec.arch),
                     "layers+hidden": 1000 * space.num_layers(rec.arch) + rec.arch.hidden_size}
    assert feats["num_layers"] in (2, 4) and feats["num_layers"] <= feats["sum_feed_forward"] <= 3 * feats["num_layers"]


def test_inputs_accept_a_task_or_a_data_source(space):
    packed = space.inputs("glue", n=4, max_length=32)
    assert packed["input_ids"].shape == (4, 32) and bool(packed["attention_mask"].all())
    assert torch.equal(packed["input_ids"], space.inputs(None, n=4, max_length=32)["input_ids"])
    padded = space.inputs("builtin:sst2", n=16, max_length=64)
    assert padded["input_ids"].shape[0] == 16 and not bool(padded["attention_mask"].all())
