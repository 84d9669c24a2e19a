"""Searches over stored fitness tables (swaplm.search.tabular), the benchmark view's exact look-up, and the
NB-201 search study (benchmarks/report_search_nb201.py) reading the values a bench run stored."""
import importlib.util
import math
import random
import runpy
import sys
from pathlib import Path

import pytest

from swaplm.errors import SwapError
from swaplm.search import BenchmarkView, TableFitness, chosen, evolution, random_search, swapnas
from swaplm.spaces import get_space

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "report_search_nb201.py"


def _script():
    spec = importlib.util.spec_from_file_location("report_search_nb201", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Pairs:
    """Toy space: integers 0..19 whose encoding is ``a // 2`` (two archs per code), mutation ±1."""

    name = "pairs"

    def sample(self, rng):
        return rng.randrange(20)

    def mutate(self, a, rng):
        return min(19, max(0, a + rng.choice([-1, 1])))

    def crossover(self, a, b, rng):
        return (a + b) // 2

    def key(self, a):
        return str(a)

    def encode(self, a):
        return (a // 2,)


class _Rec:
    def __init__(self, arch):
        self.arch, self.scores = arch, {"t": float(arch)}


def test_table_fitness_reads_signs_and_refuses_a_key_outside_the_table():
    space = Pairs()
    fit = TableFitness(space, {"0": 2.0, "1": None, "2": math.nan, "3": 5.0})
    assert fit([0, 1, 2, 3]) == [2.0, -math.inf, -math.inf, 5.0] and fit.evaluations == 4
    low = TableFitness(space, {"0": 2.0, "3": 5.0}, higher_is_better=False)
    assert low([0, 3]) == [-2.0, -5.0]
    with pytest.raises(SwapError, match="outside the scored pool"):
        fit([7])


def test_chosen_keeps_each_seeded_runs_best_in_seed_order():
    space, ticks = Pairs(), []
    fit = TableFitness(space, {str(a): float(a) for a in range(20)})
    run = lambda b, rng: random_search(space, fit, b, rng)  # noqa: E731
    got = chosen(run, 5, [3, 1, 3], on_run=lambda: ticks.append(1))
    want = [max(random_search(space, fit, 5, random.Random(s)).archs) for s in (3, 1, 3)]
    assert got == want and got[0] == got[2] and len(ticks) == 3


def test_benchmark_view_look_up_gives_the_scans_answer():
    space = get_space("nb201")
    records = space.benchmark()
    fit = TableFitness(space, {space.key(r.arch): r.scores["cifar10"] for r in records})
    fast, scan = BenchmarkView(space, records), BenchmarkView(space, records)
    scan._exact = None  # the distance scan for every child
    assert fast._exact is not None
    for algo in (swapnas, evolution):
        for seed in (0, 1):
            assert algo(fast, fit, 150, random.Random(seed)).archs == algo(scan, fit, 150, random.Random(seed)).archs
    # a sub-pool: children outside it go through the scan, in it through the look-up; same answers
    sub = records[:300]
    fast, scan = BenchmarkView(space, sub), BenchmarkView(space, sub)
    scan._exact = None
    assert [swapnas(fast, fit, 120, random.Random(s)).archs for s in (2, 3)] == \
           [swapnas(scan, fit, 120, random.Random(s)).archs for s in (2, 3)]
    # shared encodings: no look-up (ties at distance 0 are drawn by the generator)
    assert BenchmarkView(Pairs(), [_Rec(a) for a in range(20)])._exact is None


def test_study_reads_the_values_a_bench_run_stored(tmp_path, monkeypatch):
    """run_bench at nwot -n 32 and at the space protocol stores values the study then reads, computing none;
    the study's report is written from them."""
    from swaplm.bench import run_bench

    store = tmp_path / "cache" / "bench"
    space = get_space("nb201")
    from swaplm.spaces.nb201 import NB201Space

    nwot = run_bench(NB201Space(C=16, N=5), proxies=("nwot",), n=32, ids=[0, 1, 2], cache_dir=store,
                     progress=False, device="cpu")  # nwot scores the benchmark's own network
    swap = run_bench(get_space("nb201"), proxies=("swap", "params"), ids=[0, 1, 2], cache_dir=store, progress=False,
                     device="cpu")
    assert nwot.computed == swap.computed == 3
    study = _script()
    runs = study.stored_values(space, limit=3, device="cpu", workers=1, progress=False, cache_dir=store)
    assert runs["nwot"][0].computed == runs["swap"][0].computed == 0
    assert runs["nwot"][0].values("nwot") == nwot.values("nwot")
    assert runs["swap"][0].values("swap") == swap.values("swap")

    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "search.md"
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--limit-archs", "3", "--runs", "3", "--device", "cpu",
                                      "--no-progress", "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    text = out.read_text(encoding="utf-8")
    assert "0 values computed in this run" in text and "swap_reg is skipped" not in text
    for part in ("## Verdict", "Picking the best of N random archs by swap", "## Cited figures",
                 "92.81 ± 0.99 (30 s)", "swaplm-report commit="):
        assert part in text


def test_verdict_words_and_grouping():
    study = _script()
    assert study.word(1.0, 0.5) == "beat" and study.word(-1.0, 0.5) == "lost to" and study.word(0.2, 0.5) == \
        "tied with"
    assert study.grouped({10: "beat", 100: "beat", 1000: "tied with"}, "X", "N = ") == \
        "beat X at N = 10 and 100 and tied with it at N = 1,000"
    diff, two_se = study.difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.5], paired=True)  # differences 1, 1, 0.5
    assert diff == pytest.approx(5 / 6) and two_se == pytest.approx(2 * 0.2886751 / math.sqrt(3), rel=1e-5)
    diff, two_se = study.difference([1.0, 2.0, 3.0], [0.0, 1.0], paired=False)  # variances 1 and 0.5
    assert diff == pytest.approx(1.5) and two_se == pytest.approx(2 * math.sqrt(1 / 3 + 0.5 / 2))
