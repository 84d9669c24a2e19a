"""NAS-Bench-101 space: spec checks and pruning, the channel rule, the cell and network, published parameter
counts, the shipped 500-arch sample, variation and the default inputs."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from swaplm.errors import SwapError
from swaplm.spaces.base import Space
from swaplm.spaces.nb101 import (EDGE_SLOTS, OPS, Cell, NB101Space, Network, Spec, cell_param_count, crossover,
                                 encode, mutate, naslib_key, pad, param_count, parse_spec, prune, sample,
                                 vertex_channels)

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
SPACE = NB101Space()
# The README's Inception-like cell of NAS-Bench-101 (google-research/nasbench README.md)
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
             ["input", C1, C3, C3, C3, MP, "output"])
# the same cell as the benchmark's query returns it (its own vertex order)
INCEPTION_STORED = ([[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
                     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
                    ["input", C3, C1, MP, C3, C3, "output"])


@pytest.fixture(scope="module")
def records():
    return SPACE.benchmark()


def _built_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the contract ---------------------------------------------------------------------------------------------
def test_space_contract():
    assert isinstance(SPACE, Space)
    assert SPACE.name == "nb101" and SPACE.family == "cnn" and tuple(SPACE.tasks) == ("cifar10",)
    assert SPACE.resolve_task("CIFAR-10")[0] == "cifar10"
    assert SPACE.builds == ("full", "reduced") and SPACE.with_build(None) is SPACE
    reduced = SPACE.with_build("reduced")
    assert (reduced.C, reduced.stacks, reduced.cells) == (16, 3, 1)
    assert reduced.identity_options()["build_mode"] == "reduced"
    with pytest.raises(SwapError, match="nb101 build must be one of"):
        NB101Space("tiny")
    with pytest.raises(SwapError, match="positive integers"):
        NB101Space(C=0)


# --- checks and pruning ----------------------------------------------------------------------------------------
def test_pruning_removes_dangling_vertices():
    # vertex 2 is fed by the input but reaches nothing; vertex 3 reaches the output but nothing feeds it
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    spec = Spec(matrix, ["input", C3, MP, C1, "output"])
    assert spec.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0)) and spec.ops == ("input", C3, "output")
    assert str(spec) == "010.001.000|input,conv3x3-bn-relu,output"
    # a vertex whose only way out leads to a dead vertex goes too
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert Spec(matrix, ["input", C1, C3, MP, "output"]).ops == ("input", C3, "output")
    assert Spec(*Spec(matrix, ["input", C1, C3, MP, "output"])) == Spec(matrix, ["input", C1, C3, MP, "output"])


def test_pruning_keeps_a_direct_input_output_edge():
    matrix = [[0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]  # 0->1->3, 0->3; vertex 2 isolated
    spec = Spec(matrix, ["input", MP, C3, "output"])
    assert spec.matrix == ((0, 1, 1), (0, 0, 1), (0, 0, 0)) and spec.ops == ("input", MP, "output")
    only = Spec([[0, 1, 1], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"])  # input -> output, vertex 1 dead
    assert only.matrix == ((0, 1), (0, 0)) and only.vertices == 2 and only.edges == 1
    assert prune(((0, 0), (0, 0)), ("input", "output")) is None


def test_spec_that_prunes_to_nothing_raises_one_line():
    matrix = [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]  # 0->1 and 2->3: no input-output path
    with pytest.raises(SwapError, match="prunes to nothing") as info:
        Spec(matrix, ["input", C3, C3, "output"])
    assert "\n" not in str(info.value)
    with pytest.raises(SwapError, match="prunes to nothing"):
        SPACE.parse("0100.0000.0001.0000|input,conv3x3-bn-relu,conv3x3-bn-relu,output")


@pytest.mark.parametrize("matrix, ops, problem", [
    ([[0, 1], [1, 0]], ["input", "output"], "strictly upper-triangular"),
    ([[1, 1], [0, 0]], ["input", "output"], "strictly upper-triangular"),
    ([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"], "not square"),
    ([[0, 2], [0, 0]], ["input", "output"], "integers 0 or 1"),
    ([[0, True], [0, 0]], ["input", "output"], "integers 0 or 1"),
    ([[0, 1], [0, 0]], ["input", C3, "output"], "2 vertices but 3 ops"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, "output"], "must start with 'input'"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, C3], "end with 'output'"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown NB-101 op 'conv5x5'"),
    ([[0] * 8 for _ in range(8)], ["input"] + [C3] * 6 + ["output"], "2..7 vertices"),
    ([[0]], ["input"], "2..7 vertices"),
    ([[int(j > i) for j in range(6)] for i in range(6)], ["input", C3, C3, C3, C3, "output"], "15 edges after"),
    (5, ["input", "output"], "square 0/1 matrix"),
])
def test_bad_specs_raise_one_line(matrix, ops, problem):
    with pytest.raises(SwapError) as info:
        Spec(matrix, ops)
    assert problem in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text, problem", [
    ("011.001.000", "expected matrix rows, '|', then ops"),
    ("012.001.000|input,conv3x3-bn-relu,output", "bit strings"),
    ("01..00|input,output", "bit strings"),
    ("011.001.000|input,conv3x3,output", "unknown NB-101 op 'conv3x3'"),
    ("010.001|input,maxpool3x3,output", "not square"),
    ("(0, 1, 2)", "expected 56 integers"),
    ("(0, 1, oops)", "not a tuple of integers"),
    ("(" + ", ".join(["0"] * 49 + ["0", "2", "2", "9", "2", "2", "1"]) + ")", "op codes are 0..4"),
])
def test_bad_keys_raise_one_line(text, problem):
    with pytest.raises(SwapError) as info:
        parse_spec(text)
    assert problem in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SwapError, match="key is text"):
        parse_spec(42)


def test_keys_round_trip():
    spec = Spec(*INCEPTION)
    assert str(spec) == "0111010.0000001.0000001.0000100.0000001.0000001.0000000|input,conv1x1-bn-relu," \
                        "conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,maxpool3x3,output"
    assert parse_spec(str(spec)) == spec and SPACE.key(str(spec)) == str(spec) and SPACE.parse(SPACE.key(spec)) == spec
    key = naslib_key(*INCEPTION)
    assert key.startswith("(0, 1, 1, 1, 0, 1, 0, 0,") and key.endswith("0, 3, 4, 4, 4, 2, 1)")
    assert parse_spec(key) == spec
    with pytest.raises(SwapError, match="7-vertex"):
        naslib_key([[0, 1], [0, 0]], ["input", "output"])


# --- the channel rule, the cell and the network ------------------------------------------------------------------
def test_channel_rule_by_hand():
    spec = Spec(*INCEPTION)  # output fed by 1, 2, 4, 5; vertex 3 feeds only vertex 4
    assert vertex_channels(spec, 64, 128) == [64, 32, 32, 32, 32, 32, 128]
    assert vertex_channels(spec, 64, 130) == [64, 33, 33, 32, 32, 32, 130]  # remainder 2 to the first two
    assert vertex_channels(spec, 64, 131) == [64, 33, 33, 33, 33, 32, 131]  # vertex 3 takes vertex 4's width
    chain = Spec([[0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, C1, "output"])
    assert vertex_channels(chain, 8, 5) == [8, 3, 2, 5]
    assert vertex_channels(Spec([[0, 1], [0, 0]], ["input", "output"]), 8, 5) == [8, 5]


def test_cell_wiring_by_hand():
    # 0->1, 0->2, 0->3, 1->2, 1->3, 2->3, both interior ops max-pool; widths 2 in, [2, 1] interior, 3 out
    spec = Spec([[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", MP, MP, "output"])
    cell = Cell(spec, 2, 3).eval()
    assert cell.widths == [2, 2, 1, 3] and set(cell.projections) == {"1", "2", "3"} and set(cell.ops) == {"1", "2"}
    torch.manual_seed(0)
    weights = {v: torch.randn(cell.widths[v], 2, 1, 1) for v in (1, 2, 3)}
    with torch.no_grad():
        for v, w in weights.items():
            cell.projections[str(v)][0].weight.copy_(w)
    x = torch.randn(2, 2, 5, 5)
    s = (1 + 1e-5) ** -0.5  # a fresh BN in eval mode divides by sqrt(1 + eps)
    proj = {v: F.relu(F.conv2d(x, w)) * s for v, w in weights.items()}
    pool = lambda t: F.max_pool2d(t, 3, stride=1, padding=1)  # noqa: E731
    v1 = pool(proj[1])
    v2 = pool(v1[:, :1] + proj[2])  # vertex 1 is one channel wider than vertex 2: its first channel is kept
    expected = torch.cat([v1, v2], dim=1) + proj[3]
    assert torch.allclose(cell(x), expected, atol=1e-6)
    # no params in max-pool cells beyond the projections (1x1 conv + BN each)
    assert _built_params(cell) == cell_param_count(spec, 2, 3) == (2 * 2 + 4) + (2 * 1 + 2) + (2 * 3 + 6)


def test_network_layout_and_output_shape():
    net = Network(Spec(*INCEPTION))
    kinds = [type(m).__name__ for m in net.cells]
    assert kinds == ["Cell"] * 3 + ["MaxPool2d"] + ["Cell"] * 3 + ["MaxPool2d"] + ["Cell"] * 3
    cells = [m for m in net.cells if isinstance(m, Cell)]
    assert [c.widths[-1] for c in cells] == [128] * 3 + [256] * 3 + [512] * 3
    assert cells[3].widths[0] == 128 and net.stem[0].out_channels == 128 and net.classifier.in_features == 512
    torch.manual_seed(0)
    for space, arch in ((SPACE, INCEPTION), (SPACE.with_build("reduced"), ([[0, 1], [0, 0]], ["input", "output"]))):
        out = space.build(Spec(*arch))(space.inputs(n=4))
        assert out.shape == (4, 10) and torch.isfinite(out).all()


# --- parameter counts against published figures ---------------------------------------------------------------
# Per-arch "params" (M) of NASLib's NAS-Bench-Suite-Zero data (automl/NASLib naslib/data/zc_nasbench101.json),
# keyed there by the row's naslib_key; here by the row of the shipped CSV (same file order). 88 rows were checked
# (0-30, 87-117, 474-499), all equal; these span the range (smallest, largest, 2-vertex, odd channel splits).
PUBLISHED_PARAMS = {0: 4.095778, 1: 1.749031, 5: 0.88257, 8: 12.08897, 17: 1.861666, 24: 21.220234,
                    90: 0.29313, 95: 1.325859, 107: 1.86577, 109: 23.13153, 477: 0.706442, 497: 30.679178,
                    498: 2.658367, 499: 2.272938}


def test_inception_cell_matches_the_benchmarks_own_count():
    # NAS-Bench-101's query of this cell reports trainable_parameters 2694282 (the benchmark's data, as printed
    # in gary9987/tensorflow-get-started gcn/NAS_BENCH_101.md); both vertex orders give it
    for arch in (INCEPTION, INCEPTION_STORED):
        spec = Spec(*arch)
        assert param_count(spec) == 2694282 == _built_params(Network(spec))


@pytest.mark.parametrize("row, params_m", sorted(PUBLISHED_PARAMS.items()))
def test_params_match_published_per_arch_figures(records, row, params_m):
    arch = records[row].arch
    assert SPACE.param_count(arch) == round(params_m * 1e6)
    assert SPACE.features(arch)["params_m"] == pytest.approx(params_m, abs=1e-9)
    if row in (0, 90, 497):  # building the full network is slower: a few
        assert _built_params(SPACE.build(arch)) == round(params_m * 1e6)


# --- the shipped sample ------------------------------------------------------------------------------------------
def test_all_500_parse_prune_and_count(records):
    assert len(records) == 500 and [r.id for r in records] == list(range(500))
    assert all(isinstance(r.arch, Spec) and set(r.scores) == {"cifar10"} for r in records)
    assert sum(r.extra["matrix"] != [list(row) for row in r.arch.matrix] for r in records) == 499  # all but one pruned
    for r in records:
        assert Spec(r.extra["matrix"], r.extra["ops"]) == r.arch == parse_spec(r.extra["naslib_key"])
        assert SPACE.parse(SPACE.key(r.arch)) == r.arch and r.arch.edges <= 9 and 2 <= r.arch.vertices <= 7
        assert len(encode(r.arch)) == 26
    with torch.device("meta"):  # every spec's cell built (no weights), with the stack-change widths 128 -> 256
        for r in records:
            assert _built_params(Cell(r.arch, 128, 256)) == cell_param_count(r.arch, 128, 256)
    counts = [SPACE.param_count(r.arch) for r in records]
    assert (min(counts), max(counts)) == (293130, 30679178)
    accs = [r.scores["cifar10"] for r in records]
    assert 73 < min(accs) and max(accs) < 95


def test_benchmark_file_errors(tmp_path):
    from swaplm.spaces.nb101.benchmark import COLUMNS, load_benchmark

    header = ",".join(COLUMNS) + "\n"
    dead = "[[0,1,0],[0,0,0],[0,0,0]]"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + f'"(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 1)","{dead}","[""input"",""maxpool3x3"",'
                            '""output""]",90.0\n')
    with pytest.raises(SwapError, match="bad.csv line 2: NB-101 spec prunes to nothing"):
        load_benchmark(bad, expected_rows=None)
    short = tmp_path / "short.csv"
    short.write_text(header)
    with pytest.raises(SwapError, match="0 rows, expected 500"):
        load_benchmark(short)


# --- variation ---------------------------------------------------------------------------------------------------
def test_sample_mutate_crossover_give_valid_specs():
    rng = random.Random(0)
    seen, sizes = set(), set()
    for _ in range(200):
        a, b = sample(rng), sample(rng)
        seen.add(a)
        child = mutate(a, rng)
        assert isinstance(child, Spec) and child != a and Spec(*child) == child
        mix = crossover(a, b, rng)
        assert isinstance(mix, Spec) and Spec(*mix) == mix
        sizes.add(child.vertices - a.vertices)
    # spread over the space (many small cells repeat: the raw draw often prunes to 2-3 vertices, as in the
    # benchmark's own sampling and NASLib's sample)
    assert len(seen) > 100 and {s.vertices for s in seen} == {2, 3, 4, 5, 6, 7}
    assert {-1, 0, 1} <= sizes  # mutation removes vertices, keeps the count and adds vertices
    small = Spec([[0, 1], [0, 0]], ["input", "output"])
    assert any(mutate(small, random.Random(s)).vertices == 3 for s in range(20))  # a 2-vertex cell can grow
    assert isinstance(SPACE.mutate(str(small), random.Random(1)), Spec)  # keys accepted too


def test_encode_and_pad():
    spec = Spec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
    code = encode(spec)
    on = {EDGE_SLOTS[i] for i, bit in enumerate(code[:21]) if bit}
    assert on == {(0, 1), (0, 6), (1, 6)}  # the output moves to vertex 6
    assert code[21:] == (OPS.index(MP), 3, 3, 3, 3)  # absent vertices: code 3
    specs = {sample(random.Random(s)) for s in range(100)}
    assert SPACE.encode(spec) == code and len({encode(a) for a in specs}) == len(specs)  # one code per spec
    matrix, ops = pad(spec, random.Random(0))
    assert Spec(matrix, ops) == spec  # the dormant vertices and edges added for variation prune away


# --- inputs ------------------------------------------------------------------------------------------------------
def test_inputs_and_labels():
    from swaplm.data import BUILTIN_IMAGES, cifar10_batch, cifar10_labels, load_images

    assert torch.allclose(SPACE.inputs(n=16), cifar10_batch(16), atol=1e-6)  # the DARTS/NB-201 reference batch
    assert torch.equal(SPACE.labels(n=16), cifar10_labels(16))
    picked = SPACE.inputs("cifar10", n=8, seed=3)
    assert torch.equal(picked, load_images("builtin:cifar10", 8, seed=3))
    # another seed's labels belong to its images: find each picked image in the whole shipped sample
    available = len(BUILTIN_IMAGES["cifar10"]("train"))
    everything = cifar10_batch(available)
    rows = [int((everything == img).flatten(1).all(1).nonzero()[0]) for img in picked]
    assert torch.equal(SPACE.labels(n=8, seed=3), cifar10_labels(available)[rows]) and rows != list(range(8))
    assert SPACE.labels("builtin:cifar10") is None
    with pytest.raises(SwapError, match="nb101 has no task 'svhn'"):
        SPACE.inputs("svhn")
    with pytest.raises(SwapError, match="max-length"):
        SPACE.inputs(max_length=8)
    with pytest.raises(SwapError, match="at least 2"):
        SPACE.inputs(n=1)


def test_specs_pickle_and_copy():
    import copy
    import pickle

    spec = Spec(*INCEPTION)
    assert pickle.loads(pickle.dumps(spec)) == spec and copy.deepcopy(spec) == spec
    assert isinstance(pickle.loads(pickle.dumps(spec)), Spec)


def test_save(tmp_path):
    spec = Spec(*INCEPTION)
    assert SPACE.save(spec, tmp_path) == ["spec.txt"]
    assert parse_spec((tmp_path / "spec.txt").read_text()) == spec
