"""Scaling table for reports/engine.md: wall time of a bench with 1 process, swaplm's worker pool and
``accelerate launch`` on K processes, measured side by side (interleaved rounds) on this machine.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/scaling.py --out reports/engine.md

Each variant is the real command line (a fresh process, ``--no-cache``), timed from start to exit; the table gives
the median over ``--rounds`` rounds and the ratio to the 1-process run. The section between the
``<!-- scaling -->`` markers of ``--out`` is replaced (the rest of the report is kept).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from swaplm.report import markdown_table, write_section

CASES = {
    "DARTS, ids 0-199, 32 Gaussian repeats": ["bench", "darts", "--ids", "0-199", "--proxies", "swap,params"],
    "FlexiBERT reference build, ids 0-5, N = 128": ["bench", "flexibert", "--ids", "0-5", "--proxies", "swap,params"],
}


def variants(k: int) -> dict[str, list[str]]:
    py = [sys.executable, "-m", "swaplm"]
    acc = ["accelerate", "launch", "--multi_gpu", "--num_processes", str(k), "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "swaplm"]
    return {"1 process (2 threads)": (py, []), f"worker pool, {k} processes": (py, ["--workers", str(k)]),
            f"accelerate launch, {k} processes": (acc, [])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/engine.md")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    rows = []
    for case, base in CASES.items():
        times: dict[str, list[float]] = {v: [] for v in variants(args.processes)}
        for _ in range(args.rounds):
            for name, (prefix, extra) in variants(args.processes).items():
                t = time.perf_counter()
                out = subprocess.run([*prefix, *base, *extra, "--no-cache", "--json"], env=env,
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"error: {name} failed: {out.stderr.strip().splitlines()[-1:]}")
                times[name].append(time.perf_counter() - t)
        one = statistics.median(next(iter(times.values())))
        for name, ts in times.items():
            rows.append([case, name, f"{statistics.median(ts):.1f}", f"{statistics.median(ts) / one:.2f}×"])
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    section = ["## Scaling: processes on this 2-core machine", "",
               f"Command: `OMP_WAIT_POLICY={policy} python benchmarks/scaling.py --out {args.out} --rounds "
               f"{args.rounds} --processes {args.processes}`. Wall seconds of the whole command (process start, "
               f"imports and model scoring, no cache), median of {args.rounds} interleaved rounds, measured "
               f"{time.strftime('%Y-%m-%d %H:%M')} on a machine shared with other jobs.", "",
               markdown_table(["bench", "how", "wall s", "vs 1 process"], rows, align="llrr"), ""]
    write_section(args.out, "scaling", section)
    print(f"wrote the scaling section of {args.out}")


if __name__ == "__main__":
    main()
