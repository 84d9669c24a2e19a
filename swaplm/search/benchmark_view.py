"""Benchmark mode: a view of a space whose candidates are the benchmark's architectures only.

``sample`` draws a benchmark architecture uniformly. ``mutate`` applies the space's own mutation and maps the
child to the benchmark architecture nearest to it (Hamming distance between ``space.encode`` vectors; the
parent itself excluded; ties broken by the search's random generator). ``crossover`` maps the space's
crossover child the same way (the parents are allowed). So every candidate has a ground truth and, after one
``swaplm bench`` run, a stored fitness.

When no two benchmark architectures share an encoding, a child whose encoding is a benchmark architecture's
(and not excluded) is found by a dictionary look-up: that architecture is the only one at distance 0, which
is what the distance scan would return, without drawing from the generator (a unique nearest draws nothing).
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np


class BenchmarkView:
    """``space`` restricted to ``records`` (benchmark records); ``truth(arch, task)`` reads their scores."""

    def __init__(self, space: Any, records: list):
        self.space, self.records = space, records
        self.name = space.name
        self.archs = [r.arch for r in records]
        self._keys = [space.key(a) for a in self.archs]
        self._by_key = {k: i for i, k in enumerate(self._keys)}
        codes = [tuple(space.encode(a)) for a in self.archs]
        width = max(len(c) for c in codes)
        vocab: dict[Any, int] = {}
        self._codes = np.array([[vocab.setdefault(v, len(vocab)) for v in c] + [-1] * (width - len(c))
                                for c in codes], dtype=np.int64)
        self._vocab, self._width = vocab, width
        rows = [tuple(row) for row in self._codes.tolist()]
        exact = {row: i for i, row in enumerate(rows)}
        #: padded code -> index, when encodings are distinct (None: ties at distance 0 need the scan)
        self._exact = exact if len(exact) == len(rows) else None

    def key(self, arch: Any) -> str:
        return self.space.key(arch)

    def sample(self, rng: random.Random) -> Any:
        return self.archs[rng.randrange(len(self.archs))]

    def _nearest(self, arch: Any, rng: random.Random, exclude: set[int] = frozenset()) -> Any:
        code = [self._vocab.get(v, -2) for v in self.space.encode(arch)]
        code += [-1] * (self._width - len(code))
        if self._exact is not None:
            hit = self._exact.get(tuple(code))
            if hit is not None and hit not in exclude:
                return self.archs[hit]
        code = np.array(code, dtype=np.int64)
        dist = (self._codes != code).sum(axis=1)
        if exclude:
            dist[list(exclude)] = np.iinfo(np.int64).max
        ties = np.flatnonzero(dist == dist.min()).tolist()
        return self.archs[ties[rng.randrange(len(ties))] if len(ties) > 1 else ties[0]]

    def mutate(self, arch: Any, rng: random.Random) -> Any:
        own = self._by_key.get(self.space.key(arch))
        return self._nearest(self.space.mutate(arch, rng), rng, {own} if own is not None else set())

    def crossover(self, a: Any, b: Any, rng: random.Random) -> Any:
        return self._nearest(self.space.crossover(a, b, rng), rng)

    def record(self, arch: Any):
        """The benchmark record of a candidate of this view."""
        return self.records[self._by_key[self.space.key(arch)]]


__all__ = ["BenchmarkView"]
