"""NB-201 speed: the full SWAP bench of one dataset from an empty store, beside the bare-forward floor.

    OMP_WAIT_POLICY=PASSIVE nice python benchmarks/nb201_speed.py --workers 2 --out reports/engine.md

1. ``swaplm bench nb201 --task cifar10 --proxies swap,swap_reg,params --workers W`` runs as a child process
   on an empty store (a fresh temporary ``SWAPLM_CACHE``), at the space's default protocol, all 15,625 archs;
   its own printed wall time is the figure. Its stored values are then added to the main store
   (``.swaplm_cache`` or ``$SWAPLM_CACHE``), so the NB-201 report reuses them instead of scoring again.
2. The floor: the same archs built the same way (seed 0, train mode) and run forward once on the protocol's
   batch repeated once per repeat (the convolution work of the bench's re-inits, which run as copies folded
   into one forward), without hooks, re-inits or counting, in W processes with one torch thread each.

Writes the section ``nb201_speed`` of ``--out``. ``--limit N`` times the first N archs only (a script check).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from swaplm.report import write_section
from swaplm.runner.store import Store, default_cache_dir
from swaplm.spaces import get_space


def _floor_init() -> None:
    torch.set_num_threads(1)


def _floor_chunk(ids: list[int]) -> int:
    """Build and run forward (no hooks, no grad) the archs ``ids`` of the cifar10 build, as the bench does."""
    from swaplm.runner.scorer import seed_all

    space = get_space("nb201").with_build("cifar10")
    batch = space.inputs("cifar10", n=space.protocol.n).repeat(space.protocol.repeats, 1, 1, 1)
    records = space.benchmark()
    for i in ids:
        seed_all(0)
        model = space.build(records[i].arch).train()
        with torch.no_grad():
            model(batch)
    return len(ids)


def floor(ids: list[int], workers: int) -> float:
    chunks = [ids[k:k + 64] for k in range(0, len(ids), 64)]
    t0 = time.perf_counter()
    done = 0
    with ProcessPoolExecutor(workers, initializer=_floor_init) as pool:
        for n in pool.map(_floor_chunk, chunks):
            done += n
            print(f"\rfloor: {done}/{len(ids)}", end="", flush=True)
    print()
    return time.perf_counter() - t0


def timed_bench(workers: int, limit: int | None) -> tuple[dict, float, Path]:
    tmp = Path(tempfile.mkdtemp(prefix="nb201_speed_"))
    cmd = ["swaplm", "bench", "nb201", "--task", "cifar10", "--proxies", "swap,swap_reg,params", "--workers",
           str(workers), "--json", *(["--limit", str(limit)] if limit else [])]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env={**os.environ, "SWAPLM_CACHE": str(tmp)}, capture_output=True, text=True)
    outside = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"timed bench failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout), outside, tmp / "bench" / "nb201.jsonl"


def merge(src: Path, dest: Path) -> int:
    """Add every stored line of ``src`` to the store ``dest`` through the store API; returns lines added."""
    target, added = Store(dest), 0
    for line in src.read_text(encoding="utf-8").splitlines()[1:]:
        row = json.loads(line)
        target.append(row["key"], row["columns"], build_seconds=row["build_seconds"],
                      computed_at=row["computed_at"], versions=row["versions"])
        added += 1
    return added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="reports/engine.md")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    result, outside, store = timed_bench(args.workers, args.limit)
    added = merge(store, default_cache_dir() / "nb201.jsonl")
    n_archs = result["n_archs"]
    floor_s = floor(list(range(n_archs)), args.workers)
    load_after = os.getloadavg()[0]
    proto = get_space("nb201").protocol
    rho = result["correlations"]["swap"]["cifar10"]["spearman"]
    wall = result["wall_seconds"]
    cmd = "OMP_WAIT_POLICY=PASSIVE python benchmarks/nb201_speed.py " + " ".join(sys.argv[1:])
    lines = ["## NAS-Bench-201: full cifar10 SWAP bench from an empty store, and the bare-forward floor", "",
             f"Command: `{cmd}`, run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on 2 shared cores "
             f"(1-minute load average {load:.1f} before, {load_after:.1f} after; other jobs were not paused).", "",
             f"- `swaplm bench nb201 --task cifar10 --proxies swap,swap_reg,params --workers {args.workers}` on an "
             f"empty store: **{wall:.0f} s ({wall / 60:.1f} min)** for {n_archs} archs as printed by the run itself "
             f"({outside:.0f} s from process start to exit); protocol N = {proto.n}, mean of {proto.repeats} "
             f"{proto.init} re-inits, {proto.mode} mode, the space's scoring network; SWAP ρ with CIFAR-10 test "
             f"accuracy {rho:.3f}. Target: ≤ 60 min (goal 30 min).",
             f"- Bare-forward floor, the same {n_archs} archs built the same way and run forward once on the "
             f"{proto.n} images repeated {proto.repeats} times (the re-inits' convolution work) without hooks, "
             f"re-inits or counting, {args.workers} processes × 1 thread: **{floor_s:.0f} s "
             f"({floor_s / 60:.1f} min)**; the bench takes {wall / floor_s:.2f}× the floor.",
             f"- {added} stored rows were added to the main store for the NB-201 report."]
    write_section(args.out, "nb201_speed", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
