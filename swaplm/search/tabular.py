"""Searches over a table of fitness values: every candidate's value known in advance (a full bench run read
from the store), so a run costs no model and writes no journal, and thousands of seeded runs take seconds.

>>> bench = run_bench(space, proxies=("swap", "params"))            # reads the store, computes what is missing
>>> fit = TableFitness.from_bench(space, bench, "swap")
>>> view = BenchmarkView(space, space.benchmark())
>>> best = chosen(lambda b, rng: swapnas(view, fit, b, rng), 100, range(50))   # 50 found architectures
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from swaplm.errors import SwapError

from .algorithms import History


class TableFitness:
    """Fitness looked up by candidate key in ``values`` (``{key: value}``). A failed (None) or non-finite value
    is ``-inf`` (never chosen while an allowed one was seen); a lower-is-better value is negated, so higher is
    better for the algorithms. A key outside the table is a SwapError (the search left the scored pool).
    ``evaluations`` counts the values handed out."""

    def __init__(self, space: Any, values: Mapping[str, float | None], *, higher_is_better: bool = True,
                 name: str | None = None):
        self.space, self.name, self.higher = space, name, higher_is_better
        self.values = {k: self._fitness(v) for k, v in values.items()}
        self.evaluations = 0

    def _fitness(self, v: float | None) -> float:
        if v is None or not math.isfinite(float(v)):
            return -math.inf
        return float(v) if self.higher else -float(v)

    @classmethod
    def from_bench(cls, space: Any, result, proxy: str) -> "TableFitness":
        """The values of ``proxy`` in a :class:`swaplm.bench.BenchResult` (one row per architecture)."""
        if proxy not in result.proxies:
            raise SwapError(f"{proxy} is not in that bench result (it has {', '.join(result.proxies)})")
        return cls(space, {row.key: row.values.get(proxy) for row in result.rows},
                   higher_is_better=result.higher_is_better.get(proxy, True), name=proxy)

    def __call__(self, archs) -> list[float]:
        out = []
        for a in archs:
            key = self.space.key(a)
            if key not in self.values:
                raise SwapError(f"{key} has no {self.name or 'fitness'} value in the table (outside the scored "
                                "pool)")
            out.append(self.values[key])
        self.evaluations += len(out)
        return out


def chosen(search: Callable[[int, random.Random], History], budget: int, seeds: Iterable[int], *,
           on_run: Callable[[], Any] | None = None) -> list[Any]:
    """The architecture each seeded run of ``search(budget, random.Random(seed))`` keeps (its best evaluation,
    the first one on ties), in seed order; ``on_run()`` is called after each run (a progress bar)."""
    out = []
    for seed in seeds:
        hist = search(budget, random.Random(seed))
        out.append(hist.archs[hist.best_index()])
        if on_run is not None:
            on_run()
    return out


__all__ = ["TableFitness", "chosen"]
