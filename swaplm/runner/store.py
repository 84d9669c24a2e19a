"""An append-only JSONL store of evaluations, addressed by (column identity, candidate key).

Line 1 is a header (``{"swaplm_store": 1, ...}``); every other line is one candidate's newly computed values::

    {"key": "...", "build_seconds": 0.01, "computed_at": "2026-12-01T22:00:00+00:00",
     "versions": {"torch": ..., "transformers": ..., "swaplm": ...},
     "columns": {"swap#1a2b3c4d5e6f": {"value": 812.0, "seconds": 0.2},
                 "zen#0f0f0f0f0f0f": {"failed": "SwapError: ...", "seconds": 0.1}}}

A column id names one proxy under one identity (settings, data, code fingerprint, versions), so values of
different settings live side by side and adding a proxy never touches the others. Appends take an exclusive
``flock``, write one whole line, flush and fsync, so two processes can append to one file at once. A torn or
corrupt line is reported (:class:`StoreWarning`) and skipped (its candidate is recomputed); the file is then
compacted under the lock. Nothing is pickled.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

FORMAT = 1


def default_cache_dir() -> Path:
    """``$SWAPLM_CACHE/bench`` (default ``.swaplm_cache/bench`` in the working directory): the bench stores,
    one file per space, shared with search."""
    return Path(os.environ.get("SWAPLM_CACHE", ".swaplm_cache")) / "bench"


def space_store(cache_dir: str | Path, space_name: str) -> "Store":
    """The store of one space's values in ``cache_dir`` (``<cache_dir>/<space>.jsonl``)."""
    from swaplm.report import slug

    return Store(Path(cache_dir) / f"{slug(space_name)}.jsonl")


class StoreWarning(UserWarning):
    """A store line could not be trusted and was skipped (its candidate is recomputed)."""


class Store:
    """JSONL evaluation store at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, readonly: bool | None = None):
        """``readonly`` (default: True in the non-main processes of an ``accelerate launch``) keeps appended
        lines in memory only: one process writes, every process sees the same store."""
        from .distributed import is_main

        self.path = Path(path)
        self.readonly = (not is_main()) if readonly is None else readonly
        self._index: dict[tuple[str, str], dict] = {}
        self._meta: dict[str, dict] = {}
        self._loaded = False

    # -- reading
    def load(self) -> "Store":
        """(Re)read the whole file; warn about and drop corrupt lines (compacting the file)."""
        self._index.clear()
        self._meta.clear()
        if not self.path.exists():
            self._loaded = True
            return self
        with self._locked(fcntl.LOCK_SH if self.readonly else fcntl.LOCK_EX) as fd:
            raw = _read_all(fd)
            bad = self._parse(raw)
            if not self.readonly and (bad or (raw and not raw.endswith(b"\n"))):
                self._rewrite(fd)
        if self.readonly:
            bad = []  # reported once, by the process that writes
        self._loaded = True
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            warnings.warn(f"store {self.path}: skipped {len(bad)} corrupt line(s): {shown}; "
                          "those candidates are recomputed", StoreWarning, stacklevel=3)
        return self

    def get(self, column: str, key: str) -> dict | None:
        """``{"value": float}`` or ``{"failed": reason}`` plus ``"seconds"``, ``"build_seconds"``,
        ``"computed_at"``, ``"versions"``; None when this (column, key) was never stored."""
        if not self._loaded:
            self.load()
        hit = self._index.get((column, key))
        return None if hit is None else {**hit, **self._meta[hit["_line"]]}

    def keys(self, column: str) -> list[str]:
        """Candidate keys that have a stored value in ``column``, in first-stored order."""
        if not self._loaded:
            self.load()
        return [k for (c, k) in self._index if c == column]

    # -- writing
    def append(self, key: str, columns: dict[str, dict], *, build_seconds: float = 0.0,
               computed_at: str | None = None, versions: dict | None = None) -> None:
        """Store one candidate's newly computed ``columns`` ({column: {"value"|"failed", "seconds"}})."""
        if not columns:
            return
        line = {"key": key, "build_seconds": float(build_seconds), "computed_at": computed_at,
                "versions": versions or {}, "columns": columns}
        _check_line(line)
        if self.readonly:
            if not self._loaded:
                self.load()
            self._add(line)
            return
        data = (json.dumps(line, allow_nan=False) + "\n").encode()
        with self._locked(fcntl.LOCK_EX, create=True) as fd:
            size = os.fstat(fd).st_size
            if size == 0:
                os.write(fd, (json.dumps({"swaplm_store": FORMAT}) + "\n").encode())
            elif os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: never glue a new line onto it
                os.write(fd, b"\n")
            os.write(fd, data)
            os.fsync(fd)
        if self._loaded:
            self._add(line)

    # -- internals
    @contextmanager
    def _locked(self, how: int, create: bool = False) -> Iterator[int]:
        """An fd of the current file (re-opened if a compaction replaced it meanwhile), holding ``flock``."""
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            flags = os.O_RDONLY if self.readonly else os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
            fd = os.open(self.path, flags, 0o644)
            fcntl.flock(fd, how)
            try:
                same = os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _parse(self, raw: bytes) -> list[str]:
        bad: list[str] = []
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for lineno, text in enumerate(lines, 1):
            try:
                obj = json.loads(text)
                if lineno == 1 and isinstance(obj, dict) and "swaplm_store" in obj:
                    if obj["swaplm_store"] != FORMAT:
                        raise ValueError(f"store format {obj['swaplm_store']!r} (this swaplm reads {FORMAT})")
                    continue
                _check_line(obj)
                self._add(obj)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                bad.append(f"line {lineno} ({msg[:80]})")
        return bad

    def _add(self, line: dict) -> None:
        ref = str(len(self._meta))
        self._meta[ref] = {"build_seconds": line["build_seconds"], "computed_at": line.get("computed_at"),
                           "versions": line.get("versions") or {}, "key": line["key"]}
        for col, entry in line["columns"].items():
            self._index[(col, line["key"])] = {**entry, "_line": ref}

    def _rewrite(self, fd: int) -> None:
        """Replace the file by its valid lines (under the caller's exclusive lock)."""
        lines: dict[str, dict] = {}
        for (col, key), entry in self._index.items():
            meta = self._meta[entry["_line"]]
            out = lines.setdefault(entry["_line"], {"key": key, "build_seconds": meta["build_seconds"],
                                                    "computed_at": meta["computed_at"],
                                                    "versions": meta["versions"], "columns": {}})
            out["columns"][col] = {k: v for k, v in entry.items() if k != "_line"}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"swaplm_store": FORMAT}) + "\n")
            for line in lines.values():
                fh.write(json.dumps(line, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_line(obj: Any) -> None:
    """Raise ValueError/TypeError/KeyError unless ``obj`` is a trustworthy evaluation line."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if not isinstance(obj["key"], str) or not isinstance(obj["columns"], dict) or not obj["columns"]:
        raise ValueError("bad key or columns")
    if not _number(obj.get("build_seconds", 0.0)):
        raise ValueError("bad build_seconds")
    if not isinstance(obj.get("versions") or {}, dict):
        raise ValueError("bad versions")
    for col, entry in obj["columns"].items():
        ok = isinstance(entry, dict) and _number(entry.get("seconds")) and (
            ("value" in entry and _number(entry["value"])) or
            ("failed" in entry and isinstance(entry["failed"], str)))
        if not ok:
            raise ValueError(f"bad entry for {col!r}")


class Chained:
    """Several stores read in order (the first hit wins) and written together (e.g. a search's journal in
    front of the shared bench cache)."""

    def __init__(self, *stores: Store):
        self.stores = [s for s in stores if s is not None]
        self.path = self.stores[0].path

    def get(self, column: str, key: str) -> dict | None:
        for s in self.stores:
            hit = s.get(column, key)
            if hit is not None:
                return hit
        return None

    def append(self, key: str, columns: dict[str, dict], **meta) -> None:
        for s in self.stores:
            s.append(key, columns, **meta)


__all__ = ["Store", "StoreWarning", "Chained", "default_cache_dir", "space_store"]
