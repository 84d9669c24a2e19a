"""Loader for the shipped NAS-Bench-201 table (data/nas_bench_201.csv.gz; provenance in data/SOURCES.md).

Columns: ``index,arch,cifar10,cifar100,imagenet16_120,unique_str``, one row per architecture in NAS-Bench-201
index order. Row ``index`` becomes ``Record(id=index, arch=Arch, scores={task: test accuracy %},
extra={"unique_str": isomorphism class})``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from swaplm.errors import SwapError

from ..base import Record, accuracy, read_table
from .arch import Arch, parse_arch

DATA_DIR = Path(__file__).parent / "data"
CSV_PATH = DATA_DIR / "nas_bench_201.csv.gz"
EXPECTED_ROWS = 15625
TASKS = ("cifar10", "cifar100", "imagenet16_120")
COLUMNS = ("index", "arch", *TASKS, "unique_str")


def load_benchmark(path: str | Path = CSV_PATH, expected_rows: int | None = EXPECTED_ROWS) -> list[Record]:
    """Every record of ``path`` (a .csv or .csv.gz), in file order; a SwapError names the file and line of a
    malformed row, and a row count other than ``expected_rows`` (a truncated file)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SwapError(f"NAS-Bench-201 table not found: {path}")
    stat = path.stat()  # part of the cache key, so an edited file is re-read
    rows = _load(path, stat.st_mtime_ns, stat.st_size, expected_rows)
    return [Record(id=index, arch=arch, scores=dict(zip(TASKS, accs)), extra={"unique_str": unique})
            for index, arch, accs, unique in rows]


@lru_cache(maxsize=2)
def _load(path: Path, _mtime: int, _size: int, expected_rows: int | None):
    return read_table(path, COLUMNS, _row, expected_rows)


def _row(row: list[str], where: str) -> tuple[int, Arch, tuple[float, ...], str]:
    """(index, arch, accuracies, unique_str) of one CSV row."""
    try:
        index = int(row[0])
        arch = parse_arch(row[1])
    except (ValueError, SwapError) as e:
        raise SwapError(f"{where}: {e}") from None
    return index, arch, tuple(accuracy(text, where) for text in row[2:5]), row[5]


__all__ = ["load_benchmark", "CSV_PATH", "EXPECTED_ROWS", "TASKS"]
