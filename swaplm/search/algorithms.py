"""Search algorithms, generic over the space protocol (``sample``, ``mutate``, ``crossover``, ``key``) and over
the fitness function.

``fitness(archs) -> list[float]`` scores a batch (higher is better; ``-inf`` for a failed or disallowed
candidate). Every call counts one evaluation per architecture (a repeated architecture counts again but costs no
model run: the store answers it). An algorithm is deterministic given ``rng`` and the fitness values, which is
what makes ``--resume`` exact: the replay asks the same questions and the journal answers them.

Defaults (anchors §2): NASLib's regularised evolution uses P = 30, S = 10 at 100 queries and P = 50, S = 10 for
its BBO runs; archai uses 10 initial models and 10 iterations. The SWAP-NAS values of P, S, M are not published
(method-facts §3), so swaplm takes P = 20, S = 5, M = 5: at the default budget of 100 evaluations a fifth goes to
the initial population and the other 80 to 16 cycles of 5 scored mutations each.
"""
from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from swaplm.errors import SwapError

FitnessFn = Callable[[Sequence[Any]], list[float]]  # archs -> fitness values (higher is better)


@dataclass
class History:
    """Every evaluation in order: ``archs[i]`` scored ``fitness[i]``."""

    archs: list[Any] = field(default_factory=list)
    fitness: list[float] = field(default_factory=list)

    def add(self, archs: Sequence[Any], values: Sequence[float]) -> None:
        self.archs.extend(archs)
        self.fitness.extend(values)

    def __len__(self) -> int:
        return len(self.fitness)

    def best_index(self) -> int:
        """Index of the best evaluation (the first one on ties); -inf everywhere means none is allowed."""
        best = max(range(len(self.fitness)), key=lambda i: (self.fitness[i], -i))
        if self.fitness[best] == -math.inf:
            raise SwapError("no evaluated candidate was allowed (every fitness is -inf: all failed or above "
                            "--max-params)")
        return best

    def best_so_far(self) -> list[float]:
        out, best = [], -math.inf
        for f in self.fitness:
            best = max(best, f)
            out.append(best)
        return out


def _argbest(values: Sequence[float], idx: Sequence[int]) -> list[int]:
    """``idx`` sorted best first (ties: the earlier index first)."""
    return sorted(idx, key=lambda i: (-values[i], i))


def swapnas(space, fitness: FitnessFn, budget: int, rng: random.Random, *, population: int = 20,
            sample: int = 5, mutations: int = 5, crossover: float = 0.5) -> History:
    """SWAP-NAS (SPEC §7): P random members; each cycle draws S members, the parent is the best of them (or,
    with probability ``crossover``, the crossover of the best two), up to M mutations of the parent are each
    scored, the best child joins and the **worst** member leaves."""
    hist = History()
    pop = [space.sample(rng) for _ in range(min(population, budget))]
    fit = list(fitness(pop))
    hist.add(pop, fit)
    while len(hist) < budget:
        drawn = rng.sample(range(len(pop)), min(sample, len(pop)))
        ranked = _argbest(fit, drawn)
        if len(ranked) >= 2 and rng.random() < crossover:
            parent = space.crossover(pop[ranked[0]], pop[ranked[1]], rng)
        else:
            parent = pop[ranked[0]]
        children = [space.mutate(parent, rng) for _ in range(min(mutations, budget - len(hist)))]
        child_fit = list(fitness(children))
        hist.add(children, child_fit)
        best = _argbest(child_fit, range(len(children)))[0]
        pop.append(children[best])
        fit.append(child_fit[best])
        worst = min(range(len(pop)), key=lambda i: (fit[i], i))
        del pop[worst], fit[worst]
    return hist


def evolution(space, fitness: FitnessFn, budget: int, rng: random.Random, *, population: int = 20,
              sample: int = 5) -> History:
    """Aging (regularised) evolution (Real et al., 2019): draw S members, mutate the best, the child joins and
    the **oldest** member leaves; one evaluation per step."""
    hist = History()
    first = [space.sample(rng) for _ in range(min(population, budget))]
    first_fit = list(fitness(first))
    hist.add(first, first_fit)
    pop = deque(zip(first, first_fit))
    while len(hist) < budget:
        drawn = rng.sample(range(len(pop)), min(sample, len(pop)))
        parent = pop[_argbest([f for _, f in pop], drawn)[0]][0]
        child = space.mutate(parent, rng)
        (value,) = fitness([child])
        hist.add([child], [value])
        pop.append((child, value))
        pop.popleft()
    return hist


def random_search(space, fitness: FitnessFn, budget: int, rng: random.Random) -> History:
    """Sample ``budget`` architectures, keep the fittest (the NASWOT protocol when fitness is a proxy)."""
    archs = [space.sample(rng) for _ in range(budget)]
    hist = History()
    hist.add(archs, list(fitness(archs)))
    return hist


ALGORITHMS: dict[str, Callable[..., History]] = {"swapnas": swapnas, "evolution": evolution,
                                                  "random": random_search}


def get_algorithm(name: str) -> Callable[..., History]:
    if name not in ALGORITHMS:
        raise SwapError(f"unknown search algorithm {name!r}; available: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


__all__ = ["History", "swapnas", "evolution", "random_search", "ALGORITHMS", "get_algorithm"]
