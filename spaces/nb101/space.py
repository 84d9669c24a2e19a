"""The NAS-Bench-101 search space: cell specs (pruned as the benchmark prunes them), variation, the benchmark's
network, the shipped CIFAR-10 sample as inputs and NASLib's 500-arch sample as the benchmark.

Builds: ``full`` is the benchmark's network (128-channel stem, 3 stacks of 3 cells); ``reduced`` the same shape
with 16 channels and one cell per stack (cheaper to score; its parameter counts are not the benchmark's).
The ground truth is NASLib's validation accuracy: one randomly drawn training run of the benchmark's three
(108 epochs), not a mean and not a test accuracy.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Mapping

import torch
import torch.nn as nn

from swaplm.errors import SwapError, check_samples

from ..base import Record, ScoringProtocol, Space
from . import spec as _spec
from .benchmark import CSV_PATH, EXPECTED_ROWS, TASKS, load_benchmark
from .model import CELLS_DEFAULT, C_DEFAULT, STACKS_DEFAULT, Network, param_count
from .spec import Spec, as_spec, parse_spec

#: (C, stacks, cells per stack) of each build
BUILDS: dict[str, tuple[int, int, int]] = {"full": (C_DEFAULT, STACKS_DEFAULT, CELLS_DEFAULT),
                                           "reduced": (16, STACKS_DEFAULT, 1)}


class NB101Space(Space):
    """NAS-Bench-101 on CIFAR-10: cells of up to 7 vertices and 9 edges, the benchmark's network.

    ``build`` picks the network size (:data:`BUILDS`); ``C``, ``stacks`` and ``cells`` override it."""

    name = "nb101"
    family = "cnn"
    tasks = TASKS
    # provisional default: 16 images, one pass, PyTorch default init, train mode, no size prior
    protocol = ScoringProtocol(n=16, repeats=1, init=None, mode="train")
    task_aliases = {"c10": "cifar10", "cifar-10": "cifar10"}
    builds = tuple(BUILDS)
    num_classes = 10
    #: what the default inputs are (for reports and --json)
    input_descriptions: ClassVar[Mapping[str, str]] = {
        "cifar10": "CIFAR-10 training images (swaplm's shipped sample, builtin:cifar10)"}
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

    # --- inputs ----------------------------------------------------------------------------------------------
    def _own_sample(self, data: str | None) -> bool:
        """Whether ``data`` means the shipped CIFAR-10 sample (None or the task) rather than an image source
        for ``swaplm.data.load_images``; a SwapError for anything that is neither."""
        if data is None or data.lower() in self.tasks or data.lower() in self.task_aliases:
            return True
        if ":" not in data and not Path(data).expanduser().exists():
            raise SwapError(f"nb101 has no task {data!r}; tasks: {', '.join(self.tasks)} (or pass an image "
                            "source: builtin:cifar10, an .npz file or an image folder)")
        return False

    def input_description(self, data: str | None = None) -> str:
        """What :meth:`inputs` returns for ``data``, in words."""
        return self.input_descriptions["cifar10"] if self._own_sample(data) else f"images from {data}"

    def inputs(self, data: str | None = None, *, n: int | None = None, seed: int = 0,
               max_length: int | None = None) -> torch.Tensor:
        """``n`` (default ``protocol.n``) normalised CIFAR-10 images (n, 3, 32, 32): the shipped sample (seed 0:
        the first n, the DARTS and NB-201 spaces' reference batch; another seed: n distinct images drawn with
        it), or another image source read by ``swaplm.data.load_images`` at 32x32."""
        from swaplm.data import load_images

        if max_length is not None:
            raise SwapError(f"--max-length is for text spaces; the {self.name} space scores images")
        n = check_samples(n or self.protocol.n)
        source = "builtin:cifar10" if self._own_sample(data) else data
        return load_images(source, n, seed=seed, size=32)

    def labels(self, data: str | None = None, *, n: int | None = None, seed: int = 0) -> torch.Tensor | None:
        """CIFAR-10 class labels (n,) of the images :meth:`inputs` returns for the same arguments; None for an
        outside image source."""
        from swaplm.data import BUILTIN_IMAGES, cifar10_labels

        n = check_samples(n or self.protocol.n)
        if not self._own_sample(data):
            return None
        available = len(BUILTIN_IMAGES["cifar10"]("train"))
        if n > available:
            raise SwapError(f"asked for {n} cifar10 images but {available} ship with swaplm")
        labels = cifar10_labels(available)
        return labels[:n] if seed == 0 else labels[_chosen(available, n, seed)]


def _chosen(available: int, n: int, seed: int) -> torch.Tensor:
    """The indices ``swaplm.data.load_images`` picks for a seed other than 0 (n distinct, sorted)."""
    import numpy as np

    return torch.from_numpy(np.sort(np.random.default_rng(seed).choice(available, size=n, replace=False)))


__all__ = ["NB101Space", "BUILDS"]
