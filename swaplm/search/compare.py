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
import sys
import time
from pathlib import Path

import numpy as np

from swaplm.runner import Scorer, Store, make_executor, resolve

from .algorithms import evolution, random_search, swapnas
from .benchmark_view import BenchmarkView
from .run import Fitness, fitness_proxies


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
            command: str | None = None, report: Path | None = None) -> dict:
    """Run every method for every budget and seed; write ``report`` (default ``out_dir/search.md``, with
    ``command`` as the command that made it); return the summary."""
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [r for r in space.benchmark() if r.scores.get(task) is not None and math.isfinite(r.scores[task])]
    view = BenchmarkView(space, records)
    fit_name, names = fitness_proxies(proxy, regularise)
    scorer = Scorer(space, names, resolve(space, regularise=regularise, **(scoring or {})))
    cache = Store(Path(cache_dir) / f"{space.name}.jsonl") if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers, threads)
    opts = algorithm_options or {}
    evo_opts = {k: v for k, v in opts.items() if k in ("population", "sample")}
    proxy_fit = Fitness(view, scorer, fit_name, journal, cache, executor)
    size_fit = Fitness(view, scorer, "params", journal, cache, executor)
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
    stratum = getattr(space, "stratum", None)
    best_stratum = None
    if stratum is not None:
        groups: dict = {}
        for r in records:
            groups.setdefault(stratum(r.arch), []).append(float(r.scores[task]))
        best_stratum = max(groups, key=lambda g: statistics.fmean(groups[g]))
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
    summary["command"] = command or "swaplm " + " ".join(sys.argv[1:])
    from swaplm.runner.distributed import is_main

    if is_main():
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
    cache = Store(Path(cache_dir) / f"{space.name}.jsonl") if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers)
    rows = []
    settings = [("prior", p, None) for p in priors] + [("max_params", None, m) for m in max_params]
    try:
        for kind, prior, limit in settings:
            fit_name, names = fitness_proxies("swap", prior)
            scorer = Scorer(space, names, resolve(space, regularise=prior, **(scoring or {})))
            fit = Fitness(view, scorer, fit_name, journal, cache, executor, max_params=limit)
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


def _verdict(summary: dict, fit_name: str) -> list[str]:
    lines = []
    swap = summary["methods"][f"SWAP-NAS ({fit_name})"]
    for b in map(str, summary["budgets"]):
        s = swap[b]
        parts = []
        for other in ("random choice (no proxy)", "size-only SWAP-NAS (params)", f"NASWOT protocol ({fit_name})"):
            o = summary["methods"][other][b]
            se = math.sqrt((s["std"] ** 2 + o["std"] ** 2) / max(1, summary["seeds"]))
            diff = s["mean"] - o["mean"]
            word = "beat" if diff > 2 * se else "lost to" if diff < -2 * se else "tied with"
            parts.append(f"{word} {other} ({s['mean']:.2f} vs {o['mean']:.2f}, difference {diff:+.2f} ± "
                         f"{2 * se:.2f} at 2 standard errors)")
        lines.append(f"- Budget {b}: SWAP-NAS " + "; ".join(parts) + ".")
        if s.get("in_best_stratum") is not None:
            lines.append(f"  - {100 * s['in_best_stratum']:.0f} % of SWAP-NAS runs ended in the best group "
                         f"{summary['best_stratum']} (size-only: "
                         f"{100 * summary['methods']['size-only SWAP-NAS (params)'][b]['in_best_stratum']:.0f} %, "
                         f"oracle: {100 * summary['methods']['oracle best-of-budget'][b]['in_best_stratum']:.0f} %).")
    return lines


def write_comparison(path: Path, summary: dict, fit_name: str) -> None:
    sc = summary["scoring"]
    budgets = list(map(str, summary["budgets"]))
    head = "| method | " + " | ".join(f"budget {b}: true {summary['task']} (mean ± std) | percentile"
                                      + (" | in best group" if summary["best_stratum"] else "") for b in budgets) + " |"
    ncol = (3 if summary["best_stratum"] else 2) * len(budgets)
    lines = [f"# Benchmark-mode search: {summary['space']} ({summary['task']})", "",
             f"Command: `{summary['command']}`", "",
             f"Every figure below was computed by swaplm: {summary['seeds']} seeds per method and budget, on the "
             f"{summary['n_archs']} benchmark architectures (true score: the benchmark's trained {summary['task']}; "
             f"benchmark mean {summary['benchmark_mean']:.2f}, max {summary['benchmark_max']:.2f}). Fitness values "
             f"come from the store (N = {sc['n']}, repeats {sc['repeats']}, init {sc['init']}, mode {sc['mode']}, "
             f"padding {sc['padding']}, data {sc['data']}, build {sc['space_options']}); "
             f"{summary['computed']} were computed in this run. Wall time {summary['seconds']:.1f} s. Versions: "
             f"{sc['versions']}.", "",
             "Mutation in benchmark mode: the space's own mutation (or crossover), then the benchmark architecture "
             "nearest to the child (Hamming distance between architecture encodings, the parent excluded, ties "
             "broken by the search's random generator). Percentile: share of benchmark architectures whose true "
             "score is at most the found one's.", "", head, "|---|" + "---:|" * ncol]
    for name, per in summary["methods"].items():
        cells = []
        for b in budgets:
            r = per[b]
            cells += [f"{r['mean']:.2f} ± {r['std']:.2f}", f"{r['percentile']:.1f}"]
            if summary["best_stratum"]:
                cells.append(f"{100 * r['in_best_stratum']:.0f} %")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Verdict", "", *_verdict(summary, fit_name), ""]
    if summary["best_stratum"]:
        lines += [f"Groups are the space's strata (FlexiBERT: layers and hidden size; DARTS: equal-count bins of "
                  f"parameter count); the best group is {summary['best_stratum']} (highest mean true score). A "
                  "search that ends in that group as often as the size-only search, with a similar true score, "
                  "has only found the right size group: it knows nothing beyond size.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
