"""Loader for the shipped NAS-Bench-301 sample (data/nas_bench_301_naslib_sample.csv.gz; provenance in
data/SOURCES.md): NASLib's NAS-Bench-Suite-Zero sample of 725 DARTS-space architectures.

Columns: ``naslib_key,genotype,naslib_val_accuracy``: NASLib's compact key, the same architecture as a DARTS
``Genotype(...)`` string, and the CIFAR-10 validation accuracy (%) **predicted by the NAS-Bench-301 surrogate
model** (XGB v1.0), not measured by training. Row r (0-based, after the header) becomes ``Record(id=r,
arch=Genotype, scores={"cifar10": predicted val accuracy}, extra={"naslib_key": NASLib's key})``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from swaplm.errors import SwapError

from ..base import Record, accuracy, read_table
from .arch import naslib_key, parse_arch

DATA_DIR = Path(__file__).parent / "data"
CSV_PATH = DATA_DIR / "nas_bench_301_naslib_sample.csv.gz"
EXPECTED_ROWS = 725
TASKS = ("cifar10",)
COLUMNS = ("naslib_key", "genotype", "naslib_val_accuracy")


def load_benchmark(path: str | Path = CSV_PATH, expected_rows: int | None = EXPECTED_ROWS) -> list[Record]:
    """Every record of ``path`` (.csv or .csv.gz), in file order; a SwapError names the file and line of a
    malformed row (a genotype outside the NB-301 space, a key that names another genotype) and a row count
    other than ``expected_rows``."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SwapError(f"NAS-Bench-301 sample not found: {path}")
    stat = path.stat()  # part of the cache key, so an edited file is re-read
    rows = _load(path, stat.st_mtime_ns, stat.st_size, expected_rows)
    return [Record(id=i, arch=arch, scores={"cifar10": acc}, extra={"naslib_key": key})
            for i, (key, arch, acc) in enumerate(rows)]


@lru_cache(maxsize=2)
def _load(path: Path, _mtime: int, _size: int, expected_rows: int | None):
    return read_table(path, COLUMNS, _row, expected_rows)


def _row(row: list[str], where: str):
    """(naslib_key, genotype, accuracy) of one CSV row; the key must name the row's genotype."""
    key, text, acc_text = row
    try:
        arch = parse_arch(text)
        if naslib_key(arch) != key:
            raise SwapError(f"naslib_key {key[:40]}... is not the key of the row's genotype")
    except SwapError as e:
        raise SwapError(f"{where}: {e}") from None
    return key, arch, accuracy(acc_text, where)


__all__ = ["load_benchmark", "CSV_PATH", "EXPECTED_ROWS", "TASKS"]
