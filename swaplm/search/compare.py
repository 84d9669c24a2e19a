"""Benchmark mode over many seeds: what each search method finds at equal budget, in true benchmark score.

Methods (all on the same candidates and the same stored fitness values):

* ``swapnas`` with the fitness proxy, and with ``params`` as fitness (size-only search);
* aging evolution with the fitness proxy;
* the NASWOT protocol: sample ``budget`` architectures, keep the proxy's best (``random`` with the proxy);
* random choice: one uniformly drawn architecture (no proxy; what a search without information finds);
* the oracle best-of-budget: sample ``budget`` architectures, keep the one with the best true score.
"""
from __future__ import annotations

import math
import random
import statistics
import time
from pathlib import Path

import numpy as np

from swaplm.runner import Scorer, Store, make_executor, resolve, space_store

from .algorithms import evolution, random_search, swapnas
from .benchmark_view import BenchmarkView
from .run import StoredFitness, fitness_proxies


class _Truth:
    """Fitness = true benchmark score (the oracle)."""

    def __init__(self, view: BenchmarkView, task: str):
        self.view, self.task = view, task

    def __call__(self, archs):
        return [float(self.view.record(a).scores[self.task]) for a in archs]


def _constant(archs):
    return [0.0 for _ in archs]


def compare(space, task: str, budgets: list[int], seeds: list[int], *, proxy: str = "swap", regularise=None,
            out_dir: Path, cache_dir=None, workers: int = 1, threads: int | None = None,
            progress: bool = True, scoring: dict | None = None, algorithm_options: dict | None = None,
            command: str | None = None, report: Path | None = None, device: str = "cpu") -> dict:
    """Run every method for every budget and seed; write ``report`` (default ``out_dir/search.md``, with
    ``command`` as the command that made it); return the summary."""
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r for r in space.benchmark() if r.scores.get(task) is not None and math.isfinite(r.scores[task])]
    view = BenchmarkView(space, records)
    fit_name, names = fitness_proxies(proxy, regularise)
    scorer = Scorer(space, names, resolve(space, regularise=regularise, device=device, **(scoring or {})))
    cache = space_store(cache_dir, space.name) if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers, threads)
    opts = algorithm_options or {}
    evo_opts = {k: v for k, v in opts.items() if k in ("population", "sample")}
    proxy_fit = StoredFitness(view, scorer, fit_name, journal, cache, executor)
    size_fit = StoredFitness(view, scorer, "params", journal, cache, executor)
    truth = _Truth(view, task)
    methods = {
        f"SWAP-NAS ({fit_name})": lambda b, rng: swapnas(view, proxy_fit, b, rng, **opts),
        f"aging evolution ({fit_name})": lambda b, rng: evolution(view, proxy_fit, b, rng, **evo_opts),
        f"NASWOT protocol ({fit_name})": lambda b, rng: random_search(view, proxy_fit, b, rng),
        "size-only SWAP-NAS (params)": lambda b, rng: swapnas(view, size_fit, b, rng, **opts),
        "random choice (no proxy)": lambda b, rng: random_search(view, _constant, 1, rng),
        "oracle best-of-budget": lambda b, rng: random_search(view, truth, b, rng),
    }
    all_truth = np.array([float(r.scores[task]) for r in records])
    stratum = space.stratum
    groups: dict = {}
    for r in records:
        groups.setdefault(stratum(r.arch), []).append(float(r.scores[task]))
    best_stratum = None if None in groups else max(groups, key=lambda g: statistics.fmean(groups[g]))
    summary: dict = {"space": space.name, "task": task, "n_archs": len(records), "budgets": budgets,
                     "seeds": len(seeds), "methods": {}, "best_stratum": None if best_stratum is None
                     else str(best_stratum), "benchmark_max": float(all_truth.max()),
                     "benchmark_mean": float(all_truth.mean())}
    from swaplm.runner.progress import progress as bar

    try:
        with bar(progress, f"{space.name} benchmark-mode searches", len(methods) * len(budgets) * len(seeds),
                 unit="runs") as advance:
            for name, run in methods.items():
                per_budget = {}
                for b in budgets:
                    found, pct, in_best = [], [], []
                    for s in seeds:
                        hist = run(b, random.Random(s))
                        arch = hist.archs[hist.best_index()]
                        score = float(view.record(arch).scores[task])
                        found.append(score)
                        pct.append(100.0 * float((all_truth <= score).mean()))
                        if best_stratum is not None:
                            in_best.append(stratum(arch) == best_stratum)
                        advance()
                    per_budget[str(b)] = {
                        "mean": statistics.fmean(found), "std": statistics.pstdev(found),
                        "percentile": statistics.fmean(pct),
                        "in_best_stratum": statistics.fmean(in_best) if in_best else None, "scores": found}
                summary["methods"][name] = per_budget
    finally:
        executor.close()
    summary["seconds"] = time.perf_counter() - t0
    summary["scoring"] = scorer.settings_json()
    summary["computed"] = proxy_fit.computed + size_fit.computed
    summary["command"] = command or "(library call)"
    from swaplm.runner.distributed import is_main

    if is_main():
        from .report import write_comparison

        write_comparison(report or out_dir / "search.md", summary, fit_name)
    return summary


def size_control(space, task: str, priors: list, budget: int, seeds: list[int], *, max_params: list[int] = (),
                 cache_dir=None, out_dir: Path, scoring: dict | None = None, algorithm_options: dict | None = None,
                 workers: int = 1) -> list[dict]:
    """SWAP-NAS in benchmark mode under each size prior (fitness swap_reg, a :class:`swaplm.Regularise`) and
    each hard ``max_params`` limit (fitness swap): parameter count and true score of the found architectures
    (mean ± std over ``seeds``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r for r in space.benchmark() if r.scores.get(task) is not None and math.isfinite(r.scores[task])]
    view = BenchmarkView(space, records)
    cache = space_store(cache_dir, space.name) if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers)
    rows = []
    settings = [("prior", p, None) for p in priors] + [("max_params", None, m) for m in max_params]
    try:
        for kind, prior, limit in settings:
            fit_name, names = fitness_proxies("swap", prior)
            scorer = Scorer(space, names, resolve(space, regularise=prior, **(scoring or {})))
            fit = StoredFitness(view, scorer, fit_name, journal, cache, executor, max_params=limit)
            params, truth = [], []
            for s in seeds:
                hist = swapnas(view, fit, budget, random.Random(s), **(algorithm_options or {}))
                i = hist.best_index()
                params.append(float(fit.params_of[view.key(hist.archs[i])]))
                truth.append(float(view.record(hist.archs[i]).scores[task]))
            rows.append({"setting": f"prior μ={prior.mu:g}, σ={prior.sigma:g} ({prior.unit})" if prior else
                         f"--max-params {limit:,}", "params_mean": statistics.fmean(params),
                         "params_std": statistics.pstdev(params), "params_max": max(params),
                         "truth_mean": statistics.fmean(truth), "truth_std": statistics.pstdev(truth)})
    finally:
        executor.close()
    return rows
