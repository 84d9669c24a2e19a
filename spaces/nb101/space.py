"""The NAS-Bench-101 search space: cell specs (pruned as the benchmark prunes them), variation, the benchmark's
network, the shipped CIFAR-10 sample as inputs (:mod:`..cifar10_sample`) and NASLib's 500-arch sample as the
benchmark.

Builds: ``full`` is the benchmark's network (128-channel stem, 3 stacks of 3 cells); ``reduced`` the same shape
with 16 channels and one cell per stack (cheaper to score; its parameter counts are not the benchmark's).
The ground truth is NASLib's validation accuracy: one randomly drawn training run of the benchmark's three
(108 epochs), not a mean and not a test accuracy.
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from swaplm.errors import SwapError

from ..base import Record, Space
from ..cifar10_sample import Cifar10Sample
from . import spec as _spec
from .benchmark import CSV_PATH, EXPECTED_ROWS, TASKS, load_benchmark
from .model import CELLS_DEFAULT, C_DEFAULT, STACKS_DEFAULT, Network, param_count
from .spec import Spec, as_spec, parse_spec

#: (C, stacks, cells per stack) of each build
BUILDS: dict[str, tuple[int, int, int]] = {"full": (C_DEFAULT, STACKS_DEFAULT, CELLS_DEFAULT),
                                           "reduced": (16, STACKS_DEFAULT, 1)}


class NB101Space(Cifar10Sample, Space):
    """NAS-Bench-101 on CIFAR-10: cells of up to 7 vertices and 9 edges, the benchmark's network.

    ``build`` picks the network size (:data:`BUILDS`); ``C``, ``stacks`` and ``cells`` override it."""

    name = "nb101"
    tasks = TASKS
    builds = tuple(BUILDS)
    #: what the benchmark's scores are (reports must say it)
    ground_truth = ("NASLib's NAS-Bench-Suite-Zero validation accuracy: one randomly drawn run of the three, "
                    "108 epochs")

    def __init__(self, build: str = "full", C: int | None = None, stacks: int | None = None,
                 cells: int | None = None):
        if build not in BUILDS:
            raise SwapError(f"nb101 build must be one of {', '.join(BUILDS)}; got {build!r}")
        default_c, default_stacks, default_cells = BUILDS[build]
        self.build_mode = build
        self.C = default_c if C is None else C
        self.stacks = default_stacks if stacks is None else stacks
        self.cells = default_cells if cells is None else cells
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (self.C, self.stacks, self.cells)):
            raise SwapError(f"nb101 C, stacks and cells are positive integers, got {self.C}, {self.stacks}, "
                            f"{self.cells}")

    def __repr__(self) -> str:
        return f"NB101Space(build={self.build_mode!r}, C={self.C}, stacks={self.stacks}, cells={self.cells})"

    # --- architectures -------------------------------------------------------------------------------------
    def key(self, arch: Spec | str) -> str:
        """The pruned spec's key: matrix rows as bit strings, then the ops (``011.001.000|input,...,output``)."""
        return str(as_spec(arch))

    def parse(self, text: str) -> Spec:
        """A :class:`Spec` from a key or NASLib's NB-101 key (one-line SwapError when malformed or invalid)."""
        return parse_spec(text)

    # the search operators and the encoding: the module functions of .spec (their docstrings say what each does)
    encode, sample = staticmethod(_spec.encode), staticmethod(_spec.sample)
    mutate, crossover = staticmethod(_spec.mutate), staticmethod(_spec.crossover)

    # --- models ----------------------------------------------------------------------------------------------
    def build(self, arch: Spec | str) -> nn.Module:
        """A freshly initialised NB-101 network for ``arch`` at this build's size."""
        return Network(as_spec(arch), num_classes=self.num_classes, C=self.C, stacks=self.stacks, cells=self.cells)

    def param_count(self, arch: Spec | str) -> int:
        """Parameters of :meth:`build`'s network, computed from layer shapes (no model is built)."""
        return param_count(arch, self.num_classes, self.C, self.stacks, self.cells)

    def features(self, arch: Spec | str) -> dict[str, float]:
        """Trivial baselines: the parameter count in millions, and the pruned cell's vertices and edges."""
        spec = as_spec(arch)
        return {"params_m": self.param_count(spec) / 1e6, "vertices": float(spec.vertices),
                "edges": float(spec.edges)}

    def save(self, arch: Spec | str, directory) -> list[str]:
        """Write ``spec.txt`` (the key); returns the file names written."""
        Path(directory, "spec.txt").write_text(self.key(arch) + "\n", encoding="utf-8")
        return ["spec.txt"]

    def benchmark(self) -> list[Record]:
        """NASLib's 500 records: id = row in the CSV (0-based), arch = the pruned spec, scores = {"cifar10":
        validation accuracy %} (one random run), extra = NASLib's key and the raw matrix and ops."""
        return load_benchmark(CSV_PATH, expected_rows=EXPECTED_ROWS)


__all__ = ["NB101Space", "BUILDS"]
