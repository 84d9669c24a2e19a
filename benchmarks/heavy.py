"""Run the heavy reproductions (``pytest -m heavy``) once and write their summary to reports/heavy.md.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/heavy.py --out reports/heavy.md

The report holds the exact pytest command, what each test printed (archs, ρ, wall seconds), pytest's own summary
line and durations, and the wall time of the whole run, all taken from this run's output.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from swaplm.report import provenance_footer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="reports/heavy.md")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "pytest", "-m", "heavy", "-s", "-q", "--durations=0", "-p", "no:cacheprovider"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = out.stdout.splitlines()
    printed = [l for l in lines if " archs, " in l and "rho" in l]
    import re

    durations = [l for l in lines if re.match(r"^\d+\.\d+s (call|setup|teardown) ", l)][:10]
    summary = [l for l in lines if re.search(r"\d+ (passed|failed|error)", l)]
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    text = ["# Heavy reproductions (`pytest -m heavy`)", "",
            f"Command: `OMP_WAIT_POLICY={policy} python benchmarks/heavy.py --out {args.out}`, which runs "
            f"`{' '.join(['pytest', *cmd[3:]])}`; started {time.strftime('%Y-%m-%d %H:%M', time.localtime(time.time() - wall))}"
            f", exit code {out.returncode}, wall time {wall:.0f} s ({wall / 60:.1f} min) on this 2-core machine "
            "(shared with other jobs). Every test scores from an empty temporary cache.", "",
            "## What each test measured", "", *[f"- `{l.strip()}`" for l in printed], "",
            "## pytest summary", "", "```", *summary, *durations, "```", ""]
    if out.returncode != 0:
        text += ["## Output tail (the run did not pass)", "", "```", *lines[-40:], *out.stderr.splitlines()[-20:],
                 "```", ""]
    Path(args.out).write_text("\n".join([*text, provenance_footer()]), encoding="utf-8")
    print(f"wrote {args.out} (exit {out.returncode}, {wall:.0f} s)")
    sys.exit(out.returncode)


if __name__ == "__main__":
    main()
