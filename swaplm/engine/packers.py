"""Packers: the ways the engine turns hooked outputs into codes, behind one interface.

A :class:`Packer` is chosen once per score (:func:`choose_packer`) and its name is reported in
``SwapResult.packer``. Each packer's collector is a subclass of the reference ``swaplm.swap.Collector`` and gives
its codes bit for bit (tests/test_swap_engine.py, tests/test_fastpack.py); they differ in speed only:

* "seen-table": CPU model, numba, every hooked module ReLU-like and N <= 32. Codes are below 2^N, so the
  kernel marks them in per-copy bit tables of seen codes inside the hook (:func:`fastpack.pack_mark`); nothing
  is left to count after the forward.
* "numba": CPU model of float32/float64 weights, numba installed: each output packed in one pass in its hook.
* "staged": everything else (GPU, half precision, no numba): torch ops. A hooked call costs a list append: small
  outputs of a single-copy forward are kept (with their version counters) and packed together in one pass when
  the forward ends or STAGE_ELEMENTS are waiting. An output the model changed in place after its hook (its
  version counter moved) is detected then, and the forward is redone with every output packed in its hook.
* "reference": the plain collector of swaplm.swap (asked for explicitly).

Outputs a packer does not specialise in (padding-masked ones; dtypes the kernel cannot read; large outputs for
the seen tables) are packed in their hooks with torch ops, in neuron chunks (:class:`TorchCollector`).
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager

import torch

from .. import activations as _acts
from ..errors import SwapError
from ..swap import Collector, code_words, count_distinct, pack_plane
from . import fastpack
from .counting import distinct_per_row

CHUNK_ELEMENTS = 1 << 22  # elements of an (N, V) slice packed at once (bounds temporary memory to a few MB)
SMALL_OUTPUT = 1 << 19  # hooked outputs up to this many elements are staged and packed together
STAGE_ELEMENTS = 1 << 21  # staged elements that trigger a pack pass inside the forward
STAGE_SINGLE_THREAD = 1 << 20  # a pack or count pass over at most this many elements runs on one thread
# with passive OpenMP waiting every parallel op wakes sleeping threads (~0.2 ms each), so small passes run on the
# calling thread; with spinning threads switching the thread count costs more than it saves
SMALL_SINGLE_THREAD = os.environ.get(
    "SWAPLM_SMALL_SINGLE_THREAD", "1" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "0") != "0"


@contextmanager
def single_thread(small: bool):
    """torch on one thread inside the block when ``small`` and SMALL_SINGLE_THREAD; the count is put back."""
    threads = torch.get_num_threads()
    if not (small and threads > 1 and SMALL_SINGLE_THREAD):
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------- torch packing
def pack_copies(x: torch.Tensor, nonnegative: bool = False, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Pack the sign states of ``x`` (N, K, V) — the outputs of K independent copies, sample-major — into
    per-copy, per-neuron codes (K, V, code_words(N)) int64, those of ``pack_signs`` on each copy's (N, V).
    ``keep`` (N, V) bool forces state 0 where False."""
    n, k, v = x.shape
    pos = x > 0
    neg = None if nonnegative else x < 0
    if keep is not None:
        keep = keep.view(n, 1, v)
        pos &= keep
        if neg is not None:
            neg &= keep
    return bits_to_codes(pos.reshape(n, k * v), neg.reshape(n, k * v) if neg is not None else None).view(k, v, -1)


def bits_to_codes(pos: torch.Tensor, neg: torch.Tensor | None) -> torch.Tensor:
    """(N, V) bool planes (positive, negative or None) -> (V, code_words(N)) int64 codes, as pack_signs."""
    n, v = pos.shape
    nb = math.ceil(n / 8)
    if n <= 32:  # one word, assembled from the plane bytes (no transposed byte copies)
        code = None
        for planes, base in ((pack_plane(pos), 0), (pack_plane(neg) if neg is not None else None, 32)):
            for b in range(nb if planes is not None else 0):
                byte = planes[b].to(torch.int64)
                if base + 8 * b:
                    byte <<= base + 8 * b
                code = byte if code is None else code.bitwise_or_(byte)
        return code.view(v, 1)
    out = torch.zeros(v, 8 * code_words(n), dtype=torch.uint8, device=pos.device)
    out[:, :nb] = pack_plane(pos).t()
    if neg is not None:
        out[:, nb:2 * nb] = pack_plane(neg).t()
    return out.view(torch.int64)


class TorchCollector(Collector):
    """Every output packed in its hook with torch ops, in neuron chunks of CHUNK_ELEMENTS (the fallback of
    every packer for the outputs it does not specialise in)."""

    def masked(self, out: torch.Tensor) -> bool:
        return out.dim() >= 3 and out.shape[1] == self.lengths

    def add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        k, n = self.k, self.n
        x = out.detach().reshape(n, k, -1)
        v = x.shape[2]
        inner = v // out.shape[1]
        mask = self.mask.to(out.device) if self.masked(out) else None
        self.sums.append((name, x.sum()))
        step = max(1, CHUNK_ELEMENTS // (n * k))
        for s in range(0, v, step):
            xc = x[:, :, s:s + step] if step < v else x
            keep = None
            if mask is not None:  # column j of (N, L*inner) belongs to position j // inner
                keep = mask[:, torch.arange(s, s + xc.shape[2], device=x.device) // inner]
            self.codes.append(pack_copies(xc, nonneg, keep))

    def count_copies(self) -> list[int]:
        self.check()
        with single_thread(sum(c.numel() for c in self.codes) <= STAGE_SINGLE_THREAD):
            codes = (torch.cat([c.to(self.codes[0].device) for c in self.codes], 1)  # a model spread over devices
                     if len(self.codes) > 1 else self.codes[0])  # (K, V, W)
            k, v, w = codes.shape
            if k == 1 or w > 1 or (codes.device.type == "cpu" and fastpack.available()):
                return [count_distinct(codes[i]) for i in range(k)]
            return distinct_per_row(codes.view(k, v))


class Modified(Exception):
    """A staged output was changed in place later in the forward: its codes must be taken in its hook."""


class StagedCollector(TorchCollector):
    """Small outputs of a single-copy forward staged and packed together (see the module docstring); folded
    outputs (K copies) are K times larger and are packed in their hooks."""

    def __init__(self, n: int, mask: torch.Tensor | None, copies: int = 1):
        super().__init__(n, mask, copies)
        self.pending: list[tuple[str, torch.Tensor, int, bool]] = []
        self.pending_elements = 0
        self.small = SMALL_OUTPUT if copies == 1 else -1

    def add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        if out.numel() > self.small or self.masked(out):
            return super().add(name, out, nonneg)
        self.pending.append((name, out, out._version, nonneg))
        self.pending_elements += out.numel()
        if self.pending_elements >= STAGE_ELEMENTS:
            self.finish()

    def finish(self) -> None:
        """Pack every staged output in one pass: their sign bits side by side in one pair of bit matrices."""
        items, n = self.pending, self.n
        if not items:
            return
        self.pending, self.pending_elements = [], 0
        if any(t._version != version for _, t, version, _ in items):
            raise Modified()
        mats = [t.reshape(n, -1) for _, t, _, _ in items]
        total = sum(m.shape[1] for m in mats)
        with single_thread(total * n <= STAGE_SINGLE_THREAD):
            pos = torch.empty(n, total, dtype=torch.bool, device=mats[0].device)
            neg = None if all(item[3] for item in items) else torch.empty_like(pos)
            off = 0
            for (name, _, _, nonneg), x in zip(items, mats):
                v = x.shape[1]
                self.sums.append((name, x.sum()))
                torch.gt(x, 0, out=pos[:, off:off + v])
                if neg is not None and nonneg:
                    neg[:, off:off + v] = False
                elif neg is not None:
                    torch.lt(x, 0, out=neg[:, off:off + v])
                off += v
            self.codes.append(bits_to_codes(pos, neg).view(1, total, -1))


# ------------------------------------------------------------------------------------------- numba packing
class NumbaCollector(TorchCollector):
    """CPU float32/float64 outputs without a padding mask packed in their hooks by one kernel pass
    (:func:`fastpack.pack`): the codes of all K copies at once, (N, K·V) -> (K·V, W)."""

    def __init__(self, n: int, mask: torch.Tensor | None, copies: int = 1):
        super().__init__(n, mask, copies)
        self.words = code_words(n)

    def add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        if out.dtype not in fastpack.DTYPES or not out.is_cpu or self.masked(out):
            return super().add(name, out, nonneg)
        x = out.detach().reshape(self.n, -1)
        codes = torch.empty(x.shape[1], self.words, dtype=torch.int64)
        total = fastpack.pack(x, codes, nonneg)
        if total is not None:  # a NaN or an infinity: the sum decides
            self.sums.append((name, total))
        self.codes.append(codes.view(self.k, -1, self.words))


class SeenTableCollector(NumbaCollector):
    """ReLU-like outputs, N <= 32: each output's codes marked in per-copy bit tables in its hook
    (:func:`fastpack.pack_mark`, one thread); large or masked outputs keep codes, marked at the count."""

    def __init__(self, n: int, mask: torch.Tensor | None, copies: int = 1):
        super().__init__(n, mask, copies)
        self.table = fastpack.seen_table(copies, n)
        self.marks_below = fastpack.PARALLEL_ELEMENTS if torch.get_num_threads() > 1 else 1 << 62

    def add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        if (out.dtype not in fastpack.DTYPES or not out.is_cpu or self.masked(out)
                or out.numel() >= self.marks_below):
            return super().add(name, out, nonneg)
        total = fastpack.pack_mark(out, self.table, self.k, self.n)
        if total is not None:
            self.sums.append((name, total))

    def count_copies(self) -> list[int]:
        self.check()
        for c in self.codes:
            fastpack.mark(c, self.table, self.k)
        return self.table[1].tolist()


# ------------------------------------------------------------------------------------------------ the choice
class Packer:
    """A packer: its ``name`` and the collector class of each forward; ``redo`` is the collector a forward is
    redone with when a staged output was changed in place after its hook."""

    def __init__(self, name: str, collector: type, redo: type | None = None):
        self.name, self.collector, self.redo = name, collector, redo

    def record(self, run, prepare, inputs=None, copies: int = 1) -> Collector:
        """``prepare()`` (seed, re-init, mode), then one hooked forward of ``run`` into a new collector."""
        prepare()
        try:
            return run.record(self.collector(run.n, run.mask, copies), inputs)
        except Modified:
            prepare()
            return run.record(self.redo(run.n, run.mask, copies), inputs)

    def __repr__(self) -> str:
        return f"Packer({self.name!r})"


PACKERS = {"reference": Packer("reference", Collector), "staged": Packer("staged", StagedCollector, TorchCollector),
           "numba": Packer("numba", NumbaCollector), "seen-table": Packer("seen-table", SeenTableCollector)}


def applicable(run, copies: int = 1) -> list[str]:
    """The packers that can run ``run`` (a ``swaplm.swap.Run``) with up to ``copies`` folded copies, fastest
    first; the last one, "reference", always can."""
    first = next((p for p in run.model.parameters() if p.is_floating_point()), None)
    numba = (run.device.type == "cpu" and fastpack.available()
             and (first is None or first.dtype in fastpack.DTYPES))
    names = ["staged", "reference"]
    if numba:
        names.insert(0, "numba")
        if all(_acts.is_nonnegative(m) for _, m in run.hooked) and fastpack.table_fits(copies, run.n):
            names.insert(0, "seen-table")
    return names


def choose_packer(name: str | None, run, copies: int = 1, params: int = 0) -> Packer:
    """The packer of one score: ``name``, or the fastest that applies when None. ``copies``: the repeats when
    they may run vectorised (the first chunk of folded copies bounds the seen tables), else 1."""
    if copies > 1:
        from .vectorised import chunk_size

        copies = chunk_size(copies, run.n, run.inputs, None, params)
    names = applicable(run, copies)
    if name is None:
        return PACKERS[names[0]]
    if name not in PACKERS:
        raise SwapError(f"unknown packer {name!r}; choose one of: {', '.join(PACKERS)}")
    if name not in names:
        numba = "available" if fastpack.available() else "unavailable"
        raise SwapError(f"packer {name!r} does not apply here (device {run.device}, N = {run.n}; numba {numba}); "
                        f"these do: {', '.join(names)}")
    return PACKERS[name]
