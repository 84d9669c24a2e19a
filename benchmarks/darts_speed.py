"""DARTS-1000 speed check for reports/engine.md: the full no-cache bench, timed by the run itself,
and the per-architecture scores of the fast engine against the plain one on a subset.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/darts_speed.py --out reports/engine.md

1. ``swaplm bench darts --proxies swap,params --workers 2 --no-cache --json`` as a fresh process: its own
   ``wall_seconds`` and SWAP's Spearman ρ with CIFAR-10 accuracy.
2. On ``--subset`` ids (every 5th arch by default), SWAP as the bench computes it (vectorised repeats, numba packer)
   and as the plain engine computes it (one forward per repeat, the torch packer: ``SWAPLM_NUMBA=0``), in the
   same protocol; the report gives their rank correlation, the largest difference and a scatter plot.

The section between the ``<!-- darts_speed -->`` markers of ``--out`` is replaced (the rest is kept).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from swaplm import proxies
from swaplm.proxies.base import Proxy, ProxyContext
from swaplm.report import write_section
from swaplm.swap import swap_score


def plain_swap(model, batch, ctx: ProxyContext) -> float:
    """SWAP by the plain engine: the looped repeats and the torch packer."""
    before = os.environ.get("SWAPLM_NUMBA")
    os.environ["SWAPLM_NUMBA"] = "0"
    try:
        return swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                          padding=ctx.padding, vectorise=False).raw_score
    finally:
        if before is None:
            os.environ.pop("SWAPLM_NUMBA", None)
        else:
            os.environ["SWAPLM_NUMBA"] = before


PLAIN = Proxy("swap_plain", plain_swap, cost="repeats × 1 forward", card="SWAP, looped repeats, torch packer")


def timed_run(workers: int) -> dict:
    cmd = ["swaplm", "bench", "darts", "--proxies", "swap,params", "--workers", str(workers), "--no-cache", "--json"]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    outside = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed: {out.stderr.strip().splitlines()[-1:]}")
    res = json.loads(out.stdout)
    return {"cmd": " ".join(cmd), "wall": res["wall_seconds"], "outside": outside, "n": res["n_archs"],
            "rho": res["correlations"]["swap"]["cifar10"]["spearman"]}


def compare(ids: list[int], workers: int, plot: Path) -> dict:
    from scipy.stats import spearmanr

    from swaplm.bench import run_bench

    proxies.register(PLAIN)
    res = run_bench("darts", proxies=["swap", "swap_plain"], ids=ids, workers=workers, cache_dir=None,
                    progress=False)
    fast, plain = res.values("swap"), res.values("swap_plain")
    diff = max(abs(a - b) for a, b in zip(fast, plain))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(plain, fast, s=6)
    lo, hi = min(plain + fast), max(plain + fast)
    ax.plot([lo, hi], [lo, hi], lw=0.6, color="grey")
    ax.set_xlabel("SWAP, plain engine (loop, torch packer)")
    ax.set_ylabel("SWAP, bench engine (vectorised, numba)")
    ax.set_title(f"DARTS, {len(ids)} archs")
    fig.tight_layout()
    fig.savefig(plot, dpi=120)
    plt.close(fig)
    return {"n": len(ids), "rho": float(spearmanr(fast, plain)[0]), "max_diff": diff,
            "equal": sum(a == b for a, b in zip(fast, plain)), "seconds": res.mean_seconds()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/engine.md")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subset", type=int, default=5, help="compare on every k-th arch id")
    args = ap.parse_args()
    run = timed_run(args.workers)
    plot = Path(args.out).with_name("engine_darts_scatter.png")
    cmp = compare(list(range(0, 1000, args.subset)), args.workers, plot)
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    secs = cmp["seconds"]
    lines = ["## DARTS-1000 from an empty cache", "",
             f"Command: `OMP_WAIT_POLICY={policy} python benchmarks/darts_speed.py --out {args.out} --workers "
             f"{args.workers} --subset {args.subset}`, run {time.strftime('%Y-%m-%d %H:%M')} (2 shared cores; other "
             "jobs' processes were paused while it ran).", "",
             f"- `{run['cmd']}`: **{run['wall']:.1f} s** for {run['n']} archs × 32 Gaussian repeats on 16 images, "
             f"as printed by the run itself ({run['outside']:.1f} s from process start to exit); SWAP Spearman ρ with "
             f"CIFAR-10 accuracy **{run['rho']:.3f}** (the report run: 0.916).",
             f"- Same protocol on {cmp['n']} archs (ids 0, {args.subset}, …): the bench engine (vectorised repeats, "
             f"numba packer) against the plain engine (one forward per repeat, torch packer, `SWAPLM_NUMBA=0`): "
             f"Spearman ρ {cmp['rho']:.4f}, {cmp['equal']} of {cmp['n']} scores identical, largest difference "
             f"{cmp['max_diff']:g}. Mean seconds per arch in that run: "
             + ", ".join(f"{k} {v:.3f}" for k, v in secs.items()) + ".", "",
             f"![per-arch SWAP, bench engine vs plain engine]({plot.name})"]
    write_section(args.out, "darts_speed", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
