"""NASLib's NAS-Bench-Suite-Zero JSON export: NASLib's NB-201 key (derived from and checked on its 725-arch
sample), the layout on small hand-made results of nb101 / nb201 / nb301, merging and refusals, and one real run."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from swaplm.bench import ArchRow, BenchResult, run_bench
from swaplm.errors import SwapError
from swaplm.export import (NASLIB_NB201_EDGES, NASLIB_NB201_OPS, export_naslib, export_rows, naslib_layout,
                           nb201_from_naslib_key, nb201_naslib_key)
from swaplm.spaces import get_space
from swaplm.spaces.nb201 import OPS as NB201_OPS
from swaplm.spaces.nb201 import parse_arch

NB201_SAMPLE = Path("/work/shared/data/benchmarks/nas_bench_201_naslib_sample.csv")
# the first rows of that sample (NASLib's key, NATS-Bench arch string), kept here so the mapping is checked
# where the sample is absent too
NB201_PAIRS = [
    ("(0, 2, 3, 2, 3, 1)",
     "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"),
    ("(4, 0, 4, 1, 2, 0)",
     "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"),
]


@pytest.fixture(scope="module")
def nb201_rows():
    if not NB201_SAMPLE.is_file():
        pytest.skip(f"{NB201_SAMPLE} not present")
    with NB201_SAMPLE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 725
    return rows


def _result(space: str, rows: list[ArchRow], proxies=("swap", "params"), tasks=("cifar10",)) -> BenchResult:
    return BenchResult(space=space, settings={}, rows=rows, proxies=list(proxies), tasks=list(tasks),
                       higher_is_better={p: True for p in proxies})


def _row(i: int, key: str, swap, truth, tasks=("cifar10",), params: float = 1e6) -> ArchRow:
    return ArchRow(id=i, key=key, values={"swap": swap, "params": params}, seconds={"swap": 0.5 + i, "params": 0.0},
                   truth={t: truth for t in tasks})


# --- NASLib's NB-201 key --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, arch", NB201_PAIRS)
def test_nb201_key_by_hand(key, arch):
    assert nb201_naslib_key(arch) == key and nb201_naslib_key(parse_arch(arch)) == key
    assert nb201_from_naslib_key(key) == parse_arch(arch)


def test_nb201_op_codes_and_edge_order_read_off_the_sample(nb201_rows):
    """For each position of NASLib's key, exactly one edge of the arch string has an op that is a one-to-one
    function of the code there over all 725 rows: that edge is NASLIB_NB201_EDGES[position] and the function
    is NASLIB_NB201_OPS."""
    keys = [_codes(r["naslib_key"]) for r in nb201_rows]
    archs = [parse_arch(r["arch"]) for r in nb201_rows]
    for position in range(6):
        fits = {}
        for edge in range(6):
            table: dict[int, set[str]] = {}
            for key, arch in zip(keys, archs):
                table.setdefault(key[position], set()).add(arch[edge])
            if all(len(ops) == 1 for ops in table.values()) and len({min(o) for o in table.values()}) == len(table):
                fits[edge] = {code: min(ops) for code, ops in table.items()}
        assert list(fits) == [NASLIB_NB201_EDGES[position]]
        assert fits[NASLIB_NB201_EDGES[position]] == dict(enumerate(NASLIB_NB201_OPS))
    # relative to NAS-Bench-201's own op order, NASLib swaps codes 0/1 and 2/3; its edge order swaps 2/3
    assert [NB201_OPS.index(op) for op in NASLIB_NB201_OPS] == [1, 0, 3, 2, 4]
    assert NASLIB_NB201_EDGES == (0, 1, 3, 2, 4, 5)


def _codes(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.strip("()").split(","))


def test_nb201_key_converts_both_ways_on_all_725_rows(nb201_rows):
    records = {r.id: r for r in get_space("nb201").benchmark()}
    for row in nb201_rows:
        assert nb201_naslib_key(row["arch"]) == row["naslib_key"]
        assert nb201_from_naslib_key(row["naslib_key"]) == parse_arch(row["arch"])
        assert str(records[int(row["index"])].arch) == row["arch"]  # NASLib's index is NAS-Bench-201's
    naive = sum(str(tuple(NASLIB_NB201_OPS.index(op) for op in parse_arch(r["arch"]))) != r["naslib_key"]
                for r in nb201_rows)
    assert naive > 500  # without the edge swap most keys would be wrong


@pytest.mark.parametrize("text", ["(0, 2, 3, 2, 3)", "(0, 2, 3, 2, 3, 5)", "[0, 2, 3, 2, 3, 1]", "junk(",
                                  "(0, 2, 3, 2, 3, 1.0)"])
def test_bad_nb201_keys_raise_one_line(text):
    with pytest.raises(SwapError, match="bad NASLib NB-201 key") as info:
        nb201_from_naslib_key(text)
    assert "\n" not in str(info.value)


# --- the layout -------------------------------------------------------------------------------------------------
def test_nb301_layout_uses_the_records_naslib_keys(tmp_path):
    space = get_space("nb301")
    records = space.benchmark()[:3]
    rows = [_row(r.id, space.key(r.arch), 100.0 + r.id, r.scores["cifar10"]) for r in records]
    path = export_rows(_result("nb301", rows), tmp_path / "zc_nasbench301.json")
    data = json.loads(path.read_text())
    assert list(data) == ["cifar10"]
    assert list(data["cifar10"]) == [r.extra["naslib_key"] for r in records]
    for r in records:
        entry = data["cifar10"][r.extra["naslib_key"]]
        assert list(entry) == ["swap", "params", "val_accuracy"]  # proxies, then the ground truth
        assert entry["swap"] == {"score": 100.0 + r.id, "time": 0.5 + r.id}
        assert entry["params"] == {"score": 1e6, "time": 0.0}
        assert entry["val_accuracy"] == r.scores["cifar10"]


def test_nb101_layout_uses_the_raw_spec_keys():
    space = get_space("nb101")
    records = [space.benchmark()[i] for i in (0, 7, 499)]
    rows = [_row(r.id, space.key(r.arch), 5.0, r.scores["cifar10"]) for r in records]
    data = naslib_layout(_result("nb101", rows))
    assert list(data["cifar10"]) == [r.extra["naslib_key"] for r in records]  # NASLib keys the raw, unpruned spec


def test_nb201_runs_per_dataset_merge_into_one_file(tmp_path):
    archs = [a for _, a in NB201_PAIRS]
    runs = [_result("nb201", [_row(i, a, 10.0 * (t + 1) + i, 80.0 - t, tasks=(task,)) for i, a in enumerate(archs)],
                    tasks=(task,)) for t, task in enumerate(("cifar10", "cifar100", "imagenet16_120"))]
    path = export_rows(runs, tmp_path / "zc_nasbench201.json")
    data = json.loads(path.read_text())
    assert list(data) == ["cifar10", "cifar100", "ImageNet16-120"]  # NASLib's dataset names
    for t, dataset in enumerate(data):
        assert list(data[dataset]) == [k for k, _ in NB201_PAIRS]
        assert [e["swap"]["score"] for e in data[dataset].values()] == [10.0 * (t + 1), 10.0 * (t + 1) + 1]
        assert all(e["val_accuracy"] == 80.0 - t for e in data[dataset].values())


def test_runs_of_other_proxies_merge_and_conflicts_are_refused():
    arch = NB201_PAIRS[0][1]
    a = _result("nb201", [_row(0, arch, 3.0, 90.0)], proxies=("swap",))
    b = _result("nb201", [ArchRow(id=0, key=arch, values={"nwot": 7.0}, seconds={"nwot": 2.0},
                                  truth={"cifar10": 90.0})], proxies=("nwot",))
    again = _result("nb201", [ArchRow(id=0, key=arch, values={"swap": 3.0}, seconds={"swap": 9.9},
                                      truth={"cifar10": 90.0})], proxies=("swap",))
    entry = naslib_layout([a, b, again])["cifar10"][NB201_PAIRS[0][0]]
    assert entry == {"swap": {"score": 3.0, "time": 0.5}, "nwot": {"score": 7.0, "time": 2.0}, "val_accuracy": 90.0}
    other = _result("nb201", [_row(0, arch, 4.0, 90.0)], proxies=("swap",))
    with pytest.raises(SwapError, match="two runs give different swap for record 0 on cifar10: 3.0 and 4.0"):
        naslib_layout([a, other])
    truth = _result("nb201", [_row(0, arch, 3.0, 91.0)], proxies=("swap",))
    with pytest.raises(SwapError, match="different val_accuracy"):
        naslib_layout([a, truth])


def test_failed_and_non_finite_values_are_null(tmp_path):
    arch = NB201_PAIRS[0][1]
    row = ArchRow(id=0, key=arch, values={"swap": None, "params": math.inf}, seconds={"swap": 1.0, "params": 0.0},
                  failed={"swap": "boom"}, truth={"cifar10": math.nan})
    data = json.loads(export_naslib(_result("nb201", [row]), tmp_path / "x.json").read_text())
    assert data["cifar10"][NB201_PAIRS[0][0]] == {"swap": {"score": None, "time": 1.0},
                                                  "params": {"score": None, "time": 0.0}, "val_accuracy": None}


def test_refusals(tmp_path):
    darts = get_space("darts")
    rec = darts.benchmark()[0]
    with pytest.raises(SwapError, match="no NASLib encoding for darts record 0"):
        naslib_layout(_result("darts", [_row(0, darts.key(rec.arch), 1.0, 50.0)]))
    with pytest.raises(SwapError, match="no NASLib encoding is known for the 'toy' space"):
        naslib_layout(_result("toy", [_row(0, "x", 1.0, 50.0)]))
    nb301 = get_space("nb301")
    second = nb301.key(nb301.benchmark()[1].arch)
    with pytest.raises(SwapError, match="nb301 record 0 is not the architecture the run scored"):
        naslib_layout(_result("nb301", [_row(0, second, 1.0, 93.0)]))
    with pytest.raises(SwapError, match="holds one search space"):
        naslib_layout([_result("nb201", [_row(0, NB201_PAIRS[0][1], 1.0, 9.0)]),
                       _result("nb301", [_row(1, second, 1.0, 93.0)])])
    one = _result("nb201", [_row(0, NB201_PAIRS[0][1], 1.0, 9.0)])
    with pytest.raises(SwapError, match="a .csv export holds one benchmark run, got 2"):
        export_rows([one, one], tmp_path / "rows.csv")
    assert export_rows([one], tmp_path / "rows.csv").read_text().startswith("id,key,swap,")
    with pytest.raises(SwapError, match="writes .csv, .jsonl or .json"):
        export_rows(one, tmp_path / "rows.txt")
    with pytest.raises(SwapError, match="one or more benchmark results"):
        export_rows([], tmp_path / "none.json")


def test_a_real_run_exports_naslib_json(tmp_path):
    result = run_bench("nb301", proxies="params", limit=3, cache_dir=None, progress=False, warmup=False)
    data = json.loads(export_rows(result, tmp_path / "zc.json").read_text())
    records = get_space("nb301").benchmark()[:3]
    assert list(data["cifar10"]) == [r.extra["naslib_key"] for r in records]
    for r in records:
        entry = data["cifar10"][r.extra["naslib_key"]]
        assert entry["params"]["score"] == get_space("nb301").param_count(r.arch)
        assert entry["params"]["time"] >= 0 and entry["val_accuracy"] == r.scores["cifar10"]
