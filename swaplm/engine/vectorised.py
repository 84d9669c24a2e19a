"""Vectorised repeats: K re-initialised copies of one model scored in one forward (``SwapResult.path``).

How. The K copies are folded into the batch dimension: the input (N, ...) is repeated to (N·K, ...), row
i·K + c holding sample i for copy c (sample-major, so (N·K, C, ...) is a free view of (N, K·C, ...)). Every module whose output does not depend on other samples (activations,
pooling, padding, concatenation, reshapes, the model's own forward code) then runs unchanged on all copies at
once. Only modules that own weights, and BatchNorm (whose train-mode statistics are per batch), get a
temporary forward that treats the K copies separately:

- Conv1d/2d/3d: the batch is viewed as (N, K·C, ...) and run as one grouped convolution (K·groups groups,
  the K weight tensors stacked along the output channels);
- BatchNorm: the same view, then one ``F.batch_norm`` over K·C channels, so every copy gets its own
  batch statistics (train mode) exactly as its own forward would;
- Linear: one ``baddbmm`` over the K weight matrices; Embedding: one lookup in the K stacked tables;
- LayerNorm/GroupNorm: one call when the K copies' affine weights are equal (after the reference re-init
  they are all γ = 1, β = 0), else one call per copy.

Why this and not ``torch.func`` (``stack_module_state`` + ``functional_call`` + ``vmap``): vmap's batching
rules for convolution and batch norm do this same regrouping, but they run behind a per-op dispatch layer
that costs more than the whole DARTS proxy forward on a CPU, they cannot run the engine's hooks (tensors
escaping a vmapped function are an error), and BatchNorm's in-place running-stat update needs extra
handling. Folding copies into the batch keeps the hooks as they are (a hooked output is (N·K, ...) and is
viewed as (N, K·V) when packed), and the plain kernels give bit-identical outputs per copy on CPU (tested
against the loop in tests/test_vectorised.py).

Weights. Copy k gets exactly the weights repeat k of the loop draws: for each copy the engine seeds torch with
``repeat_seed(seed, r)``, runs the same initialiser on the model itself and snapshots its parameters and
buffers (then restores the model). So the vectorised scores are the looped scores, copy for copy. An init that
declares ``normal_weights`` (swaplm.init) has its later copies drawn straight into their rows, once a check on
the first copy shows the draws are the same.

What is not vectorised (the caller falls back to the loop and says why): a module type that owns parameters
and has no rule here, convolutions with non-zero padding modes, Embedding with ``max_norm``, an active
Dropout (the loop's random draws cannot be reproduced), any forward that draws random numbers (checked: the
RNG state must be unchanged by the forward), a hooked output whose first dimension is not K·N, or any error
in the folded forward. Forward code that mixes samples outside BatchNorm (``x.mean(0)``, a hard-coded batch
size) is not detectable; pass ``vectorise=False`` for such models.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import SwapError
from ..modelstate import restore, seed_rng
from ..swap import repeat_seed

# elements of hooked output per chunk of copies (K·N·neurons); bounds the memory of one folded forward
CHUNK_ELEMENTS = 1 << 25
PARAM_ELEMENTS = 1 << 26  # parameter elements of all copies of one chunk (K·params)
FIRST_GUESS = 16  # hooked elements per input element, for sizing the first chunk before the neuron count is known

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BN = nn.modules.batchnorm._BatchNorm
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


class Unsupported(Exception):
    """The model (or this forward) cannot be vectorised; the message says why."""


def _direct(m: nn.Module):
    return [(k, v) for k, v in m._parameters.items() if v is not None], \
        [(k, v) for k, v in m._buffers.items() if v is not None]


def unsupported_reason(model: nn.Module) -> str | None:
    """Why ``model`` cannot run vectorised, or None. Cheap, structural check before any work."""
    for name, m in model.named_modules():
        params, buffers = _direct(m)
        if "forward" in m.__dict__ or hasattr(m, "_hf_hook"):  # e.g. accelerate's device-dispatch wrappers
            return f"{name or 'the model'} has an instance-level forward (device dispatch hooks?)"
        if isinstance(m, _DROPOUT) and m.p > 0 and m.training:
            return f"active dropout in {name or 'the model'} ({type(m).__name__}, p={m.p}): random per repeat"
        if not params:
            continue
        if isinstance(m, _CONV):
            if m.padding_mode != "zeros":
                return f"{name}: convolution padding_mode {m.padding_mode!r}"
        elif isinstance(m, nn.Embedding):
            if m.max_norm is not None:
                return f"{name}: Embedding with max_norm"
        elif not isinstance(m, (nn.Linear, _BN, nn.LayerNorm, nn.GroupNorm)):
            return f"{name or 'the model'} ({type(m).__name__}) owns parameters and has no vectorised rule"
    return None


# ---------------------------------------------------------------------------------------- per-module rules
def _regroup(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N·K, C, ...) -> (N, K·C, ...): a view (rows are sample-major, copy-minor)."""
    return x.reshape(x.shape[0] // k, k * x.shape[1], *x.shape[2:])


def _ungroup(y: torch.Tensor, k: int) -> torch.Tensor:
    """(N, K·C, ...) -> (N·K, C, ...): a view."""
    return y.reshape(y.shape[0] * k, y.shape[1] // k, *y.shape[2:])


# Each batched rule is used where it is bit-identical to one call per copy (what the loop computes): that is
# decided once per process for every input/weight signature, on random data from a private generator (the
# kernels are deterministic, so an algorithm that agrees there agrees everywhere; one that differs in rounding
# differs on almost any random input). Example: oneDNN runs a grouped dense 3×3 convolution with a different
# algorithm than the same convolution ungrouped, while grouped depthwise and 1×1 convolutions (all of the DARTS
# proxy's) are identical. Where it differs, the rule makes one call per copy, exactly as the loop would.
_EXACT: dict[tuple, bool] = {}


def _checked(kind: str, static: tuple, candidates, per_copy):
    """A forward that runs the first of ``candidates`` found bit-identical to ``per_copy`` for this signature
    (probed once per process), else ``per_copy``."""
    def forward(x):
        key = (kind, static, tuple(x.shape), x.dtype, x.device.type, x.is_contiguous(), torch.get_num_threads())
        choice = _EXACT.get(key)
        if choice is None:
            g = torch.Generator(device=x.device).manual_seed(0)
            probe = torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device)
            want = per_copy(probe)
            choice = next((fn for fn in candidates if torch.equal(fn(probe), want)), per_copy)
            _EXACT[key] = choice = candidates.index(choice) if choice is not per_copy else -1
        return candidates[choice](x) if choice >= 0 else per_copy(x)

    return forward


def _split(x: torch.Tensor, k: int):
    """The K per-copy batches (N, ...) of a folded (N·K, ...) tensor (contiguous copies, as the loop's)."""
    xs = x.reshape(x.shape[0] // k, k, *x.shape[1:])
    return [xs[:, i].contiguous() for i in range(k)]


def _merge(ys: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`_split`."""
    y = torch.stack(ys, 1)
    return y.reshape(y.shape[0] * y.shape[1], *y.shape[2:])


def _conv_forward(m, k, w, b):
    dims = w.dim() - 3  # w is (K, C_out, C_in / groups, *kernel)
    fn = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    weight = w.reshape(k * w.shape[1], *w.shape[2:])
    bias = b.reshape(-1) if b is not None else None
    args = (m.stride, m.padding, m.dilation)

    def grouped(x):  # one grouped convolution over (N, K·C, ...)
        return _ungroup(fn(_regroup(x, k), weight, bias, *args, m.groups * k), k)

    def per_copy(x):
        return _merge([fn(xi, w[i], b[i] if b is not None else None, *args, m.groups)
                       for i, xi in enumerate(_split(x, k))])

    candidates = [grouped]
    if dims == 2 and m.groups == 1 and w.shape[-2:] == (1, 1) and m.padding in ((0, 0), "valid") \
            and m.dilation == (1, 1):
        w3 = w.reshape(k, w.shape[1], w.shape[2])
        sh, sw = m.stride

        def matmul(x):  # a 1×1 convolution is a (C_out × C_in) matrix product per copy: one batched matmul
            if (sh, sw) != (1, 1):
                x = x[:, :, ::sh, ::sw]
            n, h, wd = x.shape[0] // k, x.shape[2], x.shape[3]
            y = torch.matmul(w3, x.reshape(n, k, x.shape[1], h * wd))  # (N, K, C_out, HW)
            if b is not None:
                y = y + b.view(1, k, -1, 1)
            return y.reshape(n * k, w.shape[1], h, wd)

        candidates.insert(0, matmul)
    return _checked("conv", (tuple(w.shape), b is None, *args, m.groups), candidates, per_copy)


def _bn_forward(m, k, w, b, rm, rv):
    weight = w.reshape(-1) if w is not None else None
    bias = b.reshape(-1) if b is not None else None
    rmean = rm.reshape(-1) if rm is not None else None
    rvar = rv.reshape(-1) if rv is not None else None

    # batch statistics when training or when no running stats are tracked (as nn.BatchNorm's forward); running
    # stats are never updated here (they do not change a train-mode output; the engine restores every buffer)
    def fast(x):  # one batch norm over (N, K·C, ...): per-channel statistics are per-copy statistics
        batch = m.training or rmean is None
        return _ungroup(F.batch_norm(_regroup(x, k), None if batch else rmean, None if batch else rvar,
                                     weight, bias, batch, 0.0, m.eps), k)

    def per_copy(x):
        batch = m.training or rmean is None
        return _merge([F.batch_norm(xi, None if batch else rm[i], None if batch else rv[i],
                                    w[i] if w is not None else None, b[i] if b is not None else None,
                                    batch, 0.0, m.eps) for i, xi in enumerate(_split(x, k))])

    checked = _checked("bn", (w is None, rm is None, m.eps), [fast], per_copy)
    return lambda x: checked(x) if x.shape[0] else x


def _linear_forward(m, k, w, b):
    wt = w.transpose(1, 2)  # (K, in, out)

    def fast(x):  # one batched matrix product over (K, N·..., in)
        n, rest = x.shape[0] // k, x.shape[1:-1]
        xk = x.reshape(n, k, -1, x.shape[-1]).transpose(0, 1).reshape(k, -1, x.shape[-1])
        if b is None:
            y = torch.bmm(xk, wt)
        else:
            y = torch.baddbmm(b.unsqueeze(1).expand(k, xk.shape[1], b.shape[-1]), xk, wt)
        return y.reshape(k, n, -1, w.shape[1]).transpose(0, 1).reshape(n * k, *rest, w.shape[1])

    def per_copy(x):
        return _merge([F.linear(xi, w[i], b[i] if b is not None else None) for i, xi in enumerate(_split(x, k))])

    return _checked("linear", (tuple(w.shape), b is None), [fast], per_copy)


def _embedding_forward(m, k, w, n):
    table = w.reshape(k * w.shape[1], w.shape[2])
    rows = w.shape[1]
    offset = (torch.arange(k, device=w.device) * rows).repeat(n)  # row i·K + c reads table c

    def forward(ids):
        if ids.shape[0] == k * n:  # one lookup in the K stacked tables
            return F.embedding(ids + offset.view(-1, *([1] * (ids.dim() - 1))), table, None, None, 2.0,
                               m.scale_grad_by_freq, m.sparse)
        if ids.shape[0] == 1:  # ids shared by the whole batch (position ids (1, L)): (K·N, L, D), copy by copy
            out = F.embedding(ids[0] + (torch.arange(k, device=ids.device) * rows).view(-1, *([1] * (ids.dim() - 1))),
                              table, None, None, 2.0, m.scale_grad_by_freq, m.sparse)
            return out.unsqueeze(0).expand(n, k, *out.shape[1:]).reshape(n * k, *out.shape[1:])
        raise Unsupported(f"embedding ids with first dimension {ids.shape[0]} (neither 1 nor K·N)")

    return forward


def _same(t):
    return t is None or all(torch.equal(t[0], t[i]) for i in range(1, t.shape[0]))


def _norm_forward(m, k, w, b, fn):
    if _same(w) and _same(b):  # one call on all copies (bit-identical: the op is per sample)
        w0 = w[0] if w is not None else None
        b0 = b[0] if b is not None else None
        return lambda x: fn(x, w0, b0)

    def forward(x):  # per-copy weights: one call per copy
        return _merge([fn(xi, w[i] if w is not None else None, b[i] if b is not None else None)
                       for i, xi in enumerate(_split(x, k))])

    return forward


def _rule(m: nn.Module, k: int, n: int, get):
    """The folded forward of ``m`` given ``get(name) -> (K, ...)`` stacked tensors, or None to keep its own."""
    params, buffers = _direct(m)
    if isinstance(m, _CONV):
        return _conv_forward(m, k, get("weight"), get("bias"))
    if isinstance(m, _BN):
        return _bn_forward(m, k, get("weight"), get("bias"), get("running_mean"), get("running_var"))
    if not params:
        return None
    if isinstance(m, nn.Linear):
        return _linear_forward(m, k, get("weight"), get("bias"))
    if isinstance(m, nn.Embedding):
        return _embedding_forward(m, k, get("weight"), n)
    if isinstance(m, nn.LayerNorm):
        return _norm_forward(m, k, get("weight"), get("bias"),
                             lambda x, w, b: F.layer_norm(x, m.normalized_shape, w, b, m.eps))
    if isinstance(m, nn.GroupNorm):
        return _norm_forward(m, k, get("weight"), get("bias"),
                             lambda x, w, b: F.group_norm(x, m.num_groups, w, b, m.eps))
    raise Unsupported(f"{type(m).__name__} owns parameters and has no vectorised rule")


# ------------------------------------------------------------------------------------------ the copies
class Copies:
    """K snapshots of a model's parameters and floating buffers, and the folded forwards that use them.

    ``snapshot(r)`` records the model's current tensors as copy ``r`` (one ``torch.cat`` per copy); ``install()``
    gives every module that needs it a temporary instance-level ``forward`` (removed again by ``remove()``,
    leaving the modules exactly as they were).
    """

    def __init__(self, model: nn.Module, k: int):
        self.model, self.k = model, k
        self.mods = [m for m in model.modules() if isinstance(m, _CONV + (_BN,)) or _direct(m)[0]]
        self.tensors = []  # (module, name, tensor) of every floating tensor the rules read
        for m in self.mods:
            params, buffers = _direct(m)
            for name, t in params + buffers:
                if t.is_floating_point():
                    self.tensors.append((m, name, t))
        total = sum(t.numel() for _, _, t in self.tensors)
        first = self.tensors[0][2] if self.tensors else None
        self.flat = torch.empty(k, total, dtype=first.dtype if first is not None else torch.float32,
                                device=first.device if first is not None else "cpu")
        if any(t.dtype != self.flat.dtype for _, _, t in self.tensors):
            raise Unsupported("parameters of mixed floating dtypes")
        self.installed: list[tuple[nn.Module, object]] = []

    def snapshot(self, r: int) -> None:
        if self.tensors:
            torch.cat([t.detach().reshape(-1) for _, _, t in self.tensors], out=self.flat[r])

    def gaussian_matches(self, reseed) -> bool:
        """After the model was re-initialised by an init that declares ``normal_weights`` (``swaplm.init``, e.g.
        ``gaussian_init``) and snapshot as copy 0: set every
        copy to copy 0 (the constant part: biases 0, norm γ 1 / β 0, other tensors as they are) and check
        that :meth:`draw_gaussian` after ``reseed()`` draws exactly copy 0 again. True: later copies can be
        drawn directly into their rows (no re-init of the model and snapshot per copy)."""
        if self.k < 2:
            return False
        gauss = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Embedding)  # the normal_weights contract
        self.draws, off = [], 0
        for m, name, t in self.tensors:
            if name == "weight" and isinstance(m, gauss):
                self.draws.append((off, t.numel()))
            off += t.numel()
        self.flat[1:] = self.flat[0]
        reseed()
        self.draw_gaussian(1)
        return bool(torch.equal(self.flat[0], self.flat[1]))

    def draw_gaussian(self, r: int) -> None:
        """Copy ``r``'s N(0, 1) weights, drawn in gaussian_init's order (see :meth:`gaussian_matches`)."""
        row = self.flat[r]
        for off, numel in self.draws:
            row[off:off + numel].normal_()

    def install(self, k: int, n: int) -> None:
        """Install folded forwards for the first ``k`` copies on batches of ``n`` samples per copy."""
        stacked: dict[tuple[int, str], torch.Tensor] = {}
        off = 0
        for m, name, t in self.tensors:
            stacked[(id(m), name)] = self.flat[:k, off:off + t.numel()].reshape(k, *t.shape).contiguous()
            off += t.numel()
        try:
            for m in self.mods:
                fwd = _rule(m, k, n, lambda name, m=m: stacked.get((id(m), name)))
                if fwd is not None:
                    self.installed.append((m, m.__dict__.get("forward")))
                    m.forward = fwd
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        for m, previous in reversed(self.installed):
            if previous is None:
                m.__dict__.pop("forward", None)
            else:
                m.__dict__["forward"] = previous
        self.installed.clear()


def fold_inputs(inputs, n: int, k: int):
    """Repeat every batch-first tensor of ``inputs`` K times along the batch: row i·K + c is sample i of copy c."""
    def rep(t):
        if isinstance(t, torch.Tensor) and t.dim() and t.shape[0] == n:
            return t.repeat_interleave(k, 0)
        return t

    if isinstance(inputs, torch.Tensor):
        return rep(inputs)
    if isinstance(inputs, Mapping):
        return {key: rep(v) for key, v in inputs.items()}
    return inputs


def chunk_size(k: int, n: int, inputs, neurons: int | None, params: int) -> int:
    """Copies per folded forward: K·N·neurons within :data:`CHUNK_ELEMENTS` (before the first forward the
    neuron count is guessed from the input size) and K·params within :data:`PARAM_ELEMENTS`."""
    if neurons is None:
        if isinstance(inputs, torch.Tensor):
            per_sample = inputs[0].numel()
        else:
            per_sample = sum(v[0].numel() for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim())
        neurons = max(1, per_sample) * FIRST_GUESS
    by_params = PARAM_ELEMENTS // params if params else k
    return max(1, min(k, CHUNK_ELEMENTS // max(1, n * neurons), by_params))


# ---------------------------------------------------------------------------------------------- the repeats
def vectorised_repeats(run, packer, repeats: int, params: int, state):
    """All repeats of ``run`` (a ``swaplm.swap.Run``) as folded copies, in chunks. Returns (counts, last
    collector, None), or ([], None, why) when the model cannot run vectorised; the model is then as ``state``
    (its snapshot) holds it, so the loop starts from the model as it was."""
    if run.mode is not None:
        run.model.train(run.mode == "train")
    why = unsupported_reason(run.model) or (
        "no init: every repeat uses the same weights" if run.init_fn is None else "")
    if why:
        return [], None, why
    try:
        counts, col = _chunks(run, packer, repeats, params)
    except Unsupported as e:
        restore(run.model, state)
        return [], None, str(e)
    return counts, col, None


def _chunks(run, packer, repeats: int, params: int):
    counts, col, r, folded, direct = [], None, 0, {}, None
    chunk = chunk_size(repeats, run.n, run.inputs, None, params)
    copies = Copies(run.model, chunk)
    while r < repeats:
        k = min(chunk, repeats - r)
        direct = _draw(run, copies, r, k, direct)
        if run.mode is not None:
            run.model.train(run.mode == "train")
        if k not in folded:
            folded[k] = fold_inputs(run.inputs, run.n, k)
        col = _folded_forward(run, packer, copies, folded[k], k)
        counts += col.count_copies()
        r += k
        chunk = min(chunk, chunk_size(repeats, run.n, run.inputs, col.neurons, 0))  # the real neuron count is known
    return counts, col


def _draw(run, copies: Copies, r: int, k: int, direct: bool | None) -> bool | None:
    """Copies 0..k-1 get the weights repeats r..r+k-1 of the loop draw. ``direct``: whether they can be drawn
    straight into their rows (decided on the first copy; None before)."""
    for i in range(k):
        seed_rng(repeat_seed(run.seed, r + i), run.device)
        if direct:
            copies.draw_gaussian(i)
            continue
        run.init_fn(run.model)
        copies.snapshot(i)
        if direct is None:
            direct = getattr(run.init_fn, "normal_weights", False) and copies.gaussian_matches(
                lambda: seed_rng(repeat_seed(run.seed, r + i), run.device))
    return direct


def _folded_forward(run, packer, copies: Copies, inputs, k: int):
    """One hooked forward of the ``k`` installed copies on the folded ``inputs``; Unsupported when the forward
    fails, draws random numbers or a hooked output does not carry the folded batch."""
    device = run.device
    cuda = device.type == "cuda"
    state = torch.default_generator.get_state()
    cuda_state = torch.cuda.get_rng_state(device) if cuda else None
    copies.install(k, run.n)
    try:
        col = packer.record(run, lambda: None, inputs, copies=k)
    except SwapError:
        raise
    except Exception as e:  # anything the folded forward cannot do: the loop will
        raise Unsupported(f"the folded forward failed ({type(e).__name__}: {str(e)[:160]})") from None
    finally:
        copies.remove()
    if not torch.equal(state, torch.default_generator.get_state()) or (
            cuda and not torch.equal(cuda_state, torch.cuda.get_rng_state(device))):
        raise Unsupported("the forward draws random numbers (dropout or similar): the loop's draws cannot be "
                          "reproduced")
    if col.mismatch:
        raise Unsupported(f"a hooked output does not carry the folded batch: {col.mismatch}")
    return col
