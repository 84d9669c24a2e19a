"""DARTS cell and network: the tiny SWAP scoring proxy and the standard evaluation network.

The scoring proxy is ``Network(C=3, num_classes=10, layers=1, genotype)``: no stem (both cell inputs are the
image), a single cell which is a reduction cell (C doubles to 6), global average pooling and a linear head —
3×32×32 -> 24×16×16 -> 24 -> 10 logits. Only ``genotype.reduce`` matters for it.

Difference from the reference code: its ``forward`` returned the pooled 24-d features and never used the
head; ours returns the logits. SWAP only hooks the ReLUs inside the cell, so the score is the same (the head's
parameters do count towards the parameter total, as in the reference).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .genotype import Genotype, check_genotype
from .ops import OPS, FactorizedReduce, ReLUConvBN


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples with probability ``p`` and rescale the rest by 1/(1-p)."""
    keep = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


class Cell(nn.Module):
    """One DARTS cell: two preprocessed inputs, four nodes (sum of two ops each), concat of ``*_concat``.

    In a reduction cell the ops that read the cell inputs (states 0 and 1) use stride 2. If the previous cell
    reduced, input 0 is still at the larger resolution and is brought down by a ``FactorizedReduce``.
    """

    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_prev_prev, C) if reduction_prev
                            else ReLUConvBN(C_prev_prev, C, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.indices = [index for _, index in edges]
        self.ops = nn.ModuleList(OPS[op](C, 2 if reduction and index < 2 else 1) for op, index in edges)
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(len(self.ops) // 2):
            node = 0
            for e in (2 * k, 2 * k + 1):
                h = self.ops[e](states[self.indices[e]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[e], nn.Identity):
                    h = drop_path(h, drop_prob)
                node = node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class Network(nn.Module):
    """A stack of ``layers`` cells with reduction cells at ``layers // 3`` and ``2 * layers // 3``.

    ``stem=False`` (the SWAP proxy): both inputs of the first cell are the raw input, which must have
    ``in_channels`` channels. ``stem=True`` (standard DARTS evaluation net): a 3×3 conv (in_channels ->
    ``stem_multiplier * C``) + BN first. Set ``drop_path_prob`` (> 0) for training; ``forward`` returns logits.
    """

    def __init__(self, C: int, num_classes: int, layers: int, genotype: Genotype, stem: bool = False,
                 in_channels: int = 3, stem_multiplier: int = 3, drop_path_prob: float = 0.0):
        super().__init__()
        check_genotype(genotype)
        self.genotype = genotype
        self.drop_path_prob = drop_path_prob
        if stem:
            C_stem = stem_multiplier * C
            self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(C_stem))
        else:
            C_stem, self.stem = in_channels, nn.Identity()
        C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(self.global_pooling(s1).flatten(1))


def proxy_network(genotype: Genotype, num_classes: int = 10) -> Network:
    """The SWAP scoring proxy: ``Network(C=3, num_classes, layers=1, genotype)`` without stem."""
    return Network(3, num_classes, 1, genotype)


class EvalNetwork(Network):
    """The standard DARTS CIFAR evaluation network (stem, 20 cells, C=36, no auxiliary head)."""

    def __init__(self, genotype: Genotype, C: int = 36, num_classes: int = 10, layers: int = 20,
                 drop_path_prob: float = 0.0):
        super().__init__(C, num_classes, layers, genotype, stem=True, drop_path_prob=drop_path_prob)
