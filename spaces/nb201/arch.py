"""NAS-Bench-201 cell architectures: the op set, NATS-Bench arch strings, connectivity and variation.

A cell has 4 nodes (0 = the cell input, 3 = the cell output) and one edge for every pair j < i; node i is the
sum of its incoming edges. An :class:`Arch` holds the 6 edge ops in the order of the arch string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3 (:data:`EDGES`).
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator

from swaplm.errors import SwapError

#: the benchmark's op names, in NAS-Bench-201's own order (an op's index here is its code in :func:`encode`)
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (to, from) node pairs of the 6 edges, in arch-string order
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NODES = 4


class Arch(tuple):
    """The 6 edge ops of a cell (a tuple of op names in :data:`EDGES` order); ``str()`` gives the arch string."""

    __slots__ = ()

    def __new__(cls, ops: Iterable[str]) -> "Arch":
        ops = tuple(ops)
        if len(ops) != len(EDGES):
            raise SwapError(f"an NB-201 cell has {len(EDGES)} edges, got {len(ops)} ops")
        for op in ops:
            if op not in OPS:
                raise SwapError(f"unknown NB-201 op {op!r}; ops are: {', '.join(OPS)}")
        return super().__new__(cls, ops)

    def __str__(self) -> str:
        return format_arch(self)

    def __repr__(self) -> str:
        return f"Arch({format_arch(self)!r})"

    def incoming(self, node: int) -> list[tuple[int, str]]:
        """(source node, op) of every edge into ``node``, in arch-string order."""
        return [(j, op) for (i, j), op in zip(EDGES, self) if i == node]


def format_arch(arch: Iterable[str]) -> str:
    """The NATS-Bench arch string of the 6 ops, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
    ops = tuple(arch)
    groups, k = [], 0
    for node in range(1, NODES):
        groups.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(node)) + "|")
        k += node
    return "+".join(groups)


def parse_arch(text: str) -> Arch:
    """Parse a NATS-Bench arch string; a SwapError names the problem (unknown op, malformed cell) in one line."""
    if not isinstance(text, str):
        raise SwapError(f"an NB-201 arch string is text, got {type(text).__name__}")
    s = text.strip()
    shown = s if len(s) <= 120 else s[:117] + "..."
    groups = s.split("+")
    if len(groups) != NODES - 1:
        raise SwapError(f"malformed NB-201 arch string {shown!r}: expected {NODES - 1} node groups joined by "
                        f"'+', found {len(groups)}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise SwapError(f"malformed NB-201 arch string {shown!r}: node {node} group {group!r} must be "
                            "written |op~0|op~1|...|")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise SwapError(f"malformed NB-201 arch string {shown!r}: node {node} needs {node} inputs "
                            f"(op~0..op~{node - 1}), found {len(entries)}")
        for j, entry in enumerate(entries):
            op, sep, source = entry.rpartition("~")
            if not sep or source != str(j):
                raise SwapError(f"malformed NB-201 arch string {shown!r}: node {node} entry {entry!r} should be "
                                f"op~{j}")
            if op not in OPS:
                raise SwapError(f"unknown NB-201 op {op!r} in {shown!r}; ops are: {', '.join(OPS)}")
            ops.append(op)
    return Arch(ops)


def as_arch(arch: Arch | str | Iterable[str]) -> Arch:
    """``arch`` as an :class:`Arch`: an arch string is parsed, a sequence of 6 op names checked."""
    if isinstance(arch, Arch):
        return arch
    if isinstance(arch, str):
        return parse_arch(arch)
    return Arch(arch)


def encode(arch: Arch | str) -> tuple[int, ...]:
    """The 6 op indices (positions in :data:`OPS`) in arch-string edge order."""
    return tuple(OPS.index(op) for op in as_arch(arch))


def decode(codes: Iterable[int]) -> Arch:
    """Inverse of :func:`encode`."""
    codes = tuple(codes)
    if any(not isinstance(c, int) or not 0 <= c < len(OPS) for c in codes):
        raise SwapError(f"NB-201 op codes are integers 0..{len(OPS) - 1}, got {codes}")
    return Arch(OPS[c] for c in codes)


def connected(arch: Arch | str) -> bool:
    """Whether some path of non-``none`` edges leads from the cell input (node 0) to its output (node 3).

    Without one the cell's output is all zeros whatever its input, so the network cannot learn (the benchmark
    records such archs at chance accuracy)."""
    arch = as_arch(arch)
    reached = {0}
    for node in range(1, NODES):  # edges only go forward, so one pass in node order suffices
        if any(op != "none" and j in reached for j, op in arch.incoming(node)):
            reached.add(node)
    return NODES - 1 in reached


def all_archs() -> Iterator[Arch]:
    """All 5^6 = 15,625 cells (in op-code order, not the benchmark's index order)."""
    return (Arch(ops) for ops in itertools.product(OPS, repeat=len(EDGES)))


def sample(rng: random.Random) -> Arch:
    """A uniformly random cell: each edge's op drawn independently."""
    return Arch(rng.choice(OPS) for _ in EDGES)


def mutate(arch: Arch | str, rng: random.Random) -> Arch:
    """One uniformly chosen edge gets a different op (uniform among the other 4)."""
    ops = list(as_arch(arch))
    edge = rng.randrange(len(ops))
    ops[edge] = rng.choice([op for op in OPS if op != ops[edge]])
    return Arch(ops)


def crossover(a: Arch | str, b: Arch | str, rng: random.Random) -> Arch:
    """Each edge's op comes from parent ``a`` or ``b`` with equal probability."""
    a, b = as_arch(a), as_arch(b)
    return Arch(x if rng.random() < 0.5 else y for x, y in zip(a, b))


__all__ = ["OPS", "EDGES", "NODES", "Arch", "format_arch", "parse_arch", "as_arch", "encode", "decode",
           "connected", "all_archs", "sample", "mutate", "crossover"]
