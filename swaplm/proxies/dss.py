"""DSS indicator of TF-TAS (Zhou et al., CVPR 2022; anchors §1.3). Data- and label-free: only the batch's shape
is used.

As in TF-TAS the network is linearised: every parameter is replaced by its absolute value (restored afterwards),
and one all-ones input of batch size 1 is run (text: token id 1 everywhere, attention mask 1; the SynFlow probe
``synflow.ones_batch``), in float64 and eval mode (dropout off; BatchNorm statistics neutral). R = Σ output, and
one backward of R gives ∂R/∂W. Then

* token-mixing (attention) Conv/Linear layers — q/k/v, output projections, and the mixers of FlexiBERT — score
  the synaptic diversity ‖W‖_nuc · ‖∂R/∂W‖_nuc (weights flattened to (out, −1));
* every other Conv/Linear layer (MLP / feed-forward, input projections, heads) scores the synaptic saliency
  Σ|W ⊙ ∂R/∂W|;

and DSS is the sum of both over all layers (W being the linearised |W|).

Port note: TF-TAS's ViTs end in a classifier head. A headless language model ends in a LayerNorm, whose output
sums to a constant (so every gradient would be 0); when the model's output is the output of a LayerNorm, R is
the sum of that LayerNorm's *input* instead. Outputs of RMSNorm or of a head are summed as they are.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._grad import run, weight_layers
from ._session import hooks, session
from .base import Proxy, ProxyContext
from .synflow import linearise, ones_batch
from .transformer import _pick, is_mixing

_CENTRING_NORMS = (nn.LayerNorm, nn.GroupNorm)


def _nuclear(t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(t.reshape(t.shape[0], -1), ord="nuc")


def readout(model: nn.Module, batch) -> torch.Tensor:
    """R: Σ of the model's main output, or of the input of the LayerNorm that produced it (module docstring)."""
    last: dict[str, torch.Tensor] = {}

    def hook(_m, args, out):
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            last["in"], last["out"] = args[0], out

    with hooks([m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _CENTRING_NORMS)]):
        out = run(model, batch)
    pre = last.get("in")
    if pre is not None and last["out"].data_ptr() == out.data_ptr() and last["out"].numel() == out.numel():
        return pre.sum()
    return out.sum()


def _dss(model, batch, ctx: ProxyContext) -> float:
    _pick(model, "mixing")  # SwapError for a model without attention layers: DSS is for transformers
    layers = weight_layers(model)
    with session(model, ctx, mode="eval", grad=True, mutates=True) as device:
        linearise(model)
        readout(model, ones_batch(batch, device)).backward()
        total = torch.zeros((), dtype=torch.float64, device=device)
        for name, m in layers:
            w, g = m.weight.detach(), m.weight.grad
            if g is None:
                continue
            total += _nuclear(w) * _nuclear(g) if is_mixing(name) else (w * g).abs().sum()
    return float(total)


PROXY = Proxy("dss", _dss, families=("transformer",), needs_gradients=True,
              cost="1 forward + 1 backward (batch 1, float64) + SVDs of the attention weights",
              card="DSS (TF-TAS): on the |θ|-linearised network with an all-ones input (batch 1, float64, eval), "
                   "R = Σ output (Σ of the final LayerNorm's input when the output is a LayerNorm's); Σ over "
                   "attention Linears of ‖W‖_nuc·‖∂R/∂W‖_nuc plus Σ over all other Linears of |W ⊙ ∂R/∂W|. "
                   "Data- and label-free. Transformers only. Zhou et al., CVPR 2022.")
