"""Benchmark-mode search reports: reports/search_darts.md and reports/search_flexibert.md.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/report_search.py darts --workers 2
    OMP_WAIT_POLICY=PASSIVE python benchmarks/report_search.py flexibert --workers 2

Every method of :func:`swaplm.search.compare.compare` at budgets 50 and 200 over 30 seeds, then a size-control
table (SWAP-NAS under three size priors and one hard parameter limit). Fitness values come from the shared
bench store ($SWAPLM_CACHE/bench/<space>.jsonl): what is missing is computed first (every benchmark
architecture, in worker processes), so a run after `swaplm bench SPACE --proxies swap,params` with the same
settings costs no model runs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIZE = {  # three priors spanning each benchmark's parameter range, and one hard limit
    "darts": dict(unit="k", priors=[(0.8, 0.5), (1.5, 0.5), (2.5, 0.5)], max_params=[1000]),
    "flexibert": dict(unit="M", priors=[(6.0, 4.0), (12.0, 4.0), (20.0, 4.0)], max_params=[10_000_000]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space", choices=sorted(SIZE))
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--budgets", default="50,200")
    ap.add_argument("--size-seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=None, help="default reports/search_SPACE.md")
    args = ap.parse_args()

    from swaplm.bench import run_bench
    from swaplm.report import markdown_table, provenance_footer, strip_provenance
    from swaplm.runner.store import default_cache_dir
    from swaplm.search.compare import compare, size_control
    from swaplm.search.run import resolve_task
    from swaplm.spaces import get_space
    from swaplm.swap import Regularise

    space = get_space(args.space, **({"build": "faithful"} if args.space == "flexibert" else {}))
    task, data = resolve_task(space, None)
    out = Path(args.out or ROOT / "reports" / f"search_{args.space}.md")
    command = "OMP_WAIT_POLICY=" + os.environ.get("OMP_WAIT_POLICY", "(unset)") + " python " + " ".join(
        [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    t0 = time.perf_counter()
    # fill the shared store once, in parallel: every benchmark architecture with swap and params
    bench = run_bench(space, proxies=("swap", "params"), workers=args.workers, progress=True)
    fill_s = time.perf_counter() - t0
    budgets = [int(b) for b in args.budgets.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        compare(space, task, budgets, list(range(args.seeds)), out_dir=Path(tmp) / "cmp",
                          cache_dir=default_cache_dir(), command=command, report=out)
        size = SIZE[args.space]
        rows = size_control(space, task, [Regularise(mu, sigma, unit=size["unit"]) for mu, sigma in size["priors"]],
                            200, list(range(args.size_seeds)), max_params=size["max_params"],
                            cache_dir=default_cache_dir(), out_dir=Path(tmp) / "size")
    # the command a user types first, with its defaults, timed as a whole process
    default_cmd = ["search", args.space] + (["--task", "sst2"] if args.space == "flexibert" else [])
    with tempfile.TemporaryDirectory() as tmp:
        import json
        import subprocess

        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "swaplm", *default_cmd, "--out", f"{tmp}/run", "--json"],
                             capture_output=True, text=True, env={**os.environ, "SWAPLM_CACHE": f"{tmp}/cache"})
        default_s = time.perf_counter() - t
        if run.returncode != 0:
            sys.exit(f"error: the default search failed: {run.stderr.strip().splitlines()[-1:]}")
        default = json.loads(run.stdout)
    params = [v for v in bench.values("params") if v is not None]
    lines = ["", "## Size control", "",
             f"SWAP-NAS in benchmark mode, budget 200, {args.size_seeds} seeds per setting; fitness swap_reg "
             f"= SWAP × exp(-(Θ-μ)²/σ) with Θ in {size['unit']} parameters, or plain SWAP under a hard limit. "
             f"Benchmark parameter counts range {min(params):,.0f}–{max(params):,.0f}.", "",
             markdown_table(["setting", "found params (mean ± std)", "max found", "true score (mean ± std)"],
                            [[r["setting"], f"{r['params_mean']:,.0f} ± {r['params_std']:,.0f}", f"{r['params_max']:,.0f}",
                              f"{r['truth_mean']:.2f} ± {r['truth_std']:.2f}"] for r in rows], align="lrrr")]
    lines += ["", "## The default search", "",
              f"`swaplm {' '.join(default_cmd)}` (defaults: SWAP-NAS, budget 100, P = 20, S = 5, M = 5, seed 0; "
              f"run with an empty cache, so every evaluation is computed) took **{default_s:.0f} s** "
              f"as a whole process on this machine; it found `{default['best']}` ({default['params']:,.0f} parameters, "
              f"fitness {default['fitness']:,.1f}) in {default['evaluations']} evaluations.", ""]
    lines += ["", f"Filling the store (bench run: {bench.computed} computed, {bench.from_cache} from the store) took "
              f"{fill_s:.1f} s; the whole report {time.perf_counter() - t0:.1f} s.", "", provenance_footer()]
    out.write_text(strip_provenance(out.read_text(encoding="utf-8")) + "\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
