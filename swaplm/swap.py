"""The SWAP-Score, top to bottom as its definition (SPEC §1-2).

Run the network once on a batch of N samples. Every call of a hooked activation module yields a tensor (N, ...);
each non-batch element position is a *neuron*, and its *pattern* is the vector of its N states ``sign(output)``
in {-1, 0, +1}. Patterns of all hooked calls of one forward are pooled; the SWAP-Score is the number of distinct
patterns. With K repeats (fresh initialisation each) the score is the mean.

Inside each hook the output becomes two bit-planes (positive, negative) packed along the batch axis, one row of
int64 words per neuron (:func:`pack_signs`), and the float tensor is dropped; after the forward
:func:`count_distinct` counts distinct rows exactly. :class:`Collector` is the plain hook target; the faster
packers of :mod:`swaplm.engine` (one chosen per score, named in ``SwapResult.packer``) give the same codes.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from . import activations as _acts
from .engine.counting import count_rows
from .errors import SwapError, check_samples
from .init import get_init
from .modelstate import batch_len as batch_size  # number of samples N of a tensor or a dict of tensors
from .modelstate import (count_params, forward, input_device, named_modules, padding_mask,  # noqa: F401
                         scoring_scope, seed_rng, to_device)

# --------------------------------------------------------------------------------------------------- packing
def code_words(n_samples: int) -> int:
    """int64 words per neuron code for N samples: positive + negative plane, ceil(N/8) bytes each."""
    return math.ceil(2 * math.ceil(n_samples / 8) / 8)


def pack_plane(bits: torch.Tensor) -> torch.Tensor:
    """(N, V) bool -> (ceil(N/8), V) uint8; bit i of byte b is sample 8b+i."""
    n, v = bits.shape
    u8 = bits.view(torch.uint8)
    if n % 8:
        u8 = torch.cat([u8, u8.new_zeros(8 - n % 8, v)])
    shifts = torch.arange(8, dtype=torch.uint8, device=bits.device).view(1, 8, 1)
    return (u8.view(-1, 8, v) << shifts).sum(1, dtype=torch.uint8)


def pack_signs(x: torch.Tensor, nonnegative: bool = False, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Pack the sign states of ``x`` (N, V) into per-neuron codes (V, code_words(N)) int64.

    For N <= 32 one word: bit i = sample i positive, bit 32+i = sample i negative; for larger N the positive
    plane's ceil(N/8) bytes, then the negative plane's, zero-padded to whole words (little-endian).
    ``nonnegative`` skips the (all-zero) negative plane of ReLU-like outputs; ``keep`` (N, V) bool forces
    state 0 where it is False (padded positions)."""
    n, v = x.shape
    pos, neg = x > 0, (None if nonnegative else x < 0)
    if keep is not None:
        pos &= keep
        if neg is not None:
            neg &= keep
    nb = math.ceil(n / 8)
    planes = [pack_plane(pos), pack_plane(neg) if neg is not None else pos.new_zeros(nb, v, dtype=torch.uint8)]
    if n <= 32:  # one word: the positive bytes from bit 0, the negative ones from bit 32
        return sum(planes[p][b].to(torch.int64) << (32 * p + 8 * b) for p in (0, 1) for b in range(nb)).view(v, 1)
    pad = 8 * code_words(n) - 2 * nb
    return torch.cat(planes + [pos.new_zeros(pad, v, dtype=torch.uint8)]).t().contiguous().view(torch.int64)


# -------------------------------------------------------------------------------------------------- counting
def count_distinct(codes: torch.Tensor) -> int:
    """Exact number of distinct rows of an (V, W) int64 code matrix: the row count of
    ``torch.unique(codes, dim=0)``, found in one pass by swaplm.engine.counting (a hash table, or a sort of
    hashes, with every pair of equal hashes compared word by word; never a probabilistic count)."""
    return count_rows(codes)


# --------------------------------------------------------------------------------------- the reference collector
class Collector:
    """Forward-hook target of one forward: each hooked output is packed with :func:`pack_signs` in its hook and
    only the codes are kept; ``mask`` (N, L) bool gives padded positions of (N, L, ...) outputs the state 0.
    ``copies`` = K > 1: the forward carries K folded copies (swaplm.engine.vectorised), row i·K + c of an output
    being sample i of copy c, packed per copy. The engine's packers (swaplm.engine.packers) subclass it."""

    def __init__(self, n: int, mask: torch.Tensor | None, copies: int = 1):
        self.n, self.k, self.rows, self.mask = n, copies, n * copies, mask
        self.lengths = mask.shape[1] if mask is not None else -1
        self.codes: list[torch.Tensor] = []  # (K, V_i, W) each
        self.sums: list[tuple[str, torch.Tensor]] = []  # (module, output sum): NaN iff a NaN or both infinities
        self.hooks, self.calls, self.neurons, self.skipped = 0, 0, 0, []
        self.mismatch: str | None = None  # a hooked output whose first dim is not K·N (folded copies)

    def hook(self, name: str, module: nn.Module):
        nonneg, self.hooks = _acts.is_nonnegative(module), self.hooks + 1

        def fn(_mod, _inp, out):
            if self.accept(name, out):
                self.add(name, out, nonneg)
        return fn

    def accept(self, name: str, out) -> bool:
        """Whether ``out`` is a batch-first output of this forward (counted); else it is recorded as skipped."""
        if isinstance(out, torch.Tensor) and out.dim() >= 2 and out.shape[0] == self.rows:
            self.calls += 1
            self.neurons += out.numel() // self.rows
            return True
        if self.k > 1 and isinstance(out, torch.Tensor) and out.dim() >= 2:
            self.mismatch = f"{name} (output {tuple(out.shape)}, expected first dimension {self.rows})"
        self.skipped.append(name)
        return False

    def keep(self, out: torch.Tensor) -> torch.Tensor | None:
        """(N, V) bool, False at the padded positions of an (N·K, L, ...) output; None when nothing is masked."""
        if self.mask is None or out.dim() < 3 or out.shape[1] != self.lengths:
            return None
        m = self.mask.to(out.device).view(self.n, self.lengths, *([1] * (out.dim() - 2)))
        return m.expand(self.n, *out.shape[1:]).reshape(self.n, -1)

    def add(self, name: str, out: torch.Tensor, nonneg: bool) -> None:
        x, keep = out.detach().reshape(self.n, self.k, -1), self.keep(out)
        self.sums.append((name, x.sum()))
        self.codes.append(torch.stack([pack_signs(x[:, c], nonneg, keep) for c in range(self.k)]))

    def finish(self) -> None:
        """The forward has ended (the hooks are still in place)."""

    def check(self) -> None:
        """SwapError when nothing was recorded or an output held a NaN (or both +inf and -inf)."""
        if self.calls == 0:
            why = f" (outputs of {', '.join(sorted(set(self.skipped)))} had no batch dim of size {self.n})" \
                if self.skipped else " (none of them was called in forward)"
            raise SwapError(f"{self.hooks} activation module(s) hooked but nothing was recorded{why}")
        nan = torch.stack([s.to(self.sums[0][1].device) for _, s in self.sums]).isnan().tolist() if self.sums else []
        bad = next((name for (name, _), is_nan in zip(self.sums, nan) if is_nan), None)
        if bad is not None:
            raise SwapError(f"NaN activations in module {bad!r}: the model produced NaN (or both +inf and -inf) "
                            "on this batch (check the weights/init and the input scaling)")

    def count_copies(self) -> list[int]:
        """Distinct codes of every copy (after :meth:`check`)."""
        self.check()
        codes = torch.cat([c.to(self.codes[0].device) for c in self.codes], 1)  # a model spread over devices
        return [count_distinct(codes[c]) for c in range(self.k)]


# ------------------------------------------------------------------------------------------- the repeat loop
def repeat_seed(seed: int, r: int) -> int:
    """Torch seed of repeat ``r`` (repeat 0 uses ``seed`` itself)."""
    return seed + 1_000_003 * r


@dataclass
class Run:
    """What every hooked forward of one score shares, and the two steps of a repeat."""

    model: nn.Module
    inputs: object
    hooked: list
    n: int
    mask: torch.Tensor | None = None
    seed: int = 0
    device: torch.device = torch.device("cpu")
    init_fn: object = None
    mode: str | None = None

    def prepare(self, r: int) -> None:
        """Repeat ``r``'s starting point: seed torch with ``repeat_seed(seed, r)``, re-initialise, set the mode."""
        seed_rng(repeat_seed(self.seed, r), self.device)
        if self.init_fn is not None:
            self.init_fn(self.model)
        if self.mode is not None:
            self.model.train(self.mode == "train")

    def record(self, collector: Collector, inputs=None) -> Collector:
        """One hooked no-grad forward into ``collector``; the hooks are removed afterwards, also on error."""
        handles = [m.register_forward_hook(collector.hook(name, m)) for name, m in self.hooked]
        try:
            with torch.no_grad():
                forward(self.model, self.inputs if inputs is None else inputs)
            collector.finish()
        finally:
            for h in handles:
                h.remove()
        return collector


# ------------------------------------------------------------------------------------------------ the result
_UNITS = {"1": 1.0, "k": 1e3, "M": 1e6}


@dataclass(frozen=True)
class Regularise:
    """Size prior of regularised SWAP: ``score × exp(-(Θ - mu)² / sigma)`` (``convention="2sigma2"``: / 2σ²);
    Θ is the scored network's parameter count in ``unit``: "1", "k" (thousands; the reference) or "M"."""

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
        denom = self.sigma if self.convention == "sigma" else 2 * self.sigma ** 2
        return math.exp(-((params / _UNITS[self.unit] - self.mu) ** 2) / denom)


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
    #: "loop" (one forward per repeat) or "vectorised" (copies folded into one forward); ``fallback``: why the
    #: vectorised path was not taken when it was asked for
    path: str = "loop"
    fallback: str = ""
    #: how hooked outputs became codes: "reference", "staged", "numba" or "seen-table" (swaplm.engine.packers)
    packer: str = "reference"

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ the scorer
def check_settings(n: int, repeats: int = 1, mode: str | None = None, padding: str = "mask") -> None:
    """The settings every SWAP count needs (one-line SwapErrors)."""
    why = (f"repeats must be >= 1, got {repeats}" if repeats < 1 else
           f"padding must be 'mask' or 'reference', got {padding!r}" if padding not in ("mask", "reference") else
           f"mode must be None, 'train' or 'eval', got {mode!r}" if mode not in (None, "train", "eval") else "")
    if why:
        raise SwapError(why)
    check_samples(n)


def swap_score(model: nn.Module, inputs, *, repeats: int = 1, init: str | None = None, seed: int = 0,
               mode: str | None = None, padding: str = "mask", regularise: Regularise | None = None,
               activations=None, vectorise: bool | None = None, packer: str | None = None) -> SwapResult:
    """SWAP-Score of ``model`` on one batch.

    inputs: image tensor (N, C, H, W) or a dict/BatchEncoding of (N, L) tensors passed as ``model(**inputs)``.
    repeats: forwards to average; each uses torch seed ``repeat_seed(seed, r)`` (bit-identical on CPU).
    init: None keeps the current weights; "gaussian" (reference re-init) or "default" (model's own
        initialiser) re-initialise before every repeat. Weights, buffers and train/eval modes are restored after.
    mode: None leaves the model's mode; "train" (reference: BN batch stats, dropout on) or "eval".
    padding: "mask" gives padded positions (attention_mask == 0) the state 0; "reference" counts them as
        ordinary neurons. Applies to hooked outputs shaped (N, L, ...).
    regularise: a :class:`Regularise` size prior, or None. activations: module classes / name patterns to
        hook instead of the registry's defaults.
    vectorise: run the repeats as K re-initialised copies folded into one forward (swaplm.engine.vectorised;
        the loop's weights and counts, copy for copy). None (default): when ``init`` is set and repeats > 1;
        True: whenever repeats > 1; False: never. A model it cannot handle runs the loop; ``result.path`` says
        which ran and ``result.fallback`` why the vectorised path was not taken.
    packer: how hooked outputs become codes (``result.packer``): None picks the fastest that applies
        (swaplm.engine.packers), "reference" is the plain :class:`Collector`; all give the same codes.
    The score runs in true float32 (TF32 off) and leaves torch's random generators as they were.
    """
    from .engine.packers import choose_packer
    from .engine.vectorised import vectorised_repeats

    init_fn = get_init(init) if init is not None else None
    n = batch_size(inputs)
    check_settings(n, repeats, mode, padding)
    named = named_modules(model)  # one traversal for the hooks, the parameter count and the snapshot
    device = input_device(model, named)
    inputs = to_device(inputs, device)
    hooked = _acts.select(model, activations, named)
    params = count_params(model, named)
    factor = regularise.factor(params) if regularise is not None else 1.0

    t0 = time.perf_counter()
    want = repeats > 1 and (vectorise if vectorise is not None else init_fn is not None)
    run = Run(model, inputs, hooked, n, padding_mask(inputs, padding), seed, device, init_fn, mode)
    chosen = choose_packer(packer, run, repeats if want else 1, params)
    counts, col, fallback = [], None, ""
    with scoring_scope(model, device, [m for _, m in named], init_fn, modes=mode is not None or want) as state:
        if want:
            counts, col, fallback = vectorised_repeats(run, chosen, repeats, params, state)
        for r in range(0 if counts else repeats):  # the loop: one forward per repeat
            col = chosen.record(run, lambda: run.prepare(r))
            counts += col.count_copies()
    raw = sum(counts) / len(counts)
    return SwapResult(score=raw * factor, raw_score=raw, neurons=col.neurons, samples=n,
                      saturation=raw / col.neurons if col.neurons else 0.0, repeats=repeats,
                      seconds=time.perf_counter() - t0, params=params, reg_factor=factor, scores=tuple(counts),
                      calls=col.calls, modules=len(hooked), skipped=tuple(sorted(set(col.skipped))),
                      path="vectorised" if fallback is None else "loop", fallback=fallback or "", packer=chosen.name)
