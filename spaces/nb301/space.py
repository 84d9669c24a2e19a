"""The NAS-Bench-301 search space: DARTS genotypes within NB-301's rules, variation, the network NB-301
trained, the shipped CIFAR-10 sample as inputs (:mod:`..cifar10_sample`) and NASLib's 725-arch sample as the
benchmark.

Builds: ``full`` is the network NB-301 trained (32 initial channels, 8 cells, auxiliary head built but not run:
:mod:`.model`); ``reduced`` the same cells in a cheaper network (16 channels, 5 cells, no auxiliary head; its
parameter counts are not the benchmark's).

The ground truth is **not a trained accuracy**: NASLib's NAS-Bench-Suite-Zero sample carries, per
architecture, the CIFAR-10 validation accuracy that the NAS-Bench-301 surrogate model (XGB v1.0) predicts.
A correlation against it measures agreement with the surrogate.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from swaplm.errors import SwapError

from ..base import Record, Space
from ..cifar10_sample import Cifar10Sample
from ..darts_cnn.genotype import Genotype
from ..darts_cnn.space import DartsSpace
from .arch import as_arch, format_arch, parse_arch
from .benchmark import CSV_PATH, EXPECTED_ROWS, TASKS, load_benchmark
from .model import C_DEFAULT, LAYERS_DEFAULT, NB301Network

#: (C, layers, auxiliary head) of each build
BUILDS: dict[str, tuple[int, int, bool]] = {"full": (C_DEFAULT, LAYERS_DEFAULT, True), "reduced": (16, 5, False)}


class NB301Space(Cifar10Sample, Space):
    """NAS-Bench-301 on CIFAR-10: DARTS normal and reduction cells (7 ops, two distinct inputs per node).

    ``build`` picks the network size (:data:`BUILDS`); ``C`` and ``layers`` override it."""

    name = "nb301"
    tasks = TASKS
    builds = tuple(BUILDS)
    #: what the benchmark's scores are (reports must say it)
    ground_truth = ("NASLib's NAS-Bench-Suite-Zero validation accuracy: predicted by the NAS-Bench-301 "
                    "surrogate model (XGB v1.0), not measured by training")

    def __init__(self, build: str = "full", C: int | None = None, layers: int | None = None):
        if build not in BUILDS:
            raise SwapError(f"nb301 build must be one of {', '.join(BUILDS)}; got {build!r}")
        default_c, default_layers, self.auxiliary = BUILDS[build]
        self.build_mode = build
        self.C = default_c if C is None else C
        self.layers = default_layers if layers is None else layers
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (self.C, self.layers)):
            raise SwapError(f"nb301 C and layers are positive integers, got {self.C}, {self.layers}")
        # the DARTS space's "standard" convention is the NB-301 space (7 ops, distinct inputs, normal and
        # reduction cells independent): its variation, encoding and parameter count serve this space
        self._darts = DartsSpace(convention="standard", network="eval", C=self.C, layers=self.layers,
                                 num_classes=self.num_classes)

    def __repr__(self) -> str:
        return f"NB301Space(build={self.build_mode!r}, C={self.C}, layers={self.layers})"

    # --- architectures -------------------------------------------------------------------------------------
    def key(self, arch: Genotype | str) -> str:
        """The canonical ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...], ...)`` text."""
        return format_arch(as_arch(arch))

    def parse(self, text: str) -> Genotype:
        """An NB-301 genotype from its ``Genotype(...)`` text or NASLib's key (one-line SwapError when
        malformed or outside the NB-301 space)."""
        return parse_arch(text)

    def sample(self, rng) -> Genotype:
        """A uniformly random NB-301 genotype: per node two distinct inputs and two ops of the 7."""
        return self._darts.sample(rng)

    def mutate(self, arch: Genotype, rng) -> Genotype:
        """One edge of one cell changed: its op, or its input (to one the node does not already read)."""
        return self._darts.mutate(as_arch(arch), rng)

    def crossover(self, a: Genotype, b: Genotype, rng) -> Genotype:
        """Each node of each cell (its two edges) from parent ``a`` or ``b`` with equal probability."""
        return self._darts.crossover(as_arch(a), as_arch(b), rng)

    def encode(self, arch: Genotype) -> tuple:
        """Categorical vector: op and input of every edge, normal cell then reduction cell (32 entries)."""
        return self._darts.encode(as_arch(arch))

    # --- models ----------------------------------------------------------------------------------------------
    def build(self, arch: Genotype | str) -> nn.Module:
        """A freshly initialised NB-301 network for ``arch`` at this build's size."""
        return NB301Network(as_arch(arch), num_classes=self.num_classes, C=self.C, layers=self.layers,
                            auxiliary=self.auxiliary)

    def param_count(self, arch: Genotype | str) -> int:
        """Parameters of :meth:`build`'s network without the auxiliary head (what swaplm's ``params`` proxy
        counts), computed per op shape without building the network."""
        return self._darts.param_count(as_arch(arch))

    def features(self, arch: Genotype | str) -> dict[str, float]:
        """Trivial baseline: the parameter count in millions (auxiliary head excluded)."""
        return {"params_m": self.param_count(arch) / 1e6}

    def save(self, arch: Genotype | str, directory) -> list[str]:
        """Write ``genotype.txt`` (the key); returns the file names written."""
        Path(directory, "genotype.txt").write_text(self.key(arch) + "\n", encoding="utf-8")
        return ["genotype.txt"]

    def benchmark(self) -> list[Record]:
        """NASLib's 725 records: id = row in the CSV (0-based), arch = the genotype, scores = {"cifar10":
        surrogate-predicted validation accuracy %}, extra = {"naslib_key": NASLib's key}."""
        return load_benchmark(CSV_PATH, expected_rows=EXPECTED_ROWS)


__all__ = ["NB301Space", "BUILDS"]
