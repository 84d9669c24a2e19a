"""DARTS genotypes: the ``Genotype`` tuple, validation, and a safe parser for its text form.

A cell has :data:`STEPS` intermediate nodes; edges ``2k`` and ``2k+1`` of a cell list feed node ``k`` as
``(op_name, input_state)`` with ``input_state`` in ``0 .. k+1`` (states 0 and 1 are the cell inputs). The text
form is the Python repr used by DARTS code and by the benchmark CSV::

    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])

:func:`parse_genotype` reads it with ``ast.parse`` and accepts only that shape (literals, lists/tuples and
``range(a, b)``) — it never evaluates anything.
"""
from __future__ import annotations

import ast
from typing import Iterable, NamedTuple

from swaplm.errors import SwapError

from .ops import OPS

STEPS = 4  # intermediate nodes per cell
MAX_TEXT = 10_000  # longest genotype text the parser accepts (a real one is ~420 characters)
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")

Edge = tuple[str, int]


class _GenotypeFields(NamedTuple):
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]


class Genotype(_GenotypeFields):
    """A DARTS genotype. Sequences given as lists or ``range`` are stored as tuples (hashable, comparable);
    ``repr`` is the canonical text form (:func:`format_genotype`)."""

    __slots__ = ()

    def __new__(cls, normal: Iterable[Edge], normal_concat: Iterable[int],
                reduce: Iterable[Edge], reduce_concat: Iterable[int]) -> "Genotype":
        return super().__new__(cls, tuple(tuple(e) for e in normal), tuple(normal_concat),
                               tuple(tuple(e) for e in reduce), tuple(reduce_concat))

    def __repr__(self) -> str:
        return format_genotype(self)


def check_genotype(g: Genotype) -> Genotype:
    """Return ``g`` if it is a valid 4-node genotype, else raise :class:`SwapError` naming the problem."""
    if not isinstance(g, Genotype):
        raise SwapError(f"bad genotype: expected a Genotype, got {type(g).__name__}")
    for cell in ("normal", "reduce"):
        edges = getattr(g, cell)
        if len(edges) != 2 * STEPS:
            raise SwapError(f"bad genotype: {cell} has {len(edges)} edges, expected {2 * STEPS}")
        for pos, edge in enumerate(edges):
            if len(edge) != 2:
                raise SwapError(f"bad genotype: {cell}[{pos}] must be an (op, input) pair, got {edge!r}")
            op, index = edge
            if op not in OPS:
                raise SwapError(f"bad genotype: unknown operation {op!r} in {cell}[{pos}]; "
                                f"known: {', '.join(OPS)}")
            node = pos // 2
            if type(index) is not int or not 0 <= index < node + 2:
                raise SwapError(f"bad genotype: input {index!r} of {cell}[{pos}] (node {node}) must be an "
                                f"integer in 0..{node + 1}")
        concat = getattr(g, cell + "_concat")
        if (not concat or len(set(concat)) != len(concat)
                or any(type(c) is not int or not 0 <= c < STEPS + 2 for c in concat)):
            raise SwapError(f"bad genotype: {cell}_concat {list(concat)!r} must be distinct state indices "
                            f"in 0..{STEPS + 1}")
    return g


def format_genotype(g: Genotype) -> str:
    """The canonical text form (identical to the benchmark CSV's strings)."""
    def edges(es):
        return "[" + ", ".join(f"({op!r}, {i})" for op, i in es) + "]"

    def ints(cs):
        return "[" + ", ".join(str(c) for c in cs) + "]"

    return (f"Genotype(normal={edges(g.normal)}, normal_concat={ints(g.normal_concat)}, "
            f"reduce={edges(g.reduce)}, reduce_concat={ints(g.reduce_concat)})")


# --- safe parser -------------------------------------------------------------------------------------------

def _where(node: ast.AST) -> str:
    return f"at column {getattr(node, 'col_offset', 0) + 1}"


def _reject(node: ast.AST) -> SwapError:
    kind = type(node).__name__
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)[:40]
        kind = f"call to {name}()"
    elif isinstance(node, ast.Attribute):
        kind = f"attribute access .{node.attr}"
    elif isinstance(node, ast.Name):
        kind = f"name {node.id!r}"
    elif isinstance(node, ast.Constant):
        kind = f"constant {node.value!r}"[:60]
    return SwapError(f"bad genotype text: {kind} {_where(node)} is not allowed (only lists/tuples of "
                     "('op', index) pairs, integer lists and range(a, b))")


def _int(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    raise _reject(node)


def _edges(node: ast.AST) -> list[Edge]:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise _reject(node)
    out = []
    for item in node.elts:
        if not (isinstance(item, ast.Tuple) and len(item.elts) == 2):
            raise _reject(item)
        op, index = item.elts
        if not (isinstance(op, ast.Constant) and isinstance(op.value, str)):
            raise _reject(op)
        out.append((op.value, _int(index)))
    return out


def _ints(node: ast.AST) -> list[int]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_int(e) for e in node.elts]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 2):
        bounds = [_int(a) for a in node.args]
        start, stop = (0, bounds[0]) if len(bounds) == 1 else bounds
        if start < 0 or stop > STEPS + 2:
            raise SwapError(f"bad genotype text: range{tuple(bounds)} {_where(node)} is outside 0..{STEPS + 2}")
        return list(range(start, stop))
    raise _reject(node)


def parse_genotype(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` safely.

    Fields may be keywords (any order) or positional in that order; ``*_concat`` may be ``range(a, b)``.
    Raises :class:`SwapError` for anything else, unknown ops, bad input indices or wrong lengths.
    """
    if not isinstance(text, str):
        raise SwapError(f"bad genotype text: expected a string, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise SwapError(f"bad genotype text: {len(text)} characters (at most {MAX_TEXT})")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise SwapError(f"bad genotype text: not parseable ({type(e).__name__}: {e})") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise SwapError(f"bad genotype text: must be a single Genotype(...) expression, found "
                        f"{type(call).__name__} {_where(call)}")
    if len(call.args) > len(FIELDS) or any(isinstance(a, ast.Starred) for a in call.args):
        raise SwapError("bad genotype text: Genotype(...) takes at most 4 positional fields")
    given: dict[str, ast.AST] = dict(zip(FIELDS, call.args))
    for kw in call.keywords:
        if kw.arg not in FIELDS:
            raise SwapError(f"bad genotype text: unknown field {kw.arg or '**'!r}; expected {', '.join(FIELDS)}")
        if kw.arg in given:
            raise SwapError(f"bad genotype text: field {kw.arg!r} given twice")
        given[kw.arg] = kw.value
    missing = [f for f in FIELDS if f not in given]
    if missing:
        raise SwapError(f"bad genotype text: missing field(s) {', '.join(missing)}")
    g = Genotype(normal=_edges(given["normal"]), normal_concat=_ints(given["normal_concat"]),
                 reduce=_edges(given["reduce"]), reduce_concat=_ints(given["reduce_concat"]))
    return check_genotype(g)
