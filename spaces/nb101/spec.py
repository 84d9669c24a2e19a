"""NAS-Bench-101 cell specs: validity checks, pruning as the benchmark does it, keys and variation.

A cell is a DAG of up to 7 vertices given by an upper-triangular adjacency matrix (``matrix[i][j] == 1`` is the
edge i -> j) and one op per vertex: vertex 0 is ``input``, the last vertex ``output``, the others one of
:data:`OPS`. As in NAS-Bench-101 (Ying et al., ICML 2019), a raw spec is *pruned* before anything else: every
vertex that is not on some input-to-output path is removed with its row, column and op. A spec whose output
cannot be reached from its input prunes to nothing and is invalid; a pruned spec has at most 9 edges.

A :class:`Spec` is always valid and pruned: ``Spec(matrix, ops)`` checks and prunes a raw spec.
"""
from __future__ import annotations

import ast
import numbers
import random
from collections.abc import Iterable, Sequence

from swaplm.errors import SwapError

INPUT, OUTPUT = "input", "output"
#: the interior ops, in this order (an op's index here is its code in :func:`encode`)
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES, MAX_EDGES = 7, 9
#: the 21 (i, j) pairs i < j of a 7-vertex matrix, row by row: the edge order of :func:`encode`
EDGE_SLOTS: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(MAX_VERTICES)
                                                for j in range(i + 1, MAX_VERTICES))
#: NASLib's op codes in its NB-101 keys (``naslib_key``): 0 input, 1 output, 2 maxpool, 3 conv1x1, 4 conv3x3
NASLIB_OPS: tuple[str, ...] = (INPUT, OUTPUT, "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")

Matrix = tuple[tuple[int, ...], ...]


class Spec(tuple):
    """A valid, pruned NB-101 cell: the pair (matrix, ops). ``Spec(matrix, ops)`` checks a raw spec (one-line
    SwapError naming the problem) and prunes it; ``str()`` gives the key (:func:`format_spec`)."""

    __slots__ = ()

    def __new__(cls, matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> "Spec":
        matrix, ops = check_raw(matrix, ops)
        pruned = prune(matrix, ops)
        if pruned is None:
            raise SwapError("NB-101 spec prunes to nothing: its output is not reachable from its input")
        edges = sum(map(sum, pruned[0]))
        if edges > MAX_EDGES:
            raise SwapError(f"NB-101 spec has {edges} edges after pruning; a cell has at most {MAX_EDGES}")
        return super().__new__(cls, pruned)

    @property
    def matrix(self) -> Matrix:
        return self[0]

    @property
    def ops(self) -> tuple[str, ...]:
        return self[1]

    @property
    def vertices(self) -> int:
        return len(self[1])

    @property
    def edges(self) -> int:
        return sum(map(sum, self[0]))

    def __getnewargs__(self) -> tuple:  # pickle and copy rebuild a Spec from (matrix, ops)
        return tuple(self)

    def __str__(self) -> str:
        return format_spec(self)

    def __repr__(self) -> str:
        return f"Spec({format_spec(self)!r})"


def check_raw(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[Matrix, tuple[str, ...]]:
    """``(matrix, ops)`` as tuples after the benchmark's checks on a raw spec: a square 0/1 matrix of 2..7
    vertices, strictly upper-triangular, one op per vertex, ``input`` first, ``output`` last, known ops between."""
    try:
        rows = tuple(tuple(row) for row in matrix)
        ops = tuple(ops)
    except TypeError:
        raise SwapError("an NB-101 spec is a square 0/1 matrix (list of rows) and a list of ops") from None
    n = len(rows)
    if not 2 <= n <= MAX_VERTICES:
        raise SwapError(f"an NB-101 spec has 2..{MAX_VERTICES} vertices, got a matrix of {n} rows")
    if any(len(row) != n for row in rows):
        raise SwapError(f"NB-101 adjacency matrix is not square: rows of lengths {[len(r) for r in rows]}")
    # integers only (numpy's too, as plain ints); bools, floats and text are refused
    if any(isinstance(x, bool) or not isinstance(x, numbers.Integral) or x not in (0, 1) for r in rows for x in r):
        raise SwapError("NB-101 adjacency matrix entries must be the integers 0 or 1")
    rows = tuple(tuple(int(x) for x in row) for row in rows)
    if any(rows[i][j] for i in range(n) for j in range(i + 1)):
        raise SwapError("NB-101 adjacency matrix must be strictly upper-triangular (edges only go from a vertex "
                        "to a later one)")
    if len(ops) != n:
        raise SwapError(f"NB-101 spec has {n} vertices but {len(ops)} ops")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise SwapError(f"NB-101 ops must start with 'input' and end with 'output', got {ops[0]!r} .. {ops[-1]!r}")
    for op in ops[1:-1]:
        if op not in OPS:
            raise SwapError(f"unknown NB-101 op {op!r}; interior ops are: {', '.join(OPS)}")
    return rows, ops


def prune(matrix: Matrix, ops: tuple[str, ...]) -> tuple[Matrix, tuple[str, ...]] | None:
    """The spec without the vertices that are on no input-to-output path (not reachable from the input, or
    not reaching the output), or None when the output is not reachable from the input at all."""
    n = len(matrix)
    from_input = {0}
    for j in range(1, n):  # edges go forward only, so one pass in vertex order finds every reachable vertex
        if any(matrix[i][j] for i in from_input):
            from_input.add(j)
    to_output = {n - 1}
    for i in range(n - 2, -1, -1):  # and one backward pass every vertex with a path to the output
        if any(matrix[i][j] for j in to_output):
            to_output.add(i)
    if n - 1 not in from_input:
        return None
    keep = sorted(from_input & to_output)
    return tuple(tuple(matrix[i][j] for j in keep) for i in keep), tuple(ops[i] for i in keep)


def format_spec(spec: Spec) -> str:
    """The key of a pruned spec: matrix rows as bit strings joined by ``.``, then ``|`` and the ops joined by
    ``,``, e.g. ``011.001.000|input,conv3x3-bn-relu,output``. Equal specs have equal keys; isomorphic specs
    with their vertices in another order do not (vertex order is kept as given)."""
    rows = ".".join("".join(map(str, row)) for row in spec.matrix)
    return f"{rows}|{','.join(spec.ops)}"


def parse_spec(text: str) -> Spec:
    """A :class:`Spec` from a key (:func:`format_spec`; a raw unpruned matrix is accepted and pruned) or from
    NASLib's NB-101 key (the 49 entries of the raw 7x7 matrix, row by row, then 7 op codes, as a tuple
    string); a SwapError names the problem in one line."""
    if not isinstance(text, str):
        raise SwapError(f"an NB-101 spec key is text, got {type(text).__name__}")
    s = text.strip()
    shown = s if len(s) <= 120 else s[:117] + "..."
    if s.startswith("("):
        return _parse_naslib_key(s, shown)
    rows_text, sep, ops_text = s.partition("|")
    if not sep:
        raise SwapError(f"malformed NB-101 spec key {shown!r}: expected matrix rows, '|', then ops")
    rows = rows_text.split(".")
    if any(not row or set(row) - {"0", "1"} for row in rows):
        raise SwapError(f"malformed NB-101 spec key {shown!r}: matrix rows must be bit strings joined by '.'")
    try:
        return Spec([[int(b) for b in row] for row in rows], ops_text.split(","))
    except SwapError as e:
        raise SwapError(f"{e} (in {shown!r})") from None


def _parse_naslib_key(s: str, shown: str) -> Spec:
    try:
        codes = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        raise SwapError(f"malformed NASLib NB-101 key {shown!r}: not a tuple of integers") from None
    n = MAX_VERTICES
    if (not isinstance(codes, tuple) or len(codes) != n * n + n
            or any(type(c) is not int for c in codes)):
        raise SwapError(f"malformed NASLib NB-101 key {shown!r}: expected {n * n + n} integers")
    if any(not 0 <= c < len(NASLIB_OPS) for c in codes[n * n:]):
        raise SwapError(f"malformed NASLib NB-101 key {shown!r}: op codes are 0..{len(NASLIB_OPS) - 1}")
    matrix = [list(codes[i * n:(i + 1) * n]) for i in range(n)]
    return Spec(matrix, [NASLIB_OPS[c] for c in codes[n * n:]])


def naslib_key(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """NASLib's NB-101 key of a raw 7-vertex spec: the 49 matrix entries row by row, then the 7 op codes
    (:data:`NASLIB_OPS`), written as a Python tuple, e.g. ``(0, 1, 0, ..., 0, 4, 2, 1)``."""
    matrix, ops = check_raw(matrix, ops)
    if len(ops) != MAX_VERTICES:
        raise SwapError(f"NASLib's NB-101 keys hold {MAX_VERTICES}-vertex specs, got {len(ops)} vertices")
    codes = [x for row in matrix for x in row] + [NASLIB_OPS.index(op) for op in ops]
    return "(" + ", ".join(map(str, codes)) + ")"


def as_spec(arch: "Spec | str | tuple") -> Spec:
    """``arch`` as a :class:`Spec`: a key is parsed, a (matrix, ops) pair checked and pruned."""
    if isinstance(arch, Spec):
        return arch
    if isinstance(arch, str):
        return parse_spec(arch)
    try:
        matrix, ops = arch
    except (TypeError, ValueError):
        raise SwapError("an NB-101 arch is a Spec, a spec key or a (matrix, ops) pair") from None
    return Spec(matrix, ops)


# --- the 7-vertex padded form: encoding and variation ----------------------------------------------------------
def pad(spec: Spec, rng: random.Random | None = None) -> tuple[list[list[int]], list[str | None]]:
    """``spec`` as a raw 7-vertex spec: its vertices keep their places except the output, which moves to
    vertex 6. Without ``rng`` the added vertices have no edges and op None. With ``rng`` each gets a random op
    and one random dormant edge (from the input, or to the output), so it is still pruned away but one more
    edge can bring it into the cell: variation can then add vertices as well as remove them."""
    n, last = spec.vertices, MAX_VERTICES - 1
    place = list(range(n - 1)) + [last]
    matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
    for i in range(n):
        for j in range(n):
            matrix[place[i]][place[j]] = spec.matrix[i][j]
    ops: list[str | None] = [None] * MAX_VERTICES
    for i in range(n):
        ops[place[i]] = spec.ops[i]
    for v in range(n - 1, last):  # the added (absent) vertices
        if rng is not None:
            ops[v] = rng.choice(OPS)
            if rng.random() < 0.5:
                matrix[0][v] = 1
            else:
                matrix[v][last] = 1
    return matrix, ops


def encode(arch: Spec | str) -> tuple[int, ...]:
    """A fixed-length vector (26 ints): the 21 upper-triangular bits of the padded 7x7 matrix (:func:`pad`,
    :data:`EDGE_SLOTS` order), then the 5 interior op codes (index in :data:`OPS`; 3 = absent vertex)."""
    matrix, ops = pad(as_spec(arch))
    bits = tuple(matrix[i][j] for i, j in EDGE_SLOTS)
    return bits + tuple(len(OPS) if op is None else OPS.index(op) for op in ops[1:-1])


def sample(rng: random.Random) -> Spec:
    """A random valid cell, drawn as the benchmark's own example draws one: each of the 21 edges of a 7-vertex
    matrix present with probability 1/2, each interior op uniform, redrawn until the pruned spec is valid."""
    while True:
        matrix = [[int(j > i and rng.random() < 0.5) for j in range(MAX_VERTICES)] for i in range(MAX_VERTICES)]
        ops = [INPUT, *(rng.choice(OPS) for _ in range(MAX_VERTICES - 2)), OUTPUT]
        try:
            return Spec(matrix, ops)
        except SwapError:
            continue


def mutate(arch: Spec | str, rng: random.Random, tries: int = 1000) -> Spec:
    """A valid neighbour of ``arch``, different from it: in the padded 7-vertex form (:func:`pad` with
    ``rng``), one of the 21 edges is flipped or one of the 5 interior vertices gets another op (uniform over
    the 26 choices); drawn again while the result is invalid or prunes back to ``arch``."""
    spec = as_spec(arch)
    for _ in range(tries):
        matrix, ops = pad(spec, rng)
        choice = rng.randrange(len(EDGE_SLOTS) + MAX_VERTICES - 2)
        if choice < len(EDGE_SLOTS):
            i, j = EDGE_SLOTS[choice]
            matrix[i][j] ^= 1
        else:
            v = choice - len(EDGE_SLOTS) + 1
            ops[v] = rng.choice([op for op in OPS if op != ops[v]])
        child = _try_spec(matrix, ops)
        if child is not None and child != spec:
            return child
    raise SwapError(f"no valid NB-101 mutation of {format_spec(spec)} found in {tries} tries")


def crossover(a: Spec | str, b: Spec | str, rng: random.Random, tries: int = 100) -> Spec:
    """A valid child of ``a`` and ``b``: in the padded 7-vertex forms, each of the 21 edges and 5 interior ops
    comes from ``a`` or ``b`` with equal probability; drawn again while invalid, and after ``tries`` failures
    one parent is returned (chosen at random)."""
    a, b = as_spec(a), as_spec(b)
    for _ in range(tries):
        (ma, oa), (mb, ob) = pad(a, rng), pad(b, rng)
        matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for i, j in EDGE_SLOTS:
            matrix[i][j] = ma[i][j] if rng.random() < 0.5 else mb[i][j]
        ops = [oa[v] if rng.random() < 0.5 else ob[v] for v in range(MAX_VERTICES)]
        child = _try_spec(matrix, ops)
        if child is not None:
            return child
    return a if rng.random() < 0.5 else b


def _try_spec(matrix: Iterable[Iterable[int]], ops: Sequence[str | None]) -> Spec | None:
    """The pruned spec, or None when it is invalid."""
    try:
        return Spec(matrix, ops)
    except SwapError:
        return None


__all__ = ["Spec", "OPS", "INPUT", "OUTPUT", "MAX_VERTICES", "MAX_EDGES", "EDGE_SLOTS", "NASLIB_OPS",
           "check_raw", "prune", "format_spec", "parse_spec", "naslib_key", "as_spec", "pad", "encode", "sample",
           "mutate", "crossover"]
