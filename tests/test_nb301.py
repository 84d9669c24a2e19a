"""NAS-Bench-301 space: genotype checks and keys, NASLib's compact key on every shipped row, the network NB-301
trained (against NASLib's per-arch parameter counts), the shipped 725-arch sample, variation and inputs."""
from __future__ import annotations

import ast
import csv
import gzip
import io
import random

import pytest
import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.spaces import get_space
from swaplm.spaces.base import Space
from swaplm.spaces.darts_cnn import Genotype
from swaplm.spaces.nb301 import (CONCAT, OPS, NB301Network, NB301Space, check_arch, format_arch, from_naslib_key,
                                 naslib_key, parse_arch)
from swaplm.spaces.nb301 import space as space_module
from swaplm.spaces.nb301.benchmark import COLUMNS, CSV_PATH, load_benchmark

SPACE = NB301Space()

# NASLib's stored parameter counts (millions) of NB-301 archs: automl/NASLib, naslib/data/zc_nasbench301.json as
# stored at commit 0b116007d41832a6c52a7cfbb91c00d9b9aef7a3, the first 8 entries of "nasbench301" -> "cifar10"
# (key -> "params"). That version of the file holds another sample than the shipped one (one key in common,
# row 244); parameter counts are facts of the architecture alone.
NASLIB_PARAMS_M = {
    "[[(0, 4), (1, 3), (0, 2), (2, 3), (2, 3), (0, 3), (2, 6), (3, 5)], "
    "[(0, 3), (1, 3), (1, 1), (0, 5), (2, 3), (0, 2), (4, 4), (3, 1)]]": 1.204906,
    "[[(1, 1), (0, 6), (1, 1), (0, 3), (1, 1), (2, 5), (0, 1), (4, 4)], "
    "[(0, 1), (1, 1), (0, 4), (2, 4), (0, 4), (1, 5), (2, 4), (4, 0)]]": 0.920618,
    "[[(0, 1), (1, 0), (0, 2), (1, 4), (1, 2), (2, 6), (3, 4), (4, 3)], "
    "[(1, 1), (0, 1), (0, 3), (1, 5), (2, 6), (3, 0), (4, 0), (0, 1)]]": 0.84945,
    "[[(1, 3), (0, 3), (0, 3), (1, 5), (1, 0), (3, 3), (4, 3), (2, 2)], "
    "[(0, 1), (1, 1), (0, 5), (1, 6), (0, 5), (3, 4), (3, 4), (2, 2)]]": 1.080682,
    "[[(1, 3), (0, 3), (2, 6), (1, 2), (3, 3), (1, 6), (1, 1), (3, 4)], "
    "[(1, 1), (0, 5), (2, 3), (0, 5), (0, 1), (2, 6), (1, 3), (4, 3)]]": 1.094442,
    "[[(1, 0), (0, 1), (0, 3), (2, 6), (3, 0), (1, 1), (0, 0), (2, 1)], "
    "[(0, 2), (1, 2), (1, 1), (0, 2), (1, 4), (3, 4), (2, 6), (1, 1)]]": 0.728554,
    "[[(0, 5), (1, 4), (1, 5), (0, 4), (3, 4), (0, 3), (3, 1), (4, 3)], "
    "[(0, 5), (1, 6), (2, 2), (0, 3), (1, 2), (0, 1), (4, 5), (1, 5)]]": 1.156714,
    "[[(0, 3), (1, 6), (0, 0), (1, 2), (2, 1), (3, 2), (1, 3), (2, 6)], "
    "[(1, 0), (0, 3), (2, 6), (0, 1), (3, 2), (1, 4), (1, 4), (3, 4)]]": 0.910378,
}


@pytest.fixture(scope="module")
def records():
    return SPACE.benchmark()


@pytest.fixture(scope="module")
def rows():
    """The shipped CSV's rows as text, read without the space's loader."""
    with gzip.open(CSV_PATH, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _params(model: nn.Module) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


# --- the contract -------------------------------------------------------------------------------------------------
def test_space_contract():
    assert isinstance(SPACE, Space) and isinstance(get_space("nb301"), NB301Space)
    assert SPACE.name == "nb301" and SPACE.family == "cnn" and tuple(SPACE.tasks) == ("cifar10",)
    assert SPACE.resolve_task("CIFAR-10")[0] == "cifar10"
    assert SPACE.builds == ("full", "reduced") and SPACE.with_build(None) is SPACE
    assert (SPACE.C, SPACE.layers, SPACE.auxiliary) == (32, 8, True)
    reduced = SPACE.with_build("reduced")
    assert (reduced.C, reduced.layers, reduced.auxiliary) == (16, 5, False)
    assert reduced.identity_options()["build_mode"] == "reduced"
    assert "surrogate" in SPACE.ground_truth and "surrogate" in space_module.__doc__
    with pytest.raises(SwapError, match="nb301 build must be one of"):
        NB301Space("tiny")
    with pytest.raises(SwapError, match="positive integers"):
        NB301Space(C=0)


# --- NASLib's key, on every shipped row ---------------------------------------------------------------------------
def test_op_order_read_off_the_sample(rows):
    """Every row pairs NASLib's op indices with the genotype's op names: one name per index, and the order is
    :data:`OPS`."""
    seen: dict[int, set[str]] = {}
    for row in rows:
        key = ast.literal_eval(row["naslib_key"])
        g = ast.parse(row["genotype"], mode="eval").body
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in g.keywords}
        for pairs, edges in ((key[0], fields["normal"]), (key[1], fields["reduce"])):
            assert [i for i, _ in pairs] == [i for _, i in edges]  # same inputs, same edge order
            for (_, op_index), (op, _) in zip(pairs, edges):
                seen.setdefault(op_index, set()).add(op)
    assert {i: sorted(names) for i, names in seen.items()} == {i: [op] for i, op in enumerate(OPS)}


def test_naslib_key_converts_both_ways_on_all_725_rows(rows):
    assert len(rows) == 725
    for row in rows:
        arch = parse_arch(row["genotype"])
        assert naslib_key(arch) == row["naslib_key"]  # genotype -> NASLib key, the very text
        assert from_naslib_key(row["naslib_key"]) == arch  # NASLib key -> genotype
        assert format_arch(arch) == row["genotype"]  # the canonical key is the file's genotype text
        assert SPACE.parse(row["naslib_key"]) == arch  # parse reads either form


def test_keys_round_trip(records):
    rng = random.Random(1)
    for arch in [r.arch for r in records[:50]] + [SPACE.sample(rng) for _ in range(50)]:
        assert SPACE.parse(SPACE.key(arch)) == arch
        assert from_naslib_key(naslib_key(arch)) == arch
    assert SPACE.key(SPACE.key(records[0].arch)) == SPACE.key(records[0].arch)  # key accepts text too


_GOOD = "Genotype(normal=[('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('avg_pool_3x3', 1), ('avg_pool_3x3', 0), " \
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 3)], " \
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), " \
        "('sep_conv_3x3', 0), ('max_pool_3x3', 3), ('avg_pool_3x3', 0), ('max_pool_3x3', 2), " \
        "('dil_conv_5x5', 3)], reduce_concat=[2, 3, 4, 5])"
_KEY = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], " \
       "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"


@pytest.mark.parametrize("text, problem", [
    (_GOOD.replace("'dil_conv_3x3', 1", "'conv_7x7', 1"), "unknown operation 'conv_7x7'"),
    (_GOOD.replace("'dil_conv_3x3', 1", "'none', 1"), "'none' in normal\\[1\\] is not in the NB-301 space"),
    (_GOOD.replace("('dil_conv_3x3', 1)", "('dil_conv_3x3', 0)"), "node 0 of the normal cell reads input 0 twice"),
    (_GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"), "normal_concat is \\[2, 3\\]"),
    (_GOOD.replace("('skip_connect', 3)]", "('skip_connect', 6)]"), "input 6 of normal\\[7\\]"),
    (_GOOD.replace("('skip_connect', 3)], normal", "], normal"), "normal has 7 edges"),
    (_GOOD[:60], "not parseable"),
    ("__import__('os').system('true')", "must be a single Genotype"),
    (_KEY.replace("(3, 6)]]", "(3, 7)]]"), "op index 7 in reduction\\[7\\] is not in 0..6"),
    (_KEY.replace(", (3, 2)]", "]"), "the normal cell must be 8"),
    (_KEY.replace("(0, 0), (1, 5)", "(0, 0), (0, 5)"), "node 0 of the normal cell reads input 0 twice"),
    ("[[1, 2]]", "expected \\[normal, reduction\\]"),
    ("[[(0, 'sep')] * 8, []]", "not a Python literal"),
    (_KEY.replace("(0, 0)", "(0.5, 0)"), "must be a pair of integers"),
])
def test_bad_strings_raise_one_line(text, problem):
    with pytest.raises(SwapError, match=problem) as info:
        SPACE.parse(text)
    assert "\n" not in str(info.value)


def test_good_strings_parse():
    assert SPACE.key(SPACE.parse(_GOOD)) == _GOOD and naslib_key(SPACE.parse(_GOOD)) == _KEY
    assert SPACE.parse("  " + _GOOD.replace("[2, 3, 4, 5]", "range(2, 6)") + "\n") == SPACE.parse(_KEY)


# --- variation ----------------------------------------------------------------------------------------------------
def _fields(g: Genotype) -> list[tuple]:
    """(cell, edge, field, value) of every op and input of ``g``."""
    return [(cell, pos, f, v) for cell in ("normal", "reduce") for pos, edge in enumerate(getattr(g, cell))
            for f, v in zip(("op", "input"), edge)]


def test_mutation_changes_exactly_one_thing(records):
    rng = random.Random(0)
    kinds = set()
    for i in range(300):
        parent = records[i % len(records)].arch
        child = SPACE.mutate(parent, rng)
        check_arch(child)
        changed = [a for a, b in zip(_fields(parent), _fields(child)) if a != b]
        assert len(changed) == 1, changed
        kinds.add(changed[0][2])
    assert kinds == {"op", "input"}  # both kinds of change happen


def test_sample_and_crossover_stay_in_the_space():
    rng = random.Random(2)
    archs = [SPACE.sample(rng) for _ in range(200)]
    assert all(check_arch(a) is a for a in archs) and len({SPACE.key(a) for a in archs}) == 200
    assert {op for a in archs for op, _ in a.normal + a.reduce} == set(OPS)
    a, b = archs[:2]
    for _ in range(20):
        child = check_arch(SPACE.crossover(a, b, rng))
        for cell in ("normal", "reduce"):
            for k in range(4):
                node = getattr(child, cell)[2 * k:2 * k + 2]
                assert node in (getattr(a, cell)[2 * k:2 * k + 2], getattr(b, cell)[2 * k:2 * k + 2])
    assert len(SPACE.encode(a)) == 32 and SPACE.encode(a) != SPACE.encode(b)


# --- the network --------------------------------------------------------------------------------------------------
def test_full_network_forward_on_two_images(records):
    arch = records[0].arch
    torch.manual_seed(0)
    model = SPACE.build(arch)
    assert isinstance(model, NB301Network) and len(model.cells) == 8
    assert [i for i, c in enumerate(model.cells) if c.reduction] == [2, 5] and model.auxiliary_index == 5
    assert model.stem[0].out_channels == 96 and model.classifier.in_features == 4 * 128
    assert model.auxiliary_head.features[2].in_channels == 512  # the 2nd reduction cell's output
    ran = []
    model.auxiliary_head.register_forward_hook(lambda *a: ran.append(1))
    x = SPACE.inputs(n=2)
    for train in (True, False):
        model.train(train)
        assert model(x).shape == (2, 10)
    assert not ran  # forward is the inference path: the auxiliary head is not run
    feats = torch.zeros(2, 512, 8, 8)
    assert model.auxiliary_head(feats).shape == (2, 10)  # the head takes the 8x8 map it reads in training
    assert _params(model) == SPACE.param_count(arch) == round(SPACE.features(arch)["params_m"] * 1e6)
    from swaplm.swap import count_params

    assert count_params(model) == SPACE.param_count(arch)  # what the params proxy and swap_reg's Θ count


def test_reduced_network():
    reduced = SPACE.with_build("reduced")
    arch = SPACE.parse(_GOOD)
    model = reduced.build(arch)
    assert len(model.cells) == 5 and model.auxiliary_head is None
    assert model(reduced.inputs(n=2)).shape == (2, 10)
    assert _params(model) == reduced.param_count(arch) < SPACE.param_count(arch)


@pytest.mark.parametrize("key", sorted(NASLIB_PARAMS_M))
def test_params_match_naslibs_per_arch_figures(key):
    """NASLib's count equals ours less the affine parameters of the BatchNorms inside the cell ops, exactly, on
    every arch compared: NASLib's NB-301 model builds those BatchNorms without affine parameters, the DARTS
    evaluation network (which NB-301 trained, and this space builds) with them. Stem, preprocessing, every
    convolution and the classifier agree."""
    arch = from_naslib_key(key)
    model = SPACE.build(arch)
    op_bn_affine = sum(m.weight.numel() + m.bias.numel() for cell in model.cells for m in cell.ops.modules()
                       if isinstance(m, nn.BatchNorm2d))
    assert SPACE.param_count(arch) - op_bn_affine == round(NASLIB_PARAMS_M[key] * 1e6)


# --- the shipped sample -------------------------------------------------------------------------------------------
def test_benchmark_loads_725_records(records):
    assert len(records) == 725 and [r.id for r in records] == list(range(725))
    assert all(set(r.scores) == {"cifar10"} and set(r.extra) == {"naslib_key"} for r in records)
    assert all(naslib_key(r.arch) == r.extra["naslib_key"] for r in records)
    assert len({SPACE.key(r.arch) for r in records}) == 725
    accs = [r.scores["cifar10"] for r in records]
    assert 91.2 < min(accs) and max(accs) < 94.5  # the surrogate's predictions span a narrow range
    assert records[0].scores["cifar10"] == pytest.approx(93.32119084207302, abs=1e-12)
    counts = [SPACE.param_count(r.arch) for r in records[:40]]
    assert 0.5e6 < min(counts) and max(counts) < 1.5e6


def test_benchmark_file_errors(tmp_path):
    header = ",".join(COLUMNS) + "\n"
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(header + f'"{_KEY.replace("(0, 0), (1, 5)", "(0, 1), (1, 5)")}","{_GOOD}",93.0\n')
    with pytest.raises(SwapError, match="wrong.csv line 2: naslib_key .* is not the key of the row's genotype"):
        load_benchmark(wrong, expected_rows=None)
    outside = tmp_path / "outside.csv"
    outside.write_text(header + f'"{_KEY}","{_GOOD.replace("avg_pool_3x3", "none", 1)}",93.0\n')
    with pytest.raises(SwapError, match="outside.csv line 2: bad NB-301 genotype"):
        load_benchmark(outside, expected_rows=None)
    short = tmp_path / "short.csv"
    short.write_text(header + f'"{_KEY}","{_GOOD}",93.0\n')
    assert len(load_benchmark(short, expected_rows=None)) == 1
    with pytest.raises(SwapError, match="1 rows, expected 725"):
        load_benchmark(short)


# --- inputs -------------------------------------------------------------------------------------------------------
def test_inputs_and_labels():
    from swaplm.data import cifar10_batch, cifar10_labels, load_images

    assert torch.allclose(SPACE.inputs(n=16), cifar10_batch(16), atol=1e-6)  # the DARTS reference batch
    assert torch.equal(SPACE.labels(n=16), cifar10_labels(16))
    assert torch.equal(SPACE.inputs("c10", n=8, seed=3), load_images("builtin:cifar10", 8, seed=3))
    assert SPACE.labels("builtin:cifar10") is None and "CIFAR-10" in SPACE.input_description()
    with pytest.raises(SwapError, match="nb301 has no task 'svhn'"):
        SPACE.inputs("svhn")
    with pytest.raises(SwapError, match="max-length"):
        SPACE.inputs(max_length=8)


def test_save(tmp_path):
    arch = SPACE.parse(_GOOD)
    assert SPACE.save(arch, tmp_path) == ["genotype.txt"]
    assert SPACE.parse((tmp_path / "genotype.txt").read_text()) == arch
    assert CONCAT == (2, 3, 4, 5)
