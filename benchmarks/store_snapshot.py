"""Carry a long report job's stored values between sessions: save a space's bench store as a gzipped snapshot
under ``benchmarks/stores/``, or merge a snapshot back into the local store.

    python benchmarks/store_snapshot.py save nb201      # the local store -> benchmarks/stores/nb201.jsonl.gz
    python benchmarks/store_snapshot.py restore nb201   # merge the snapshot into .swaplm_cache/bench/nb201.jsonl

A snapshot holds values this code computed, each under its full identity (settings, inputs digest, engine,
proxy and space fingerprints, versions), so a restored value is used only where the code and settings that
computed it are unchanged; anything else is recomputed as usual. Restoring goes through the store API (one
line per stored candidate, skipping lines already present), so a local store keeps its own values.
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

from swaplm.runner.store import Store, default_cache_dir

SNAPSHOTS = Path(__file__).resolve().parent / "stores"


def save(space: str) -> Path:
    src = default_cache_dir() / f"{space}.jsonl"
    if not src.is_file():
        raise SystemExit(f"no store at {src}")
    Store(src).load()  # drops (and reports) corrupt lines before they are saved
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    dest = SNAPSHOTS / f"{space}.jsonl.gz"
    with src.open("rb") as f, gzip.GzipFile(dest, "wb", mtime=0) as g:
        shutil.copyfileobj(f, g)
    return dest


def restore(space: str) -> int:
    src = SNAPSHOTS / f"{space}.jsonl.gz"
    if not src.is_file():
        raise SystemExit(f"no snapshot at {src}")
    target = Store(default_cache_dir() / f"{space}.jsonl").load()
    added = 0
    with gzip.open(src, "rt", encoding="utf-8") as f:
        next(f)  # the store header
        for text in f:
            row = json.loads(text)
            new = {c: v for c, v in row["columns"].items() if target.get(c, row["key"]) is None}
            if new:
                target.append(row["key"], new, build_seconds=row["build_seconds"],
                              computed_at=row["computed_at"], versions=row["versions"])
                added += 1
    return added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("save", "restore"))
    ap.add_argument("space")
    args = ap.parse_args()
    if args.action == "save":
        print(f"saved {save(args.space)}")
    else:
        print(f"restored {restore(args.space)} stored lines into {default_cache_dir() / (args.space + '.jsonl')}")


if __name__ == "__main__":
    main()
