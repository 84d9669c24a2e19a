"""One-pass sign packing and exact counting on the CPU (numba): the kernels of the "numba" and "seen-table"
packers (swaplm.engine.packers) and of ``count_distinct`` on CPU.

``pack_signs`` in swaplm/swap.py builds the codes from torch ops: two comparisons, two bit-plane reductions
and a transpose, each a pass over memory with its own temporary. :func:`pack` reads the (N, V) output once,
block by block of neurons (the block's codes stay in cache), and writes the same int64 codes (V, W), bit for
bit (tests/test_fastpack.py checks it against ``pack_signs`` and a plain Python loop). The kernel also flags
NaN and infinite values, so the engine's NaN test (the output's sum) is only taken when one is present.

Code layout (as ``pack_signs``): sample i positive sets bit i of the row (word i // 64); sample i negative
sets bit ``neg_offset + i``, where ``neg_offset`` is 32 for N <= 32 (one word) and 8·ceil(N/8) otherwise
(the negative bytes follow the positive ones).

The kernels read float32/float64 CPU tensors; they are used when numba is installed and ``SWAPLM_NUMBA`` is not
"0". When every hooked module is ReLU-like and N <= 32 the codes are below 2^N, and :func:`pack_mark` marks them
in per-copy tables of seen codes (:func:`seen_table`) instead of writing them: the count is then complete when
the forward ends. Small outputs are packed on the calling thread, in the hook, between the model's own
(multi-threaded) ops; large ones are split over torch's thread count.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

_kernel = None
_state = {"tried": False}
DTYPES = (torch.float32, torch.float64)  # what the kernels read


def _build():
    from . import _fastpack_kernel  # imports numba (about 0.3 s), so only when first needed

    return _fastpack_kernel


def available() -> bool:
    """True when the numba kernel can be used (numba importable, ``SWAPLM_NUMBA`` not "0")."""
    global _kernel
    if os.environ.get("SWAPLM_NUMBA", "1") == "0":
        return False
    if not _state["tried"]:
        _state["tried"] = True
        try:
            _kernel = _build()
        except Exception:  # numba missing or broken: the torch path is always there
            _kernel = None
    return _kernel is not None


def neg_offset(n: int) -> int:
    return 32 if n <= 32 else 8 * math.ceil(n / 8)


# the ReLU-like kernels read float32/float64 values as integers of the same width: x > 0 iff its bits are > 0,
# and x is a NaN or an infinity iff its exponent bits are all set
_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}
_EXPONENT = {np.dtype(np.float32): np.int32(0x7F800000), np.dtype(np.float64): np.int64(0x7FF0000000000000)}

PARALLEL_ELEMENTS = 1 << 20  # outputs at least this large are split over torch.get_num_threads() threads
_pool = {}


def _threads(count: int):
    ex = _pool.get(count)
    if ex is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool.clear()
        ex = _pool[count] = ThreadPoolExecutor(count - 1, thread_name_prefix="swaplm-pack")
    return ex


def pack(x: torch.Tensor, out: torch.Tensor, nonnegative: bool = False) -> torch.Tensor | None:
    """Write the codes of ``x`` (N, V) into ``out`` (V, W) int64 (W = ``swaplm.swap.code_words(N)``,
    contiguous rows). Returns ``x.sum()`` (the engine's NaN test: NaN iff a NaN, or both +inf and -inf) when
    the kernel saw a NaN or an infinity, else None. ``nonnegative`` skips the negative plane.

    Large outputs are split by neuron ranges over as many threads as torch uses (the kernel releases the GIL;
    each range writes its own rows of ``out``), so packing scales like the model's own ops."""
    if x.stride(-1) != 1 or x.stride(0) != x.shape[1]:
        x = x.contiguous()
    a, o = x.detach().numpy(), out.numpy()
    v = x.shape[1]
    if nonnegative and x.shape[0] <= 32:  # one word per neuron, from the bits (see _fastpack_kernel)
        fn, args, block = _kernel.pack_nonneg, (a.view(_INT[a.dtype]), _EXPONENT[a.dtype], o), _kernel.NONNEG_BLOCK
    else:
        fn, args, block = _kernel.pack, (a, o, neg_offset(x.shape[0]), nonnegative), _kernel.BLOCK
    threads = min(torch.get_num_threads(), max(1, x.numel() // PARALLEL_ELEMENTS))
    if threads < 2:
        special = fn(*args, 0, v)
    else:
        step = -(-v // threads // block) * block
        parts = [(s, min(v, s + step)) for s in range(0, v, step)]
        futures = [_threads(threads).submit(fn, *args, s, e) for s, e in parts[1:]]
        special = fn(*args, *parts[0])
        special = any([f.result() for f in futures]) or special
    return x.sum() if special else None


TABLE_LIMIT = 1 << 21  # bytes of the per-copy seen tables of :func:`seen_table` (K · 2^N bits: K · 2^N <= 2^24)


def seen_table(k: int, n: int):
    """Per-copy tables of seen one-word ReLU-like codes (every code < 2^N): (seen (K, ceil(2^N / 64)) uint64, one
    bit per code, counts (K,) int64, N), or None when N > 32 or the tables would exceed :data:`TABLE_LIMIT` (the
    caller keeps codes). Bits rather than bytes: the table of N = 16 is 8 KB, so marking stays in L1."""
    if not table_fits(k, n):
        return None
    return np.zeros((k, max(1, (1 << n) >> 6)), dtype=np.uint64), np.zeros(k, dtype=np.int64), n


def table_fits(k: int, n: int) -> bool:
    """Whether :func:`seen_table` gives tables for K copies of N samples (N <= 32, within TABLE_LIMIT)."""
    return n <= 32 and k * max(1, (1 << n) >> 6) * 8 <= TABLE_LIMIT


def pack_mark(out: torch.Tensor, table, k: int = 1, n: int | None = None) -> torch.Tensor | None:
    """Pack a ReLU-like CPU float output (N·K, ...) (N <= 32; row i·K + c is sample i of copy c, so copy c owns
    columns c·V to (c+1)·V of its (N, K·V) view) and mark its codes in ``table`` (from :func:`seen_table`)
    instead of writing them: afterwards ``table[1][c]`` has grown by the patterns copy c had not produced
    before. Returns as :func:`pack` does (the sum when a NaN or an infinity is present, else None). One thread
    (the tables are shared), so the caller sends large outputs through :func:`pack`. ``n``: N, when the caller
    knows it (else read from the table's size)."""
    a = (out.detach() if out.is_contiguous() else out.detach().contiguous()).numpy()
    if n is None:
        n = table[2]
    v = a.size // n
    bits = a.view(_INT[a.dtype]).reshape(n, v)
    special = _kernel.pack_mark(bits, _EXPONENT[a.dtype], table[0], table[1], v // k, 0, v)
    return out.sum() if special else None


def mark(codes: torch.Tensor, table, k: int = 1) -> None:
    """Mark one-word codes (K, V, 1) int64 (each < 2^N, ReLU-like) in ``table`` (see :func:`pack_mark`)."""
    _kernel.mark(codes.reshape(k, -1).cpu().numpy(), table[0], table[1])


def count_rows(codes: torch.Tensor) -> int:
    """Exact number of distinct rows of a CPU (V, W) int64 code matrix (one pass with a hash table; equal hashes
    are compared word by word)."""
    return int(_kernel.count_rows(codes.contiguous().numpy()))
