"""benchmarks/store_snapshot.py: a bench store saved as a gzipped snapshot and merged back loses nothing and
keeps what the local store already has."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from swaplm.runner.store import Store

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "store_snapshot.py"


def _module():
    spec = importlib.util.spec_from_file_location("store_snapshot", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_save_then_restore_round_trip(tmp_path, monkeypatch):
    snap = _module()
    monkeypatch.setattr(snap, "SNAPSHOTS", tmp_path / "snapshots")
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "a"))
    store = Store(tmp_path / "a" / "bench" / "toy.jsonl")
    store.append("k1", {"swap#1": {"value": 3.0, "seconds": 0.1}}, build_seconds=0.2, computed_at="t", versions={})
    store.append("k2", {"swap#1": {"failed": "nan", "seconds": 0.1}}, build_seconds=0.2, computed_at="t",
                 versions={})
    assert snap.save("toy").is_file()

    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "b"))  # another checkout: k1 already stored there
    local = Store(tmp_path / "b" / "bench" / "toy.jsonl")
    local.append("k1", {"swap#1": {"value": 3.0, "seconds": 0.1}, "params#2": {"value": 9.0, "seconds": 0.0}})
    assert snap.restore("toy") == 1  # only k2's line was missing
    merged = Store(tmp_path / "b" / "bench" / "toy.jsonl").load()
    assert merged.get("swap#1", "k1")["value"] == 3.0 and merged.get("params#2", "k1")["value"] == 9.0
    assert merged.get("swap#1", "k2")["failed"] == "nan"
    assert snap.restore("toy") == 0  # a second restore adds nothing
