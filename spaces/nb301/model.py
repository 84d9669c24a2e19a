"""The network NAS-Bench-301 trained: the DARTS CIFAR evaluation network with 32 initial channels, 8 cells and
an auxiliary head.

Configuration source: automl/nasbench301, ``nasbench301/data_generation/configs/config_0.json``, the data-generation
configuration shipped with the benchmark's code (the cell entries vary per architecture, the rest is the
fixed training pipeline): ``darts:init_channels`` 32, ``darts:layers`` 8,
``darts:auxiliary`` True, ``darts:drop_path_prob`` 0.2 (training only), batch size 96, 100 epochs of SGD
with cosine annealing, cutout and mixup (``nasbench301/data_generation/run_proxy.py`` trains it with
``validation_split`` 0.2 of the CIFAR-10 training set).

The body is :class:`swaplm.spaces.darts_cnn.Network` with its stem (3x3 conv to 3C channels + BN), reduction
cells at ``layers // 3`` and ``2 * layers // 3`` (cells 2 and 5 of 8) and affine BatchNorm in every op, as
in the DARTS evaluation code. The auxiliary head (DARTS' CIFAR head: it reads the output of the second
reduction cell, 8x8 for 32x32 inputs) is built as the module ``auxiliary_head`` but :meth:`forward` does not
run it: ``forward`` is the inference path and returns the main logits, in train and eval mode alike.
swaplm's parameter counts (``count_params``, the ``params`` proxy) and its gradient proxies leave out modules
whose name contains "auxiliary", so the head changes no score. Drop path is off (``drop_path_prob`` 0).
"""
from __future__ import annotations

import torch.nn as nn

from ..darts_cnn.genotype import Genotype
from ..darts_cnn.model import Network

C_DEFAULT, LAYERS_DEFAULT = 32, 8  # NB-301's init_channels and layers (config_0.json above)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary CIFAR classifier on an 8x8 feature map: ReLU, 5x5 average pooling with stride 3 (to
    2x2), 1x1 conv to 128 channels, BN, ReLU, 2x2 conv to 768 channels, BN, ReLU, then a linear layer."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class NB301Network(Network):
    """The NB-301 evaluation network of ``genotype`` (C initial channels, ``layers`` cells); with
    ``auxiliary`` it also holds the auxiliary head that NB-301 trained with (not run by ``forward``)."""

    def __init__(self, genotype: Genotype, num_classes: int = 10, C: int = C_DEFAULT,
                 layers: int = LAYERS_DEFAULT, auxiliary: bool = True):
        super().__init__(C, num_classes, layers, genotype, stem=True)
        self.auxiliary_index = 2 * layers // 3  # the head reads this cell's output (the second reduction cell)
        if auxiliary:
            cell = self.cells[self.auxiliary_index]
            self.auxiliary_head = AuxiliaryHead(cell.multiplier * cell.preprocess1[1].out_channels, num_classes)
        else:
            self.auxiliary_head = None


__all__ = ["NB301Network", "AuxiliaryHead", "C_DEFAULT", "LAYERS_DEFAULT"]
