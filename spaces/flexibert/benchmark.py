"""NAS-Bench-BERT loader: 500 FlexiBERT architectures with GLUE dev scores (Serianni & Kalita, ACL 2023).

The file ships as ``data/nas_bench_bert.json`` (CC BY 4.0, see ``data/SOURCES.md``). Record format
(method-facts §7.6): ``id``, ``time_to_train`` (s), ``scores`` {cola, mnli, mrpc, qnli, qqp, rte, sst, sts, glue}
(x100), ``hparams.model_hparam_overrides`` {hidden_size, nas_config.encoder_layers}.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from swaplm.errors import SwapError
from swaplm.spaces.base import Record

from .arch import FlexiBertArch

TASKS = ("glue", "cola", "mnli", "mrpc", "qnli", "qqp", "rte", "sst", "sts")


def default_path() -> Path:
    return Path(str(resources.files("swaplm.spaces.flexibert").joinpath("data", "nas_bench_bert.json")))


def parse_records(raw: object, source: str = "NAS-Bench-BERT file") -> list[Record]:
    """Turn the decoded JSON list into :class:`Record` objects; SwapError on any malformed entry."""
    if not isinstance(raw, list):
        raise SwapError(f"{source}: expected a JSON list of records, got {type(raw).__name__}")
    records = []
    for pos, entry in enumerate(raw):
        try:
            arch = FlexiBertArch.from_dict(entry["hparams"])
            scores = {t: float(entry["scores"][t]) for t in TASKS}
            records.append(Record(id=int(entry["id"]), arch=arch, scores=scores,
                                  extra={"time_to_train": float(entry["time_to_train"])}))
        except SwapError as err:
            raise SwapError(f"{source}: record {pos} is invalid: {err}") from None
        except (KeyError, TypeError, ValueError) as err:
            raise SwapError(f"{source}: record {pos} is malformed ({type(err).__name__}: {err})") from None
    return records


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[Record, ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise SwapError(f"cannot read the NAS-Bench-BERT file {p}: {err.strerror or err}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise SwapError(f"the NAS-Bench-BERT file {p} is corrupt or truncated (JSON error at line {err.lineno}, "
                        f"column {err.colno}); reinstall swaplm or pass a good copy") from None
    records = parse_records(raw, source=str(p))
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise SwapError(f"the NAS-Bench-BERT file {p} has duplicate record ids")
    return tuple(records)


def load_benchmark(path: str | Path | None = None) -> list[Record]:
    """All records of the NAS-Bench-BERT file (default: the shipped copy), in file order."""
    return list(_load(str(path or default_path())))


__all__ = ["TASKS", "load_benchmark", "parse_records", "default_path"]
