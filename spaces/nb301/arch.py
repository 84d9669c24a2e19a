"""NAS-Bench-301 genotypes: the DARTS genotype restricted to the NB-301 space, and NASLib's compact key.

An NB-301 architecture is a DARTS :class:`~swaplm.spaces.darts_cnn.Genotype` (normal and reduction cell, 4
nodes, edges ``2k`` and ``2k+1`` feeding node ``k`` as ``(op, input)``) with three extra rules of the NB-301
space: every op is one of the 7 in :data:`OPS` (no ``none``), the two inputs of a node are distinct, and both
cells concatenate nodes 2..5 (:data:`CONCAT`).

NASLib's NB-301 key (the ``naslib_key`` column of the shipped sample) writes the same architecture as
``[[(input, op_index) x 8], [(input, op_index) x 8]]``: normal cell then reduction cell, the edges in genotype
order, ``op_index`` the position of the op in :data:`OPS`. :func:`naslib_key` and :func:`from_naslib_key`
convert between the two; the op order was read off the sample, whose rows carry both forms (checked on all
725 rows by tests/test_nb301.py).
"""
from __future__ import annotations

import ast

from swaplm.errors import SwapError

from ..darts_cnn.genotype import STEPS, Genotype, check_genotype, format_genotype, parse_genotype

#: the NB-301 ops, in the order of NASLib's op indices (an op's position here is its index in the NASLib key)
OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
#: the nodes both cells concatenate
CONCAT: tuple[int, ...] = tuple(range(2, STEPS + 2))
EDGES = 2 * STEPS  # edges per cell
MAX_KEY_TEXT = 1_000  # longest NASLib key text read (a real one is ~140 characters)


def check_arch(g: Genotype) -> Genotype:
    """``g`` if it is a valid NB-301 genotype (a valid DARTS genotype within the rules above); otherwise a
    one-line SwapError naming the problem."""
    check_genotype(g)
    for cell in ("normal", "reduce"):
        edges = getattr(g, cell)
        for pos, (op, _) in enumerate(edges):
            if op not in OPS:
                raise SwapError(f"bad NB-301 genotype: operation {op!r} in {cell}[{pos}] is not in the NB-301 "
                                f"space; ops: {', '.join(OPS)}")
        for k in range(STEPS):
            if edges[2 * k][1] == edges[2 * k + 1][1]:
                raise SwapError(f"bad NB-301 genotype: node {k} of the {cell} cell reads input "
                                f"{edges[2 * k][1]} twice; NB-301 nodes have two distinct inputs")
        concat = getattr(g, cell + "_concat")
        if tuple(concat) != CONCAT:
            raise SwapError(f"bad NB-301 genotype: {cell}_concat is {list(concat)}; NB-301 cells concatenate "
                            f"{list(CONCAT)}")
    return g


def as_arch(arch: Genotype | str) -> Genotype:
    """A checked NB-301 genotype from a genotype or from its text (:func:`parse_arch`)."""
    return parse_arch(arch) if isinstance(arch, str) else check_arch(arch)


def format_arch(g: Genotype) -> str:
    """The canonical text of an NB-301 genotype: the DARTS ``Genotype(...)`` repr (the sample's ``genotype``
    column is written exactly so)."""
    return format_genotype(check_arch(g))


def parse_arch(text: str) -> Genotype:
    """An NB-301 genotype from its ``Genotype(normal=[...], ...)`` text or from NASLib's key (text starting
    with ``[``); read without eval. A one-line SwapError for malformed text or an arch outside the space."""
    if isinstance(text, str) and text.lstrip().startswith("["):
        return from_naslib_key(text)
    return check_arch(parse_genotype(text))


def naslib_key(g: Genotype) -> str:
    """NASLib's NB-301 key of ``g``, e.g. ``[[(0, 0), (1, 5), ...], [(1, 0), ...]]`` (normal, then reduction)."""
    g = check_arch(g)

    def cell(edges) -> str:
        return "[" + ", ".join(f"({index}, {OPS.index(op)})" for op, index in edges) + "]"

    return f"[{cell(g.normal)}, {cell(g.reduce)}]"


def from_naslib_key(text: str) -> Genotype:
    """The NB-301 genotype of NASLib's key ``text`` (see :func:`naslib_key`); read with ``ast.literal_eval``
    (literals only). A one-line SwapError for anything that is not two lists of 8 (input, op index) pairs."""
    if not isinstance(text, str):
        raise SwapError(f"bad NASLib NB-301 key: expected a string, got {type(text).__name__}")
    shown = text.strip() if len(text.strip()) <= 80 else text.strip()[:77] + "..."
    if len(text) > MAX_KEY_TEXT:
        raise SwapError(f"bad NASLib NB-301 key: {len(text)} characters (at most {MAX_KEY_TEXT})")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise SwapError(f"bad NASLib NB-301 key {shown!r}: not a Python literal") from None
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise SwapError(f"bad NASLib NB-301 key {shown!r}: expected [normal, reduction], two lists of "
                        f"{EDGES} (input, op) pairs")
    cells = []
    for name, pairs in zip(("normal", "reduction"), value):
        if not (isinstance(pairs, (list, tuple)) and len(pairs) == EDGES):
            raise SwapError(f"bad NASLib NB-301 key {shown!r}: the {name} cell must be {EDGES} (input, op) pairs")
        edges = []
        for pos, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(type(v) is int for v in pair)):
                raise SwapError(f"bad NASLib NB-301 key {shown!r}: {name}[{pos}] must be a pair of integers "
                                "(input, op index)")
            index, op = pair
            if not 0 <= op < len(OPS):
                raise SwapError(f"bad NASLib NB-301 key {shown!r}: op index {op} in {name}[{pos}] is not in "
                                f"0..{len(OPS) - 1}")
            edges.append((OPS[op], index))
        cells.append(edges)
    return check_arch(Genotype(normal=cells[0], normal_concat=CONCAT, reduce=cells[1], reduce_concat=CONCAT))


__all__ = ["OPS", "CONCAT", "check_arch", "as_arch", "format_arch", "parse_arch", "naslib_key", "from_naslib_key"]
