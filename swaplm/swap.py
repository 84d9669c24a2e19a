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
from .errors import SwapError
from .init import get_init

BINCOUNT_LIMIT = 1 << 22  # one-word codes below this are counted with a histogram instead of a sort
CHUNK_ELEMENTS = 1 << 22  # elements of an (N, V) slice packed at once (bounds temporary memory to a few MB)
SMALL_OUTPUT = 1 << 19  # hooked outputs up to this many elements are packed single-threaded
# with passive OpenMP waiting every parallel op wakes sleeping threads (~0.2 ms each), so small outputs are packed
# on the calling thread; with spinning threads switching the thread count costs more than it saves
SMALL_SINGLE_THREAD = os.environ.get(
    "SWAPLM_SMALL_SINGLE_THREAD", "1" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "0") != "0"
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
class _Collector:
    """Forward-hook target: packs every hooked output into codes and keeps only those."""

    def __init__(self, n: int, mask: torch.Tensor | None):
        self.n, self.mask = n, mask
        self.codes: list[torch.Tensor] = []
        self.calls, self.skipped = 0, []
        self.sums: list[torch.Tensor] = []  # one sum per call: NaN iff the output holds a NaN (or +inf and -inf)
        self.names: list[str] = []

    def hook(self, name: str, module: nn.Module):
        nonneg = _acts.is_nonnegative(module)

        def fn(_mod, _inp, out):
            if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] != self.n:
                self.skipped.append(name)
                return
            self.calls += 1
            threads = torch.get_num_threads()
            if threads > 1 and out.numel() <= SMALL_OUTPUT and SMALL_SINGLE_THREAD:
                # a small output: packing is a handful of tiny ops, each of which would wake the whole thread
                # pool (slow when idle threads sleep, e.g. OMP_WAIT_POLICY=PASSIVE); run them on this thread
                torch.set_num_threads(1)
                try:
                    self._add(name, out.detach(), nonneg)
                finally:
                    torch.set_num_threads(threads)
            else:
                self._add(name, out.detach(), nonneg)

        return fn

    def _add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        n = self.n
        x = out.reshape(n, -1)
        v = x.shape[1]
        inner = v // out.shape[1]
        mask = self.mask if self.mask is not None and out.dim() >= 3 and out.shape[1] == self.mask.shape[1] else None
        self.sums.append(x.sum())
        self.names.append(name)
        step = max(1, CHUNK_ELEMENTS // n)
        for s in range(0, v, step):
            xc = x[:, s:s + step]
            keep = None
            if mask is not None:  # column j of (N, L*inner) belongs to position j // inner
                keep = mask[:, torch.arange(s, s + xc.shape[1], device=x.device) // inner]
            self.codes.append(pack_signs(xc, nonneg, keep))

    def count(self) -> tuple[int, int]:
        if self.sums:
            bad = torch.stack(self.sums).isnan().nonzero().view(-1).tolist()
            if bad:
                raise SwapError(f"NaN activations in module {self.names[bad[0]]!r}: the model produced NaN (or "
                                "both +inf and -inf) on this batch (check the weights/init and the input scaling)")
        if not self.codes:
            return 0, 0
        codes = torch.cat(self.codes)
        return count_distinct(codes), codes.shape[0]


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

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ the scorer
def count_params(model: nn.Module) -> int:
    """Parameters of the scored network, excluding names containing "auxiliary" (as the reference)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name)


def batch_size(inputs) -> int:
    """Number of samples N of an image tensor or a dict of tensors (first dimension)."""
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0]) if inputs.dim() else 0
    if isinstance(inputs, Mapping):
        tensors = [v for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim()]
        if tensors:
            return int((inputs.get("input_ids") if "input_ids" in inputs else tensors[0]).shape[0])
    raise SwapError(f"inputs must be a tensor (N, ...) or a dict of tensors, got {type(inputs).__name__}")


def _to(inputs, device):
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


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


def swap_score(model: nn.Module, inputs, *, repeats: int = 1, init: str | None = None, seed: int = 0,
               mode: str | None = None, padding: str = "mask", regularise: Regularise | None = None,
               activations=None) -> SwapResult:
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
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    inputs = _to(inputs, device)
    mask = None
    if padding == "mask" and isinstance(inputs, Mapping) and isinstance(inputs.get("attention_mask"), torch.Tensor):
        am = inputs["attention_mask"]
        mask = am.bool() if bool((am == 0).any()) else None
    hooked = _acts.select(model, activations)
    params = count_params(model)
    factor = regularise.factor(params) if regularise is not None else 1.0

    t0 = time.perf_counter()
    modes = [(m, m.training) for m in model.modules()]
    # what a forward (BN running stats) or a re-init can change, to be put back afterwards
    tensors = list(model.buffers()) + (list(model.parameters()) if init_fn is not None else [])
    saved = [(t, t.detach().clone()) for t in tensors]
    counts, neurons, calls, skipped = [], 0, 0, ()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for r in range(repeats):
                _seed(repeat_seed(seed, r), device)
                if init_fn is not None:
                    init_fn(model)
                if mode is not None:
                    model.train(mode == "train")
                col = _Collector(n, mask)
                handles = [m.register_forward_hook(col.hook(name, m)) for name, m in hooked]
                try:
                    with torch.no_grad():
                        forward(model, inputs)
                finally:
                    for h in handles:
                        h.remove()
                distinct, neurons = col.count()
                if col.calls == 0:
                    why = f" (outputs of {', '.join(sorted(set(col.skipped)))} had no batch dim of size {n})" \
                        if col.skipped else " (none of them was called in forward)"
                    raise SwapError(f"{len(hooked)} activation module(s) hooked but nothing was recorded{why}")
                counts.append(distinct)
                calls, skipped = col.calls, tuple(sorted(set(col.skipped)))
    finally:
        with torch.no_grad():
            for t, copy in saved:
                t.copy_(copy)
        for m, training in modes:
            m.training = training
    raw = sum(counts) / len(counts)
    return SwapResult(score=raw * factor, raw_score=raw, neurons=neurons, samples=n,
                      saturation=raw / neurons if neurons else 0.0, repeats=repeats,
                      seconds=time.perf_counter() - t0, params=params, reg_factor=factor, scores=tuple(counts),
                      calls=calls, modules=len(hooked), skipped=skipped)
