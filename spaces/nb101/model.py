"""The NAS-Bench-101 network (Ying et al., ICML 2019), written from its description: a 3x3 conv-BN-ReLU stem
(3 -> 128 channels); 3 stacks of 3 cells, with a 2x2 max-pool (stride 2) before stacks 2 and 3 and the channel
count doubling at each of them (128, 256, 512); global average pooling; a dense layer to 10 classes.

Inside a cell (:class:`Cell`) the benchmark's channel rule (:func:`vertex_channels`) sets each vertex's width:
the output concatenates its interior predecessors, so out_channels is split among them (out_channels // k each,
the remainder one by one to the first ones), and every other interior vertex takes the widest width among its
interior successors. The input reaches an interior vertex through a 1x1 conv-BN-ReLU projection to that
vertex's width; an interior vertex sums its inputs, an interior source one channel wider than the vertex
is cut to the vertex's width (its first channels; no parameters); the vertex's op keeps its width. An
input -> output edge adds the input's 1x1 projection to out_channels onto the concatenation.

BatchNorm uses the benchmark's settings (TensorFlow decay 0.997, epsilon 1e-5: PyTorch momentum 0.003); convs
have no bias. The parameter counts are the benchmark's (tests/test_nb101_space.py checks them against
published per-arch figures).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .spec import Spec, as_spec

C_DEFAULT, STACKS_DEFAULT, CELLS_DEFAULT = 128, 3, 3
BN_MOMENTUM, BN_EPS = 0.003, 1e-5
#: kernel size of each conv op
KERNELS = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}


class ConvBnRelu(nn.Sequential):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d -> ReLU: the benchmark's conv ops and projections."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM),
                         nn.ReLU(inplace=False))


def make_op(name: str, channels: int) -> nn.Module:
    """The module of one interior vertex (stride 1, ``channels`` in and out)."""
    if name in KERNELS:
        return ConvBnRelu(channels, channels, KERNELS[name])
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NB-101 op {name!r}")


def vertex_channels(spec: Spec, c_in: int, c_out: int) -> list[int]:
    """The width of every vertex of ``spec`` in a cell from ``c_in`` to ``c_out`` channels.

    The input has ``c_in`` and the output ``c_out``. The k interior vertices with an edge to the output share
    ``c_out``: each gets c_out // k, and the first c_out % k of them (in vertex order) one more. Going
    backwards, every other interior vertex gets the largest width among the interior vertices it feeds (a
    pruned spec's interior vertices all lead to the output, so each has one)."""
    matrix, n = spec.matrix, spec.vertices
    widths = [0] * n
    widths[0], widths[-1] = c_in, c_out
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    if not feeders:  # only input and output: nothing to share
        return widths
    base, extra = divmod(c_out, len(feeders))
    for rank, v in enumerate(feeders):
        widths[v] = base + (1 if rank < extra else 0)
    for v in range(n - 2, 0, -1):
        if not matrix[v][n - 1]:
            widths[v] = max(widths[w] for w in range(v + 1, n - 1) if matrix[v][w])
    return widths


class Cell(nn.Module):
    """One NB-101 cell of ``spec`` from ``c_in`` to ``c_out`` channels (see the module docstring)."""

    def __init__(self, spec: Spec | str, c_in: int, c_out: int):
        super().__init__()
        self.spec = as_spec(spec)
        matrix, n = self.spec.matrix, self.spec.vertices
        self.widths = vertex_channels(self.spec, c_in, c_out)
        self.ops = nn.ModuleDict()
        self.projections = nn.ModuleDict()  # input -> vertex v (1x1 conv-BN-ReLU), key str(v)
        for v in range(1, n):
            if matrix[0][v]:
                self.projections[str(v)] = ConvBnRelu(c_in, self.widths[v], 1)
            if v < n - 1:
                self.ops[str(v)] = make_op(self.spec.ops[v], self.widths[v])
        # interior sources of each vertex, in vertex order
        self.sources = [[u for u in range(1, v) if matrix[u][v]] for v in range(n)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.spec.vertices
        values: list[torch.Tensor | None] = [x]
        for v in range(1, n - 1):
            width = self.widths[v]
            terms = [values[u][:, :width] for u in self.sources[v]]  # a wider source is cut to the first channels
            if str(v) in self.projections:
                terms.append(self.projections[str(v)](x))
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            values.append(self.ops[str(v)](total))
        parts = self.sources[n - 1]
        out = torch.cat([values[u] for u in parts], dim=1) if parts else None
        if str(n - 1) in self.projections:
            projected = self.projections[str(n - 1)](x)
            out = projected if out is None else out + projected
        return out


class Network(nn.Module):
    """The NB-101 network for ``spec``; returns logits (batch, num_classes).

    ``C`` (stem and first-stack channels), ``stacks`` and ``cells`` (per stack) default to the benchmark's
    128, 3 and 3; smaller values build a reduced network of the same shape (not the benchmark's)."""

    def __init__(self, spec: Spec | str, num_classes: int = 10, C: int = C_DEFAULT, stacks: int = STACKS_DEFAULT,
                 cells: int = CELLS_DEFAULT):
        super().__init__()
        self.spec = as_spec(spec)
        self.stem = ConvBnRelu(3, C, 3)
        layers: list[nn.Module] = []
        channels = C
        for stack in range(stacks):
            c_out = C * 2 ** stack
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
            for _ in range(cells):
                layers.append(Cell(self.spec, channels, c_out))
                channels = c_out
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cells(self.stem(x))
        return self.classifier(out.mean(dim=(2, 3)))


def cell_param_count(spec: Spec, c_in: int, c_out: int) -> int:
    """Parameters of ``Cell(spec, c_in, c_out)``: projections and conv ops, each conv weight plus BN's 2 per
    channel."""
    matrix, n = spec.matrix, spec.vertices
    widths = vertex_channels(spec, c_in, c_out)
    total = 0
    for v in range(1, n):
        if matrix[0][v]:
            total += c_in * widths[v] + 2 * widths[v]
        kernel = KERNELS.get(spec.ops[v]) if v < n - 1 else None
        if kernel:
            total += kernel * kernel * widths[v] * widths[v] + 2 * widths[v]
    return total


def param_count(spec: Spec | str, num_classes: int = 10, C: int = C_DEFAULT, stacks: int = STACKS_DEFAULT,
                cells: int = CELLS_DEFAULT) -> int:
    """Parameters of ``Network(spec, num_classes, C, stacks, cells)`` without building it."""
    spec = as_spec(spec)
    total = 3 * 9 * C + 2 * C  # stem conv + BN
    channels = C
    for stack in range(stacks):
        c_out = C * 2 ** stack
        for _ in range(cells):
            total += cell_param_count(spec, channels, c_out)
            channels = c_out
    return total + channels * num_classes + num_classes  # dense layer


__all__ = ["Network", "Cell", "ConvBnRelu", "make_op", "vertex_channels", "cell_param_count", "param_count",
           "C_DEFAULT", "STACKS_DEFAULT", "CELLS_DEFAULT"]
