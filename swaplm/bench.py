"""Benchmark runs: score every benchmark architecture of a space with a set of proxies, then correlate.

Scoring goes through the evaluation layer (:mod:`swaplm.runner`): one batch per run (``space.inputs`` called
once, reused for every architecture, as the reference does); for each record: seed, ``space.build(arch)``,
then every proxy on identical starting weights, timed. Results go to the JSONL store
``$SWAPLM_CACHE/bench/<space>.jsonl`` (one line per architecture, fsync'd at once), addressed by a column
identity that covers every setting, the batch, the code fingerprint and the versions, so a changed setting or
source file never reuses stale numbers and an interrupted run resumes where it stopped. A corrupt or truncated
line is reported (``CacheWarning``), dropped, and its architecture recomputed. Nothing is pickled.

>>> result = run_bench(get_space("darts"), proxies=("swap", "params"), limit=50)
>>> result.correlations()["swap"]["cifar10"]["spearman"]
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from swaplm import stats
from swaplm.errors import SwapError
from swaplm.runner.identity import json_safe
from swaplm.runner.scorer import PROXY_FAILURES
from swaplm.runner.settings import DEFAULT
from swaplm.runner.store import StoreWarning as CacheWarning  # a store line could not be trusted
from swaplm.runner.store import default_cache_dir
from swaplm.export import export_rows  # noqa: F401  (re-exported: swaplm.bench.export_rows)


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
    computed_at: str | None = None  # ISO time the values were computed (from the store for cached rows)
    versions: dict = field(default_factory=dict)  # swaplm/torch/transformers versions that computed them
    #: the space's group of this architecture (``space.stratum(arch)``, e.g. "L4/H256"); None: no strata
    stratum: str | None = None
    #: whether the architecture has an input-to-output path (``space.connected``); None: the space does not say
    connected: bool | None = None

    def total_seconds(self) -> float:
        """Build + proxy seconds; a proxy derived from others in the same row (its seconds are theirs) counts once."""
        return self.build_seconds + sum(
            s for p, s in self.seconds.items() if not (_requires(p) and all(r in self.seconds for r in _requires(p))))


def finalise_row(row: ArchRow, record: Any, space: Any, tasks: Sequence[str],
                 higher_is_better: Mapping[str, bool]) -> ArchRow:
    """Attach what the space knows about ``record`` to its scored ``row`` (call once per row, after scoring):
    the ground truth per task (non-finite -> None), the trivial-baseline features (``space.features``; a
    feature named like a proxy becomes ``"<name> (feature)"``), the stratum (``space.stratum``, optional) and
    whether the architecture is connected (``space.connected``, optional)."""
    def finite(v: Any) -> float | None:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return f if math.isfinite(f) else None

    row.truth = {t: finite(record.scores.get(t)) for t in tasks}
    row.features = {(f"{k} (feature)" if k in higher_is_better else k): float(v)
                    for k, v in space.features(record.arch).items()}
    row.stratum = _label(space.stratum(record.arch))
    row.connected = space.connected(record.arch)
    return row


def _label(value: Any) -> str | None:
    return None if value is None else str(value)


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
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

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

    def strata(self) -> list[str | None] | None:
        """Each row's stratum (``space.stratum``) in row order, or None when the space defines none.

        Rows finalised without one (see :func:`finalise_row`) are looked up in the registered space's
        benchmark by record id."""
        if "strata" not in self._memo:
            labels = [r.stratum for r in self.rows]
            if self.rows and any(lab is None for lab in labels):
                looked = _strata_from_space(self.space, [r.id for r in self.rows])
                if looked is not None:
                    labels = [lab if lab is not None else looked.get(r.id) for lab, r in zip(labels, self.rows)]
                    for r, lab in zip(self.rows, labels):  # remembered on the rows, so subsets need no lookup
                        r.stratum = lab
            self._memo["strata"] = labels if any(lab is not None for lab in labels) else None
        return self._memo["strata"]

    def provenance(self) -> dict[str, Any]:
        """When and with which versions the rows were computed, from the rows' optional ``computed_at`` /
        ``versions``: ``{"computed_at": {"first", "last"} | None, "versions": [distinct dicts], "rows": n,
        "rows_dated": k}``. Rows that carry neither count as unknown (``rows_dated < rows``)."""
        dates = sorted(r.computed_at for r in self.rows if r.computed_at)
        seen: list[dict[str, str]] = []
        for r in self.rows:
            v = r.versions
            if v and dict(v) not in seen:
                seen.append(dict(v))
        return {"computed_at": {"first": dates[0], "last": dates[-1]} if dates else None,
                "versions": seen, "rows": len(self.rows), "rows_dated": len(dates)}

    # -- statistics
    def correlations(self, tasks: Sequence[str] | None = None, *, intervals: bool = False, n_boot: int = 1000,
                     seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
        """``{proxy_or_feature: {task: swaplm.stats.correlations(...)}}`` against the records' ground truth.

        A failed (None) proxy value is ranked as the worst architecture (``non_finite`` counts them), so every
        proxy is compared on the same architectures. Where the space defines strata, each entry also has
        ``within_strata`` (:func:`swaplm.stats.within_strata`: mean Spearman ρ inside each group). With
        ``intervals`` every correlation gets a 95 % bootstrap interval (``spearman_ci`` … and
        ``within_strata.spearman_mean_ci``; ``n_boot`` resamples, seeded by ``seed``)."""
        key = (tuple(tasks or self.tasks), intervals, n_boot, seed)
        if key in self._memo:
            return self._memo[key]
        strata = self.strata()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name in [*self.proxies, *self.features]:
            hib = self.higher_is_better.get(name, True)
            vals = self.values(name)
            out[name] = {}
            for t in key[0]:
                truth = self.truth(t)
                c = stats.correlations(vals, truth, higher_is_better=hib, intervals=intervals, n_boot=n_boot,
                                       seed=seed)
                if strata is not None:
                    c["within_strata"] = stats.within_strata(vals, truth, strata, higher_is_better=hib,
                                                             intervals=intervals, n_boot=n_boot, seed=seed)
                out[name][t] = c
        self._memo[key] = out
        return out

    def non_finite(self) -> dict[str, int]:
        """Number of rows whose value of each proxy / feature is missing or not finite (ranked worst)."""
        return {n: sum(v is None or not math.isfinite(v) for v in self.values(n)) for n in [*self.proxies,
                                                                                          *self.features]}

    def table(self):
        """The terminal summary: a rich Table of ρ / τ per proxy and task (and ρ within strata)."""
        from rich.table import Table

        table = Table(title=f"{self.space}: {len(self.rows)} archs, {self.computed} computed, "
                            f"{self.from_cache} from cache, {self.wall_seconds:.1f} s", title_justify="left")
        table.add_column("proxy", style="bold cyan")
        strata = self.strata() is not None
        for t in self.tasks:
            table.add_column(f"{t} ρ / τ", justify="right")
            if strata:
                table.add_column(f"{t} ρ within strata", justify="right")
        table.add_column("non-finite", justify="right")
        nonfinite = self.non_finite()

        def cells(c):
            out = [f"{c['spearman']:.3f} / {c['kendall']:.3f}"]
            return out + [f"{c['within_strata']['spearman_mean']:.3f}"] if strata else out

        for name, per_task in self.correlations().items():
            table.add_row(name, *[x for t in self.tasks for x in cells(per_task[t])], str(nonfinite.get(name, 0)))
        return table

    def subset(self, ids: Iterable[int]) -> "BenchResult":
        """The same result restricted to the rows whose record id is in ``ids``."""
        keep = set(int(i) for i in ids)
        rows = [r for r in self.rows if r.id in keep]
        return replace(self, rows=rows, computed=sum(not r.cached for r in rows),
                       from_cache=sum(r.cached for r in rows), _memo={})

    def disconnected(self) -> list[int]:
        """Ids of the rows whose architecture has no input-to-output path (``space.connected`` is False)."""
        return [r.id for r in self.rows if r.connected is False]

    def connected_only(self) -> "BenchResult | None":
        """The result over connected architectures only, or None when every row is connected (or unknown)."""
        dropped = set(self.disconnected())
        return self.subset(r.id for r in self.rows if r.id not in dropped) if dropped else None

    def to_json(self, *, intervals: bool = True) -> dict[str, Any]:
        """JSON-ready summary (NaN becomes null); correlations carry 95 % bootstrap intervals unless
        ``intervals=False``. Where some architectures are disconnected, ``connected_only`` holds the
        correlations without them."""
        connected = self.connected_only()
        return json_safe({
            "space": self.space,
            "n_archs": len(self.rows),
            "seconds": self.compute_seconds(),
            "wall_seconds": self.wall_seconds,
            "computed": self.computed,
            "from_cache": self.from_cache,
            "mean_seconds": self.mean_seconds(),
            "failures": self.failures(),
            "non_finite": self.non_finite(),
            "provenance": self.provenance(),
            "settings": self.settings,
            "correlations": self.correlations(intervals=intervals),
            "disconnected": len(self.disconnected()),
            "connected_only": None if connected is None else {
                "n_archs": len(connected.rows), "correlations": connected.correlations(intervals=intervals)},
        })


def _strata_from_space(name: str, ids: Sequence[int]) -> dict[int, str | None] | None:
    """``{record id: space.stratum(arch)}`` from the registered space ``name`` (None: not a registered space)."""
    from swaplm.spaces import SPACES, get_space

    if name not in SPACES:  # e.g. a test double
        return None
    space = get_space(name)
    wanted = set(ids)
    return {r.id: _label(space.stratum(r.arch)) for r in space.benchmark() if r.id in wanted}


def split(result: BenchResult, parts: Mapping[str, Iterable[int]] | int, *, intervals: bool = False
          ) -> dict[str, dict]:
    """Correlations on id subsets: ``parts`` maps a label to record ids, or is a number of contiguous
    equal chunks of the rows (labelled ``"first–last"`` by id). Returns ``{label: result.correlations()}``
    (with bootstrap intervals when ``intervals``)."""
    if isinstance(parts, int):
        if parts < 1:
            raise SwapError(f"split needs at least 1 part, got {parts}")
        chunks = np.array_split(np.arange(len(result.rows)), parts)
        parts = {f"{result.rows[c[0]].id}–{result.rows[c[-1]].id}": [result.rows[i].id for i in c]
                 for c in chunks if len(c)}
    return {label: result.subset(ids).correlations(intervals=intervals) for label, ids in parts.items()}


# -------------------------------------------------------------------------------------------------- runner
def run_bench(
    space: Any,
    *,
    proxies: Sequence[str] | str = ("swap", "swap_reg", "params"),
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    ids: Iterable[int] | str | None = None,
    repeats: int | None = None,
    n: int | None = None,
    batch_size: int | None = None,
    init: Any = DEFAULT,
    mode: Any = DEFAULT,
    padding: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: str = "float32",
    regularise: Any = DEFAULT,
    data: Any = None,
    max_length: int | None = None,
    inputs_options: Mapping[str, Any] | None = None,
    build: str | None = None,
    cache_dir: Any = DEFAULT,
    progress: bool = True,
    warmup: bool = True,
    workers: int = 1,
    threads: int | None = None,
) -> BenchResult:
    """Score the space's benchmark architectures with ``proxies`` and collect the ground truth.

    ``space``: a :class:`swaplm.spaces.Space` or a registered name (``build`` picks one of its builds).
    ``proxies``: names, or ``"all"`` (the space's family). Settings left unset (None, or
    :data:`~swaplm.runner.settings.DEFAULT` where None is meaningful) come from ``space.protocol``. ``n``
    (alias ``batch_size``): samples; ``data``: None (the space's batch), a task/source for ``space.inputs``, or
    a ready batch; ``max_length``: tokens per text sample. ``tasks``: columns or aliases (None or ``"all"``:
    the space's). ``ids`` (a list or text like ``"0-9,12"``) / ``limit`` select records; they and ``tasks``
    do not affect stored values. ``cache_dir=None`` disables the store (default: ``default_cache_dir()``).
    ``warmup`` scores the first architecture once, untimed. ``workers`` > 1 scores in that many CPU processes
    with ``threads`` torch threads each; every architecture is seeded on its own, so values do not depend on it.
    """
    from swaplm.runner import Scorer, evaluate_candidates, make_executor, resolve, space_store
    from swaplm.runner.distributed import world_size

    t_start = time.perf_counter()
    space = _space(space, build)
    names = _proxy_names(space, proxies)
    given = data is not None and not isinstance(data, str)
    if max_length is not None:
        inputs_options = {**(inputs_options or {}), "max_length": max_length}
    settings = resolve(space, n=n, batch_size=batch_size, repeats=repeats, init=init, mode=mode,
                       padding=padding, seed=seed, device=str(device), regularise=regularise,
                       data=None if given else data, inputs_options=inputs_options, dtype=dtype)
    _check_prior(space, names, settings.regularise)
    if workers > 1 and torch.device(settings.device).type != "cpu":
        raise SwapError("--workers > 1 is for CPU runs; on a GPU use one worker")
    records = _select(space.benchmark(), parse_ids(ids), limit)
    if world_size() > len(records):
        raise SwapError(f"{world_size()} processes for {len(records)} architecture(s): launch at most "
                        f"{len(records)} (--num_processes)")
    tasks = _tasks(space, records, tasks)
    scorer = Scorer(space, names, settings, batch=data if given else None)
    executor = make_executor(workers, threads)
    store = space_store(default_cache_dir() if cache_dir is DEFAULT else cache_dir, space.name) \
        if cache_dir is not None else None
    keys = {r.id: space.key(r.arch) for r in records}
    try:
        evals = evaluate_candidates(scorer, [(keys[r.id], r.arch) for r in records], store=store,
                                    executor=executor, progress=progress, label=f"{space.name}: scoring",
                                    warmup=warmup)
    finally:
        executor.close()
    hib = {p.name: p.higher_is_better for p in scorer.proxies}
    rows = [finalise_row(_row(rec.id, evals[keys[rec.id]]), rec, space, tasks, hib) for rec in records]
    source = data if isinstance(data, str) else None
    settings_out = {**scorer.settings_json(), "tasks": tasks, "limit": limit, "processes": world_size(),
                    "inputs": space.input_description(source) if not given else "a batch passed by the caller",
                    "substitute": None if given else space.substitute(source),
                    "ids": None if ids is None else [r.id for r in rows],
                    "cache": str(store.path) if store else None}
    computed = sum(not r.cached for r in rows)
    return BenchResult(space=space.name, settings=settings_out, rows=rows, proxies=scorer.names, tasks=tasks,
                       higher_is_better=hib, wall_seconds=time.perf_counter() - t_start,
                       computed=computed, from_cache=len(rows) - computed, cache_path=store.path if store else None)


def bench_tasks(space: Any, *, tasks: Sequence[str] | str | None = None, build: str | None = None,
                **options: Any) -> list[BenchResult]:
    """The benchmark runs ``tasks`` need: one :func:`run_bench` per task where the space builds one network per
    task (its builds are its tasks, as nb201's datasets: each task is scored on its own build and inputs, and
    correlated with its own column), else one run over every task. ``options`` go to :func:`run_bench`."""
    from swaplm.score import task_space

    space = _space(space, None)
    columns = _tasks(space, [], tasks)
    if not columns or any(c not in space.builds for c in columns):
        return [run_bench(space, tasks=tasks, build=build, **options)]
    runs = []
    for column in columns:
        task_built, column, source = task_space(space, column, build)
        data = options.get("data")
        runs.append(run_bench(task_built, tasks=[column], **{**options, "data": source if data is None else data}))
    return runs


# -------------------------------------------------------------------------------------------------- helpers
def _row(record_id: int, ev) -> ArchRow:
    """The row of one record from its evaluation (ground truth, features and stratum come later)."""
    return ArchRow(record_id, ev.key, dict(ev.values), dict(ev.seconds), dict(ev.failed), ev.build_seconds,
                   cached=ev.cached, computed_at=ev.computed_at, versions=dict(ev.versions))


def _space(space: Any, build: str | None):
    """A space object from a space or a registered name, with ``build`` applied."""
    if isinstance(space, str):
        from swaplm.spaces import get_space

        space = get_space(space)
    return space.with_build(build)


def _proxy_names(space, proxies: Sequence[str] | str) -> list[str]:
    """Proxy names from a list, a comma-separated string or ``"all"`` (the space's family)."""
    from swaplm.proxies import available, get_proxy

    if isinstance(proxies, str):
        if proxies.strip() == "all":
            return available(space.family)
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    names = list(proxies)
    for name in names:
        get_proxy(name)  # an unknown name fails before anything is built
    return names


def _check_prior(space, names: Sequence[str], prior: Any) -> None:
    """A proxy that reads the size prior, with no prior given and none in the space's protocol: one line."""
    from swaplm.proxies import get_proxy

    needs = [n for n in names if get_proxy(n).uses_regularise]
    if needs and prior is None:
        raise SwapError(f"{needs[0]} needs a size prior and the {space.name} space has none: pass --reg-mu and "
                        f"--reg-sigma (Θ in --reg-unit parameters), or leave {needs[0]} out of --proxies")


def parse_ids(spec: Iterable[int] | str | None) -> list[int] | None:
    """Record ids from a list or from text such as ``"0-499"`` or ``"3,5,8"`` (None: all)."""
    if spec is None or not isinstance(spec, str):
        return None if spec is None else [int(i) for i in spec]
    ids: list[int] = []
    try:
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            lo, _, hi = part.partition("-")
            ids.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise SwapError(f"--ids must look like 0-499 or 3,5,8, got {spec!r}") from None
    return ids or None


def _select(records: list, ids: list[int] | None, limit: int | None) -> list:
    if ids is not None:
        by_id = {r.id: r for r in records}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise SwapError(f"{len(missing)} requested id(s) not in the benchmark, e.g. {missing[:5]}")
        records = [by_id[i] for i in dict.fromkeys(ids)]
    if limit is not None:
        if limit < 1:
            raise SwapError(f"limit must be >= 1, got {limit}")
        records = records[:limit]
    if not records:
        raise SwapError("no benchmark records selected")
    return records


def _tasks(space, records, tasks: Sequence[str] | str | None) -> list[str]:
    """Ground-truth columns: the given names (aliases resolved; ``"all"`` or None: the space's tasks)."""
    if isinstance(tasks, str):
        tasks = None if tasks.strip() in ("", "all") else [t.strip() for t in tasks.split(",") if t.strip()]
    if tasks:
        return list(dict.fromkeys(space.resolve_task(t)[0] for t in tasks))
    return list(space.tasks) or list(dict.fromkeys(t for r in records for t in r.scores))


def _mean(xs: list[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan


__all__ = ["run_bench", "bench_tasks", "export_rows", "parse_ids", "BenchResult", "ArchRow", "split", "CacheWarning",
           "default_cache_dir", "PROXY_FAILURES"]
