"""Per-architecture exports of a benchmark run: one row per architecture as CSV or JSON Lines.

>>> export_rows(run_bench(get_space("darts"), limit=10), "rows.csv")
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from swaplm.errors import SwapError
from swaplm.runner.identity import json_safe


def export_rows(result: BenchResult, path: str | Path) -> Path:
    """Write one row per architecture of ``result`` to ``path``: ``id``, ``key``, every proxy's value and
    ``<proxy>_seconds``, the ground truth ``truth_<task>`` per task and ``failed`` (``proxy: reason; ...``).
    CSV for a ``.csv`` file, JSON Lines for ``.jsonl`` (a failed or missing value is empty / null)."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".csv", ".jsonl"):
        raise SwapError(f"--export writes .csv or .jsonl files, got {path.name!r}")
    columns = ["id", "key", *[c for p in result.proxies for c in (p, f"{p}_seconds")],
               *[f"truth_{t}" for t in result.tasks], "failed"]
    rows = [{"id": r.id, "key": r.key, **{c: v for p in result.proxies
                                          for c, v in ((p, r.values.get(p)), (f"{p}_seconds", r.seconds.get(p)))},
             **{f"truth_{t}": r.truth.get(t) for t in result.tasks},
             "failed": "; ".join(f"{p}: {why}" for p, why in r.failed.items()) or None} for r in result.rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        if kind == ".csv":
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
        else:
            f.writelines(json.dumps(json_safe(row)) + "\n" for row in rows)
    return path


__all__ = ["export_rows"]
