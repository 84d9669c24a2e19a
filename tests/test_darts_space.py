"""DARTS space: ops, safe genotype parser, sampling conventions, variation, benchmark, proxy network, SWAP."""
from __future__ import annotations

import csv
import math
import random
from collections import Counter

import pytest
import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.spaces import get_space
from swaplm.spaces.darts_cnn import (OPS, PRIMITIVES, DartsSpace, EvalNetwork, Genotype, check_genotype,
                                     format_genotype, load_benchmark, parse_genotype, proxy_network)
from swaplm.spaces.darts_cnn.benchmark import CSV_PATH

CSV_ROWS = list(csv.reader(CSV_PATH.open(newline="", encoding="utf-8")))
REFERENCE = DartsSpace()
STANDARD = DartsSpace(convention="standard")


@pytest.fixture(scope="module")
def records():
    return REFERENCE.benchmark()


# --- ops ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("size", [8, 7])
def test_op_shapes(name, size):
    x = torch.randn(2, 4, size, size)
    half = math.ceil(size / 2)
    assert OPS[name](4, 1)(x).shape == (2, 4, size, size)
    assert OPS[name](4, 2)(x).shape == (2, 4, half, half)


def test_op_details():
    x = torch.randn(2, 4, 8, 8)
    assert torch.count_nonzero(OPS["none"](4, 2)(x)) == 0
    assert torch.equal(OPS["skip_connect"](4, 1)(x), x)
    # avg pool excludes padding: a constant map stays constant at the border
    assert torch.allclose(OPS["avg_pool_3x3"](4, 1)(torch.ones(1, 4, 5, 5)), torch.ones(1, 4, 5, 5))
    for name in PRIMITIVES:
        op = OPS[name](4, 2)
        assert all(m.bias is None for m in op.modules() if isinstance(m, nn.Conv2d))
        assert all(m.affine and m.track_running_stats for m in op.modules() if isinstance(m, nn.BatchNorm2d))
        assert all(not m.inplace for m in op.modules() if isinstance(m, nn.ReLU))
    relus = {n: sum(isinstance(m, nn.ReLU) for m in OPS[n](4, 2).modules()) for n in PRIMITIVES}
    assert relus == {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 1,
                     "sep_conv_3x3": 2, "sep_conv_5x5": 2, "dil_conv_3x3": 1, "dil_conv_5x5": 1}


def test_dil_conv_is_dilated_and_sep_conv_strides_once():
    dil = [m for m in OPS["dil_conv_5x5"](4, 1).modules() if isinstance(m, nn.Conv2d)]
    assert dil[0].dilation == (2, 2) and dil[0].padding == (4, 4) and dil[0].groups == 4
    sep = [m for m in OPS["sep_conv_3x3"](4, 2).modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in sep] == [(2, 2), (1, 1), (1, 1), (1, 1)]


# --- genotype parser ---------------------------------------------------------------------------------------
def test_parser_round_trips_all_benchmark_genotypes():
    for text, _ in CSV_ROWS:
        g = parse_genotype(text)
        assert format_genotype(g) == text
        assert parse_genotype(format_genotype(g)) == g
        assert repr(g) == text


def test_parser_accepts_range_positional_and_whitespace():
    g = parse_genotype(CSV_ROWS[0][0])
    text = (f"  Genotype({list(g.normal)!r},\n range(2, 6), reduce={list(g.reduce)!r}, "
            f"reduce_concat=(2, 3, 4, 5))  ")
    assert parse_genotype(text) == g
    assert Genotype(list(g.normal), range(2, 6), list(g.reduce), [2, 3, 4, 5]) == g  # lists/range canonicalised
    assert hash(g) == hash(parse_genotype(text))


GOOD = CSV_ROWS[0][0]
MALICIOUS = {
    "import": "__import__('os').system('echo pwned')",
    "import inside field": GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=__import__('os').listdir('.')"),
    "attribute": GOOD.replace("'none'", "'x'.join"),
    "attribute call": "Genotype.__class__.__mro__",
    "lambda": GOOD.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=(lambda: [2, 3, 4, 5])()"),
    "nested call": GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=list(range(2, 6))"),
    "huge exponent": GOOD.replace("('none', 0)", "('none', 2 ** 10 ** 10)"),
    "huge range": GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 10 ** 12)"),
    "comprehension": GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[i for i in range(2, 6)]"),
    "two statements": GOOD + "; import os",
    "walrus": GOOD.replace("('none', 0)", "('none', (x := 0))"),
    "wrong op": GOOD.replace("'none'", "'conv_7x7'", 1),
    "bad index": GOOD.replace("('dil_conv_5x5', 0)", "('dil_conv_5x5', 2)", 1),
    "negative index": GOOD.replace("('none', 0)", "('none', -1)", 1),
    "float index": GOOD.replace("('none', 0)", "('none', 0.0)", 1),
    "bool index": GOOD.replace("('none', 0)", "('none', True)", 1),
    "short cell": GOOD.replace("('none', 0), ", "", 1),
    "missing field": GOOD.replace(", reduce_concat=[2, 3, 4, 5]", ""),
    "unknown field": GOOD.replace("reduce_concat=", "extra=[1], reduce_concat="),
    "duplicate field": GOOD.replace("reduce_concat=[2, 3, 4, 5]", "normal_concat=[2], reduce_concat=[2]"),
    "bad concat": GOOD.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 9]"),
    "other callee": GOOD.replace("Genotype(", "dict(", 1),
    "syntax": GOOD[:-1],
    "long": "Genotype(" + "[" * 20_000,
    "deep nesting": "[" * 5000,
    "deep expression": "Genotype(normal=" + "1+" * 3000 + "1)",
    "not a string": 42,
}


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_parser_rejects_bad_and_malicious_text(case):
    with pytest.raises(SwapError, match="bad genotype"):
        parse_genotype(MALICIOUS[case])


def test_parser_errors_name_the_problem():
    with pytest.raises(SwapError, match=r"__import__"):
        parse_genotype(MALICIOUS["import inside field"])
    with pytest.raises(SwapError, match=r"conv_7x7.*normal\[0\]"):
        parse_genotype(MALICIOUS["wrong op"])
    with pytest.raises(SwapError, match=r"normal\[1\] \(node 0\) must be an integer in 0\.\.1"):
        parse_genotype(MALICIOUS["bad index"])
    with pytest.raises(SwapError, match=r"normal has 7 edges"):
        parse_genotype(MALICIOUS["short cell"])


# --- sampling and variation --------------------------------------------------------------------------------
def _nodes(edges):
    return [edges[2 * k:2 * k + 2] for k in range(len(edges) // 2)]


def test_reference_sampling_fingerprint():
    rng = random.Random(0)
    archs = [REFERENCE.sample(rng) for _ in range(1000)]
    assert all(check_genotype(g) is g and g.normal == g.reduce for g in archs)
    ops = Counter(op for g in archs for op, _ in g.reduce)
    assert set(ops) == set(PRIMITIVES)
    assert all(abs(c - 1000) < 150 for c in ops.values()), ops  # 8000 edges, 1000 expected per op
    node3 = Counter(i for g in archs for op, i in g.reduce[6:])
    assert all(abs(c - 400) < 80 for c in node3.values()) and set(node3) == set(range(5))
    same_input = sum(any(a[1] == b[1] for a, b in _nodes(g.reduce)) for g in archs)
    assert 720 < same_input < 900  # the benchmark: 811 / 1000 (P = 1 - 1/2·2/3·3/4·4/5 = 0.8)


def test_benchmark_matches_reference_fingerprint(records):
    assert all(r.arch.normal == r.arch.reduce for r in records)
    ops = Counter(op for r in records for op, _ in r.arch.reduce)
    assert set(ops) == set(PRIMITIVES) and min(ops.values()) > 950  # 8000 edges per cell


def test_standard_convention():
    rng = random.Random(1)
    archs = [STANDARD.sample(rng) for _ in range(300)]
    assert sum(g.normal != g.reduce for g in archs) > 295
    for g in archs:
        for cell in (g.normal, g.reduce):
            assert all(op != "none" for op, _ in cell)
            assert all(a[1] != b[1] for a, b in _nodes(cell))


@pytest.mark.parametrize("space", [REFERENCE, STANDARD], ids=["reference", "standard"])
def test_mutate_and_crossover_stay_valid(space):
    rng = random.Random(2)
    parents = [space.sample(rng) for _ in range(40)]
    for a, b in zip(parents, parents[1:]):
        m = space.mutate(a, rng)
        assert check_genotype(m) and m != a
        changed = [(x, y) for x, y in zip(a.normal + a.reduce, m.normal + m.reduce) if x != y]
        assert len(changed) == (2 if space.tied else 1)  # one edge (copied to both cells when tied)
        c = space.crossover(a, b, rng)
        assert check_genotype(c)
        for cell in ("normal", "reduce"):
            for k, node in enumerate(_nodes(getattr(c, cell))):
                assert node in (_nodes(getattr(a, cell))[k], _nodes(getattr(b, cell))[k])
        for g in (m, c):
            if space.tied:
                assert g.normal == g.reduce
            else:
                assert all(op != "none" for op, _ in g.normal + g.reduce)
                assert all(x[1] != y[1] for cell in (g.normal, g.reduce) for x, y in _nodes(cell))


def test_key_is_csv_text_and_registry():
    g = parse_genotype(CSV_ROWS[5][0])
    assert REFERENCE.key(g) == CSV_ROWS[5][0]
    space = get_space("darts")
    assert isinstance(space, DartsSpace) and space.protocol.repeats == 32 and space.protocol.init == "gaussian"
    with pytest.raises(SwapError, match="convention"):
        DartsSpace(convention="nope")
    with pytest.raises(SwapError, match="task"):
        REFERENCE.inputs("imagenet")


# --- benchmark ---------------------------------------------------------------------------------------------
def test_benchmark_records(records):
    assert len(records) == 1000 and [r.id for r in records] == list(range(1000))
    accs = [r.scores["cifar10"] for r in records]
    assert min(accs) == pytest.approx(10.22, abs=0.005) and max(accs) == pytest.approx(86.61, abs=0.005)
    assert records[0].arch == parse_genotype(CSV_ROWS[0][0]) and accs[0] == float(CSV_ROWS[0][1])


@pytest.mark.parametrize("damage,message", [
    (lambda lines: lines[:-1] + [lines[-1][:60]], r"line 1000: malformed CSV"),  # cut inside the quotes
    (lambda lines: lines[:500], r"500 rows, expected 1000"),
    (lambda lines: lines[:3] + [lines[3].replace("sep_conv", "sop_conv", 1)] + lines[4:], r"line 4: .*sop_conv"),
    (lambda lines: lines[:6] + [lines[6].rsplit(",", 1)[0] + ",abc"] + lines[7:], r"line 7: accuracy 'abc'"),
    (lambda lines: lines[:9] + ['"x",1,2'] + lines[10:], r"line 10: expected 2 columns"),
])
def test_corrupt_csv_raises_with_line(tmp_path, damage, message):
    lines = CSV_PATH.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "darts.csv"
    bad.write_text("\n".join(damage(lines)) + "\n", encoding="utf-8")
    with pytest.raises(SwapError, match=message):
        load_benchmark(bad, expected_rows=1000)


# --- networks ----------------------------------------------------------------------------------------------
def test_proxy_parameter_range_over_benchmark(records):
    counts = [sum(p.numel() for p in proxy_network(r.arch).parameters()) for r in records]
    assert min(counts) == 310 and max(counts) == 2692  # method-facts §8.2: 0.310–2.692 k
    assert sorted(counts)[500] == 1210


def test_proxy_and_eval_network_shapes(records):
    g = records[0].arch
    proxy = REFERENCE.build(g)
    assert proxy(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    assert len(proxy.cells) == 1 and proxy.cells[0].reduction
    cell_out = proxy.cells[0](torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert cell_out.shape == (2, 24, 16, 16)
    darts_v2 = parse_genotype(
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
        "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, "
        "4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
        "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=range(2, 6))")
    # published DARTS (2nd order) CIFAR-10 net: 3.349342 M parameters without the auxiliary head
    assert sum(p.numel() for p in EvalNetwork(darts_v2).parameters()) == 3_349_342
    small = DartsSpace(network="eval", C=4, layers=5).build(darts_v2)
    assert [c.reduction for c in small.cells] == [False, True, False, True, False]
    small.drop_path_prob = 0.2
    assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# --- SWAP on sampled members -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_swap_score_on_sampled_members(seed):
    from swaplm import swap_score

    space = REFERENCE if seed % 2 == 0 else STANDARD
    arch = space.sample(random.Random(seed))
    inputs = space.inputs()
    assert inputs.shape == (16, 3, 32, 32)
    scores = [swap_score(space.build(arch), inputs, repeats=2, init="gaussian", mode="train", seed=0)
              for _ in range(2)]
    res = scores[0]
    assert math.isfinite(res.score) and 0 < res.score <= res.neurons
    assert scores[1].score == res.score and scores[1].raw_score == res.raw_score


def test_labels_match_the_reference_batch():
    import numpy as np

    from swaplm.data import _cifar10_arrays

    space = DartsSpace()
    y = space.labels(n=16)
    assert y.dtype == torch.long and y.shape == (16,)
    assert y.tolist() == _cifar10_arrays()["y_train"][:16].astype(np.int64).tolist()
    assert space.inputs(n=16).shape[0] == y.shape[0]
    with pytest.raises(SwapError):
        space.labels("imagenet")
