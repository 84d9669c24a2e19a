"""Benchmark runner shared by all spaces: score every benchmark architecture with a set of proxies.

One batch per run (``space.inputs`` called once, reused for every architecture, as the reference does).
For each record: seed, ``space.build(arch)``, then every proxy on a fresh copy of the built weights, timed.
Results go to a JSONL cache (one line per architecture, flushed at once) whose name is a hash of every
setting that changes a value, so a changed setting never reuses stale numbers and an interrupted run resumes
where it stopped. A corrupt or truncated line is reported (``CacheWarning``), dropped, and its architecture
recomputed. Nothing is pickled.

>>> result = run_bench(get_space("darts"), proxies=("swap", "params"), limit=50)
>>> result.correlations()["swap"]["cifar10"]["spearman"]
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swaplm import stats
from swaplm.errors import SwapError

CACHE_FORMAT = 2
#: exceptions that mark one architecture's proxy as failed instead of stopping the run
#: (programming errors such as TypeError/AttributeError still propagate).
PROXY_FAILURES: tuple[type[BaseException], ...] = (SwapError, RuntimeError, ValueError, ArithmeticError)


class CacheWarning(UserWarning):
    """A bench cache line could not be trusted and was skipped (its architecture is recomputed)."""


def default_cache_dir() -> Path:
    """``$SWAPLM_CACHE/bench`` (default ``.swaplm_cache/bench`` in the working directory)."""
    return Path(os.environ.get("SWAPLM_CACHE", ".swaplm_cache")) / "bench"


# ------------------------------------------------------------------------------------------------ results
@dataclass
class ArchRow:
    """One architecture's results. ``values[p]`` is None when proxy ``p`` failed (reason in ``failed[p]``);
    ``seconds[p]`` is the proxy's wall time; ``build_seconds`` the time to build the model."""

    id: int
    key: str
    values: dict[str, float | None]
    seconds: dict[str, float]
    failed: dict[str, str] = field(default_factory=dict)
    build_seconds: float = 0.0
    truth: dict[str, float | None] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def total_seconds(self) -> float:
        """Build + proxy seconds; a proxy derived from others in the same row (its seconds are theirs) counts once."""
        return self.build_seconds + sum(
            s for p, s in self.seconds.items() if not (_requires(p) and all(r in self.seconds for r in _requires(p))))


def _requires(name: str) -> tuple[str, ...]:
    """The proxies a registered proxy can be derived from (() for unknown names and non-derived proxies)."""
    from .proxies import get_proxy

    try:
        return tuple(get_proxy(name).requires)
    except SwapError:
        return ()


@dataclass
class BenchResult:
    """Everything one benchmark run produced.

    ``settings``: the resolved run settings (JSON); ``rows``: per-architecture results in benchmark order;
    ``wall_seconds``: this invocation's wall time; ``computed`` / ``from_cache``: how many rows were scored
    now vs read back. ``compute_seconds()`` is the scoring time of all rows, cached ones included.
    """

    space: str
    settings: dict[str, Any]
    rows: list[ArchRow]
    proxies: list[str]
    tasks: list[str]
    higher_is_better: dict[str, bool]
    wall_seconds: float = 0.0
    computed: int = 0
    from_cache: int = 0
    cache_path: Path | None = None

    # -- views
    @property
    def features(self) -> list[str]:
        """Trivial-baseline columns supplied by the space's ``features(arch)``, in first-seen order."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row.features))
        return list(names)

    def values(self, name: str) -> list[float | None]:
        """Values of a proxy or feature per row (None where it failed / is missing)."""
        if name in self.proxies:
            return [row.values.get(name) for row in self.rows]
        return [row.features.get(name) for row in self.rows]

    def truth(self, task: str) -> list[float | None]:
        return [row.truth.get(task) for row in self.rows]

    def compute_seconds(self) -> float:
        """Build + proxy seconds summed over all rows (what the whole run costs without a cache)."""
        return float(sum(row.total_seconds() for row in self.rows))

    def mean_seconds(self) -> dict[str, float]:
        """Mean seconds per architecture of each proxy (``"build"`` included)."""
        out = {p: _mean([r.seconds[p] for r in self.rows if p in r.seconds]) for p in self.proxies}
        out["build"] = _mean([r.build_seconds for r in self.rows])
        return out

    def failures(self) -> dict[str, int]:
        """Number of failed architectures per proxy."""
        return {p: sum(p in r.failed for r in self.rows) for p in self.proxies}

    # -- statistics
    def correlations(self, tasks: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """``{proxy_or_feature: {task: swaplm.stats.correlations(...)}}`` against the records' ground truth."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name in [*self.proxies, *self.features]:
            hib = self.higher_is_better.get(name, True)
            out[name] = {t: stats.correlations(self.values(name), self.truth(t), higher_is_better=hib)
                         for t in (tasks or self.tasks)}
        return out

    def subset(self, ids: Iterable[int]) -> "BenchResult":
        """The same result restricted to the rows whose record id is in ``ids``."""
        keep = set(int(i) for i in ids)
        rows = [r for r in self.rows if r.id in keep]
        return replace(self, rows=rows, computed=sum(not r.cached for r in rows),
                       from_cache=sum(r.cached for r in rows))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (NaN becomes null)."""
        return _json_safe({
            "space": self.space,
            "n_archs": len(self.rows),
            "seconds": self.compute_seconds(),
            "wall_seconds": self.wall_seconds,
            "computed": self.computed,
            "from_cache": self.from_cache,
            "mean_seconds": self.mean_seconds(),
            "failures": self.failures(),
            "settings": self.settings,
            "correlations": self.correlations(),
        })


def split(result: BenchResult, parts: Mapping[str, Iterable[int]] | int) -> dict[str, dict]:
    """Correlations on id subsets: ``parts`` maps a label to record ids, or is a number of contiguous
    equal chunks of the rows (labelled ``"first–last"`` by id). Returns ``{label: result.correlations()}``."""
    if isinstance(parts, int):
        if parts < 1:
            raise SwapError(f"split needs at least 1 part, got {parts}")
        chunks = np.array_split(np.arange(len(result.rows)), parts)
        parts = {f"{result.rows[c[0]].id}–{result.rows[c[-1]].id}": [result.rows[i].id for i in c]
                 for c in chunks if len(c)}
    return {label: result.subset(ids).correlations() for label, ids in parts.items()}


# -------------------------------------------------------------------------------------------------- runner
def run_bench(
    space: Any,
    *,
    proxies: Sequence[str] = ("swap", "swap_reg", "params"),
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    ids: Iterable[int] | None = None,
    repeats: int | None = None,
    n: int | None = None,
    batch_size: int | None = None,
    init: Any = ...,
    mode: Any = ...,
    padding: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    regularise: Any = ...,
    data: Any = None,
    inputs_options: Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = ...,
    progress: bool = True,
    warmup: bool = True,
    workers: int = 1,
    threads: int | None = None,
) -> BenchResult:
    """Score the space's benchmark architectures with ``proxies`` and collect the ground truth.

    ``space`` is a space object (swaplm.spaces protocol) or a registered space name.

    Settings left unset (None, or ``...`` for init/mode/regularise where None is meaningful) come from
    ``space.protocol``. ``n`` (alias ``batch_size``) is the number of samples; ``data`` is None (the space's
    default batch), a string passed to ``space.inputs`` as its task/source, or a ready batch (tensor or dict
    of tensors). ``ids`` / ``limit`` select records (ids first, then the first ``limit``); they and ``tasks``
    do not affect the cache. ``cache_dir=None`` disables the cache; default :func:`default_cache_dir`.
    ``inputs_options`` are extra keywords for ``space.inputs`` (e.g. ``max_length``); they enter the cache key.
    ``warmup`` scores the first architecture to compute once, untimed and discarded, so lazy imports and
    device start-up do not land in the first architecture's seconds.
    ``workers`` > 1 scores architectures in that many processes (CPU only), each with ``threads`` torch
    threads (default: the CPU count divided by ``workers``, at least 1); ``threads`` alone sets this process's
    torch threads. Small CNNs run faster as 2 one-thread processes than as one two-thread process. Every
    architecture is seeded on its own, so values do not depend on ``workers``.
    """
    from swaplm.proxies import ProxyContext, get_proxy
    from swaplm.spaces.base import Protocol_

    t_start = time.perf_counter()
    if isinstance(space, str):
        from swaplm.spaces import get_space

        space = get_space(space)
    proto = getattr(space, "protocol", None) or Protocol_()
    if batch_size is not None and n is not None and batch_size != n:
        raise SwapError(f"n={n} and batch_size={batch_size} disagree (batch_size is an alias of n)")
    n = n if n is not None else batch_size if batch_size is not None else proto.n
    repeats = repeats if repeats is not None else proto.repeats
    init = proto.init if init is ... else init
    mode = proto.mode if mode is ... else mode
    padding = padding if padding is not None else proto.padding
    regularise = getattr(proto, "regularise", None) if regularise is ... else regularise
    if not proxies:
        raise SwapError("no proxies selected")
    if workers < 1 or (threads is not None and threads < 1):
        raise SwapError(f"workers and threads must be >= 1 (got workers={workers}, threads={threads})")
    proxy_objs = [get_proxy(p) for p in proxies]
    names = [p.name for p in proxy_objs]
    if len(set(names)) != len(names):
        raise SwapError(f"proxy listed twice: {', '.join(names)}")
    device = torch.device(device)
    if workers > 1 and device.type != "cpu":
        raise SwapError("--workers > 1 is for CPU runs; on a GPU use one worker")

    records = _select(space.benchmark(), ids, limit)
    tasks = list(tasks) if tasks is not None else _tasks_of(space, records)

    # one batch for the whole run
    if data is None or isinstance(data, str):
        batch = space.inputs(data, n=n, seed=seed, **(inputs_options or {}))
        data_setting = data if not inputs_options else {"data": data, **inputs_options}
    else:
        batch, data_setting = data, "<batch given by caller>"
    n_actual = _batch_len(batch)
    labels = None
    if any(p.needs_labels for p in proxy_objs) and hasattr(space, "labels") and (data is None or isinstance(data, str)):
        labels = space.labels(data, n=n, seed=seed)
    ctx = ProxyContext(seed=seed, repeats=repeats, init=init, mode=mode, padding=padding, regularise=regularise,
                       labels=_to_device(labels, device), num_classes=getattr(space, "num_classes", None))

    settings = {
        "space": space.name,
        "space_options": _jsonable(_space_options(space)),
        "proxies": [_proxy_identity(p) for p in proxy_objs],
        "n": n_actual,
        "repeats": repeats,
        "init": init,
        "mode": mode,
        "padding": padding,
        "seed": seed,
        "device": str(device),
        "regularise": _jsonable(regularise),
        "data": data_setting,
        "batch_sha256": _digest(batch),
        "labels_sha256": _digest(labels) if labels is not None else None,
        "swaplm": _version(),
    }
    # the cache file is shared by every proxy set: each proxy is its own column, named by its identity (plus the
    # regularise setting for proxies that use it), so adding a proxy to a run never recomputes the others
    file_settings = {k: v for k, v in settings.items() if k not in ("proxies", "regularise", "labels_sha256")}
    digest = hashlib.sha256(json.dumps(file_settings, sort_keys=True).encode()).hexdigest()
    # a proxy whose inputs (e.g. swap_reg <- swap, params) are computed in this run is derived from them
    derived = [p for p in proxy_objs if p.derive is not None and p.requires and all(r in names for r in p.requires)]
    run_objs = [p for p in proxy_objs if p not in derived]
    run_names = [p.name for p in run_objs]
    columns = {p.name: _column(p, regularise, settings["labels_sha256"]) for p in run_objs}
    batch = _to_device(batch, device)

    cache = _Cache(Path(default_cache_dir() if cache_dir is ... else cache_dir), space.name, digest,
                   file_settings) if cache_dir is not None else None
    keys = {r.id: space.key(r.arch) for r in records}
    stored = cache.load(keys) if cache else {}
    done: dict[int, ArchRow] = {}
    missing: dict[int, list[str]] = {}
    for r in records:
        entry = stored.get(r.id, {})
        need = [p for p in run_names if columns[p] not in entry.get("values", {})]
        if need:
            missing[r.id] = need
        else:
            done[r.id] = _row_from_entry(r.id, entry, run_names, columns)

    rows: list[ArchRow] = []
    todo = [r for r in records if r.id in missing]
    features = getattr(space, "features", None)
    hib = {p.name: p.higher_is_better for p in proxy_objs}
    pool = None
    prev_threads = torch.get_num_threads()
    if workers > 1 and len(todo) > 1:
        pool = _Pool(workers, threads or max(1, (os.cpu_count() or 1) // workers), space, run_names, ctx, batch,
                     device, seed, todo[0] if warmup else None, keys[todo[0].id])
        fresh = pool.results(todo, keys, missing)
    else:
        if threads is not None:
            torch.set_num_threads(threads)
        by_name = {p.name: p for p in run_objs}
        if warmup and todo:
            _score_one(space, todo[0], keys[todo[0].id], run_objs, ctx, batch, device, seed)
        fresh = (_score_one(space, rec, keys[rec.id], [by_name[p] for p in missing[rec.id]], ctx, batch, device,
                            seed) for rec in todo)
    try:
        with _progress(progress, space.name, len(todo), len(records) - len(todo)) as advance:
            scored: dict[int, ArchRow] = {}
            for row in fresh:  # in completion order; cached to disk at once
                if cache:
                    cache.append(row, columns)
                if row.id in stored:  # some proxies came from the cache: merge them in
                    old = _row_from_entry(row.id, stored[row.id], [p for p in run_names if p not in row.values],
                                          columns)
                    row = replace(row, values={**old.values, **row.values}, seconds={**old.seconds, **row.seconds},
                                  failed={**old.failed, **row.failed})
                scored[row.id] = row
                advance()
            for rec in records:
                row = done.get(rec.id) or scored[rec.id]
                _derive(row, derived, ctx, names)
                row.truth = {t: _finite_or_none(rec.scores.get(t)) for t in tasks}
                row.features = {_feature_name(k, hib): float(v)
                                for k, v in (features(rec.arch) if features else {}).items()}
                rows.append(row)
    except KeyboardInterrupt as e:
        if cache:
            n_saved = len(scored) if "scored" in locals() else 0
            e.add_note(f"swaplm bench: {n_saved} architecture(s) scored now are saved in "
                       f"{cache.path}; rerun the same command to resume")
        raise
    finally:
        if pool is not None:
            pool.close()
        torch.set_num_threads(prev_threads)
        if cache:
            cache.close()

    settings_out = {**settings, "proxies": names, "tasks": tasks, "limit": limit,
                    "ids": None if ids is None else [r.id for r in rows], "cache": str(cache.path) if cache else None}
    computed = sum(not r.cached for r in rows)
    return BenchResult(space=space.name, settings=settings_out, rows=rows, proxies=names, tasks=tasks,
                       higher_is_better=hib, wall_seconds=time.perf_counter() - t_start,
                       computed=computed, from_cache=len(rows) - computed, cache_path=cache.path if cache else None)


def _score_one(space, rec, key: str, proxy_objs, ctx, batch, device: torch.device, seed: int) -> ArchRow:
    """Build one architecture and compute every proxy on identical starting weights (seeded)."""
    values: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}
    _seed_all(seed)
    t0 = time.perf_counter()
    try:
        model = space.build(rec.arch).to(device)
    except PROXY_FAILURES as e:
        reason = f"build failed: {_reason(e)}"
        return ArchRow(rec.id, key, {p.name: None for p in proxy_objs}, {p.name: 0.0 for p in proxy_objs},
                       {p.name: reason for p in proxy_objs}, time.perf_counter() - t0)
    build_seconds = time.perf_counter() - t0
    snapshot = _snapshot(model) if len(proxy_objs) > 1 else None
    for i, proxy in enumerate(proxy_objs):
        if i and snapshot is not None:
            _restore(model, snapshot)
        _seed_all(seed)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        try:
            value = float(proxy.compute(model, batch, ctx))
            if not math.isfinite(value):
                raise SwapError(f"proxy {proxy.name!r} is not finite ({value})")
            values[proxy.name] = value
        except PROXY_FAILURES as e:
            values[proxy.name] = None
            failed[proxy.name] = _reason(e)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[proxy.name] = time.perf_counter() - t
    del model
    return ArchRow(rec.id, key, values, seconds, failed, build_seconds)


def _derive(row: ArchRow, derived, ctx, names: Sequence[str]) -> None:
    """Fill derived proxies from the row's other values; their seconds are the sum of their inputs' (what
    computing them alone costs). Then order the row's dicts as ``names``."""
    for p in derived:
        if any(row.values.get(r) is None for r in p.requires):
            row.values[p.name] = None
            row.failed[p.name] = "needs " + ", ".join(r for r in p.requires if row.values.get(r) is None)
        else:
            try:
                value = float(p.derive({r: row.values[r] for r in p.requires}, ctx))
                if not math.isfinite(value):
                    raise SwapError(f"proxy {p.name!r} is not finite ({value})")
                row.values[p.name] = value
            except PROXY_FAILURES as e:
                row.values[p.name] = None
                row.failed[p.name] = _reason(e)
        row.seconds[p.name] = sum(row.seconds.get(r, 0.0) for r in p.requires)
    row.values = {p: row.values[p] for p in names}
    row.seconds = {p: row.seconds[p] for p in names}


# ------------------------------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _worker_init(threads: int, space, proxy_names, ctx, batch, device, seed, warm_rec, warm_key) -> None:
    from swaplm.proxies import get_proxy

    torch.set_num_threads(threads)
    proxy_objs = [get_proxy(p) for p in proxy_names]
    _WORKER.update(space=space, proxies=proxy_objs, ctx=ctx, batch=batch, device=device, seed=seed)
    if warm_rec is not None:
        _score_one(space, warm_rec, warm_key, proxy_objs, ctx, batch, device, seed)


def _worker_score(rec, key: str, names: list[str]) -> ArchRow:
    w = _WORKER
    proxies = [p for p in w["proxies"] if p.name in names]
    return _score_one(w["space"], rec, key, proxies, w["ctx"], w["batch"], w["device"], w["seed"])


class _Pool:
    """Spawned worker processes scoring one architecture per task."""

    def __init__(self, workers, threads, space, proxy_names, ctx, batch, device, seed, warm_rec, warm_key):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self._ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                       initargs=(threads, space, proxy_names, ctx, batch, device, seed,
                                                 warm_rec, warm_key))

    def results(self, records, keys, missing):
        """Rows in completion order."""
        from concurrent.futures import as_completed

        futures = [self._ex.submit(_worker_score, rec, keys[rec.id], missing[rec.id]) for rec in records]
        for fut in as_completed(futures):
            yield fut.result()

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------------- cache
class _Cache:
    """JSONL cache: a header line with the settings, then lines of per-architecture results. A line holds the
    proxies computed in one go, keyed by their column name; later lines for the same id add columns."""

    def __init__(self, directory: Path, space: str, digest: str, settings: dict):
        self.path = directory / f"{_slug(space)}-{digest[:16]}.jsonl"
        self.digest, self.settings = digest, settings
        self._fh = None

    def load(self, keys: Mapping[int, str]) -> dict[int, dict]:
        """Valid cached entries by id (columns merged over lines); warns about and drops corrupt lines
        (rewriting the file without them)."""
        header = {"swaplm_bench_cache": CACHE_FORMAT, "hash": self.digest, "settings": self.settings}
        if not self.path.exists():
            self._write([header])
            return {}
        good: list[dict] = []
        bad: list[str] = []
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for lineno, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
                if lineno == 1 and isinstance(obj, dict) and "swaplm_bench_cache" in obj:
                    if obj.get("hash") != self.digest or obj.get("swaplm_bench_cache") != CACHE_FORMAT:
                        warnings.warn(f"bench cache {self.path} was written for other settings; starting afresh",
                                      CacheWarning, stacklevel=3)
                        self._write([header])
                        return {}
                    continue
                entry = _parse_line(obj)
                expected = keys.get(entry["id"])
                if expected is not None and expected != entry["key"]:
                    raise ValueError(f"architecture key differs from the benchmark's record {entry['id']}")
                good.append(entry)
            except (ValueError, TypeError, KeyError) as e:
                bad.append(f"line {lineno} ({_reason(e)[:80]})")
        merged: dict[int, dict] = {}
        for e in good:
            m = merged.setdefault(e["id"], {"key": e["key"], "values": {}, "seconds": {}, "build_seconds": 0.0})
            m["values"].update(e["values"])
            m["seconds"].update(e["seconds"])
            m["build_seconds"] = max(m["build_seconds"], e["build_seconds"])
        if bad or not text.endswith("\n"):  # also repair a missing final newline before appending
            self._write([header, *(_entry_line(i, m) for i, m in merged.items())])
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            warnings.warn(f"bench cache {self.path}: skipped {len(bad)} corrupt line(s): {shown}; "
                          "those architectures are recomputed", CacheWarning, stacklevel=3)
        return merged

    def append(self, row: ArchRow, columns: Mapping[str, str]) -> None:
        """Append one architecture's newly computed proxies and flush them to disk at once (so an interruption
        loses nothing else)."""
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        line = {"id": row.id, "key": row.key, "build_seconds": row.build_seconds,
                "values": {columns[p]: ({"failed": row.failed[p]} if p in row.failed else row.values[p])
                           for p in row.values},
                "seconds": {columns[p]: row.seconds[p] for p in row.values}}
        self._fh.write(json.dumps(line, allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _write(self, objs: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for obj in objs:
                fh.write(json.dumps(obj, allow_nan=False, default=str) + "\n")
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _column(proxy, regularise, labels_sha256: str | None) -> str:
    """Cache column of a proxy: its name plus a digest of its identity (and of the regularise setting or the
    labels for proxies that use them), so a changed proxy, prior or label set never reuses stale values."""
    ident = _proxy_identity(proxy)
    if getattr(proxy, "uses_regularise", proxy.name == "swap_reg"):
        ident["regularise"] = _jsonable(regularise)
    if proxy.needs_labels:
        ident["labels_sha256"] = labels_sha256
    return f"{proxy.name}#{hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]}"


def _parse_line(obj: Any) -> dict:
    """Validate one cache line; raises ValueError/TypeError/KeyError when it cannot be trusted."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    rid, key, vals, secs = obj["id"], obj["key"], obj["values"], obj["seconds"]
    if not isinstance(rid, int) or isinstance(rid, bool) or not isinstance(key, str):
        raise ValueError("bad id or key")
    if not isinstance(vals, dict) or not isinstance(secs, dict) or set(vals) != set(secs):
        raise ValueError("values/seconds are not matching objects")
    for col, v in vals.items():
        ok = (isinstance(v, dict) and isinstance(v.get("failed"), str)) or (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        if not ok:
            raise ValueError(f"bad value for {col!r}")
        if not isinstance(secs[col], (int, float)) or not math.isfinite(secs[col]):
            raise ValueError(f"bad seconds for {col!r}")
    build = obj.get("build_seconds", 0.0)
    if not isinstance(build, (int, float)) or not math.isfinite(build):
        raise ValueError("bad build_seconds")
    return {"id": rid, "key": key, "values": dict(vals), "seconds": {c: float(x) for c, x in secs.items()},
            "build_seconds": float(build)}


def _entry_line(rid: int, entry: dict) -> dict:
    return {"id": rid, "key": entry["key"], "build_seconds": entry["build_seconds"], "values": entry["values"],
            "seconds": entry["seconds"]}


def _row_from_entry(rid: int, entry: dict, names: Sequence[str], columns: Mapping[str, str]) -> ArchRow:
    """An :class:`ArchRow` of the cached proxies ``names`` (a failed value becomes None + its reason)."""
    values, failed, seconds = {}, {}, {}
    for p in names:
        v = entry["values"][columns[p]]
        if isinstance(v, dict):
            values[p], failed[p] = None, v["failed"]
        else:
            values[p] = float(v)
        seconds[p] = entry["seconds"][columns[p]]
    return ArchRow(rid, entry["key"], values, seconds, failed, entry["build_seconds"], cached=True)


# -------------------------------------------------------------------------------------------------- helpers
def _select(records: list, ids: Iterable[int] | None, limit: int | None) -> list:
    if ids is not None:
        wanted = [int(i) for i in ids]
        by_id = {r.id: r for r in records}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise SwapError(f"{len(missing)} requested id(s) not in the benchmark, e.g. {missing[:5]}")
        records = [by_id[i] for i in dict.fromkeys(wanted)]
    if limit is not None:
        if limit < 1:
            raise SwapError(f"limit must be >= 1, got {limit}")
        records = records[:limit]
    if not records:
        raise SwapError("no benchmark records selected")
    return records


def _tasks_of(space, records) -> list[str]:
    tasks = list(getattr(space, "tasks", None) or [])
    if not tasks:
        tasks = list(dict.fromkeys(t for r in records for t in r.scores))
    return tasks


def _space_options(space) -> dict:
    """What distinguishes this space instance (part of the cache identity).

    A space's ``options`` mapping when it has one; otherwise its class plus every public instance attribute
    holding plain data (str/int/float/bool/None, or lists/tuples/dicts of them), e.g. ``build_mode``,
    ``convention``, ``size``. Keep run-time counters and caches private (``_name``) or define ``options``.
    """
    opts = getattr(space, "options", None)
    if isinstance(opts, Mapping):
        return dict(opts)
    found: dict[str, Any] = {"class": f"{type(space).__module__}.{type(space).__qualname__}"}
    for name, value in sorted(getattr(space, "__dict__", {}).items()):
        if not name.startswith("_") and _plain(value):
            found[name] = value
    return found


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _proxy_identity(p) -> dict:
    fn = getattr(p, "fn", None)
    return {"name": p.name, "fn": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}",
            "version": getattr(p, "version", None)}


def _feature_name(name: str, proxies: Mapping[str, bool]) -> str:
    return f"{name} (feature)" if name in proxies else name


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _snapshot(model: torch.nn.Module) -> tuple[dict, dict]:
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {m: m.training for m in model.modules()})


def _restore(model: torch.nn.Module, snap: tuple[dict, dict]) -> None:
    state, modes = snap
    with torch.no_grad():
        current = model.state_dict()
        for k, v in state.items():
            current[k].copy_(v)
    for m, training in modes.items():
        m.training = training
    model.zero_grad(set_to_none=True)


def _batch_len(batch) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, Mapping):
        for v in batch.values():
            if isinstance(v, torch.Tensor) and v.dim():
                return int(v.shape[0])
    raise SwapError(f"the batch must be a tensor or a dict of tensors, got {type(batch).__name__}")


def _to_device(obj, device: torch.device):
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if hasattr(obj, "to") and isinstance(obj, Mapping):  # transformers.BatchEncoding
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    return obj


def _digest(obj) -> str:
    """sha256 of a tensor / dict of tensors (dtype, shape and bytes), so changed data invalidates caches."""
    h = hashlib.sha256()

    def add(name: str, t: Any) -> None:
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(t).encode())

    if isinstance(obj, Mapping):
        for k in sorted(obj):
            add(str(k), obj[k])
    else:
        add("", obj)
    return h.hexdigest()


def _jsonable(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **{k: _jsonable(v) for k, v in asdict(obj).items()}}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return repr(obj)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _finite_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


def _reason(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "space"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("swaplm")
    except Exception:  # not installed (running from a checkout)
        import swaplm

        return getattr(swaplm, "__version__", "unknown")


class _progress:
    """Rich progress bar (archs/s, ETA) as a context manager yielding an ``advance()`` callable."""

    def __init__(self, enabled: bool, space: str, total: int, cached: int):
        self.enabled = enabled and total > 0
        self.label = f"{space}: scoring" + (f" ({cached} cached)" if cached else "")
        self.total = total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.2f} archs/s" if speed else "- archs/s")

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


__all__ = ["run_bench", "BenchResult", "ArchRow", "split", "CacheWarning", "default_cache_dir", "PROXY_FAILURES"]
