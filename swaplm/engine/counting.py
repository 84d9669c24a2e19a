"""Exact counting of distinct code rows, the engine of ``swaplm.swap.count_distinct``.

On the CPU with numba: one pass with an open-addressing hash table whose equal hashes are compared word by word
(:func:`fastpack.count_rows`). Elsewhere (GPU, no numba): one-word codes by a histogram (small codes) or a sort;
longer codes by sorting one 64-bit hash per row and comparing every pair of equal hashes word by word; the rows
of colliding hash groups are counted exactly (``torch.unique(dim=0)``). Never a probabilistic count.
"""
from __future__ import annotations

import torch

from . import fastpack

BINCOUNT_LIMIT = 1 << 22  # one-word codes below this are counted with a histogram instead of a sort
_M1, _M2 = 0x100000001B3, 0xFF51AFD7ED558CCD - (1 << 64)  # FNV prime; murmur3 finaliser constant (as int64)


def _hash_rows(codes: torch.Tensor) -> torch.Tensor:
    h = codes[:, 0].clone()
    for j in range(1, codes.shape[1]):
        h = h * _M1 ^ codes[:, j]
    h ^= h >> 33
    h *= _M2
    return h ^ (h >> 29)


def _count_hashed(codes: torch.Tensor, hashes: torch.Tensor) -> int:
    """Distinct rows of ``codes`` given one int64 hash per row: equal hashes are compared word by word."""
    hs, order = torch.sort(hashes)
    same = (hs[1:] == hs[:-1]).nonzero().view(-1)  # adjacent equal hashes: must be equal rows
    n_hashes = codes.shape[0] - same.numel()
    if same.numel() == 0:
        return n_hashes
    differ = (codes[order[same]] != codes[order[same + 1]]).any(1)
    if not bool(differ.any()):
        return n_hashes
    bad = torch.unique(hs[same[differ]])  # a collision: the colliding groups' rows, counted lexicographically
    rows = codes[torch.isin(hashes, bad)]
    return n_hashes - bad.numel() + int(torch.unique(rows, dim=0).shape[0])


def count_rows(codes: torch.Tensor) -> int:
    """Exact number of distinct rows of an (V, W) int64 code matrix (``swaplm.swap.count_distinct``)."""
    if codes.shape[0] == 0:
        return 0
    if codes.device.type == "cpu" and fastpack.available():
        return fastpack.count_rows(codes)  # one pass with an exact hash table
    if codes.shape[1] > 1:
        return _count_hashed(codes, _hash_rows(codes))
    col = codes.view(-1)  # one word: the code is the pattern
    lo, hi = torch.aminmax(col)
    if int(lo) >= 0 and int(hi) < BINCOUNT_LIMIT:  # small codes (e.g. ReLU, N <= 22): one histogram pass
        return int(torch.count_nonzero(torch.bincount(col, minlength=1)))
    hs = torch.sort(col).values
    return codes.shape[0] - int((hs[1:] == hs[:-1]).sum())


def distinct_per_row(codes: torch.Tensor) -> list[int]:
    """Distinct values in every row of a (K, V) int64 matrix: one table of seen codes when they are small, else
    one row-wise sort."""
    k, v = codes.shape
    lo, hi = torch.aminmax(codes)
    lo, hi = int(lo), int(hi)
    if lo >= 0 and (hi + 1) * k <= BINCOUNT_LIMIT:  # mark every (copy, code) seen, count marks per copy
        seen = torch.zeros(k, hi + 1, dtype=torch.bool, device=codes.device)
        seen.scatter_(1, codes, True)
        return seen.sum(1).tolist()
    s = torch.sort(codes, dim=1).values
    return (1 + (s[:, 1:] != s[:, :-1]).sum(1)).tolist()
