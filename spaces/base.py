"""The search-space contract every space implements, its scoring protocol and the benchmark record type.

A space subclasses :class:`Space`: it defines the class attributes ``name``, ``family`` and ``tasks`` and the
three abstract methods (``key``, ``build``, ``inputs``); ``sample``/``mutate``/``crossover`` (search) and
``benchmark`` (bench) raise a one-line error until a space defines them, and every other member has a default
meaning "this space does not have it". Generic code (bench, search, reports, the CLI) reads members directly
and never probes with ``getattr``/``hasattr``.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch.nn as nn


@dataclass(frozen=True)
class Record:
    """One benchmark entry: an architecture and its ground truth.

    ``id`` is the record's position/id in the benchmark file, ``arch`` the space's own
    architecture object, ``scores`` the trained result per task (e.g. ``{"cifar10": 85.2}``),
    ``extra`` anything else the file carries (kept for reports).
    """

    id: int
    arch: Any
    scores: Mapping[str, float]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoringProtocol:
    """Default scoring settings of a space's reference protocol (what the published numbers used)."""

    n: int = 16
    repeats: int = 1
    init: str | None = None
    mode: str | None = "train"
    padding: str = "mask"
    regularise: Any = None  # swaplm.Regularise used by swap_reg (None: the space has no size prior)


class Space(ABC):
    """A search space: sampling, variation, building, inputs, its benchmark and what reports know about it."""

    #: registry name (``get_space(name)``), also the store file name
    name: ClassVar[str]
    #: "cnn" or "transformer": which proxies ``--proxies all`` selects
    family: ClassVar[str]
    #: ground-truth columns of the benchmark; ``tasks[0]`` is the headline
    tasks: ClassVar[Sequence[str]]
    #: default scoring settings (an instance may replace it, e.g. per build)
    protocol: ScoringProtocol = ScoringProtocol()
    #: user task names -> benchmark column (e.g. ``"sst2" -> "sst"``); a column is always its own name
    task_aliases: ClassVar[Mapping[str, str]] = {}
    #: benchmark column -> the data source a search for that task scores on when ``--data`` is not given
    #: (absent: ``inputs``' own sample)
    task_data: ClassVar[Mapping[str, str]] = {}
    #: builds the constructor accepts as ``build=`` (empty: the space has one way to build)
    builds: ClassVar[Sequence[str]] = ()
    #: the build a search uses when none is given (None: the constructor's default)
    search_build: ClassVar[str | None] = None
    #: longest text sample (``max_length``) a model takes; None: the space does not take text
    max_positions: ClassVar[int | None] = None
    #: classifier size, for label-needing proxies (None: unknown)
    num_classes: int | None = None

    # -- required: what scoring a candidate needs
    @abstractmethod
    def key(self, arch: Any) -> str:
        """The stable string id of ``arch`` (store key)."""

    @abstractmethod
    def build(self, arch: Any) -> nn.Module:
        """A freshly initialised model of ``arch`` (from torch's global RNG)."""

    @abstractmethod
    def inputs(self, data: str | None = None, *, n: int | None = None, seed: int = 0,
               max_length: int | None = None) -> Any:
        """The batch every candidate is scored on: ``data`` None or a task name gives the space's own sample,
        anything else is a ``swaplm.data`` source; ``n`` samples (default ``protocol.n``); ``max_length``
        tokens per text sample (only for spaces with ``max_positions``)."""

    # -- search (sample, mutate, crossover) and bench (benchmark): a space may have either
    def sample(self, rng: random.Random) -> Any:
        """A random architecture."""
        raise self._missing("sample(rng)", "searched")

    def mutate(self, arch: Any, rng: random.Random) -> Any:
        """A neighbour of ``arch``."""
        raise self._missing("mutate(arch, rng)", "searched")

    def crossover(self, a: Any, b: Any, rng: random.Random) -> Any:
        """A child of ``a`` and ``b``."""
        raise self._missing("crossover(a, b, rng)", "searched")

    def benchmark(self) -> list[Record]:
        """Every benchmark record, in file order."""
        raise self._missing("benchmark()", "benchmarked")

    def _missing(self, member: str, use: str):
        from swaplm.errors import SwapError

        return SwapError(f"the {self.name} space has no {member}: it cannot be {use}")

    def parse(self, text: str) -> Any:
        """The architecture whose string (its :meth:`key`) is ``text``; a one-line SwapError when malformed."""
        raise self._missing("parse(text)", "scored from a string")

    # -- optional, with "not available" defaults
    def input_description(self, data: str | None = None) -> str:
        """What :meth:`inputs` returns for ``data``, in words (reports and ``swaplm score --json`` show it)."""
        return f"the {self.name} space's own sample" if data is None else f"{data} (read by swaplm.data)"

    def substitute(self, data: str | None = None) -> str | None:
        """The name of the stand-in scored in place of a task's own inputs (e.g. no images of that dataset
        ship), or None when the inputs are the task's own."""
        return None

    def connected(self, arch: Any) -> bool | None:
        """Whether ``arch`` has an input-to-output path; None where the space does not say."""
        return None

    def labels(self, data: str | None = None, *, n: int | None = None, seed: int = 0) -> Any:
        """Class labels (n,) of the samples ``inputs`` returns for the same arguments, or None (no labels)."""
        return None

    def features(self, arch: Any) -> dict[str, float]:
        """Trivial baselines reported beside the proxies (e.g. depth); none by default."""
        return {}

    def stratum(self, arch: Any) -> str | None:
        """The report group of ``arch`` (correlations inside groups); None: the space has no groups."""
        return None

    def encode(self, arch: Any) -> tuple:
        """Categorical vector of ``arch`` for distances (benchmark-mode search needs it)."""
        raise self._missing("encode(arch)", "searched in benchmark mode")

    def save(self, arch: Any, directory) -> list[str]:
        """Write ``arch`` into ``directory`` in a form users can load; returns the file names (none by default)."""
        return []

    def identity_options(self) -> Mapping[str, Any]:
        """What distinguishes this instance in the identity of stored values: its class plus every public
        instance attribute holding plain data (str/int/float/bool/None, or lists/tuples/dicts of them), e.g.
        ``build_mode``, ``convention``, ``size``. Keep run-time counters and caches private (``_name``) or
        override this."""
        found: dict[str, Any] = {"class": f"{type(self).__module__}.{type(self).__qualname__}"}
        for name, value in sorted(vars(self).items()):
            if not name.startswith("_") and _plain(value):
                found[name] = value
        return found

    # -- generic behaviour built on the members above
    def resolve_task(self, task: str | None) -> tuple[str, str | None]:
        """(benchmark column, default data source) of a user task name; None is the headline task."""
        from swaplm.errors import SwapError

        name = (task or self.tasks[0]).lower()
        column = self.task_aliases.get(name, name)
        if column not in self.tasks:
            names = list(dict.fromkeys([*self.tasks, *self.task_aliases]))
            raise SwapError(f"unknown task {task!r} for {self.name}; choose one of: {', '.join(names)}")
        return column, self.task_data.get(column)

    def with_build(self, build: str | None) -> "Space":
        """This space with ``build`` (None: unchanged); a space without builds refuses one in one line."""
        from swaplm.errors import SwapError

        if build is None:
            return self
        if not self.builds:
            raise SwapError(f"--build picks one of a space's builds; the {self.name} space has no builds")
        if build not in self.builds:
            raise SwapError(f"{self.name} build must be one of {', '.join(self.builds)}; got {build!r}")
        return type(self)(build=build)

    def for_search(self, build: str | None = None) -> "Space":
        """The space a search explores: ``build``, else :attr:`search_build`, else this one."""
        return self.with_build(build or self.search_build)


def read_table(path, columns: tuple[str, ...], parse_row, expected_rows: int | None) -> tuple:
    """``parse_row(row, where)`` of every row of the benchmark table ``path`` (.csv, or .csv.gz read through
    gzip), whose header must be ``columns``. A SwapError names the file for a bad header, damaged bytes or a row
    count other than ``expected_rows`` (a truncated file); ``where`` ("FILE line N") names a bad row."""
    import csv
    import gzip
    import io

    from swaplm.errors import SwapError

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, strict=True)
            header = next(reader, None)
            if tuple(header or ()) != columns:
                raise SwapError(f"{path.name}: header {header} is not {','.join(columns)}")
            for row in reader:
                where = f"{path.name} line {reader.line_num}"
                if len(row) != len(columns):
                    raise SwapError(f"{where}: expected {len(columns)} columns, found {len(row)}")
                rows.append(parse_row(row, where))
    except (OSError, EOFError, csv.Error, UnicodeDecodeError) as e:  # gzip and CSV damage alike
        raise SwapError(f"{path.name}: unreadable ({type(e).__name__}: {e}); the file may be truncated or "
                        "corrupt") from None
    if expected_rows is not None and len(rows) != expected_rows:
        raise SwapError(f"{path.name}: {len(rows)} rows, expected {expected_rows} (truncated or corrupt file?)")
    return tuple(rows)


def accuracy(text: str, where: str) -> float:
    """A benchmark file's accuracy cell as a percentage in 0..100; a SwapError naming ``where`` otherwise."""
    import math

    from swaplm.errors import SwapError

    try:
        value = float(text)
    except ValueError:
        raise SwapError(f"{where}: accuracy {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 100.0):
        raise SwapError(f"{where}: accuracy {value} is not a percentage in 0..100")
    return value


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


__all__ = ["Record", "ScoringProtocol", "Space", "accuracy"]
