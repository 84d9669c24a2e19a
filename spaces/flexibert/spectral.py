"""Spectral token mixing for the FlexiBERT LT operators, as matrix products with precomputed bases.

torch has no DCT, and a basis matmul is as fast as an FFT at these sizes, so both transforms are written as
``B_L @ X @ B_d^T`` per head: ``X`` is one head's (sequence, head_dim) slice, ``B_L`` acts on the sequence axis
and ``B_d`` on the feature axis. Definitions (unnormalised, as in the reference build):

* DCT-II: ``y[k] = 2 * sum_n x[n] * cos(pi * k * (2n + 1) / (2N))`` (= ``scipy.fft.dct(x, type=2)``).
* DFT, real part of the 2-D FFT: ``Re(F_L X F_d) = C_L X C_d - S_L X S_d`` with ``F = C - iS``,
  ``C[k, n] = cos(2 pi k n / N)``, ``S[k, n] = sin(2 pi k n / N)`` (= ``torch.fft.fft2(X).real``).

Sequence-axis bases for padded batches are built per sample for that sample's real length (rows and columns
beyond it are zero), so a sample's output does not depend on how much padding follows it.
"""
from __future__ import annotations

import math

import torch

_CACHE: dict[tuple, torch.Tensor] = {}
_CACHE_LIMIT = 64


def _angles(kind: str, k: torch.Tensor, n: torch.Tensor, size: torch.Tensor | int) -> torch.Tensor:
    """Exact angles in float64: integer phase reduced modulo the period before scaling."""
    if kind == "dct":  # pi * k * (2n + 1) / (2N), period 4N in units of pi / (2N)
        period = 4 * size
        return (k * (2 * n + 1) % period).double() * (math.pi / 2) / size
    period = size  # 2 pi k n / N
    return (k * n % period).double() * (2 * math.pi) / size


def basis(kind: str, part: str, size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(size, size) basis matrix: ``kind`` "dct" (part "cos", with the factor 2) or "dft" (part "cos"/"sin").

    Cached per (kind, part, size, device, dtype).
    """
    key = (kind, part, size, device, dtype)
    out = _CACHE.get(key)
    if out is None:
        k = torch.arange(size, device=device).view(-1, 1)
        n = torch.arange(size, device=device).view(1, -1)
        ang = _angles(kind, k, n, size)
        out = (2 * torch.cos(ang) if kind == "dct" else (torch.cos(ang) if part == "cos" else torch.sin(ang)))
        out = out.to(dtype)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = out
    return out


def length_bases(kind: str, part: str, lengths: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """(B, size, size) sequence-axis bases, sample b using its real length ``lengths[b]`` (zero elsewhere)."""
    n_real = lengths.clamp(min=1).view(-1, 1, 1)
    k = torch.arange(size, device=lengths.device).view(1, -1, 1)
    n = torch.arange(size, device=lengths.device).view(1, 1, -1)
    ang = _angles(kind, k, n, n_real)
    out = 2 * torch.cos(ang) if kind == "dct" else (torch.cos(ang) if part == "cos" else torch.sin(ang))
    inside = (k < lengths.view(-1, 1, 1)) & (n < lengths.view(-1, 1, 1))
    return torch.where(inside, out, torch.zeros((), dtype=out.dtype, device=out.device)).to(dtype)


def _feature_mix(x: torch.Tensor, kind: str, part: str, heads: int) -> torch.Tensor:
    """Apply the head_dim-axis basis to (B, L, H) split into ``heads`` heads; returns (B, L, H)."""
    b, length, hidden = x.shape
    d = hidden // heads
    m = basis(kind, part, d, x.device, x.dtype)
    return (x.view(b, length, heads, d) @ m.t()).view(b, length, hidden)


def _sequence_mix(x: torch.Tensor, kind: str, part: str, lengths: torch.Tensor | None) -> torch.Tensor:
    if lengths is None:
        return basis(kind, part, x.shape[1], x.device, x.dtype) @ x
    return torch.bmm(length_bases(kind, part, lengths, x.shape[1], x.dtype), x)


def spectral_mix(x: torch.Tensor, kind: str, heads: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """2-D transform over (sequence, head_dim) of each head of ``x`` (B, L, H) -> (B, L, H).

    ``kind``: "dct" (type-II DCT) or "dft" (real part of the 2-D FFT). ``mask`` (B, L) bool, True for real
    tokens: when given, each sample's real tokens (in order) form a sequence of its own length, padded
    positions get output 0 and never influence real ones.
    """
    if kind not in ("dct", "dft"):
        raise ValueError(f"unknown spectral transform {kind!r}")
    perm = lengths = None
    if mask is not None and not bool(mask.all()):
        mask = mask.bool()
        lengths = mask.sum(1)
        # real tokens first, in their original order; scatter back afterwards
        perm = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
        idx = perm.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        x = x.gather(1, idx)
    if kind == "dct":
        out = _sequence_mix(_feature_mix(x, "dct", "cos", heads), "dct", "cos", lengths)
    else:
        out = (_sequence_mix(_feature_mix(x, "dft", "cos", heads), "dft", "cos", lengths)
               - _sequence_mix(_feature_mix(x, "dft", "sin", heads), "dft", "sin", lengths))
    if perm is not None:
        out = torch.zeros_like(out).scatter_(1, idx, out)
    return out


__all__ = ["basis", "length_bases", "spectral_mix"]
