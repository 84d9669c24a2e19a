"""The SWAP-Score engine, top to bottom.

Definition (SPEC §1). Run the network once on a batch of N samples. Every call of a hooked activation module
yields a tensor (N, ...); each non-batch element position is a *neuron*, and its *pattern* is the vector of its
N states ``sign(output)`` in {-1, 0, +1}. Patterns of all hooked calls of one forward are pooled; the SWAP-Score
is the number of distinct patterns. With K repeats (fresh initialisation each) the score is the mean.

How it is computed (SPEC §2). Inside each forward hook the output becomes two bit-planes (positive, negative),
packed along the batch axis into bytes, laid out per neuron as a row of int64 words (``pack_signs``); the float
tensor is dropped at once. After the forward, ``count_distinct`` counts distinct rows exactly: a 1-word code is
counted by sorting; longer codes are hashed to one int64, sorted, and every pair of equal hashes is compared
word by word, so hash collisions are detected and resolved exactly. N is never changed; large outputs are
processed in neuron chunks so temporaries stay small.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from . import activations as _acts
from . import fastpack as _fastpack
from .errors import SwapError
from .init import gaussian_init, get_init
from .modelstate import (batch_len, hold_norm_stats, named_modules, release_norm_stats, restore, snapshot,
                         to_device)

BINCOUNT_LIMIT = 1 << 22  # one-word codes below this are counted with a histogram instead of a sort
CHUNK_ELEMENTS = 1 << 22  # elements of an (N, V) slice packed at once (bounds temporary memory to a few MB)
SMALL_OUTPUT = 1 << 19  # hooked outputs up to this many elements (per copy) are staged and packed together
STAGE_ELEMENTS = 1 << 21  # staged elements (per copy) that trigger a pack pass inside the forward
STAGE_SINGLE_THREAD = 1 << 20  # a pack pass over at most this many elements (per copy) runs on one thread
# with passive OpenMP waiting every parallel op wakes sleeping threads (~0.2 ms each), so small outputs are packed
# on the calling thread; with spinning threads switching the thread count costs more than it saves
SMALL_SINGLE_THREAD = os.environ.get(
    "SWAPLM_SMALL_SINGLE_THREAD", "1" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "0") != "0"
_FAST_DTYPES = (torch.float32, torch.float64)  # what swaplm.fastpack's kernel reads
_SHIFTS: dict[torch.device, torch.Tensor] = {}
_WEIGHTS: dict[tuple[int, torch.device], torch.Tensor] = {}


# --------------------------------------------------------------------------------------------------- packing
def code_words(n_samples: int) -> int:
    """int64 words per neuron code for N samples: positive + negative plane, ceil(N/8) bytes each."""
    return math.ceil(2 * math.ceil(n_samples / 8) / 8)


def _pack_plane(bits: torch.Tensor) -> torch.Tensor:
    """(N, V) bool -> (ceil(N/8), V) uint8; bit i of byte b is sample 8b+i."""
    n, v = bits.shape
    u8 = bits.view(torch.uint8)
    if n % 8:
        u8 = torch.cat([u8, u8.new_zeros(8 - n % 8, v)])
    shifts = _SHIFTS.get(bits.device)
    if shifts is None:
        shifts = _SHIFTS.setdefault(bits.device, torch.arange(8, dtype=torch.uint8, device=bits.device).view(1, 8, 1))
    return (u8.view(-1, 8, v) << shifts).sum(1, dtype=torch.uint8)


def pack_signs(x: torch.Tensor, nonnegative: bool = False, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Pack the sign states of ``x`` (N, V) into per-neuron codes (V, code_words(N)) int64.

    ``nonnegative`` skips the negative plane (all zero for ReLU-like outputs); ``keep`` (N, V) bool, when
    given, forces state 0 where it is False (padded positions).
    """
    n, v = x.shape
    pos = x > 0
    neg = None if nonnegative else x < 0
    if keep is not None:
        pos &= keep
        if neg is not None:
            neg &= keep
    if n <= 32:  # one word: bit i = sample i positive, bit 32+i = sample i negative (same counts, no transpose)
        weights = _WEIGHTS.get((n, x.device))
        if weights is None:
            weights = _WEIGHTS.setdefault((n, x.device), torch.ones(n, 1, dtype=torch.int64, device=x.device)
                                          << torch.arange(n, device=x.device).view(n, 1))
        code = (pos.to(torch.int64) * weights).sum(0)
        if neg is not None:
            code += (neg.to(torch.int64) * (weights << 32)).sum(0)
        return code.view(v, 1)
    nb = math.ceil(n / 8)
    planes = [_pack_plane(pos), _pack_plane(neg) if neg is not None else pos.new_zeros(nb, v, dtype=torch.uint8)]
    pad = 8 * code_words(n) - 2 * nb
    if pad:
        planes.append(pos.new_zeros(pad, v, dtype=torch.uint8))
    return torch.cat(planes).t().contiguous().view(torch.int64)


# -------------------------------------------------------------------------------------------------- counting
_M1, _M2 = 0x100000001B3, 0xFF51AFD7ED558CCD - (1 << 64)  # FNV prime; murmur3 finaliser constant (as int64)


def _hash_rows(codes: torch.Tensor) -> torch.Tensor:
    h = codes[:, 0].clone()
    for j in range(1, codes.shape[1]):
        h = h * _M1 ^ codes[:, j]
    h ^= h >> 33
    h *= _M2
    return h ^ (h >> 29)


def count_distinct(codes: torch.Tensor, hash_rows=_hash_rows) -> int:
    """Exact number of distinct rows of an (V, W) int64 code matrix."""
    if codes.shape[0] == 0:
        return 0
    if codes.device.type == "cpu" and hash_rows is _hash_rows and _fastpack.available():
        return _fastpack.count_rows(codes)  # one pass over the rows (swaplm.fastpack)
    if codes.shape[1] == 1:  # the code is the pattern: count distinct values
        col = codes.view(-1)
        lo, hi = torch.aminmax(col)
        if int(lo) >= 0 and int(hi) < BINCOUNT_LIMIT:  # small codes (e.g. ReLU, N <= 22): one histogram pass
            return int(torch.count_nonzero(torch.bincount(col, minlength=1)))
        hs = torch.sort(col).values
        return codes.shape[0] - int((hs[1:] == hs[:-1]).sum())
    h = hash_rows(codes)
    hs, order = torch.sort(h)
    same = (hs[1:] == hs[:-1]).nonzero().view(-1)  # adjacent equal hashes: must be equal rows
    n_hashes = codes.shape[0] - same.numel()
    if same.numel() == 0:
        return n_hashes
    differ = (codes[order[same]] != codes[order[same + 1]]).any(1)
    if not bool(differ.any()):
        return n_hashes
    # a hash collision: count the rows of the colliding hash groups exactly, lexicographically
    bad = torch.unique(hs[same[differ]])
    rows = codes[torch.isin(h, bad)]
    return n_hashes - bad.numel() + int(torch.unique(rows, dim=0).shape[0])


# -------------------------------------------------------------------------------------------------- the hook
def pack_copies(x: torch.Tensor, nonnegative: bool = False, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Pack the sign states of ``x`` (N, K, V) — the outputs of K independent copies, sample-major — into
    per-copy, per-neuron codes (K, V, code_words(N)) int64. ``keep`` (N, V) bool forces state 0 where False.

    The codes are those of :func:`pack_signs` on each copy's (N, V): positive bit-plane bytes then negative
    ones, little-endian (for N <= 32 bit i is sample i positive and bit 32+i sample i negative; for larger N each
    plane takes ceil(N/8) bytes, zero-padded to whole words).
    """
    n, k, v = x.shape
    pos = x > 0
    neg = None if nonnegative else x < 0
    if keep is not None:
        keep = keep.view(n, 1, v)
        pos &= keep
        if neg is not None:
            neg &= keep
    return _bits_to_codes(pos.reshape(n, k * v), neg.reshape(n, k * v) if neg is not None else None).view(k, v, -1)


def _bits_to_codes(pos: torch.Tensor, neg: torch.Tensor | None) -> torch.Tensor:
    """(N, V) bool planes (positive, negative or None) -> (V, code_words(N)) int64 codes, as pack_signs."""
    n, v = pos.shape
    nb = math.ceil(n / 8)
    if n <= 32:  # one word: assemble it from the plane bytes (no transposed byte copies)
        code = None
        for planes, base in ((_pack_plane(pos), 0), (_pack_plane(neg) if neg is not None else None, 32)):
            if planes is None:
                continue
            for b in range(nb):
                byte = planes[b].to(torch.int64)
                if base + 8 * b:
                    byte <<= base + 8 * b
                code = byte if code is None else code.bitwise_or_(byte)
        return code.view(v, 1)
    out = torch.zeros(v, 8 * code_words(n), dtype=torch.uint8, device=pos.device)
    out[:, :nb] = _pack_plane(pos).t()
    if neg is not None:
        out[:, nb:2 * nb] = _pack_plane(neg).t()
    return out.view(torch.int64)


class _Modified(Exception):
    """A staged hooked output was changed in place later in the forward (its codes must be taken at once)."""


class _Collector:
    """Forward-hook target: turns every hooked output into packed codes and keeps only those.

    ``copies`` = K > 1: the forward is K folded copies of the model (swaplm.vectorised), every hooked output
    is (N·K, ...) (row i·K + c: sample i of copy c) and is packed per copy, in its hook.

    Per-call cost. A float32/float64 CPU output without a padding mask is packed in its hook in one pass by
    the numba kernel of :mod:`swaplm.fastpack` (same codes, tested against :func:`pack_signs`), when numba is
    installed. Otherwise (GPU, half precision, masked outputs, no numba): a small output (≤ SMALL_OUTPUT elements per copy) is not packed in its hook: the hook keeps
    a reference and the output's version counter, and all staged outputs of a forward are packed together in
    one pass (:meth:`flush`, when the forward ends or STAGE_ELEMENTS are staged), so a hooked call costs a
    list append instead of a handful of tensor ops. The float tensors stay alive until the flush (bounded by
    STAGE_ELEMENTS); one that the model changes in place after its hook (its version counter moved) is
    detected at the flush and the forward is redone with every output packed inside its hook (``stage=False``).
    Outputs that need the padding mask, and large ones, are packed in the hook in neuron chunks.
    """

    def __init__(self, n: int, mask: torch.Tensor | None, copies: int = 1, stage: bool = True,
                 nonneg: bool = False):
        # folded outputs are K times larger: packing them in their hooks is cheaper than gathering them
        self.n, self.k, self.rows, self.mask, self.stage = n, copies, n * copies, mask, stage and copies == 1
        self.codes: list[torch.Tensor] = []  # (K, V_i, W) each
        self.calls, self.skipped = 0, []
        # one entry per packed group: a sum (NaN iff the output holds a NaN, or +inf and -inf) or, from the fast
        # path, that test's answer as a bool
        self.sums: list[torch.Tensor | bool] = []
        self.names: list[tuple[str, ...]] = []
        self.pending: list[tuple[str, torch.Tensor, int, bool]] = []
        self.pending_elements = 0
        self.mismatch: str | None = None  # a hooked output whose first dim is not K·N (vectorised runs)
        self.fast = _fastpack.available()
        self.words = code_words(n)
        # every hooked module ReLU-like and N <= 32: codes are < 2^N, and the kernel marks them in per-copy seen
        # tables straight from the output (no codes kept, nothing left to count after the forward)
        self.table = _fastpack.seen_table(copies, n) if self.fast and nonneg else None
        self.marked = 0  # neurons per copy counted in the table

    def hook(self, name: str, module: nn.Module):
        nonneg = _acts.is_nonnegative(module)
        rows, mask, pending = self.rows, self.mask, self.pending
        small = SMALL_OUTPUT * self.k if self.stage else -1
        limit = STAGE_ELEMENTS * self.k
        lengths = mask.shape[1] if mask is not None else -1
        fast, table = self.fast, self.table

        def fn(_mod, _inp, out):
            if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] != rows:
                if self.k > 1 and isinstance(out, torch.Tensor) and out.dim() >= 2:
                    self.mismatch = f"{name} (output {tuple(out.shape)}, expected first dimension {rows})"
                self.skipped.append(name)
                return
            self.calls += 1
            numel = out.numel()
            if fast and out.dtype in _FAST_DTYPES and out.is_cpu and not (
                    out.dim() >= 3 and out.shape[1] == lengths):  # one pass, in the hook (swaplm.fastpack)
                self._add_fast(name, out, nonneg)
            elif numel <= small and not (out.dim() >= 3 and out.shape[1] == lengths):
                pending.append((name, out, out._version, nonneg))
                self.pending_elements += numel
                if self.pending_elements >= limit:
                    self.flush()
            else:
                self._add(name, out.detach(), nonneg)

        if table is None or not nonneg:
            return fn
        k, n, names = self.k, self.n, (name,)
        fast_size = _fastpack.PARALLEL_ELEMENTS if torch.get_num_threads() > 1 else 1 << 62
        sums, labels = self.sums, self.names

        def marks(_mod, _inp, out):  # the common case of a ReLU CNN in as few operations as possible
            if (type(out) is torch.Tensor and out.is_cpu and out.dtype in _FAST_DTYPES and out.dim() >= 2
                    and out.shape[0] == rows and out.shape[1] != lengths and (size := out.numel()) < fast_size):
                self.calls += 1
                sums.append(_fastpack.pack_mark(out, table, k, n))
                labels.append(names)
                self.marked += size // rows
            else:
                fn(_mod, _inp, out)

        return marks

    def flush(self) -> None:
        """Pack every staged output in one pass."""
        if not self.pending:
            return
        items = list(self.pending)
        self.pending.clear()
        self.pending_elements = 0
        for name, t, version, _ in items:
            if t._version != version:
                raise _Modified(name)
        n = self.n  # staging is for single-copy forwards
        mats = [t.reshape(n, -1) for _, t, _, _ in items]
        total = sum(m.shape[1] for m in mats)
        threads = torch.get_num_threads()
        single = threads > 1 and SMALL_SINGLE_THREAD and total * n <= STAGE_SINGLE_THREAD
        if single:  # a few ops on small matrices: waking a sleeping (passive) thread pool costs more than they do
            torch.set_num_threads(1)
        try:
            # the sign bits of every staged output, written side by side into one pair of bit matrices
            pos = torch.empty(n, total, dtype=torch.bool, device=mats[0].device)
            neg = None if all(item[3] for item in items) else torch.empty_like(pos)
            off = 0
            for (name, _, _, nonneg), x in zip(items, mats):
                v = x.shape[1]
                self.sums.append(x.sum())
                self.names.append((name,))
                torch.gt(x, 0, out=pos[:, off:off + v])
                if neg is not None:
                    if nonneg:
                        neg[:, off:off + v] = False
                    else:
                        torch.lt(x, 0, out=neg[:, off:off + v])
                off += v
            self.codes.append(_bits_to_codes(pos, neg).view(1, total, -1))
        finally:
            if single:
                torch.set_num_threads(threads)

    def _add_fast(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        """Pack a CPU float output (N·K, ...) without a padding mask in one pass (swaplm.fastpack): the codes of
        all K copies at once, (N, K·V) -> (K·V, W)."""
        x = out.detach().reshape(self.n, -1)
        codes = torch.empty(x.shape[1], self.words, dtype=torch.int64)
        self.sums.append(_fastpack.pack(x, codes, nonneg))
        self.names.append((name,))
        self.codes.append(codes.view(self.k, -1, self.words))

    def _add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        k, n = self.k, self.n
        x = out.reshape(n, k, -1)
        v = x.shape[2]
        inner = v // out.shape[1]
        mask = self.mask if self.mask is not None and out.dim() >= 3 and out.shape[1] == self.mask.shape[1] else None
        if mask is not None and mask.device != out.device:  # a model spread over devices: the mask follows
            mask = mask.to(out.device)
        self.sums.append(x.sum())
        self.names.append((name,))
        step = max(1, CHUNK_ELEMENTS // (n * k))
        for s in range(0, v, step):
            xc = x[:, :, s:s + step] if step < v else x
            keep = None
            if mask is not None:  # column j of (N, L*inner) belongs to position j // inner
                keep = mask[:, torch.arange(s, s + xc.shape[2], device=x.device) // inner]
            self.codes.append(pack_copies(xc, nonneg, keep))

    def _check_nan(self) -> None:
        sums = [s for s in self.sums if not isinstance(s, bool)]
        nan = iter(torch.stack([s.to(sums[0].device) for s in sums]).isnan().tolist() if sums else [])
        bad = next((i for i, s in enumerate(self.sums) if (s if isinstance(s, bool) else next(nan))), None)
        if bad is not None:
            names = self.names[bad]
            which = repr(names[0]) if len(names) == 1 else "one of " + ", ".join(map(repr, names))
            raise SwapError(f"NaN activations in module {which}: the model produced NaN (or "
                            "both +inf and -inf) on this batch (check the weights/init and the input scaling)")

    def count(self) -> tuple[int, int]:
        """(distinct codes, neurons) of a single-copy forward."""
        counts, neurons = self.count_copies()
        return counts[0], neurons

    def count_copies(self) -> tuple[list[int], int]:
        """Distinct codes of every copy, and the neurons per copy."""
        self.flush()
        self._check_nan()
        if self.table is not None:  # every code is ReLU-like and one word: mark what was kept as codes too
            for c in self.codes:
                _fastpack.mark(c, self.table, self.k)
            return self.table[1].tolist(), self.marked + sum(c.shape[1] for c in self.codes)
        if not self.codes:
            return [0] * self.k, 0
        threads = torch.get_num_threads()
        single = threads > 1 and SMALL_SINGLE_THREAD and sum(c.numel() for c in self.codes) <= STAGE_SINGLE_THREAD
        if single:  # as in flush: a small count is faster than waking a passive thread pool
            torch.set_num_threads(1)
        try:
            codes = (torch.cat([c.to(self.codes[0].device) for c in self.codes], 1)  # a model spread over devices
                     if len(self.codes) > 1 else self.codes[0])  # (K, V, W)
            k, v, w = codes.shape
            if k == 1 or w > 1 or (codes.device.type == "cpu" and _fastpack.available()):
                return [count_distinct(codes[i]) for i in range(k)], v
            return _distinct_per_row(codes.view(k, v)), v
        finally:
            if single:
                torch.set_num_threads(threads)


def _distinct_per_row(codes: torch.Tensor) -> list[int]:
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


# ------------------------------------------------------------------------------------------------ the result
@dataclass(frozen=True)
class Regularise:
    """Size prior of regularised SWAP: ``score × exp(-(Θ - mu)² / sigma)`` (``convention="2sigma2"``: / 2σ²).

    Θ is the parameter count of the scored network in ``unit``: "1" (raw), "k" (thousands; the reference) or
    "M" (millions).
    """

    mu: float
    sigma: float
    unit: str = "k"
    convention: str = "sigma"

    def __post_init__(self):
        if self.unit not in _UNITS:
            raise SwapError(f"regularise unit must be one of {', '.join(_UNITS)}, got {self.unit!r}")
        if self.convention not in ("sigma", "2sigma2") or self.sigma <= 0:
            raise SwapError("regularise needs sigma > 0 and convention 'sigma' or '2sigma2'")

    def factor(self, params: int) -> float:
        theta = params / _UNITS[self.unit]
        denom = self.sigma if self.convention == "sigma" else 2 * self.sigma ** 2
        return math.exp(-((theta - self.mu) ** 2) / denom)


_UNITS = {"1": 1.0, "k": 1e3, "M": 1e6}


@dataclass(frozen=True)
class SwapResult:
    """SWAP-Score of one network. ``score`` is the (regularised) mean over repeats; ``neurons`` the pooled
    neuron count V per forward; ``saturation = raw_score / neurons`` (1.0 means every neuron was distinct)."""

    score: float
    raw_score: float
    neurons: int
    samples: int
    saturation: float
    repeats: int
    seconds: float
    params: int
    reg_factor: float = 1.0
    scores: tuple[int, ...] = ()
    calls: int = 0
    modules: int = 0
    skipped: tuple[str, ...] = field(default_factory=tuple)
    #: how the repeats ran: "loop" (one forward per repeat) or "vectorised" (copies folded into one forward,
    #: swaplm.vectorised); ``fallback`` says why the vectorised path was not taken when it was asked for
    path: str = "loop"
    fallback: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ the scorer
def count_params(model: nn.Module, named=None) -> int:
    """Parameters of the scored network, excluding names containing "auxiliary" (as the reference); each
    shared tensor counted once. ``named``: ``list(model.named_modules())`` when the caller has it already."""
    if named is None:
        return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)
    seen, total = set(), 0
    for prefix, m in named:
        if not m._parameters:
            continue
        aux = "auxiliary" in prefix  # (the word has no dot, so it is in "prefix.key" iff in one of them)
        for key, p in m._parameters.items():
            if p is not None and id(p) not in seen:
                seen.add(id(p))  # as named_parameters(): the first name of a shared tensor decides
                if not aux and "auxiliary" not in key:
                    total += p.numel()
    return total


def batch_size(inputs) -> int:
    """Number of samples N of an image tensor or a dict of tensors (first dimension; ``swaplm.modelstate``)."""
    return batch_len(inputs)


def _to(inputs, device):
    return to_device(inputs, device)


def forward(model: nn.Module, inputs):
    """Call the model on a tensor batch or on keyword tensors (HF models)."""
    return model(inputs) if isinstance(inputs, torch.Tensor) else model(**inputs)


def repeat_seed(seed: int, r: int) -> int:
    """Torch seed of repeat ``r`` (repeat 0 uses ``seed`` itself)."""
    return seed + 1_000_003 * r


def _seed(seed: int, device: torch.device) -> None:
    """``torch.manual_seed`` for the generators a forward on ``device`` draws from (the CPU generator, plus
    the CUDA ones for a CUDA model); skips queueing a lazy CUDA seed on CPU runs, which costs ~1 ms a call."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    elif device.type != "cpu":
        torch.manual_seed(seed)


class _rng_kept:
    """``torch.random.fork_rng`` for one device, in fewer steps (it is paid once per score): the CPU generator's
    state, and the CUDA one of a CUDA ``device``, are put back on exit."""

    def __init__(self, device: torch.device):
        self.cuda = device if device.type == "cuda" else None

    def __enter__(self):
        self.cpu = torch.default_generator.get_state()
        self.gpu = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None

    def __exit__(self, *exc):
        torch.default_generator.set_state(self.cpu)
        if self.gpu is not None:
            torch.cuda.set_rng_state(self.gpu, self.cuda)
        return False


def _record(model, inputs, hooked, n, mask, copies=1, stage=True) -> "_Collector":
    """One hooked no-grad forward; returns the collector (codes flushed, hooks removed)."""
    col = _Collector(n, mask, copies, stage, nonneg=all(_acts.is_nonnegative(m) for _, m in hooked))
    handles = [m.register_forward_hook(col.hook(name, m)) for name, m in hooked]
    try:
        with torch.no_grad():
            forward(model, inputs)
        col.flush()
    finally:
        for h in handles:
            h.remove()
    return col


def _nothing_recorded(col, hooked, n) -> SwapError:
    why = f" (outputs of {', '.join(sorted(set(col.skipped)))} had no batch dim of size {n})" \
        if col.skipped else " (none of them was called in forward)"
    return SwapError(f"{len(hooked)} activation module(s) hooked but nothing was recorded{why}")


def _loop_repeat(model, inputs, hooked, n, mask, r, seed, device, init_fn, mode):
    """Repeat ``r`` of the looped path: seed, re-init, set the mode, one hooked forward."""
    for stage in (True, False):
        _seed(repeat_seed(seed, r), device)
        if init_fn is not None:
            init_fn(model)
        if mode is not None:
            model.train(mode == "train")
        try:
            return _record(model, inputs, hooked, n, mask, stage=stage)
        except _Modified:  # an output changed in place after its hook: pack every output in its hook
            continue
    raise AssertionError("unreachable")


def _vectorised_repeats(model, inputs, hooked, n, mask, repeats, seed, device, init_fn, mode, params):
    """All repeats as folded copies (swaplm.vectorised), in chunks; raises vectorised.Unsupported."""
    from . import vectorised as vec

    counts: list[int] = []
    neurons, calls, skipped = None, 0, ()
    chunk = vec.chunk_size(repeats, n, inputs, None, params)
    copies = vec.Copies(model, chunk)
    rng = torch.cuda if device.type == "cuda" else None
    folded = {}
    fast_init = None
    r = 0
    while r < repeats:
        k = min(chunk, repeats - r)
        for i in range(k):  # copy i gets exactly the weights repeat r + i of the loop draws
            _seed(repeat_seed(seed, r + i), device)
            if fast_init:
                copies.draw_gaussian(i)
            else:
                init_fn(model)
                copies.snapshot(i)
                if fast_init is None:  # the first copy: can its Gaussian draws be made straight into the copies?
                    fast_init = init_fn is gaussian_init and copies.gaussian_matches(
                        lambda: _seed(repeat_seed(seed, r + i), device))
        if mode is not None:
            model.train(mode == "train")
        if k not in folded:
            folded[k] = vec.fold_inputs(inputs, n, k)
        state = torch.default_generator.get_state()
        cuda_state = rng.get_rng_state(device) if rng is not None else None
        copies.install(k, n)
        try:
            col = None
            for stage in (True, False):
                try:
                    col = _record(model, folded[k], hooked, n, mask, copies=k, stage=stage)
                    break
                except _Modified:
                    continue
        except (SwapError, _Modified):
            raise
        except Exception as e:  # anything the folded forward cannot do: the loop will
            raise vec.Unsupported(f"the folded forward failed ({type(e).__name__}: {str(e)[:160]})") from None
        finally:
            copies.remove()
        if not torch.equal(state, torch.default_generator.get_state()) or (
                cuda_state is not None and not torch.equal(cuda_state, rng.get_rng_state(device))):
            raise vec.Unsupported("the forward draws random numbers (dropout or similar): the loop's draws "
                                  "cannot be reproduced")
        if col.mismatch:
            raise vec.Unsupported(f"a hooked output does not carry the folded batch: {col.mismatch}")
        if col.calls == 0:
            raise _nothing_recorded(col, hooked, n)
        got, v = col.count_copies()
        counts += got
        neurons, calls, skipped = v, col.calls, tuple(sorted(set(col.skipped)))
        r += k
        chunk = min(chunk, vec.chunk_size(repeats, n, inputs, v, 0))  # the real neuron count is known now
    return counts, neurons, calls, skipped


def input_device(model: nn.Module, named=None) -> torch.device:
    """Where the batch goes: the first parameter's device, or for a model spread over devices by accelerate
    (``hf_device_map``) the first mapped device that holds weights (its hooks move tensors between devices).
    ``named``: ``list(model.named_modules())`` when the caller has it already."""
    device_map = getattr(model, "hf_device_map", None)
    if device_map:
        for where in device_map.values():
            if where not in ("disk", "meta"):
                return torch.device(f"cuda:{where}" if isinstance(where, int) else where)
        return torch.device("cpu")
    if named is None:
        first = next(model.parameters(), None)
    else:  # the first parameter in named_parameters() order
        first = next((p for _, m in named for p in m._parameters.values() if p is not None), None)
    return first.device if first is not None else torch.device("cpu")


def swap_score(model: nn.Module, inputs, *, repeats: int = 1, init: str | None = None, seed: int = 0,
               mode: str | None = None, padding: str = "mask", regularise: Regularise | None = None,
               activations=None, vectorise: bool | None = None) -> SwapResult:
    """SWAP-Score of ``model`` on one batch.

    inputs: image tensor (N, C, H, W) or a dict/BatchEncoding of (N, L) tensors passed as ``model(**inputs)``.
    repeats: forwards to average; each uses torch seed ``repeat_seed(seed, r)`` (bit-identical on CPU).
    init: None keeps the current weights; "gaussian" (reference re-init) or "default" (model's own
        initialiser) re-initialise before every repeat. Weights, buffers and train/eval modes are restored after.
    mode: None leaves the model's mode; "train" (reference: BN batch stats, dropout on) or "eval".
    padding: "mask" gives padded positions (attention_mask == 0) the state 0; "reference" counts them as
        ordinary neurons. Applies to hooked outputs shaped (N, L, ...).
    regularise: a :class:`Regularise` size prior, or None.
    activations: module classes / name patterns to hook instead of the registry's defaults.
    vectorise: run the repeats as K re-initialised copies folded into one forward (swaplm.vectorised; the
        same weights and counts as the loop, copy for copy). None (default): when ``init`` is set and
        repeats > 1; True: whenever repeats > 1; False: never. A model it cannot handle runs the loop;
        ``result.path`` says which ran and ``result.fallback`` why the vectorised path was not taken.
    """
    if repeats < 1:
        raise SwapError(f"repeats must be >= 1, got {repeats}")
    if padding not in ("mask", "reference"):
        raise SwapError(f"padding must be 'mask' or 'reference', got {padding!r}")
    if mode not in (None, "train", "eval"):
        raise SwapError(f"mode must be None, 'train' or 'eval', got {mode!r}")
    init_fn = get_init(init) if init is not None else None
    n = batch_size(inputs)
    if n < 2:
        raise SwapError(f"SWAP needs a batch of at least 2 samples, got {n}")
    named = named_modules(model)  # one traversal for the hooks, the parameter count and the snapshot
    device = input_device(model, named)
    inputs = _to(inputs, device)
    mask = None
    if padding == "mask" and isinstance(inputs, Mapping) and isinstance(inputs.get("attention_mask"), torch.Tensor):
        am = inputs["attention_mask"]
        mask = am.bool() if bool((am == 0).any()) else None
    hooked = _acts.select(model, activations, named)
    params = count_params(model, named)
    factor = regularise.factor(params) if regularise is not None else 1.0

    t0 = time.perf_counter()
    want = repeats > 1 and (vectorise if vectorise is not None else init_fn is not None)
    modules = [m for _, m in named]
    # torch's BatchNorm layers leave their running statistics alone (the Gaussian re-init does not touch them
    # either); what else a forward, a re-init or a mode switch can change is put back afterwards
    held = hold_norm_stats(modules) if init_fn is None or init_fn is gaussian_init else []
    state = snapshot(model, params=init_fn is not None, modules=modules, modes=mode is not None or want, held=held)
    counts, neurons, calls, skipped = [], 0, 0, ()
    path, fallback = "loop", ""
    try:
        with _rng_kept(device):
            if want:
                from . import vectorised as vec

                if mode is not None:
                    model.train(mode == "train")
                fallback = vec.unsupported_reason(model) or ""
                if init_fn is None and not fallback:
                    fallback = "no init: every repeat uses the same weights"
                if not fallback:
                    try:
                        counts, neurons, calls, skipped = _vectorised_repeats(
                            model, inputs, hooked, n, mask, repeats, seed, device, init_fn, mode, params)
                        path = "vectorised"
                    except vec.Unsupported as e:
                        fallback = str(e)
                        counts = []
                        restore(model, state)  # the loop starts from the model as it was
            if path == "loop":
                for r in range(repeats):
                    col = _loop_repeat(model, inputs, hooked, n, mask, r, seed, device, init_fn, mode)
                    distinct, neurons = col.count()
                    if col.calls == 0:
                        raise _nothing_recorded(col, hooked, n)
                    counts.append(distinct)
                    calls, skipped = col.calls, tuple(sorted(set(col.skipped)))
    finally:
        restore(model, state)
        release_norm_stats(held)
    raw = sum(counts) / len(counts)
    return SwapResult(score=raw * factor, raw_score=raw, neurons=neurons, samples=n,
                      saturation=raw / neurons if neurons else 0.0, repeats=repeats,
                      seconds=time.perf_counter() - t0, params=params, reg_factor=factor, scores=tuple(counts),
                      calls=calls, modules=len(hooked), skipped=skipped, path=path, fallback=fallback)
