"""Per-architecture exports of a benchmark run: one row per architecture as CSV or JSON Lines, or the whole run
in NASLib's NAS-Bench-Suite-Zero JSON layout.

>>> export_rows(run_bench(get_space("darts"), limit=10), "rows.csv")
>>> export_naslib(run_bench(get_space("nb301"), proxies="swap,params", limit=10), "zc_nasbench301.json")
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from swaplm.errors import SwapError
from swaplm.runner.identity import json_safe

#: NASLib's dataset name of each benchmark column (columns not listed keep their name)
NASLIB_DATASETS: Mapping[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100",
                                      "imagenet16_120": "ImageNet16-120"}
#: NASLib's NB-201 op codes: an op's position here is its code in NASLib's NB-201 key
NASLIB_NB201_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: for each position of NASLib's NB-201 key, the edge of the NATS-Bench arch string it holds (edges 0..5 in
#: string order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2); positions 2 and 3 are swapped
NASLIB_NB201_EDGES: tuple[int, ...] = (0, 1, 3, 2, 4, 5)


def export_rows(result: BenchResult | Iterable[BenchResult], path: str | Path) -> Path:
    """Write ``result`` to ``path``. ``.csv`` / ``.jsonl``: one row per architecture: ``id``, ``key``, every
    proxy's value and ``<proxy>_seconds``, the ground truth ``truth_<task>`` per task and ``failed``
    (``proxy: reason; ...``); a failed or missing value is empty / null. ``.json``: NASLib's NAS-Bench-Suite-Zero
    layout (:func:`export_naslib`), which also takes several results (e.g. one per NB-201 dataset)."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind == ".json":
        return export_naslib(result, path)
    if kind not in (".csv", ".jsonl"):
        raise SwapError(f"--export writes .csv, .jsonl or .json (NASLib's layout) files, got {path.name!r}")
    results = _results(result)
    if len(results) != 1:
        raise SwapError(f"a {kind} export holds one benchmark run, got {len(results)}; write one file per run")
    result = results[0]
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


def naslib_layout(results: BenchResult | Iterable[BenchResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """The NAS-Bench-Suite-Zero form of one or more benchmark runs of one space:
    ``{dataset: {naslib_key: {proxy: {"score": value, "time": seconds}, ..., "val_accuracy": truth}}}``.

    ``dataset`` is NASLib's name of each task (:data:`NASLIB_DATASETS`); ``naslib_key`` is NASLib's own
    encoding of the architecture: the ``naslib_key`` its benchmark record carries (nb101, nb301), or for nb201
    :func:`nb201_naslib_key` of the row's arch string. ``val_accuracy`` is the run's ground truth for that task,
    whatever the benchmark measured (for nb201 NATS-Bench's 200-epoch *test* accuracy; for nb301 the surrogate's
    prediction). A failed proxy's score is null. Runs of the same dataset merge (e.g. one run per proxy): a
    proxy given twice keeps the first run's time, and a second, different score for the same architecture,
    dataset and proxy (or a different ground truth) is a SwapError, as are runs of two spaces and a space
    NASLib has no encoding for."""
    results = _results(results)
    spaces = sorted({r.space for r in results})
    if len(spaces) != 1:
        raise SwapError(f"a NASLib export holds one search space, got runs of {', '.join(spaces) or 'none'}")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    keys = _naslib_keys(spaces[0], results)
    for result in results:
        for task in result.tasks:
            dataset = out.setdefault(NASLIB_DATASETS.get(task, task), {})
            for row in result.rows:
                entry = dataset.setdefault(keys[row.id, row.key], {})
                for proxy in result.proxies:
                    _put(entry, proxy, {"score": _number(row.values.get(proxy)),
                                        "time": _number(row.seconds.get(proxy))}, row.id, task)
                _put(entry, "val_accuracy", _number(row.truth.get(task)), row.id, task)
    for dataset in out.values():  # NASLib's entries list the proxies first, the ground truth last
        for key, entry in dataset.items():
            dataset[key] = {**{k: v for k, v in entry.items() if k != "val_accuracy"},
                            "val_accuracy": entry["val_accuracy"]}
    return out


def export_naslib(results: BenchResult | Iterable[BenchResult], path: str | Path) -> Path:
    """Write :func:`naslib_layout` of ``results`` to the JSON file ``path`` (NaN and infinities as null)."""
    path = Path(path)
    layout = naslib_layout(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(layout)), encoding="utf-8")
    return path


def nb201_naslib_key(arch: Any) -> str:
    """NASLib's NB-201 key of an NB-201 architecture (an ``Arch`` or its NATS-Bench arch string), e.g.
    ``|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|`` ->
    ``"(0, 2, 3, 2, 3, 1)"``: six op codes (:data:`NASLIB_NB201_OPS`, whose order differs from NAS-Bench-201's
    own in codes 0/1 and 2/3), the edges in :data:`NASLIB_NB201_EDGES` order (the arch string's edges 2 and 3
    swapped). Checked against NASLib's 725-arch sample, which carries both forms (tests/test_naslib_export.py)."""
    from swaplm.spaces.nb201 import as_arch

    ops = tuple(as_arch(arch))
    return str(tuple(NASLIB_NB201_OPS.index(ops[edge]) for edge in NASLIB_NB201_EDGES))


def nb201_from_naslib_key(text: str) -> Any:
    """The NB-201 ``Arch`` of NASLib's NB-201 key (the inverse of :func:`nb201_naslib_key`); a one-line
    SwapError for anything but a tuple of six op codes 0..4."""
    import ast

    from swaplm.spaces.nb201 import Arch

    try:
        codes = ast.literal_eval(text.strip()) if isinstance(text, str) and len(text) < 200 else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        codes = None
    if not (isinstance(codes, tuple) and len(codes) == len(NASLIB_NB201_EDGES)
            and all(type(c) is int and 0 <= c < len(NASLIB_NB201_OPS) for c in codes)):
        raise SwapError(f"bad NASLib NB-201 key {str(text)[:60]!r}: expected a tuple of 6 op codes 0..4")
    ops = [""] * len(codes)
    for position, edge in enumerate(NASLIB_NB201_EDGES):
        ops[edge] = NASLIB_NB201_OPS[codes[position]]
    return Arch(ops)


# ------------------------------------------------------------------------------------------------ helpers
def _results(result: Any) -> list:
    """A list of BenchResults from one result or an iterable of them."""
    from swaplm.bench import BenchResult

    results = [result] if isinstance(result, BenchResult) else list(result)
    if not results or not all(isinstance(r, BenchResult) for r in results):
        raise SwapError("an export needs one or more benchmark results (swaplm.bench.BenchResult)")
    return results


def _naslib_keys(space_name: str, results: list) -> dict[tuple[int, str], str]:
    """``{(record id, row key): NASLib key}`` for every row of ``results`` (all runs of ``space_name``)."""
    wanted = {(row.id, row.key) for r in results for row in r.rows}
    if space_name == "nb201":
        return {(i, key): nb201_naslib_key(key) for i, key in wanted}
    from swaplm.spaces import SPACES, get_space

    if space_name not in SPACES:
        raise SwapError(f"no NASLib encoding is known for the {space_name!r} space")
    space = get_space(space_name)
    by_id = {rec.id: rec for rec in space.benchmark()}
    out = {}
    for i, key in sorted(wanted):
        rec = by_id.get(i)
        if rec is None or "naslib_key" not in rec.extra:
            raise SwapError(f"no NASLib encoding for {space_name} record {i}: NASLib's keys are known for nb101, "
                            "nb201 and nb301 benchmark records")
        if space.key(rec.arch) != key:
            raise SwapError(f"{space_name} record {i} is not the architecture the run scored as id {i} (its key "
                            "differs): the run used another benchmark file")
        out[i, key] = rec.extra["naslib_key"]
    return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _put(entry: dict, name: str, value: Any, record_id: int, task: str) -> None:
    """``entry[name] = value`` where ``name`` is not there yet; a value already there is kept when it says the
    same (for a proxy: the same score; its time may differ between runs) and refused otherwise."""
    if name not in entry:
        entry[name] = value
        return
    old, new = (json_safe(v["score"] if isinstance(v, dict) else v) for v in (entry[name], value))
    if old != new:
        raise SwapError(f"two runs give different {name} for record {record_id} on {task}: {old} and {new}")


__all__ = ["export_rows", "export_naslib", "naslib_layout", "nb201_naslib_key", "nb201_from_naslib_key",
           "NASLIB_DATASETS", "NASLIB_NB201_OPS", "NASLIB_NB201_EDGES"]
