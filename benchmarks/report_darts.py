"""Make reports/darts_cifar10.md: SWAP vs CIFAR-10 accuracy over the 1000 DARTS benchmark architectures.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/report_darts.py --workers 2 --out reports/darts_cifar10.md

Steps (every score is computed by swaplm; results are cached per architecture, so a rerun resumes):
1. tuning run: swap + params on all 1000 archs with the reference protocol (N=16 real CIFAR-10 images,
   32 Gaussian re-inits, train mode);
2. regularised SWAP: μ/σ (Θ in thousands of parameters) chosen by grid search on archs 0–499 only;
3. final run: every registered proxy (swap_reg with the chosen μ/σ) on all 1000 archs -> the report, with
   correlations on both halves (0–499 tuned on, 500–999 held out);
4. ablation on a fixed subset (every ``--ablation-stride``-th arch): N ∈ {8,16,32,64} × repeats ∈ {1,8,32} ×
   real CIFAR-10 images vs Gaussian noise.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from swaplm import stats
from swaplm.bench import run_bench, split
from swaplm.proxies import available
from swaplm.report import fmt, render_table, write_report
from swaplm.spaces import get_space
from swaplm.swap import Regularise

MU_GRID = [0.5, 1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5]
SIGMA_GRID = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0]
TUNE_IDS, HOLDOUT_IDS = range(0, 500), range(500, 1000)


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
    parts = split(result, {"all 1000": [r.id for r in result.rows], "0–499 (tuning)": TUNE_IDS,
                           "500–999 (held out)": HOLDOUT_IDS})
    rows = [[n, *(parts[p][n]["cifar10"]["spearman"] for p in parts),
             *(parts[p][n]["cifar10"]["kendall"] for p in parts)] for n in names]
    cols = ["proxy", *(f"ρ {p}" for p in parts), *(f"τ {p}" for p in parts)]
    return render_table(rows, cols)


def ablation(space, workers: int, stride: int) -> tuple[str, float]:
    ids = list(range(0, 1000, stride))
    t0 = time.perf_counter()
    rows, means = [], []
    for source in ("real", "noise"):
        for n in (8, 16, 32, 64):
            data = None if source == "real" else space.noise_inputs(n, seed=0)
            cells = []
            for repeats in (1, 8, 32):
                res = run_bench(space, proxies=["swap"], ids=ids, n=n, repeats=repeats, data=data,
                                workers=workers, progress=False)
                c = res.correlations()["swap"]["cifar10"]
                mean_swap = float(np.mean([r.values["swap"] for r in res.rows]))
                cells.append(c["spearman"])
                print(f"ablation {source} N={n} repeats={repeats}: ρ={c['spearman']:.3f} "
                      f"(mean SWAP {mean_swap:.0f})", flush=True)
            rows.append([source, n, *cells])
            means.append([source, n, mean_swap, f"2^{n} = {2 ** n:,}" if n <= 16 else f"2^{n}"])
    table = render_table(rows, ["inputs", "N", "ρ repeats=1", "ρ repeats=8", "ρ repeats=32"])
    return (f"Spearman ρ of SWAP vs CIFAR-10 accuracy on {len(ids)} archs (ids 0, {stride}, {2 * stride}, …, "
            f"{ids[-1]}); Gaussian re-init, train mode, seed 0. Real inputs: the first N CIFAR-10 training images "
            f"(mean/std normalised); noise: N(0, 1) images of the same shape. A ReLU unit's pattern over N samples "
            f"has at most 2^N values, so at N = 8 SWAP is capped at 256; ρ is undefined (—) where every "
            f"architecture reaches the cap. Mean SWAP per cell (repeats = 32):\n\n" + table
            + "\n\n" + render_table(means, ["inputs", "N", "mean SWAP", "max possible (2^N, ReLU)"]),
            time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports/darts_cifar10.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ablation-stride", type=int, default=10)
    ap.add_argument("--skip-ablation", action="store_true")
    ap.add_argument("--skip-timed-run", action="store_true", help="skip the timed no-cache full run")
    args = ap.parse_args()
    space = get_space("darts")

    t0 = time.perf_counter()
    base = run_bench(space, proxies=["swap", "params"], workers=args.workers)
    base_seconds = time.perf_counter() - t0
    mu, sigma, grid = tune(base)
    print(f"tuned on 0–499: mu={mu} sigma={sigma} (Θ in k params), ρ={grid[0][2]:.3f}", flush=True)

    names = ["swap", "swap_reg", *[p for p in available("cnn") if p not in ("swap", "swap_reg")]]
    t0 = time.perf_counter()
    final = run_bench(space, proxies=names, regularise=Regularise(mu, sigma, unit="k"), workers=args.workers)
    final_seconds = time.perf_counter() - t0

    sections = []
    sections.append(("Both halves", "Spearman ρ / Kendall τ vs CIFAR-10 validation accuracy. μ/σ of `swap_reg` "
                     "were chosen on 0–499 only; 500–999 is held out.\n\n" + halves_table(final, [*final.proxies,
                                                                                         *final.features])))
    top = render_table([[m, s, r] for m, s, r in grid[:8]], ["μ (k params)", "σ", "ρ on 0–499"])
    sections.append(("How μ and σ were chosen",
                     f"Grid search over μ ∈ {MU_GRID} and σ ∈ {SIGMA_GRID} (Θ in thousands of parameters, factor "
                     f"exp(-(Θ-μ)²/σ)), maximising Spearman ρ of `swap × factor` on archs 0–499, using the "
                     f"swap and params values of the tuning run (same protocol, same seeds). Chosen: **μ = {mu}, "
                     f"σ = {sigma}**. Best grid points:\n\n" + top))
    acc = [r.truth["cifar10"] for r in final.rows]
    params = [r.values["params"] for r in final.rows]
    swap_vals = [r.values["swap"] for r in final.rows]
    sections.append(("Checks against the benchmark file",
                     f"- params ρ computed here: {fmt(stats.spearman(params, acc))} (method-facts: ≈ 0.80 from the "
                     f"data); proxy-network parameters {min(params) / 1e3:.3f}–{max(params) / 1e3:.3f} k "
                     f"(method-facts: 0.310–2.692 k).\n"
                     f"- SWAP values {min(swap_vals):.1f}–{max(swap_vals):.1f} (mean over 32 re-inits).\n"
                     f"- Published SWAP ρ 0.93 (TPAMI abstract); the reference code measured 0.917 on this machine "
                     f"(method-facts), here {fmt(stats.spearman(swap_vals, acc))}."))
    timing = [f"- tuning run (swap + params, 1000 archs, 32 repeats, {args.workers} worker processes): "
              f"{base_seconds:.0f} s this invocation (cached archs are read back, not rescored); "
              f"{base.compute_seconds():.0f} s of scoring summed over archs.",
              f"- final run (all {len(names)} CNN proxies; swap and params read from the tuning run's cache, swap_reg "
              f"derived from them): {final_seconds:.0f} s this invocation; {final.compute_seconds():.0f} s of "
              f"scoring summed over archs (a derived proxy such as swap_reg counts once, as its inputs)."]
    if not args.skip_timed_run:
        t0 = time.perf_counter()
        timed = run_bench(space, proxies=["swap", "params"], workers=args.workers, cache_dir=None, progress=False)
        wall = time.perf_counter() - t0
        same = [r.values for r in timed.rows] == [{p: r.values[p] for p in ("swap", "params")} for r in base.rows]
        timing.insert(0, f"- **full run without cache**: `swaplm bench darts --proxies swap,params --workers "
                         f"{args.workers} --no-cache` equivalent, 1000 archs × 32 repeats: **{wall:.0f} s wall "
                         f"({wall / 60:.1f} min)** including process start-up; every value equals the cached "
                         f"tuning run's bit for bit: {same}.")
    timing.append("- The reference code takes ~49 min for swap alone on this machine (method-facts §4.3).")
    sections.append(("Wall time", "\n".join(timing)))
    if not args.skip_ablation:
        text, abl_seconds = ablation(space, args.workers, args.ablation_stride)
        sections.append(("Ablation: batch size, repeats, real vs noise inputs",
                         text + f"\n\nAblation wall time: {abl_seconds:.0f} s."))
    cmd = "OMP_WAIT_POLICY=PASSIVE python benchmarks/report_darts.py " + " ".join(sys.argv[1:])
    write_report(final, args.out, command=cmd, title="SWAP on 1000 DARTS architectures (CIFAR-10)",
                 extra_sections=sections, plots=["swap", "swap_reg", "params"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
