"""Shared plumbing of the data-driven proxies: forward to one output tensor, the scalar objective, the weight
layers, the padding mask and the input-embedding route for transformers.

The objective (one rule for every gradient proxy):

* ``ctx.labels`` given and the output is (N, C) logits with C > max label -> mean cross-entropy;
* otherwise (no labels, or a headless model whose output is hidden states) the **label-free surrogate**
  ``½ Σ_i ‖f(x_i) − t_i‖² / N``: mean-over-samples squared error to a random target t ~ N(0, 1) drawn from
  ``ctx.seed`` (padded positions excluded). Unlike ``Σ output`` it never vanishes behind a final LayerNorm
  (Σ of a LayerNorm output with equal gains is constant, so its gradient is 0) and unlike argmax pseudo-labels
  it does not saturate to a zero gradient for large logits.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from swaplm.errors import SwapError
from swaplm.modelstate import padding_mask

from ._session import session, to_device
from .base import ProxyContext

TARGET_SEED_OFFSET = 7919  # the surrogate target's generator seed is ctx.seed + this


def first_tensor(out) -> torch.Tensor:
    """The model's main output: a tensor itself, else the first tensor of a ModelOutput / tuple / dict."""
    if isinstance(out, torch.Tensor):
        return out
    values = out.values() if isinstance(out, Mapping) else out if isinstance(out, (tuple, list)) else ()
    for v in values:
        if isinstance(v, torch.Tensor):
            return v
    raise SwapError(f"model output {type(out).__name__} holds no tensor to score")


def run(model: nn.Module, batch) -> torch.Tensor:
    """Forward an image tensor (``model(x)``) or a dict (``model(**batch)``); returns the main output tensor."""
    return first_tensor(model(batch) if isinstance(batch, torch.Tensor) else model(**batch))


def token_mask(batch, ctx: ProxyContext) -> torch.Tensor | None:
    """(N, L) bool, True for real tokens, when ``ctx.padding == "mask"`` and the batch has padding; else None."""
    return padding_mask(batch, ctx.padding)


def expand_mask(mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """Broadcast an (N, L) token mask to ``x`` when x is (N, L, ...); None when it does not apply."""
    if mask is None or x.dim() < 3 or tuple(x.shape[:2]) != tuple(mask.shape):
        return None
    return mask.view(*mask.shape, *([1] * (x.dim() - 2))).expand_as(x)


def surrogate(out: torch.Tensor, ctx: ProxyContext, mask: torch.Tensor | None = None,
              reduction: str = "mean") -> torch.Tensor:
    """½ Σ (out − t)² over each sample (padded positions excluded), mean (or sum) over samples."""
    gen = torch.Generator().manual_seed(ctx.seed + TARGET_SEED_OFFSET)
    target = torch.randn(out.shape, generator=gen).to(out.device, out.dtype)  # CPU draw: same on every device
    sq = 0.5 * (out - target) ** 2
    m = expand_mask(mask, out)
    if m is not None:
        sq = sq * m.to(sq.dtype)
    total = sq.sum()
    return total / out.shape[0] if reduction == "mean" else total


def usable_labels(out: torch.Tensor, ctx: ProxyContext) -> torch.Tensor | None:
    """``ctx.labels`` when they fit the output as class targets of (N, C) logits; else None."""
    y = ctx.labels
    if y is None or out.dim() != 2:
        return None
    y = torch.as_tensor(y, device=out.device)
    if y.dim() != 1 or y.shape[0] != out.shape[0] or y.dtype.is_floating_point or int(y.max()) >= out.shape[1]:
        return None
    return y.long()


def objective(out: torch.Tensor, batch, ctx: ProxyContext, *, labels: bool = True) -> torch.Tensor:
    """The scalar every gradient proxy differentiates (module docstring); ``labels=False`` forces the surrogate."""
    y = usable_labels(out, ctx) if labels else None
    if y is not None:
        return F.cross_entropy(out, y)
    return surrogate(out, ctx, token_mask(batch, ctx))


def objective_name(labels: bool = True) -> str:
    return ("cross-entropy with ctx.labels on (N, C) logits, else " if labels else "") + \
        "½‖f(x)−t‖² to a seeded N(0,1) target t (label-free surrogate)"


_WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv/Linear layers (and transformers' ``Conv1D``) whose ``weight`` the per-weight proxies sum over;
    modules named "auxiliary" are left out. Raises SwapError when there are none."""
    chosen = [(n, m) for n, m in model.named_modules()
              if (isinstance(m, _WEIGHT_LAYERS) or type(m).__name__ == "Conv1D")
              and isinstance(getattr(m, "weight", None), torch.Tensor) and "auxiliary" not in n]
    if not chosen:
        raise SwapError(f"{type(model).__name__} has no Conv/Linear layer to score")
    return chosen


def sum_over_weights(model: nn.Module, batch, ctx: ProxyContext, layers: list[tuple[str, nn.Module]],
                     reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, labels: bool = True) -> float:
    """One forward + backward of :func:`objective`, then Σ ``reduce(W, ∂L/∂W)`` over ``layers`` (layers whose
    weight got no gradient are skipped)."""
    with session(model, ctx, grad=True) as device:
        batch = to_device(batch, device)
        objective(run(model, batch), batch, ctx, labels=labels).backward()
        return float(sum(reduce(m.weight.detach(), m.weight.grad) for _, m in layers if m.weight.grad is not None))


@contextmanager
def input_leaf(model: nn.Module, batch, transform: Callable[[torch.Tensor], torch.Tensor] | None = None
               ) -> Iterator[tuple[object, list[torch.Tensor]]]:
    """Make the network's first float input a differentiable leaf; yields ``(batch_to_run, leaves)``.

    Image tensors: the batch itself (after ``transform``). Dict batches (transformers): the output of
    ``model.get_input_embeddings()`` is replaced in a forward hook by ``transform(output)`` detached as a leaf
    (token ids cannot carry gradients); ``leaves`` receives one tensor per call, (N, L, E).
    """
    leaves: list[torch.Tensor] = []
    tf = transform or (lambda t: t)
    if isinstance(batch, torch.Tensor):
        x = tf(batch.detach().float() if not batch.dtype.is_floating_point else batch.detach())
        x = x.clone().requires_grad_(True)
        leaves.append(x)
        yield x, leaves
        return
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Module):
        raise SwapError(f"{type(model).__name__} has no get_input_embeddings(): cannot differentiate w.r.t. "
                        "its inputs")

    def hook(_m, _inp, out):
        leaf = tf(out.detach()).clone().requires_grad_(True)
        leaves.append(leaf)
        return leaf

    handle = emb.register_forward_hook(hook)
    try:
        yield batch, leaves
    finally:
        handle.remove()
