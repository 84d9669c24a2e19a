"""One test over every registered space and every search algorithm, like the one over every proxy: what the
rest of swaplm relies on holds for each of them."""
import math
import random

import pytest
import torch

from swaplm.search.algorithms import ALGORITHMS, get_algorithm
from swaplm.spaces import available, get_space
from swaplm.swap import swap_score


@pytest.fixture(scope="module", params=available())
def space(request):
    return get_space(request.param)


def test_space_variation_is_deterministic_and_keyed(space):
    def draws(seed):
        rng = random.Random(seed)
        a, b = space.sample(rng), space.sample(rng)
        return a, b, space.mutate(a, rng), space.crossover(a, b, rng)

    first, again = draws(3), draws(3)
    assert [space.key(x) for x in first] == [space.key(x) for x in again]  # same seed, same architectures
    a, b, child, mixed = first
    assert space.key(child) != space.key(a)  # a mutation changes the architecture
    enc = [space.encode(x) for x in (a, b, mixed)]
    assert len({len(e) for e in enc}) == 1  # one encoding length per space (search's nearest-neighbour metric)
    # every position of the crossover's encoding comes from one of its parents
    assert all(m in (x, y) for x, y, m in zip(*enc))


def test_space_reads_its_own_keys_and_describes_its_inputs(space):
    rng = random.Random(5)
    for arch in [space.sample(rng) for _ in range(5)] + [space.benchmark()[0].arch]:
        assert space.key(space.parse(space.key(arch))) == space.key(arch)  # SPACE:ARCH round trip
    assert space.input_description() and space.substitute() is None  # the default inputs are the space's own


def test_space_builds_and_scores_the_first_benchmark_record(space):
    records = space.benchmark()
    assert records and all(t in records[0].scores for t in space.tasks[:1])
    model = space.build(records[0].arch)
    batch = space.inputs(n=8, seed=0)
    n = batch.shape[0] if isinstance(batch, torch.Tensor) else batch["input_ids"].shape[0]
    assert n == 8
    res = swap_score(model, batch, repeats=1, init=space.protocol.init, mode=space.protocol.mode)
    assert math.isfinite(res.score) and res.score > 0 and res.neurons > 0


class _Toy:
    """A space of bit strings whose fitness is known: algorithms can be checked without any network."""

    def sample(self, rng):
        return tuple(rng.randint(0, 1) for _ in range(12))

    def mutate(self, arch, rng):
        i = rng.randrange(len(arch))
        return arch[:i] + (1 - arch[i],) + arch[i + 1:]

    def crossover(self, a, b, rng):
        return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))


def _fitness(calls):
    def fitness(archs):
        calls.append(len(archs))
        return [float(sum(a)) for a in archs]
    return fitness


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_search_algorithm_spends_its_budget_and_is_deterministic(name):
    algo = get_algorithm(name)
    opts = {} if name == "random" else {"population": 6, "sample": 3}
    calls = []
    hist = algo(_Toy(), _fitness(calls), 40, random.Random(7), **opts)
    again = algo(_Toy(), _fitness([]), 40, random.Random(7), **opts)
    assert len(hist) == sum(calls) == 40  # exactly the budget, counted per architecture
    assert hist.archs == again.archs and hist.fitness == again.fitness
    assert hist.fitness[hist.best_index()] == max(hist.fitness)
    assert hist.best_so_far()[-1] == max(hist.fitness)
    if name != "random":  # a guided search beats its own random start on this easy landscape
        assert max(hist.fitness) > max(hist.fitness[:6])
