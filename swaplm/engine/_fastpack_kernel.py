"""The numba kernel of swaplm.engine.fastpack (imported lazily: importing numba costs about 0.3 s)."""
import numba
import numpy as np

BLOCK = 512  # neurons per block of the general kernel: the block's codes (W words each) and one row slice stay in L1/L2
# neurons per block of the ReLU-like N <= 32 kernel: long row runs keep the hardware prefetcher streaming while
# the block's 32-bit codes (8 KB) stay in L1
NONNEG_BLOCK = 2048


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _nonneg_block(bits, emask, acc, j0, m):  # pragma: no cover - compiled
    """Codes of columns j0:j0+m of a ReLU-like output (N <= 32) read as integers (``bits``: the float32/64
    values viewed as int32/64) into acc[:m]; True if those columns hold a NaN or an infinity.

    On the bits: a float is > 0 exactly when its bits, as a signed integer, are > 0 (-0.0 is the sign bit alone,
    so negative), and it is a NaN or an infinity exactly when its exponent bits (``emask``) are all set. Integer
    compares and a max reduction vectorise where the float NaN test did not."""
    acc[:m] = 0
    top = emask ^ emask  # 0 of the bits' integer type
    for i in range(bits.shape[0]):
        row = bits[i, j0:j0 + m]
        sp = np.uint32(i)
        for j in range(m):
            b = row[j]
            acc[j] |= np.uint32(b > 0) << sp
            top = max(top, b & emask)
    return top == emask


@numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _mark_bit(table, code):  # pragma: no cover - compiled
    """Set bit ``code`` of the bit table (uint64 words); 1 if it was not set before, else 0 (no branch)."""
    w = code >> 6
    bit = np.uint64(1) << np.uint64(code & 63)
    word = table[w]
    table[w] = word | bit
    return np.int64((word & bit) == 0)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _nonneg(bits, emask, codes, seen, counts, per_copy, start, stop, mark):  # pragma: no cover - compiled
    """Columns start:stop of a ReLU-like output (N <= 32, as integer bits) block by block: each code written to
    ``codes`` or, with ``mark``, marked in the seen table of its copy (column // per_copy) with first sightings
    added to ``counts``."""
    acc = np.zeros(NONNEG_BLOCK, dtype=np.uint32)
    special = False
    for j0 in range(start, stop, NONNEG_BLOCK):
        m = min(stop, j0 + NONNEG_BLOCK) - j0
        special |= _nonneg_block(bits, emask, acc, j0, m)
        if not mark:
            for j in range(m):
                codes[j0 + j, 0] = acc[j]
            continue
        j = 0
        while j < m:  # the block's columns copy by copy: no division per column, no branch per mark
            c = (j0 + j) // per_copy
            end = min(m, (c + 1) * per_copy - j0)
            table = seen[c]
            new = 0
            for q in range(j, end):
                new += _mark_bit(table, acc[q])
            counts[c] += new
            j = end
    return special


@numba.njit(cache=True, nogil=True, boundscheck=False)
def pack_mark(bits, emask, seen, counts, per_copy, start, stop):  # pragma: no cover - compiled
    """Columns start:stop of a ReLU-like output (N <= 32, V) as integer bits (see _nonneg_block), packed as
    pack() does, but each code is marked in the seen table of its copy (column // per_copy) instead of being
    written out: ``seen`` (K, ceil(2^N / 64)) uint64 bit tables, ``counts`` (K,) gains the codes seen for the
    first time. True if the columns hold a NaN or an infinity."""
    return _nonneg(bits, emask, np.zeros((1, 1), dtype=np.int64), seen, counts, per_copy, start, stop, True)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def pack_nonneg(bits, emask, codes, start, stop):  # pragma: no cover - compiled
    """pack() of a ReLU-like output with N <= 32, read as integer bits (see _nonneg_block): one word per neuron."""
    return _nonneg(bits, emask, codes, np.zeros((1, 1), dtype=np.uint64), np.zeros(1, dtype=np.int64), 1,
                   start, stop, False)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def pack(x, codes, neg_offset, nonneg, start, stop):  # pragma: no cover - compiled
    """Columns start:stop of x (N, V) float -> rows start:stop of codes (V, W) int64 (see swaplm.engine.fastpack);
    True if those columns hold a NaN or an infinity."""
    n = x.shape[0]
    w = codes.shape[1]
    acc = np.zeros((w, BLOCK), dtype=np.int64)
    special = False
    for j0 in range(start, stop, BLOCK):
        j1 = min(stop, j0 + BLOCK)
        m = j1 - j0
        acc[:, :] = 0
        for i in range(n):
            row = x[i, j0:j1]
            pos = acc[i >> 6]
            sp = np.int64(i & 63)
            if nonneg:
                for j in range(m):
                    val = row[j]
                    pos[j] |= np.int64(val > 0) << sp
                    special |= (val - val) != 0  # NaN or ±inf: val - val is NaN
            else:
                g = neg_offset + i
                neg = acc[g >> 6]
                sn = np.int64(g & 63)
                for j in range(m):
                    val = row[j]
                    pos[j] |= np.int64(val > 0) << sp
                    neg[j] |= np.int64(val < 0) << sn
                    special |= (val - val) != 0
        for j in range(m):
            for k in range(w):
                codes[j0 + j, k] = acc[k, j]
    return special


@numba.njit(cache=True, nogil=True, boundscheck=False)
def mark(codes, seen, counts):  # pragma: no cover - compiled
    """Mark the codes (K, V) int64 of one hooked output in the per-copy bit tables ``seen`` (K, M) uint64 (every
    code below 64·M) and add the codes seen for the first time to ``counts`` (K,)."""
    k, v = codes.shape
    for c in range(k):
        table = seen[c]
        row = codes[c]
        new = 0
        for j in range(v):
            new += _mark_bit(table, row[j])
        counts[c] += new


@numba.njit(cache=True, nogil=True, boundscheck=False)
def count_rows(codes):  # pragma: no cover - compiled
    """Exact number of distinct rows of codes (V, W) int64: an open-addressing table of row indices, keyed by a
    hash of the row; rows with equal hashes are compared word by word, so collisions never merge two rows."""
    v, w = codes.shape
    size = 1
    while size < 2 * v:
        size <<= 1
    mask = size - 1
    table = np.full(size, -1, dtype=np.int64)
    distinct = 0
    for r in range(v):
        h = np.uint64(0x9E3779B97F4A7C15)
        for k in range(w):
            h = (h ^ np.uint64(codes[r, k])) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(32)
        slot = np.int64(h & np.uint64(mask))
        while True:
            other = table[slot]
            if other < 0:
                table[slot] = r
                distinct += 1
                break
            same = True
            for k in range(w):
                if codes[other, k] != codes[r, k]:
                    same = False
                    break
            if same:
                break
            slot = (slot + 1) & mask
    return distinct
