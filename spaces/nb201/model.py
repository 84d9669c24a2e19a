"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020; the NATS-Bench topology search space), written from its
description: stem 3x3 conv (3 -> C) + BN; three stages of N cells with C, 2C, 4C channels, joined by residual
reduction blocks; then BN + ReLU, global average pooling and a linear classifier. C = 16 and N = 5 are the
benchmark's; every BN is affine with running statistics, as in the benchmark's training.

The parameter counts are the benchmark's own (tests/test_nb201_space.py checks them against published
figures): e.g. 1,531,546 for the all-``nor_conv_3x3`` cell on CIFAR-10 and 73,306 for a cell without convs.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .arch import NODES, Arch, as_arch

C_DEFAULT, N_DEFAULT = 16, 5


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d (affine): the benchmark's ``nor_conv`` op and reduction-block
    branch."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, affine=True, track_running_stats=True))


def make_op(name: str, channels: int) -> nn.Module | None:
    """The module of one cell edge (stride 1, channels kept); None for ``none``, whose output is zero and which
    the cell therefore leaves out of its sums."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":  # the benchmark's pooling leaves padded zeros out of the average
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB-201 op {name!r}")


class Cell(nn.Module):
    """A 4-node cell: node 0 is the input, node i = sum over j < i of op_(j->i)(node j), node 3 the output.

    ``none`` edges are left out (adding zero does not change a sum); a node with only ``none`` inputs is zero.
    """

    def __init__(self, arch: Arch | str, channels: int):
        super().__init__()
        self.arch = as_arch(arch)
        self.edges = nn.ModuleDict()
        # sources[i]: (source node, module key) of node i's non-none inputs
        self.sources: list[list[tuple[int, str]]] = [[] for _ in range(NODES)]
        for node in range(1, NODES):
            for j, op in self.arch.incoming(node):
                module = make_op(op, channels)
                if module is not None:
                    key = f"edge{j}{node}"  # edge j -> node
                    self.edges[key] = module
                    self.sources[node].append((j, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, NODES):
            total = None
            for j, key in self.sources[node]:
                h = self.edges[key](nodes[j])
                total = h if total is None else total + h
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block (a ResNet basic block with stride 2): ReLU-conv3x3(stride 2)-BN then
    ReLU-conv3x3-BN, plus a shortcut of 2x2 average pooling (stride 2) and a 1x1 conv (no BN)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class Network(nn.Module):
    """The full NB-201 network for ``arch`` with ``num_classes`` outputs; returns logits (batch, num_classes).

    ``C`` and ``N`` (cells per stage) default to the benchmark's 16 and 5; smaller values build a reduced
    network of the same shape (not the benchmark's)."""

    def __init__(self, arch: Arch | str, num_classes: int = 10, C: int = C_DEFAULT, N: int = N_DEFAULT):
        super().__init__()
        self.arch = as_arch(arch)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(channels, channels * 2))
                channels *= 2
            layers.extend(Cell(self.arch, channels) for _ in range(N))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(out).flatten(1))


def param_count(arch: Arch | str, num_classes: int = 10, C: int = C_DEFAULT, N: int = N_DEFAULT) -> int:
    """Parameters of ``Network(arch, num_classes, C, N)`` without building it, from the layer shapes:
    each conv edge of each cell plus the fixed part (stem, reduction blocks, last BN, classifier)."""
    arch = as_arch(arch)
    conv = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}  # kernel area of each conv op
    total = 3 * 9 * C + 2 * C  # stem conv + BN
    channels = C
    for stage in range(3):
        if stage > 0:
            c_in, channels = channels, channels * 2
            total += 9 * c_in * channels + 2 * channels  # conv_a + BN
            total += 9 * channels * channels + 2 * channels  # conv_b + BN
            total += c_in * channels  # shortcut 1x1 conv
        per_cell = sum(conv[op] * channels * channels + 2 * channels for op in arch if op in conv)
        total += N * per_cell
    return total + 2 * channels + channels * num_classes + num_classes  # last BN + classifier


__all__ = ["Network", "Cell", "ResidualReduction", "ReLUConvBN", "make_op", "param_count", "C_DEFAULT",
           "N_DEFAULT"]
