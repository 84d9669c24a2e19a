"""SWAP variants: per-layer counts, tokens as samples, small sample groups, pre-activation signs.

All of them come from one hooked forward per repeat (:func:`profile`), run by the engine's repeat loop and
collector (``swaplm.swap.Run`` / ``Collector``, ``pack_signs`` / ``count_distinct``,
``swaplm.activations.select``). Every call of a hooked
activation module is one *layer* l with ``neurons_l`` elements per sample. Per layer it counts:

* ``distinct``: distinct sample-wise sign patterns over the N samples (SWAP's patterns, kept per layer);
* ``pre``: the same on the module's *input* (pre-activation signs). For GELU/ReLU/SiLU-like units the sign of
  the input equals the sign of the output wherever the output is non-zero (x·Φ(x) has the sign of x), so this
  differs from ``distinct`` only through exact zeros;
* ``small[n]``: mean over the N // n disjoint groups of n consecutive samples of the distinct patterns over
  those n samples (n >= N: the full-batch count; "small N with repeats" taken from one forward: per-sample layers such as LayerNorm make a
  group's activations the same as a forward on that group alone, dropout masks aside);
* ``tokens[T]``: *tokens as samples*: for an (N, L, D) output the pattern of a hidden unit d of sample i over
  its first T token positions; rows are the N·D (sample, unit) pairs (for (N, C, H, W) outputs the first T
  spatial positions of channel c; all positions when there are fewer than T). Layers without a position axis are left out of this count.

Per-layer counts are combined without letting depth dominate the way SWAP's pooled count does:
``log`` = Σ_l log distinct_l, ``mean`` = mean over layers of distinct_l / neurons_l. ``pooled`` = distinct
patterns over all layers together (``distinct`` pooled: SWAP itself; ``pre`` pooled: SWAP on pre-activations).
With ``ctx.repeats`` > 1 each repeat re-initialises under ``swaplm.swap.repeat_seed`` (the engine's seeds)
and the variant is the mean of its per-repeat values.

All registered variants of one model/batch/settings share one :func:`profile` run (memoised like ``swap``), so
asking for all of them costs one forward per repeat. :func:`variant` makes a proxy for any other setting.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from swaplm import activations as _acts
from swaplm.errors import SwapError
from swaplm.init import get_init
from swaplm.modelstate import input_device, named_modules, padding_mask, scoring_scope, to_device
from swaplm.swap import Collector, Run, batch_size, check_settings, count_distinct, pack_signs

from .base import Proxy, ProxyContext

#: the grid every profile run computes (so the registered variants and the report's grid share one forward)
SMALL_GRID = (8, 16)
TOKEN_GRID = (16, 24)
DEFAULT_SMALL, DEFAULT_TOKENS = 16, 16


@dataclass
class Layer:
    """Counts of one hooked call (see the module docstring)."""

    name: str
    neurons: int
    distinct: int
    pre: int | None = None
    small: dict[int, float] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)
    token_rows: dict[int, int] = field(default_factory=dict)


@dataclass
class Profile:
    """One repeat: its layers, and the pooled distinct counts over all layers (post / pre activation)."""

    layers: list[Layer]
    pooled: int
    pooled_pre: int | None
    neurons: int


def _positions(x: torch.Tensor) -> torch.Tensor | None:
    """(N, P, U) view of an output with a position axis: (N, L, D) text, (N, C, H, W) -> (N, H·W, C)."""
    if x.dim() == 3:
        return x
    if x.dim() >= 4:
        return x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)
    return None


def layer_counts(name: str, out: torch.Tensor, inp: torch.Tensor | None, nonneg: bool, keep: torch.Tensor | None,
                 small: Sequence[int], tokens: Sequence[int]) -> tuple[Layer, torch.Tensor, torch.Tensor | None]:
    """Counts of one hooked output ``out`` (N, ...) (and its input ``inp`` for pre-activation signs); ``keep``
    (N, L) bool marks real tokens when padding is masked. Returns the layer and its (post, pre) codes."""
    n = out.shape[0]
    x = out.detach().reshape(n, -1)
    k = None
    if keep is not None and out.dim() >= 3 and tuple(out.shape[:2]) == tuple(keep.shape):
        k = keep.view(*keep.shape, *([1] * (out.dim() - 2))).expand_as(out).reshape(n, -1)
    codes = pack_signs(x, nonneg, k)
    layer = Layer(name, x.shape[1], count_distinct(codes))
    pre_codes = None
    if inp is not None and inp.shape == out.shape:
        pre_codes = pack_signs(inp.detach().reshape(n, -1), False, k)
        layer.pre = count_distinct(pre_codes)
    for m in small:
        if m >= n:  # a group of at least the batch: the full-batch count
            layer.small[m] = float(layer.distinct)
        else:
            groups = n // m
            layer.small[m] = sum(count_distinct(pack_signs(x[g * m:(g + 1) * m], nonneg,
                                                           None if k is None else k[g * m:(g + 1) * m]))
                                 for g in range(groups)) / groups
    pos = _positions(out.detach())
    if pos is not None:
        kp = None
        if k is not None and out.dim() == 3:
            kp = keep.view(n, -1, 1).expand_as(pos)
        for t in tokens:
            # sequences shorter than t use all their positions
            if pos.shape[1] >= 1:
                xt = pos[:, :t].transpose(0, 1).reshape(min(t, pos.shape[1]), -1)  # (T, N·U): column = (sample, unit)
                kt = None if kp is None else kp[:, :t].transpose(0, 1).reshape(xt.shape[0], -1)
                layer.tokens[t] = count_distinct(pack_signs(xt, nonneg, kt))
                layer.token_rows[t] = xt.shape[1]
    return layer, codes, pre_codes


class _LayerCollector(Collector):
    """The engine's collector (same output checks and forward path as ``swap_score``) keeping per-layer counts
    of every hooked call, and its post/pre-activation codes for the pooled counts."""

    def __init__(self, n: int, keep: torch.Tensor | None, small, tokens, pre: bool):
        super().__init__(n, None)
        self.keep_tokens, self.small, self.tokens, self.pre = keep, small, tokens, pre
        self.layers: list[Layer] = []
        self.pre_codes: list[torch.Tensor | None] = []

    def hook(self, name: str, module):
        nonneg, self.hooks = _acts.is_nonnegative(module), self.hooks + 1

        def fn(_mod, inp, out):
            if self.accept(name, out):
                x_in = inp[0] if self.pre and inp and isinstance(inp[0], torch.Tensor) else None
                layer, codes, pre_codes = layer_counts(name, out, x_in, nonneg, self.keep_tokens, self.small,
                                                       self.tokens)
                self.layers.append(layer)
                self.codes.append(codes)
                self.pre_codes.append(pre_codes)
        return fn

    def profile(self) -> Profile:
        self.check()
        pooled = count_distinct(torch.cat(self.codes))  # every code has code_words(N) words
        pooled_pre = None
        if self.pre and all(pc is not None for pc in self.pre_codes):
            pooled_pre = count_distinct(torch.cat(self.pre_codes))
        return Profile(self.layers, pooled, pooled_pre, sum(lay.neurons for lay in self.layers))


def profile(model, batch, ctx: ProxyContext | None = None, *, small: Sequence[int] = SMALL_GRID,
            tokens: Sequence[int] = TOKEN_GRID, pre: bool = True, activations=None) -> list[Profile]:
    """Per-layer SWAP counts of ``model`` on ``batch``, one :class:`Profile` per repeat of ``ctx``.

    ``small``: sample-group sizes n (each < N) for the small-N counts; ``tokens``: position counts T for the
    tokens-as-samples counts; ``pre``: also count pre-activation signs; ``activations``: modules to hook
    (as :func:`swaplm.swap_score`). Repeats are seeded, re-initialised and run as the engine's loop
    (``swaplm.swap.Run``, in ``swaplm.modelstate.scoring_scope``); the model is left as it was.
    """
    ctx = ctx or ProxyContext()
    n = batch_size(batch)
    check_settings(n, max(1, ctx.repeats), ctx.mode, ctx.padding)
    named = named_modules(model)
    device = input_device(model, named)
    batch = to_device(batch, device)
    init_fn = get_init(ctx.init) if ctx.init is not None else None
    run = Run(model, batch, _acts.select(model, activations, named), n, None, ctx.seed, device, init_fn, ctx.mode)
    keep = padding_mask(batch, ctx.padding)
    out: list[Profile] = []
    with scoring_scope(model, device, [m for _, m in named], init_fn, modes=ctx.mode is not None):
        for r in range(max(1, ctx.repeats)):
            run.prepare(r)
            out.append(run.record(_LayerCollector(n, keep, small, tokens, pre)).profile())
    return out


# ------------------------------------------------------------------------------------------- combining
def combine(layers: Sequence[Layer], *, samples: str = "batch", combine: str = "log", n: int | None = None,
            tokens: int | None = None) -> float:
    """One number from per-layer counts. ``samples``: "batch" (full-N patterns), "pre" (pre-activation),
    "small" (groups of ``n`` samples) or "tokens" (first ``tokens`` positions as samples); ``combine``: "log"
    (Σ_l log count_l) or "mean" (mean_l count_l / rows_l)."""
    pairs = []
    for lay in layers:
        if samples == "batch":
            c, rows = lay.distinct, lay.neurons
        elif samples == "pre":
            c, rows = lay.pre, lay.neurons
        elif samples == "small":
            c, rows = lay.small.get(n), lay.neurons
        elif samples == "tokens":
            c, rows = lay.tokens.get(tokens), lay.token_rows.get(tokens)
        else:
            raise SwapError(f"unknown samples {samples!r}: batch, pre, small or tokens")
        if c is not None and rows:
            pairs.append((c, rows))
    if not pairs:
        raise SwapError(f"no layer has {samples} counts for this setting (n={n}, tokens={tokens})")
    if combine == "log":
        return float(sum(math.log(c) for c, _ in pairs))
    if combine == "mean":
        return float(sum(c / rows for c, rows in pairs) / len(pairs))
    raise SwapError(f"unknown combine {combine!r}: log or mean")


# ----------------------------------------------------------------------------------------------- memo
_memo: dict = {}


def _tensors(model) -> list:
    return list(model.parameters()) + list(model.buffers())


def shared_profile(model, batch, ctx: ProxyContext) -> list[Profile]:
    """:func:`profile` on the full grid, memoised for the last model/batch/settings (checked by value)."""
    settings = (ctx.seed, ctx.repeats, ctx.init, ctx.mode, ctx.padding)
    ref = _memo.get("model")
    if ref is not None and ref() is model and _memo["batch"] is batch and _memo["settings"] == settings:
        now = _tensors(model)
        if len(now) == len(_memo["tensors"]) and all(torch.equal(a, b) for a, b in zip(now, _memo["tensors"])):
            return _memo["profile"]
    prof = profile(model, batch, ctx)
    _memo.clear()
    _memo.update(model=weakref.ref(model), batch=batch, settings=settings, profile=prof,
                 tensors=[t.detach().clone() for t in _tensors(model)])
    return prof


class Variant:
    """A proxy function: one variant setting, mean over repeats. Module-level class so that proxies made at
    run time travel to worker processes."""

    def __init__(self, samples: str = "batch", combine: str = "log", n: int | None = None,
                 tokens: int | None = None, pooled: bool = False):
        self.samples, self.how, self.n, self.tokens, self.pooled = samples, combine, n, tokens, pooled

    def __call__(self, model, batch, ctx: ProxyContext) -> float:
        grid = (self.n is None or self.n in SMALL_GRID) and (self.tokens is None or self.tokens in TOKEN_GRID)
        profs = shared_profile(model, batch, ctx) if grid else profile(
            model, batch, ctx, small=(self.n,) if self.n else (), tokens=(self.tokens,) if self.tokens else ())
        if self.pooled:
            vals = [p.pooled_pre if self.samples == "pre" else p.pooled for p in profs]
            if any(v is None for v in vals):
                raise SwapError("no pre-activation inputs recorded")
            return float(sum(vals) / len(vals))
        return float(sum(combine(p.layers, samples=self.samples, combine=self.how, n=self.n, tokens=self.tokens)
                         for p in profs) / len(profs))

    def __repr__(self) -> str:
        return (f"Variant(samples={self.samples!r}, combine={self.how!r}, n={self.n}, tokens={self.tokens}, "
                f"pooled={self.pooled})")


def variant(samples: str = "batch", combine: str = "log", *, n: int | None = None, tokens: int | None = None,
            pooled: bool = False, name: str | None = None, families: tuple[str, ...] = ("cnn", "transformer")
            ) -> Proxy:
    """A SWAP-variant proxy for any setting (register it with ``swaplm.proxies.register``). Names default to
    ``swap_<samples>[<n|T>]_<combine>`` (``swap_pre_pooled`` for pooled pre-activation SWAP)."""
    if samples == "small" and not n:
        raise SwapError("samples='small' needs n")
    if samples == "tokens" and not tokens:
        raise SwapError("samples='tokens' needs tokens")
    if name is None:
        tag = {"batch": "layer", "pre": "pre", "small": f"n{n}", "tokens": f"tok{tokens}"}[samples]
        name = f"swap_{tag}_{'pooled' if pooled else combine}"
    what = {"batch": "sample-wise patterns over the batch", "pre": "pre-activation sign patterns over the batch",
            "small": f"patterns over groups of {n} samples (mean over the batch's groups)",
            "tokens": f"patterns of each (sample, unit) over its first {tokens} token positions"}[samples]
    how = ("pooled over all layers" if pooled else
           "Σ_l log(distinct_l)" if combine == "log" else "mean over layers of distinct_l / rows_l")
    return Proxy(name, Variant(samples, combine, n, tokens, pooled), cost="repeats × 1 forward (shared by all "
                 "swap variants)", card=f"SWAP variant: distinct {what} per hooked call, {how} (swaplm; "
                 "variants of Peng et al., ICLR 2024).", families=families)


PROXIES = [
    variant("batch", "log", name="swap_layer_log"),
    variant("batch", "mean", name="swap_layer_mean"),
    variant("tokens", "log", tokens=DEFAULT_TOKENS, name="swap_tokens_log"),
    variant("tokens", "mean", tokens=DEFAULT_TOKENS, name="swap_tokens_mean"),
    variant("small", "log", n=DEFAULT_SMALL, name="swap_small_log"),
    variant("small", "mean", n=DEFAULT_SMALL, name="swap_small_mean"),
    variant("pre", pooled=True, name="swap_pre"),
]

#: the other points of the tuning grid (benchmarks/report_transformer_proxies.py), registered so that worker
#: processes find them by name; they cost nothing beyond the shared profile run.
#: ``swap_pooled`` is SWAP itself computed from the profile (equal to ``swap`` by construction; tested).
GRID = [
    variant("batch", pooled=True, name="swap_pooled"),
    variant("small", "log", n=8),
    variant("small", "mean", n=8),
    variant("tokens", "log", tokens=24),
    variant("tokens", "mean", tokens=24),
]
PROXIES = PROXIES + GRID
