"""Make reports/darts_cifar10.md: SWAP vs CIFAR-10 accuracy over the 1000 DARTS benchmark architectures.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/report_darts.py --workers 2 --out reports/darts_cifar10.md

Steps (every score is computed by swaplm; results are cached per architecture, so a rerun resumes):
1. tuning run: swap + params on all 1000 archs with the reference protocol (N=16 real CIFAR-10 images,
   32 Gaussian re-inits, train mode);
2. regularised SWAP: μ/σ (Θ in thousands of parameters) chosen by grid search on archs 0–499 only;
3. final run: every registered proxy (swap_reg with the chosen μ/σ) on all 1000 archs -> the report, with
   correlations on both halves (0–499 tuned on, 500–999 held out), with 95 % bootstrap intervals and the
   mean ρ inside equal-count parameter bins (the space's strata);
4. ablation on a fixed subset (every ``--ablation-stride``-th arch): N ∈ {8,16,32,64} × repeats ∈ {1,8,32} ×
   real CIFAR-10 images vs Gaussian noise.

Figures from elsewhere appear only in the "Cited figures" section, each with its source (``CITED`` below).
``--limit N`` runs every step on the first N archs only (to check the script; write such a report elsewhere).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from swaplm import stats
from swaplm.bench import run_bench, split
from swaplm.proxies import available
from swaplm.report import cited_section, interval_text, markdown_table, write_report
from swaplm.spaces import get_space
from swaplm.swap import Regularise

MU_GRID = [0.5, 1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5]
SIGMA_GRID = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0]
TUNE_IDS, HOLDOUT_IDS = range(0, 500), range(500, 1000)

#: figures from elsewhere, printed only as citations in their own section (never mixed with computed ones)
FACTS = "../shared/reference/method-facts.md"
CITED = [
    ("SWAP Spearman ρ vs CIFAR-10, DARTS 1000 archs, published", "0.93", f"{FACTS} §4.1 (TPAMI abstract)"),
    ("SWAP Spearman ρ, the released reference code run on this machine's CPU", "0.917 (Kendall 0.751)",
     f"{FACTS} §4.3"),
    ("wall time of that reference-code run (swap alone, 2 CPU cores)", "2.7 s per arch, 49 min in all",
     f"{FACTS} §4.3"),
    ("parameter count of the scoring proxy vs accuracy", "Spearman 0.802", f"{FACTS} §4.3"),
    ("parameters of the scoring proxy over the 1000 archs", "0.310–2.692 k", f"{FACTS} §8.2"),
]


def beats_swap(result, task: str = "cifar10") -> str:
    """One computed sentence naming every proxy or baseline whose Spearman ρ is above SWAP's."""
    corr = result.correlations(intervals=True)
    swap = corr["swap"][task]["spearman"]
    better = sorted(((n, c[task]["spearman"]) for n, c in corr.items() if n != "swap"
                     and c[task]["spearman"] > swap), key=lambda x: -x[1])
    if not better:
        return f"No other proxy or baseline ranks above SWAP (ρ {swap:.3f}) on all {len(result.rows)} archs."
    return (f"Ranking above SWAP (ρ {interval_text(swap, corr['swap'][task]['spearman_ci'])}) on all "
            f"{len(result.rows)} archs: " + ", ".join(f"**{n}** ρ {interval_text(r, corr[n][task]['spearman_ci'])}"
                                                      for n, r in better) + ".")


def tune(result) -> tuple[float, float, list]:
    """Grid-search μ, σ maximising Spearman(swap × exp(-(Θk-μ)²/σ), accuracy) on archs 0–499."""
    tune_rows = [r for r in result.rows if r.id in TUNE_IDS]
    swap = np.array([r.values["swap"] for r in tune_rows])
    theta = np.array([r.values["params"] for r in tune_rows]) / 1e3
    acc = np.array([r.truth["cifar10"] for r in tune_rows])
    grid = []
    for mu in MU_GRID:
        for sigma in SIGMA_GRID:
            reg = swap * np.exp(-((theta - mu) ** 2) / sigma)
            grid.append((mu, sigma, stats.spearman(reg, acc)))
    grid.sort(key=lambda g: -g[2])
    return grid[0][0], grid[0][1], grid


def halves_table(result, names) -> str:
    have = {r.id for r in result.rows}
    parts = split(result, {label: ids for label, ids in
                           {f"all {len(result.rows)}": sorted(have), "0–499 (tuning)": TUNE_IDS,
                            "500–999 (held out)": HOLDOUT_IDS}.items() if have.intersection(ids)}, intervals=True)

    def cell(p, n, stat):
        c = parts[p][n]["cifar10"]
        return interval_text(c[stat], c.get(f"{stat}_ci"))

    rows = [[n, *(cell(p, n, "spearman") for p in parts), *(cell(p, n, "kendall") for p in parts)] for n in names]
    cols = ["proxy", *(f"ρ {p}" for p in parts), *(f"τ {p}" for p in parts)]
    return markdown_table(cols, rows)


def ablation(space, workers: int, stride: int, limit: int | None = None) -> tuple[str, float]:
    ids = list(range(0, limit or 1000, stride))
    t0 = time.perf_counter()
    rows, means = [], []
    for source in ("real", "noise"):
        for n in (8, 16, 32, 64):
            data = None if source == "real" else space.noise_inputs(n, seed=0)
            cells = []
            for repeats in (1, 8, 32):
                res = run_bench(space, proxies=["swap"], ids=ids, n=n, repeats=repeats, data=data,
                                workers=workers, progress=False)
                c = res.correlations(intervals=True)["swap"]["cifar10"]
                mean_swap = float(np.mean([r.values["swap"] for r in res.rows]))
                cells.append(interval_text(c["spearman"], c["spearman_ci"]))
                print(f"ablation {source} N={n} repeats={repeats}: ρ={c['spearman']:.3f} "
                      f"(mean SWAP {mean_swap:.0f})", flush=True)
            rows.append([source, n, *cells])
            means.append([source, n, mean_swap, f"2^{n} = {2 ** n:,}" if n <= 16 else f"2^{n}"])
    table = markdown_table(["inputs", "N", "ρ repeats=1", "ρ repeats=8", "ρ repeats=32"], rows)
    return (f"Spearman ρ of SWAP vs CIFAR-10 accuracy on {len(ids)} archs (ids 0, {stride}, {2 * stride}, …, "
            f"{ids[-1]}); Gaussian re-init, train mode, seed 0. Real inputs: the first N CIFAR-10 training images "
            f"(mean/std normalised); noise: N(0, 1) images of the same shape. A ReLU unit's pattern over N samples "
            f"has at most 2^N values, so at N = 8 SWAP is capped at {2 ** 8}; ρ is undefined (—) where every "
            f"architecture reaches the cap. Brackets: 95 % bootstrap interval. Mean SWAP per cell "
            f"(repeats = 32):\n\n" + table
            + "\n\n" + markdown_table(["inputs", "N", "mean SWAP", "max possible (2^N, ReLU)"], means),
            time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports/darts_cifar10.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ablation-stride", type=int, default=10)
    ap.add_argument("--skip-ablation", action="store_true")
    ap.add_argument("--skip-timed-run", action="store_true", help="skip the timed no-cache full run")
    ap.add_argument("--limit", type=int, default=None, help="only the first N archs (to check the script quickly)")
    args = ap.parse_args()
    space = get_space("darts")
    lim = {"limit": args.limit} if args.limit else {}

    t0 = time.perf_counter()
    base = run_bench(space, proxies=["swap", "params"], workers=args.workers, **lim)
    base_seconds = time.perf_counter() - t0
    mu, sigma, grid = tune(base)
    print(f"tuned on 0–499: mu={mu} sigma={sigma} (Θ in k params), ρ={grid[0][2]:.3f}", flush=True)

    names = ["swap", "swap_reg", *[p for p in available("cnn") if p not in ("swap", "swap_reg")]]
    t0 = time.perf_counter()
    final = run_bench(space, proxies=names, regularise=Regularise(mu, sigma, unit="k"), workers=args.workers, **lim)
    final_seconds = time.perf_counter() - t0

    sections = []
    sections.append(("SWAP against the other proxies and the baselines", beats_swap(final)))
    sections.append(("Both halves", "Spearman ρ / Kendall τ vs CIFAR-10 validation accuracy, each with its 95 % "
                     "bootstrap interval. μ/σ of `swap_reg` were chosen on 0–499 only; 500–999 is held out.\n\n"
                     + halves_table(final, [*final.proxies, *final.features])))
    tune_rows = [r for r in base.rows if r.id in TUNE_IDS]
    tune_acc = [r.truth["cifar10"] for r in tune_rows]

    def tuned_ci(m, sg):
        reg = [r.values["swap"] * np.exp(-((r.values["params"] / 1e3 - m) ** 2) / sg) for r in tune_rows]
        return stats.bootstrap_ci(reg, tune_acc)

    top = markdown_table(["μ (k params)", "σ", "ρ on 0–499 [95 % CI]"],
                         [[m, s, interval_text(r, tuned_ci(m, s))] for m, s, r in grid[:8]])
    sections.append(("How μ and σ were chosen",
                     f"Grid search over μ ∈ {MU_GRID} and σ ∈ {SIGMA_GRID} (Θ in thousands of parameters, factor "
                     f"exp(-(Θ-μ)²/σ)), maximising Spearman ρ of `swap × factor` on archs 0–499, using the "
                     f"swap and params values of the tuning run (same protocol, same seeds). Chosen: **μ = {mu}, "
                     f"σ = {sigma}**. Best grid points:\n\n" + top))
    acc = [r.truth["cifar10"] for r in final.rows]
    params = [r.values["params"] for r in final.rows]
    swap_vals = [r.values["swap"] for r in final.rows]
    sections.append(("Checks against the benchmark file",
                     f"- params ρ computed here: {interval_text(stats.spearman(params, acc), stats.bootstrap_ci(params, acc))}"
                     f"; proxy-network parameters {min(params) / 1e3:.3f}–{max(params) / 1e3:.3f} k.\n"
                     f"- SWAP values {min(swap_vals):.1f}–{max(swap_vals):.1f} (mean over {final.settings.get('repeats')} "
                     f"re-inits); SWAP ρ here {interval_text(stats.spearman(swap_vals, acc), stats.bootstrap_ci(swap_vals, acc))}.\n"
                     "- Compare with the cited figures in the last section."))
    timing = [f"- tuning run (swap + params, {len(base.rows)} archs, {args.workers} worker processes): "
              f"{base_seconds:.0f} s this invocation ({base.computed} of {len(base.rows)} archs scored now, the rest "
              f"read back); {base.compute_seconds():.0f} s of scoring summed over the per-arch seconds stored with "
              f"the rows.",
              f"- final run (all {len(names)} CNN proxies; swap and params read from the tuning run's cache, swap_reg "
              f"derived from them): {final_seconds:.0f} s this invocation; {final.compute_seconds():.0f} s of "
              f"scoring summed over the stored per-arch seconds (a derived proxy such as swap_reg counts once, as its "
              f"inputs)."]
    if not args.skip_timed_run:
        t0 = time.perf_counter()
        timed = run_bench(space, proxies=["swap", "params"], workers=args.workers, cache_dir=None, progress=False,
                          **lim)
        wall = time.perf_counter() - t0
        same = [r.values for r in timed.rows] == [{p: r.values[p] for p in ("swap", "params")} for r in base.rows]
        timing.insert(0, f"- **full run without cache**, measured by this invocation: `swaplm bench darts --proxies "
                         f"swap,params --workers {args.workers} --no-cache` equivalent, {len(timed.rows)} archs × "
                         f"{timed.settings.get('repeats')} repeats: **{wall:.0f} s wall ({wall / 60:.1f} min)** "
                         f"including process start-up; every value equals the cached tuning run's bit for bit: "
                         f"{same}.")
    sections.append(("Wall time", "\n".join(timing)))
    if not args.skip_ablation:
        text, abl_seconds = ablation(space, args.workers, args.ablation_stride, args.limit)
        sections.append(("Ablation: batch size, repeats, real vs noise inputs",
                         text + f"\n\nAblation wall time: {abl_seconds:.0f} s."))
    sections.append(("Cited figures (not computed here)", cited_section(CITED)))
    cmd = "OMP_WAIT_POLICY=PASSIVE python benchmarks/report_darts.py " + " ".join(sys.argv[1:])
    write_report(final, args.out, command=cmd, title=f"SWAP on {len(final.rows)} DARTS architectures (CIFAR-10)",
                 extra_sections=sections, plots=["swap", "swap_reg", "params"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
