"""Floating-point operations of one forward, per sample (counted by ``torch.utils.flop_counter``)."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from swaplm.swap import batch_size

from ._grad import run
from ._session import session, to_device
from .base import Proxy, ProxyContext


def _flops(model, batch, ctx: ProxyContext) -> float:
    """Total FLOPs of ``model`` on ``batch`` divided by the batch size N (a multiply-add counts 2)."""
    n = batch_size(batch)
    with session(model, ctx) as device, torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            run(model, to_device(batch, device))
    return counter.get_total_flops() / n


PROXY = Proxy("flops", _flops, cost="1 forward",
              card="FLOPs per sample of one forward on the batch (torch FlopCounterMode: matmul/conv/attention "
                   "ops, a multiply-add = 2; elementwise ops are not counted). Size baseline (NASLib: MFLOPs).")
