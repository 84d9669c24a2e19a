"""Make reports/nb101_nb301.md: SWAP and cheap CNN proxies on NASLib's NAS-Bench-101 (500) and NAS-Bench-301
(725) samples, each space's ``full`` build (the network its benchmark trained).

    OMP_WAIT_POLICY=PASSIVE nice python benchmarks/report_nb101_nb301.py --workers 2 --out reports/nb101_nb301.md

Per space (every score computed by swaplm, results cached per architecture, so a rerun resumes):
1. choosing N: swap + params on the tuning half (even record ids) for every N of ``--n-grid`` (default 16,
   32, 64: the first N shipped CIFAR-10 training images; PyTorch default init, one pass, train mode: the
   spaces' protocol); the N with the highest Spearman ρ on the tuning half is chosen;
2. swap_reg's size prior: μ, σ (Θ in millions of parameters, factor exp(-(Θ-μ)²/σ)) by grid search on the tuning
   half with the chosen N's swap and params values; the grid is laid out from the tuning half's Θ (μ at its
   quantiles, σ as multiples of its variance), so one rule serves both spaces' very different sizes;
3. final runs on every arch: swap, swap_reg, params at the chosen N; the batch-independent proxies (flops per
   sample, synflow on its all-ones probe, l2_norm of the weights) at N = 2; nwot and any ``--extra`` proxies at
   ``--nwot-n`` (default 64, the batch of zero-cost-nas, anchors.md §4.2);
4. the report: ρ on the held-out half (odd ids), the tuning half and all archs with 95 % bootstrap intervals,
   the ranking statistics, each proxy's batch size and seconds per arch, the trivial baselines (params; NB-101
   also vertices and edges), cited figures in their own section and a closing verdict computed from the numbers.

Ground truths, stated in the report: NB-101: NASLib's validation accuracy of one randomly drawn run of the
benchmark's three (108 epochs); NB-301: the validation accuracy the NAS-Bench-301 surrogate model predicts (no
network was trained for it). ``--limit N`` runs every step on the first N records only (to check the script;
write such a report elsewhere, e.g. ``--out /tmp/check.md``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from swaplm import stats
from swaplm.bench import BenchResult, run_bench, split
from swaplm.report import (cited_section, correlation_sections, git_commit, interval_text, markdown_table,
                           plot_section, provenance_footer, settings_section)
from swaplm.spaces import get_space
from swaplm.swap import Regularise

SPACES = {"nb101": "NAS-Bench-101", "nb301": "NAS-Bench-301"}
TASK = "cifar10"
N_GRID = (16, 32, 64)
SIZE_N = 2  # batch of the proxies whose value does not depend on N (each counts per sample or on its own probe)
SIZE_PROXIES = ("flops", "synflow", "l2_norm")
MU_QUANTILES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SIGMA_FACTORS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # σ = factor × variance of Θ on the tuning half
CHECK = 100  # the first CHECK held-out ids: the subset the heavy tests rescore (its ρ goes in the JSON)

#: figures from elsewhere, printed only as citations in their own section (never mixed with computed ones)
ANCHORS = "../shared/reference/anchors.md §4.1"
CITED = [
    ("NB-101, NASLib's stored proxy values on the same 500 archs vs the same validation accuracy: Spearman ρ",
     "params 0.72, synflow 0.65", f"{ANCHORS} ([C]: computed from NASLib's zc_nasbench101.json)"),
    ("NB-301, NASLib's stored proxy values on the same 725 archs vs the same surrogate accuracy: Spearman ρ",
     "nwot 0.55, params 0.52", f"{ANCHORS} ([C]: computed from NASLib's zc_nasbench301.json)"),
    ("NB-101, NWOT Kendall τ with accuracy (Mellor et al., ICML 2021; 128 CIFAR-10 images)", "0.285",
     f"{ANCHORS} ([V])"),
    ("NB-101, all 423,624 archs, synflow |ρ| vs test accuracy (Abdelfattah et al., ICLR 2021; batch 64)", "0.372",
     f"{ANCHORS} ([V])"),
    ("SWAP on NB-101 / NB-301 in the SWAP-NAS paper (ICLR 2024)", "a figure only; values and protocol not "
     "readable", f"{ANCHORS} ([V])"),
]
CITED_NOTE = ("anchors.md §4.1 also lists recalled figures it has not checked (tag [R]: MeCo's NB-101 / NB-301 "
              "ρ, a third-party SWAP re-run on NB-101); they are left out here.")


# ------------------------------------------------------------------------------------------------ helpers
def halves(space, limit: int | None) -> tuple[list[int], list[int], list[int]]:
    """(all, tuning = even ids, held out = odd ids) of the space's records (the first ``limit`` only)."""
    ids = [r.id for r in space.benchmark()][:limit]
    return ids, [i for i in ids if i % 2 == 0], [i for i in ids if i % 2 == 1]


def rho(values, truth) -> tuple[float, list[float]]:
    """Spearman ρ and its 95 % bootstrap interval (non-finite values ranked worst)."""
    c = stats.correlations(values, truth, intervals=True)
    return c["spearman"], c["spearman_ci"]


def choose_n(space, tune_ids, n_grid, workers) -> tuple[int, str, list]:
    """Score swap + params on the tuning half for every N; the N with the highest ρ, its table and the runs."""
    rows, runs = [], {}
    for n in n_grid:
        t0 = time.perf_counter()
        res = run_bench(space, proxies=["swap", "params"], ids=tune_ids, n=n, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        r, ci = rho(res.values("swap"), res.truth(TASK))
        swap = np.array([v for v in res.values("swap") if v is not None], dtype=float)
        near_cap = float(np.mean(swap >= 0.99 * 2.0 ** n)) if swap.size else float("nan")
        runs[n] = res
        rows.append((n, r, ci, float(swap.mean()) if swap.size else float("nan"), near_cap,
                     res.mean_seconds()["swap"], wall))
        print(f"{space.name} N={n}: ρ={r:.3f} on {len(res.rows)} tuning archs, {wall:.0f} s", flush=True)
    best = max(rows, key=lambda row: -np.inf if not np.isfinite(row[1]) else row[1])[0]
    table = markdown_table(
        ["N", "ρ on the tuning half [95 % CI]", "mean SWAP", "share ≥ 99 % of 2^N", "swap s / arch",
         "wall s (this invocation)"],
        [[f"**{n}**" if n == best else n, interval_text(r, ci), f"{m:,.0f}", f"{cap:.0%}", f"{s:.2f}", f"{w:.0f}"]
         for n, r, ci, m, cap, s, w in rows])
    return best, table, runs[best]


def prior_grid(tuning) -> tuple[list[float], list[float]]:
    """μ and σ values (Θ in millions) laid out from the tuning half's parameter counts."""
    theta = np.array([r.values["params"] for r in tuning.rows], dtype=float) / 1e6
    mus = sorted({float(f"{q:.4g}") for q in np.quantile(theta, MU_QUANTILES)})
    var = float(theta.var()) or 1e-6
    return mus, [float(f"{f * var:.4g}") for f in SIGMA_FACTORS]


def regularised(tuning, mu: float, sigma: float) -> list[float | None]:
    """swap × the prior's factor per tuning row: what swap_reg computes (repeats = 1)."""
    prior = Regularise(mu=mu, sigma=sigma, unit="M")
    return [None if r.values["swap"] is None else r.values["swap"] * prior.factor(int(r.values["params"]))
            for r in tuning.rows]


def choose_prior(tuning) -> tuple[float, float, str]:
    """Grid search of μ, σ maximising ρ of swap × factor on the tuning half; the choice and its table."""
    mus, sigmas = prior_grid(tuning)
    truth = tuning.truth(TASK)
    grid = sorted(((stats.correlations(regularised(tuning, m, s), truth)["spearman"], m, s)
                   for m in mus for s in sigmas), key=lambda g: -g[0] if np.isfinite(g[0]) else np.inf)
    _, mu, sigma = grid[0]
    plain = rho(tuning.values("swap"), truth)
    rows = [[f"{m:.4g}", f"{s:.4g}", interval_text(*rho(regularised(tuning, m, s), truth))] for _, m, s in grid[:8]]
    text = (f"Grid: μ ∈ {mus} (quantiles {list(MU_QUANTILES)} of Θ on the tuning half), σ ∈ {sigmas} "
            f"({list(SIGMA_FACTORS)} × the variance of Θ there); Θ in millions of parameters, factor "
            f"exp(-(Θ-μ)²/σ), maximising Spearman ρ of `swap × factor` on the tuning half. Chosen: **μ = {mu}, "
            f"σ = {sigma}**. Without a prior (plain swap) the tuning half gives ρ {interval_text(*plain)}. "
            f"Best grid points:\n\n" + markdown_table(["μ (M params)", "σ", "ρ on the tuning half [95 % CI]"], rows))
    return mu, sigma, text


def combine(runs: list[BenchResult], settings: dict) -> BenchResult:
    """One result over the same records from several runs (different proxies and batch sizes): each row's values,
    seconds and failures merged, build seconds summed; ``settings`` describe the whole."""
    first = runs[0]
    rows = {r.id: replace(r, values=dict(r.values), seconds=dict(r.seconds), failed=dict(r.failed))
            for r in first.rows}
    for run in runs[1:]:
        for r in run.rows:
            row = rows[r.id]
            row.values.update(r.values)
            row.seconds.update(r.seconds)
            row.failed.update(r.failed)
            row.build_seconds += r.build_seconds
            row.cached = row.cached and r.cached
    merged = [rows[r.id] for r in first.rows]
    computed = sum(not r.cached for r in merged)
    return BenchResult(space=first.space, settings=settings, rows=merged,
                       proxies=list(dict.fromkeys(p for run in runs for p in run.proxies)), tasks=first.tasks,
                       higher_is_better={k: v for run in runs for k, v in run.higher_is_better.items()},
                       wall_seconds=sum(run.wall_seconds for run in runs), computed=computed,
                       from_cache=len(merged) - computed)


def halves_table(result, parts: dict, n_all: int) -> str:
    """ρ and τ with 95 % intervals of every proxy and baseline on the held-out half, the tuning half and all
    (``parts``: :func:`split`'s correlations under the labels held_out, tuning, all)."""
    labels = {"held_out": "odd ids (held out)", "tuning": "even ids (tuning)", "all": f"all {n_all}"}

    def cell(part, name, stat):
        c = parts[part][name][TASK]
        return interval_text(c[stat], c.get(f"{stat}_ci"))

    names = [*result.proxies, *result.features]
    rows = [[n, *(cell(p, n, "spearman") for p in labels), *(cell(p, n, "kendall") for p in labels)] for n in names]
    return markdown_table(["proxy / baseline", *(f"ρ {v}" for v in labels.values()),
                           *(f"τ {v}" for v in labels.values())], rows)


def batch_table(result, batch: dict[str, str]) -> str:
    """Each proxy's batch size, mean seconds per architecture and failures (with the first reasons)."""
    secs = result.mean_seconds()
    rows = [[p, batch.get(p, "?"), f"{secs[p]:.3f}", result.failures().get(p, 0)] for p in result.proxies]
    rows.append(["(build, summed over the runs)", "—", f"{secs['build']:.3f}", 0])
    reasons = [f"- `{p}` id {r.id}: {r.failed[p]}" for p in result.proxies
               for r in [row for row in result.rows if p in row.failed][:3]]
    failed = "\n\nFailures (first reasons per proxy; a failed value is ranked worst):\n\n" + "\n".join(reasons)
    return markdown_table(["proxy", "batch (images)", "mean s / arch", "failed archs"], rows) + (
        failed if reasons else "")


def demote(lines: list[str]) -> list[str]:
    """Markdown lines with every heading one level deeper (a per-space report nests under its space)."""
    return ["#" + line if line.startswith("#") else line for line in lines]


def verdict(name: str, result, corr: dict, n_held: int) -> tuple[str, dict]:
    """One computed sentence on the held-out half (``corr``: its correlations with intervals): SWAP and
    swap_reg against params and the best other proxy."""

    def at(n):
        c = corr[n][TASK]
        return c["spearman"], c["spearman_ci"]

    swap, reg, params = at("swap"), at("swap_reg"), at("params")
    others = [(n, *at(n)) for n in result.proxies if n not in ("swap", "swap_reg", "params")]
    best = max(others, key=lambda o: o[1] if np.isfinite(o[1]) else -np.inf) if others else None

    def versus(a, b):
        if not (np.isfinite(a[0]) and np.isfinite(b[0])):
            return "cannot be compared with"
        if not (a[1] and b[1] and all(np.isfinite(v) for v in (*a[1], *b[1]))):
            return "has no interval to set apart from"
        if a[1] and b[1] and a[1][0] > b[1][1]:
            return "is above, intervals apart,"
        if a[1] and b[1] and a[1][1] < b[1][0]:
            return "is below, intervals apart,"
        return "is level with (the intervals overlap)"

    top = max((swap, reg), key=lambda x: x[0] if np.isfinite(x[0]) else -np.inf)
    label = "swap_reg" if top is reg else "swap"
    text = (f"{name}, held-out half ({n_held} archs): {label} ρ {interval_text(*top)} {versus(top, params)} "
            f"the parameter count's ρ {interval_text(*params)}")
    if best is not None:
        text += f"; the best other proxy, {best[0]}, has ρ {interval_text(best[1], best[2])}"
    return text + ".", {"swap_beats_params": versus(top, params).startswith("is above"), "label": label}


# --------------------------------------------------------------------------------------------------- main
def report_space(name: str, args, out: Path) -> tuple[list[str], str, dict]:
    """Every step for one space: the Markdown lines of its part of the report, its verdict and its summary."""
    space = get_space(name, build=args.build)
    all_ids, tune_ids, held_ids = halves(space, args.limit)
    t0 = time.perf_counter()
    n_best, n_table, tuning = choose_n(space, tune_ids, args.n_grid, args.workers)
    mu, sigma, prior_text = choose_prior(tuning)
    print(f"{name}: N={n_best}, mu={mu} sigma={sigma} (Θ in M params)", flush=True)
    tuning_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    swap_run = run_bench(space, proxies=["swap", "swap_reg", "params"], ids=all_ids, n=n_best,
                         regularise=Regularise(mu, sigma, unit="M"), workers=args.workers, progress=False)
    size_run = run_bench(space, proxies=list(SIZE_PROXIES), ids=all_ids, n=SIZE_N, workers=args.workers,
                         progress=False)
    batch_proxies = ["nwot", *args.extra]
    batch_run = run_bench(space, proxies=batch_proxies, ids=all_ids, n=args.nwot_n, workers=args.workers,
                          progress=False)
    final_seconds = time.perf_counter() - t0
    batch = {"swap": str(n_best), "swap_reg": f"{n_best} (swap's)", "params": "— (no forward)",
             "flops": f"per sample (counted on {SIZE_N})", "synflow": "1 (its all-ones probe, float64)",
             "l2_norm": "— (weights only)", **{p: str(args.nwot_n) for p in batch_proxies}}
    settings = {**swap_run.settings, "n": f"swap, swap_reg: {n_best}; " + "; ".join(
        f"{p}: {b}" for p, b in batch.items() if p not in ("swap", "swap_reg")),
        "regularise": f"μ = {mu}, σ = {sigma}, Θ in M params (swap_reg)"}
    result = combine([swap_run, size_run, batch_run], settings)
    parts = split(result, {"held_out": held_ids, "tuning": tune_ids, "all": all_ids, "check": held_ids[:CHECK]},
                  intervals=True)

    lines = [f"## {SPACES[name]} ({name}, build `{args.build}`)", "",
             f"Ground truth: {space.ground_truth}. {len(all_ids)} architectures: tuning half = even record ids "
             f"({len(tune_ids)}), held out = odd ids ({len(held_ids)}); N and the size prior were chosen on the "
             "tuning half only.", ""]
    lines += demote(["## Settings", ""] + settings_section(result))
    lines += ["### Choosing SWAP's N (tuning half)", "",
              "SWAP counts distinct activation patterns; a unit's pattern over N images has at most 2^N values, "
              "so a network with more units than 2^N saturates near 2^N and SWAP stops ranking. Chosen: **N = "
              f"{n_best}** (highest ρ on the tuning half).", "", n_table, ""]
    lines += ["### Choosing swap_reg's size prior (tuning half)", "", prior_text, ""]
    lines += ["### Held out, tuning half and all archs", "",
              "Spearman ρ / Kendall τ vs the ground truth, each with its 95 % bootstrap interval (1000 resamples, "
              "seed 0).", "", halves_table(result, parts, len(all_ids)), ""]
    lines += ["### Batch size and cost per proxy", "", batch_table(result, batch), "",
              f"Wall time, {args.workers} worker process(es): choosing N and the prior {tuning_seconds:.0f} s, "
              f"final runs {final_seconds:.0f} s (this invocation; cached rows are read back, not rescored); "
              f"{result.compute_seconds():.0f} s of scoring summed over the per-arch seconds stored with the rows.",
              ""]
    lines += demote(correlation_sections(result))
    lines += demote(plot_section(result, out.with_name(f"{out.stem}_{name}.md"), TASK, ["swap", "swap_reg", "params"]))
    text, summary = verdict(SPACES[name], result, parts["held_out"], len(held_ids))
    summary.update({"n": n_best, "mu": mu, "sigma": sigma, "check_ids": held_ids[:CHECK],
                    **{part: {p: {"spearman": c[p][TASK]["spearman"], "interval": c[p][TASK].get("spearman_ci")}
                              for p in [*result.proxies, *result.features]} for part, c in parts.items()}})
    return lines, text, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="reports/nb101_nb301.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--spaces", default="nb101,nb301", help="comma-separated: nb101, nb301")
    ap.add_argument("--build", default="full", help="the spaces' build (default full: the benchmark's network)")
    ap.add_argument("--n-grid", default=",".join(map(str, N_GRID)), help="SWAP batch sizes to choose from")
    ap.add_argument("--nwot-n", type=int, default=64, help="batch of nwot and the --extra proxies")
    ap.add_argument("--extra", default="", help="more N-dependent CNN proxies, scored beside nwot (e.g. "
                                                "grad_norm,snip,jacov,zen)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records of each space (a check)")
    args = ap.parse_args()
    args.n_grid = [int(n) for n in args.n_grid.split(",") if n.strip()]
    args.extra = [p.strip() for p in args.extra.split(",") if p.strip()]
    names = [s.strip() for s in args.spaces.split(",") if s.strip()]
    unknown = [s for s in names if s not in SPACES]
    if unknown:
        ap.error(f"--spaces takes {', '.join(SPACES)}; got {', '.join(unknown)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    parts, verdicts, summaries = [], [], {}
    for name in names:
        lines, text, summary = report_space(name, args, out)
        parts += lines
        verdicts.append(text)
        summaries[name] = summary
    wins = [SPACES[n] for n, s in summaries.items() if s["swap_beats_params"]]
    held = "the held-out half" + (f" of the first {args.limit} records" if args.limit else "")
    if wins:
        closing = (f"On {held}, SWAP (its better variant per space) ranks above the parameter count with "
                   f"separated intervals on {' and '.join(wins)} only of the {len(summaries)} space(s) scored")
    else:
        closing = (f"On {held}, SWAP (either variant) ranks above the parameter count with separated intervals "
                   f"on none of the {len(summaries)} space(s) scored")
    cmd = "OMP_WAIT_POLICY=PASSIVE nice python benchmarks/report_nb101_nb301.py " + " ".join(sys.argv[1:])
    head = ["# SWAP and cheap proxies on NAS-Bench-101 and NAS-Bench-301 (NASLib's samples)", "", "Command:", "",
            "```", cmd, "```", "",
            "What the ground truths are: **NB-101**: NASLib's validation accuracy after 108 epochs of one randomly "
            "drawn training run of the benchmark's three (not a mean, not a test accuracy). **NB-301**: the "
            "validation accuracy **predicted by the NAS-Bench-301 surrogate model** (XGB v1.0); no network was "
            "trained for these numbers, so every NB-301 correlation here measures agreement with the surrogate. "
            "Inputs: the first N of swaplm's shipped CIFAR-10 training images (the DARTS reference batch); "
            "networks: each benchmark's own (`full` build); PyTorch default init, one pass, train mode.", "",
            f"Total wall time of this invocation: {time.perf_counter() - t0:.0f} s.", ""]
    tail = ["## Cited figures (not computed here)", "", cited_section(CITED), "", CITED_NOTE, "",
            "## Verdict", "", *[f"- {v}" for v in verdicts], "", f"**{closing}.**", ""]
    out.write_text("\n".join(head + parts + tail) + "\n" + provenance_footer(), encoding="utf-8")
    doc = {"command": cmd, "commit": git_commit(), "task": TASK, "build": args.build, "limit": args.limit,
           "halves": "tuning = even record ids, held out = odd ids; check = the first "
                     f"{CHECK} held-out ids", "spaces": summaries}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
