"""Long reproductions of the headline numbers from a fresh (temporary) cache. Deselected by default; run with

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 pytest -m heavy -s --durations=0

Cost on the 2-core CPU machine: DARTS ~4 min, each FlexiBERT build on its 50-record subset ~2 min, NB-201 on
its 977-arch tuning sample ~2 min and on its 117-arch check subset ~1 min per dataset, NB-101 / NB-301 on their
100-arch check subsets a few minutes each.

Expected values and where they come from:

* DARTS, all 1000 archs, SWAP vs CIFAR-10: ρ 0.916 — ``reports/darts_cifar10.md`` (made by
  ``benchmarks/report_darts.py``; the released reference code gives 0.917 here, ../shared/reference/method-facts.md
  §4.3).
* FlexiBERT on a declared subset, ids 0, 10, …, 490 (50 records spread over the benchmark; all 500 cost ~37 min
  per build): reference build ρ 0.7034, faithful build ρ 0.7926 — both are **swaplm runs**: the rows the report
  run of ``benchmarks/report_flexibert.py`` (2026-12-02, ``reports/flexibert_glue.md``) stored for those ids, read
  back and correlated on the subset. A fresh cache must reproduce them (the scores are deterministic; the
  tolerance only absorbs float summation order). No published figure exists for a subset; for all 500 the
  published-setting figure is ρ 0.71 (method-facts §4.1).
* NAS-Bench-201 (the protocol study's tuning sample; the report's 117-arch check subset on each dataset) and
  NAS-Bench-101 / -301 (check subsets): the figures the report scripts wrote in ``reports/nb201_protocol.json``,
  ``reports/nb201.json`` and ``reports/nb101_nb301.json``, rescored from an empty cache.
"""
from __future__ import annotations

import time

import pytest

from swaplm.bench import run_bench

pytestmark = pytest.mark.heavy


def reproduce(space, task: str, tmp_path, *, ids=None, limit=None, proxies=("swap",), workers: int = 2, **settings):
    """Score ``space`` from an empty cache (``settings``: more run_bench options, e.g. ``n``, ``regularise``) and
    return (Spearman of the first proxy vs ``task``, the result)."""
    t0 = time.perf_counter()
    result = run_bench(space, proxies=proxies, ids=ids, limit=limit, workers=workers, cache_dir=tmp_path / "cache",
                       progress=False, **settings)
    wall = time.perf_counter() - t0
    c = result.correlations()[proxies[0]][task]
    print(f"\n{result.space} {result.settings.get('space_options', '')}: {len(result.rows)} archs, "
          f"{proxies[0]} vs {task}: rho {c['spearman']:.4f}, tau {c['kendall']:.4f}; {wall:.0f} s wall, "
          f"{result.computed} computed")
    assert result.computed == len(result.rows) and result.from_cache == 0  # a fresh cache: nothing read back
    assert c["non_finite"] == 0 and c["n"] == len(result.rows)
    return c["spearman"], result


def test_darts_swap_all_1000(tmp_path):
    rho, result = reproduce("darts", "cifar10", tmp_path)
    assert len(result.rows) == 1000
    assert rho == pytest.approx(0.916, abs=0.01)


SUBSET = range(0, 500, 10)


def test_flexibert_reference_build_subset(tmp_path):
    from swaplm.spaces import get_space

    rho, result = reproduce(get_space("flexibert", build="reference"), "glue", tmp_path, ids=SUBSET)
    assert len(result.rows) == 50
    assert rho == pytest.approx(0.7034, abs=0.02)


def test_flexibert_faithful_build_subset(tmp_path):
    from swaplm.spaces import get_space

    rho, result = reproduce(get_space("flexibert", build="faithful"), "glue", tmp_path, ids=SUBSET)
    assert len(result.rows) == 50
    assert rho == pytest.approx(0.7926, abs=0.02)


def test_nb201_swap_on_the_tuning_sample(tmp_path):
    """NAS-Bench-201, cifar10 build, the space's default protocol, on the protocol study's tuning sample
    (index % 16 == 0, 977 archs): the ρ ``benchmarks/nb201_protocol.py`` wrote for the chosen option in
    reports/nb201_protocol.json (~2 min)."""
    import json
    from pathlib import Path

    from swaplm.spaces import get_space

    study = json.loads((Path(__file__).resolve().parent.parent / "reports" / "nb201_protocol.json").read_text())
    chosen = next(o for o in study["options"] if o["option"] == study["chosen"])
    space = get_space("nb201")
    rho, result = reproduce(space, "cifar10", tmp_path, ids=[i for i in range(15625) if i % 16 == 0])
    assert len(result.rows) == study["samples"]["n_tuning"] == 977
    assert rho == pytest.approx(chosen["tuning"]["spearman"], abs=0.002)


@pytest.mark.parametrize("task", ["cifar10", "cifar100", "imagenet16_120"])
def test_nb201_swap_on_the_check_subset(task, tmp_path):
    """NAS-Bench-201 at the space's default protocol, each dataset on its own build and inputs, SWAP and
    swap_reg on the report's check subset (117 held-out archs, index % 125 == 3): the ρ
    ``benchmarks/report_nb201.py`` wrote for that subset in reports/nb201.json from the full run's stored values
    (~1 min per dataset)."""
    import json
    from pathlib import Path

    from swaplm.bench import bench_tasks
    from swaplm.spaces import get_space

    path = Path(__file__).resolve().parent.parent / "reports" / "nb201.json"
    if not path.is_file():
        pytest.fail(f"{path.name} is missing: run benchmarks/report_nb201.py --workers 2 first")
    doc = json.loads(path.read_text())
    assert doc["limit"] is None and len(doc["check_ids"]) == 117
    # the report's proxies (swap_reg derived from swap and params, as in the report run)
    [result] = bench_tasks(get_space("nb201"), tasks=[task], proxies=("swap", "swap_reg", "params"),
                           ids=doc["check_ids"], workers=2, cache_dir=tmp_path / "cache", progress=False)
    assert result.computed == len(result.rows) == 117 and result.from_cache == 0
    got = result.correlations()
    for proxy in ("swap", "swap_reg"):
        assert got[proxy][task]["spearman"] == pytest.approx(doc["check"][task][proxy]["spearman"], abs=0.002)


@pytest.mark.parametrize("name", ["nb101", "nb301"])
def test_nb101_nb301_swap_on_the_check_subset(name, tmp_path):
    """NAS-Bench-101 / -301 (NASLib's samples), the benchmark's own network (``full`` build), SWAP and swap_reg
    at the N and size prior ``benchmarks/report_nb101_nb301.py`` chose on the tuning half, on the first 100
    held-out ids: the ρ that run wrote for that subset in reports/nb101_nb301.json."""
    import json
    from pathlib import Path

    from swaplm.spaces import get_space
    from swaplm.swap import Regularise

    path = Path(__file__).resolve().parent.parent / "reports" / "nb101_nb301.json"
    if not path.is_file():
        pytest.fail(f"{path.name} is missing: run benchmarks/report_nb101_nb301.py --workers 2 --nwot-n 32 first")
    doc = json.loads(path.read_text())
    run = doc["spaces"][name]
    assert doc["limit"] is None and len(run["check_ids"]) == 100
    space = get_space(name, build=doc["build"])
    _, result = reproduce(space, doc["task"], tmp_path, ids=run["check_ids"], proxies=("swap", "swap_reg"),
                          n=run["n"], regularise=Regularise(run["mu"], run["sigma"], unit="M"))
    assert len(result.rows) == 100
    got = result.correlations()
    for proxy in ("swap", "swap_reg"):
        assert got[proxy][doc["task"]]["spearman"] == pytest.approx(run["check"][proxy]["spearman"], abs=0.002)
