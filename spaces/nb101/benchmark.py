"""Loader for the shipped NAS-Bench-101 sample (data/nas_bench_101_naslib_sample.csv; provenance in
data/SOURCES.md): NASLib's NAS-Bench-Suite-Zero sample of 500 architectures.

Columns: ``naslib_key,matrix_7x7,ops,naslib_val_accuracy``: NASLib's key, the raw (unpruned) 7x7 matrix and 7
ops as JSON lists, and the validation accuracy (%) of one randomly drawn run of the benchmark's three (108
epochs). Row r (0-based, after the header) becomes ``Record(id=r, arch=pruned Spec, scores={"cifar10": val
accuracy}, extra={"naslib_key", "matrix", "ops"})``, the last two being the raw spec as the file gives it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from swaplm.errors import SwapError

from ..base import Record, accuracy, read_table
from .spec import Spec, naslib_key

DATA_DIR = Path(__file__).parent / "data"
CSV_PATH = DATA_DIR / "nas_bench_101_naslib_sample.csv"
EXPECTED_ROWS = 500
TASKS = ("cifar10",)
COLUMNS = ("naslib_key", "matrix_7x7", "ops", "naslib_val_accuracy")


def load_benchmark(path: str | Path = CSV_PATH, expected_rows: int | None = EXPECTED_ROWS) -> list[Record]:
    """Every record of ``path``, in file order; a SwapError names the file and line of a malformed row (a raw
    spec that is invalid or prunes to nothing included), and a row count other than ``expected_rows``."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SwapError(f"NAS-Bench-101 sample not found: {path}")
    stat = path.stat()  # part of the cache key, so an edited file is re-read
    rows = _load(path, stat.st_mtime_ns, stat.st_size, expected_rows)
    return [Record(id=i, arch=spec, scores={"cifar10": acc},
                   extra={"naslib_key": key, "matrix": [list(r) for r in matrix], "ops": list(ops)})
            for i, (key, matrix, ops, spec, acc) in enumerate(rows)]


@lru_cache(maxsize=2)
def _load(path: Path, _mtime: int, _size: int, expected_rows: int | None):
    return read_table(path, COLUMNS, _row, expected_rows)


def _row(row: list[str], where: str):
    """(naslib_key, raw matrix, raw ops, pruned Spec, accuracy) of one CSV row; the NASLib key must name the
    same raw spec as the matrix and ops columns."""
    key, matrix_text, ops_text, acc_text = row
    try:
        matrix = tuple(tuple(r) for r in json.loads(matrix_text))
        ops = tuple(json.loads(ops_text))
    except (ValueError, TypeError):
        raise SwapError(f"{where}: matrix_7x7 and ops must be JSON lists") from None
    try:
        spec = Spec(matrix, ops)
        if naslib_key(matrix, ops) != key:
            raise SwapError(f"naslib_key {key[:40]}... is not the key of the row's matrix_7x7 and ops")
    except SwapError as e:
        raise SwapError(f"{where}: {e}") from None
    return key, matrix, ops, spec, accuracy(acc_text, where)


__all__ = ["load_benchmark", "CSV_PATH", "EXPECTED_ROWS", "TASKS"]
