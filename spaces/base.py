"""The search-space protocol every space implements, and the benchmark record type."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

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
class Protocol_:
    """Default scoring settings of a space's reference protocol (what the published numbers used)."""

    n: int = 16
    repeats: int = 1
    init: str | None = None
    mode: str | None = "train"
    padding: str = "mask"
    regularise: Any = None  # swaplm.Regularise used by swap_reg (None: the proxy's default)


@runtime_checkable
class Space(Protocol):
    """A search space: sampling, variation, building, default inputs and its benchmark."""

    name: str
    tasks: Sequence[str]  # ground-truth columns of the benchmark; tasks[0] is the headline
    family: str  # "cnn" or "transformer": which proxies `--proxies all` selects

    def sample(self, rng: random.Random) -> Any: ...
    def mutate(self, arch: Any, rng: random.Random) -> Any: ...
    def crossover(self, a: Any, b: Any, rng: random.Random) -> Any: ...
    def key(self, arch: Any) -> str: ...
    def build(self, arch: Any) -> nn.Module: ...
    def inputs(self, task: str | None = None, n: int | None = None, seed: int = 0) -> Any: ...
    def benchmark(self) -> list[Record]: ...
