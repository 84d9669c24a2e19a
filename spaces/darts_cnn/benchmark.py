"""Loader for the DARTS 1000-architecture CIFAR-10 benchmark CSV (see data/SOURCES.md).

Format: no header, one architecture per line, two columns — the quoted genotype text and the CIFAR-10
accuracy in percent. Row ``i`` (0-based) becomes ``Record(id=i, ...)``.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from swaplm.errors import SwapError

from ..base import Record, accuracy
from .genotype import Genotype, parse_genotype

DATA_DIR = Path(__file__).parent / "data"
CSV_PATH = DATA_DIR / "darts_cifar10.csv"
EXPECTED_ROWS = 1000


def load_benchmark(path: str | Path = CSV_PATH, expected_rows: int | None = None) -> list[Record]:
    """Read ``path`` into records ``Record(id=row, arch=Genotype, scores={"cifar10": accuracy})``.

    Raises :class:`SwapError` naming the file and line for a malformed row, and when ``expected_rows`` is given
    and the file holds a different number of rows (e.g. a truncated download).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise SwapError(f"DARTS benchmark file not found: {path}")
    stat = path.stat()  # part of the cache key, so an edited file is re-read
    rows = _load(path, stat.st_mtime_ns, stat.st_size, expected_rows)
    return [Record(id=i, arch=g, scores={"cifar10": acc}) for i, (g, acc) in enumerate(rows)]


@lru_cache(maxsize=4)
def _load(path: Path, _mtime: int, _size: int, expected_rows: int | None) -> tuple[tuple[Genotype, float], ...]:
    rows: list[tuple[Genotype, float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f, strict=True)
            for row in reader:
                if not row:
                    continue
                where = f"{path.name} line {reader.line_num}"
                if len(row) != 2:
                    raise SwapError(f"{where}: expected 2 columns (genotype, accuracy), found {len(row)}")
                try:
                    genotype = parse_genotype(row[0])
                except SwapError as e:
                    raise SwapError(f"{where}: {e}") from None
                rows.append((genotype, accuracy(row[1], where)))
    except csv.Error as e:
        raise SwapError(f"{path.name} line {reader.line_num}: malformed CSV ({e}); "
                        "the file may be truncated or corrupt") from None
    except UnicodeDecodeError as e:
        raise SwapError(f"{path.name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if expected_rows is not None and len(rows) != expected_rows:
        raise SwapError(f"{path.name}: {len(rows)} rows, expected {expected_rows} (truncated or corrupt file?)")
    return tuple(rows)

