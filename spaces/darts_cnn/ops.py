"""The eight DARTS candidate operations and their building blocks.

Every op maps ``C`` channels to ``C`` channels; ``stride=2`` halves the spatial size (rounding up, so odd
sizes work too). Convolutions have no bias, BatchNorm is affine with running statistics, and every ReLU is a
separate non-inplace ``nn.ReLU`` module so activation hooks (SWAP) see each call.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def _bn(C: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=True, track_running_stats=True)


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (subsampled) input."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, stride, padding, dilation) -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int = 1):
        super().__init__(nn.ReLU(),
                         nn.Conv2d(C_in, C_out, kernel, stride, padding, dilation, bias=False),
                         _bn(C_out))


class DilConv(nn.Sequential):
    """ReLU -> depthwise k×k (dilated) -> pointwise 1×1 -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__(nn.ReLU(),
                         nn.Conv2d(C_in, C_in, kernel, stride, padding, dilation, groups=C_in, bias=False),
                         nn.Conv2d(C_in, C_out, 1, bias=False),
                         _bn(C_out))


class SepConv(nn.Sequential):
    """Two undilated ``DilConv`` stacks; only the first one strides."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int):
        super().__init__(DilConv(C_in, C_in, kernel, stride, padding, 1),
                         DilConv(C_in, C_out, kernel, 1, padding, 1))


class FactorizedReduce(nn.Module):
    """ReLU -> two 1×1 stride-2 convs (the second on the input shifted by one pixel) -> concat -> BN.

    The shifted copy is zero-padded on the bottom/right so both halves have size ceil(H/2) × ceil(W/2).
    """

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_a = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


OpFactory = Callable[[int, int], nn.Module]

#: name -> factory(C, stride); the order is the usual DARTS ``PRIMITIVES`` order.
OPS: dict[str, OpFactory] = {
    "none": lambda C, stride: Zero(stride),
    "max_pool_3x3": lambda C, stride: nn.MaxPool2d(3, stride, padding=1),
    "avg_pool_3x3": lambda C, stride: nn.AvgPool2d(3, stride, padding=1, count_include_pad=False),
    "skip_connect": lambda C, stride: nn.Identity() if stride == 1 else FactorizedReduce(C, C),
    "sep_conv_3x3": lambda C, stride: SepConv(C, C, 3, stride, 1),
    "sep_conv_5x5": lambda C, stride: SepConv(C, C, 5, stride, 2),
    "dil_conv_3x3": lambda C, stride: DilConv(C, C, 3, stride, 2, 2),
    "dil_conv_5x5": lambda C, stride: DilConv(C, C, 5, stride, 4, 2),
}
PRIMITIVES: tuple[str, ...] = tuple(OPS)
