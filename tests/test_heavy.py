"""Long reproductions of the headline numbers from a fresh (temporary) cache. Deselected by default; run with

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 pytest -m heavy -s --durations=0

Cost on the 2-core CPU machine (measured by the report runs that recorded the expected values): DARTS ~4 min,
FlexiBERT reference build on ids 0–249 ~10 min, faithful build ~7 min.

Expected values and where they come from:

* DARTS, all 1000 archs, SWAP vs CIFAR-10: ρ 0.916 — ``reports/darts_cifar10.md`` (made by
  ``benchmarks/report_darts.py``; the released reference code gives 0.917 here, ../shared/reference/method-facts.md
  §4.3).
* FlexiBERT on a declared subset, ids 0–249 (the tuning half; the full 500 cost ~37 min): reference build ρ 0.692,
  faithful build ρ 0.806 — both are **swaplm runs**, recorded in ``reports/flexibert_glue.md`` ("GLUE on both
  halves", column "ρ 0–249 (tuning)", made by ``benchmarks/report_flexibert.py``). The published-setting figure for
  all 500 is ρ 0.71 (method-facts §4.1; the reference code gives 0.702, §1.7), which swaplm's reference build
  reproduces on all 500 (0.702 in the same report); no published figure exists for a subset.
"""
from __future__ import annotations

import time

import pytest

from swaplm.bench import run_bench

pytestmark = pytest.mark.heavy


def reproduce(space, task: str, tmp_path, *, ids=None, limit=None, proxies=("swap",), workers: int = 2):
    """Score ``space`` from an empty cache and return (Spearman of the first proxy vs ``task``, the result)."""
    t0 = time.perf_counter()
    result = run_bench(space, proxies=proxies, ids=ids, limit=limit, workers=workers, cache_dir=tmp_path / "cache",
                       progress=False)
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


def test_flexibert_reference_build_first_half(tmp_path):
    from swaplm.spaces import get_space

    rho, result = reproduce(get_space("flexibert", build="reference"), "glue", tmp_path, ids=range(250))
    assert len(result.rows) == 250
    assert rho == pytest.approx(0.692, abs=0.02)


def test_flexibert_faithful_build_first_half(tmp_path):
    from swaplm.spaces import get_space

    rho, result = reproduce(get_space("flexibert", build="faithful"), "glue", tmp_path, ids=range(250))
    assert len(result.rows) == 250
    assert rho == pytest.approx(0.806, abs=0.02)
