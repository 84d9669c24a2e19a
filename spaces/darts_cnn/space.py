"""The DARTS CNN search space (SPEC §5): sampling, variation, building, inputs and the 1000-arch benchmark.

Two sampling conventions:

* ``"reference"`` (default) — how the benchmark's 1000 archs were drawn (method-facts §8.3): every edge picks
  one of all 8 ops (``none`` included) and an input uniformly from ``0..k+1`` *with replacement* (a node may
  read the same state twice), and the normal cell equals the reduce cell.
* ``"standard"`` — the usual DARTS space: 7 ops (no ``none``), two *distinct* inputs per node, normal and
  reduce cells independent.

Variation keeps the convention: in ``reference`` mode normal and reduce stay identical; in ``standard`` mode
no ``none`` is introduced and a node's two inputs stay distinct.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from swaplm.errors import SwapError
from swaplm.swap import Regularise

from ..base import Record, ScoringProtocol, Space
from .benchmark import CSV_PATH, EXPECTED_ROWS, load_benchmark
from .genotype import STEPS, Edge, Genotype, check_genotype, format_genotype, parse_genotype
from .model import Network
from .ops import OPS, PRIMITIVES

CONCAT = tuple(range(2, STEPS + 2))
CONVENTIONS = ("reference", "standard")
NETWORKS = {"proxy": dict(C=3, layers=1, stem=False), "eval": dict(C=36, layers=20, stem=True)}


class DartsSpace(Space):
    """DARTS cell space on CIFAR-10.

    ``network="proxy"`` builds the SWAP scoring proxy (C=3, one reduction cell, no stem); ``"eval"`` the
    standard evaluation network (stem, 20 cells, C=36). ``C`` / ``layers`` override the chosen network's size.
    """

    name = "darts"
    family = "cnn"  # which proxies apply (swaplm.proxies.available(family))
    tasks = ("cifar10",)
    # swap_reg's size prior (Θ in thousands of parameters): μ = 2.0k, σ = 10k, chosen by grid search on archs
    # 0-499 only (reports/darts_cifar10.md, "How μ and σ were chosen"; 500-999 held out)
    protocol = ScoringProtocol(n=16, repeats=32, init="gaussian", mode="train",
                         regularise=Regularise(mu=2.0, sigma=10.0, unit="k"))

    def __init__(self, convention: str = "reference", network: str = "proxy",
                 C: int | None = None, layers: int | None = None, num_classes: int = 10):
        if convention not in CONVENTIONS:
            raise SwapError(f"unknown DARTS convention {convention!r}; choose one of: {', '.join(CONVENTIONS)}")
        if network not in NETWORKS:
            raise SwapError(f"unknown DARTS network {network!r}; choose one of: {', '.join(NETWORKS)}")
        self.convention, self.network = convention, network
        self.tied = convention == "reference"  # normal cell == reduce cell
        self.ops: tuple[str, ...] = PRIMITIVES if self.tied else tuple(o for o in PRIMITIVES if o != "none")
        size = dict(NETWORKS[network])
        size.update({k: v for k, v in (("C", C), ("layers", layers)) if v is not None})
        self.size, self.num_classes = size, num_classes

    def __repr__(self) -> str:
        return f"DartsSpace(convention={self.convention!r}, network={self.network!r})"

    # --- architectures -------------------------------------------------------------------------------------
    def _cell(self, rng: random.Random) -> list[Edge]:
        edges: list[Edge] = []
        for k in range(STEPS):
            inputs = [rng.randrange(k + 2) for _ in range(2)] if self.tied else rng.sample(range(k + 2), 2)
            edges += [(rng.choice(self.ops), i) for i in inputs]
        return edges

    def _make(self, normal: Sequence[Edge], reduce: Sequence[Edge]) -> Genotype:
        return Genotype(normal=reduce if self.tied else normal, normal_concat=CONCAT,
                        reduce=reduce, reduce_concat=CONCAT)

    def sample(self, rng: random.Random) -> Genotype:
        """A random genotype under this space's convention."""
        reduce = self._cell(rng)
        return self._make(reduce if self.tied else self._cell(rng), reduce)

    def mutate(self, arch: Genotype, rng: random.Random) -> Genotype:
        """Change one edge: its op (50 %) or its input (50 %, when another allowed input exists).

        In ``reference`` mode the reduce cell is mutated and copied to normal.
        """
        g = check_genotype(arch)
        cells = {"normal": list(g.normal), "reduce": list(g.reduce)}
        edges = cells["reduce" if self.tied else rng.choice(("normal", "reduce"))]
        pos = rng.randrange(len(edges))
        op, index = edges[pos]
        taken = {index} if self.tied else {index, edges[pos ^ 1][1]}
        inputs = [i for i in range(pos // 2 + 2) if i not in taken]
        if inputs and rng.random() < 0.5:
            edges[pos] = (op, rng.choice(inputs))
        else:
            edges[pos] = (rng.choice([o for o in self.ops if o != op]), index)
        return self._make(cells["normal"], cells["reduce"])

    def crossover(self, a: Genotype, b: Genotype, rng: random.Random) -> Genotype:
        """Each node (its two edges) comes from parent ``a`` or ``b`` with equal probability."""
        a, b = check_genotype(a), check_genotype(b)

        def mix(ea: Sequence[Edge], eb: Sequence[Edge]) -> list[Edge]:
            return [e for k in range(STEPS) for e in (ea if rng.random() < 0.5 else eb)[2 * k:2 * k + 2]]

        reduce = mix(a.reduce, b.reduce)
        return self._make(reduce if self.tied else mix(a.normal, b.normal), reduce)

    def key(self, arch: Genotype) -> str:
        """Stable id: the canonical genotype text (as in the benchmark CSV)."""
        return format_genotype(check_genotype(arch))

    # --- models and data -----------------------------------------------------------------------------------
    def build(self, arch: Genotype) -> nn.Module:
        """A freshly initialised network for ``arch`` (the scoring proxy unless ``network="eval"``)."""
        s = self.size
        return Network(s["C"], self.num_classes, s["layers"], check_genotype(arch), stem=s["stem"])

    def parse(self, text: str) -> Genotype:
        """A genotype from its text form (``Genotype(normal=[...], ...)``), read without eval."""
        return parse_genotype(text)

    def input_description(self, data: str | None = None) -> str:
        """What :meth:`inputs` returns for ``data``, in words."""
        if self._check_source(data):
            return "CIFAR-10 training images (the reference batch: the first N of the shipped builtin:cifar10)"
        return f"images from {data}"

    def _check_source(self, data: str | None) -> bool:
        """True when ``data`` means the reference images (None or the task name); False for an image source
        (``builtin:cifar10``, an ``.npz`` file, an image folder); a SwapError for anything else."""
        if data is None or data in self.tasks:
            return True
        if ":" not in data and not Path(data).expanduser().exists():
            raise SwapError(f"DARTS space has no task {data!r}; tasks: {', '.join(self.tasks)} (or pass an image "
                            "source: builtin:cifar10, an .npz file or an image folder)")
        return False

    def inputs(self, data: str | None = None, *, n: int | None = None, seed: int = 0,
               max_length: int | None = None) -> torch.Tensor:
        """The reference batch: the first ``n`` (default 16) CIFAR-10 training images, normalised, (n,3,32,32).

        ``seed`` does not change the reference batch (the same images for every candidate). Another image
        source ``data`` is read by ``swaplm.data.load_images`` (seed 0: its first ``n`` images, so
        ``builtin:cifar10`` gives the reference batch; other seeds a seeded choice), resized to 32x32.
        """
        from swaplm.data import cifar10_batch, load_images

        if max_length is not None:
            raise SwapError(f"--max-length is for text spaces; the {self.name} space scores images")
        if self._check_source(data):
            return cifar10_batch(n or self.protocol.n)
        return load_images(data, n or self.protocol.n, seed=seed, size=32)

    def labels(self, data: str | None = None, *, n: int | None = None, seed: int = 0) -> torch.Tensor:
        """CIFAR-10 class labels (n,) long of the images :meth:`inputs` returns (for label-needing proxies)."""
        from swaplm.data import cifar10_labels

        if not (self._check_source(data) or (data == "builtin:cifar10" and seed == 0)):
            raise SwapError(f"labels are known for the shipped CIFAR-10 sample only, not for {data!r}")
        return cifar10_labels(n or self.protocol.n)

    def noise_inputs(self, n: int = 16, seed: int = 0) -> torch.Tensor:
        """Gaussian N(0, 1) inputs shaped like CIFAR-10, (n, 3, 32, 32), reproducible from ``seed`` (ablations)."""
        return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))

    def benchmark(self) -> list[Record]:
        """The 1000 DARTS archs with CIFAR-10 accuracy (%): ``Record(id=row, arch, {"cifar10": acc})``."""
        return load_benchmark(CSV_PATH, expected_rows=EXPECTED_ROWS)

    # --- search support -------------------------------------------------------------------------------------
    def encode(self, arch: Genotype) -> tuple:
        """Categorical vector of the genotype (op and input of every edge, normal then reduce), for distances."""
        g = check_genotype(arch)
        return tuple(v for edges in (g.normal, g.reduce) for e in edges for v in e)

    def save(self, arch: Genotype, directory) -> list[str]:
        """Write ``genotype.txt`` (the canonical genotype text, parsed back by ``parse_genotype``); returns the
        file names written."""
        Path(directory, "genotype.txt").write_text(self.key(arch) + "\n", encoding="utf-8")
        return ["genotype.txt"]

    # --- strata for reports ------------------------------------------------------------------------------
    #: number of equal-count parameter bins (quantiles over the 1000 benchmark archs) used as strata
    STRATA_BINS = 5

    def param_count(self, arch: Genotype) -> int:
        """Parameters of the network :meth:`build` makes for ``arch``, without building it: the fixed part
        (preprocessing, classifier) plus each edge's op, both counted once per shape and memoised."""
        arch = check_genotype(arch)
        s = self.size
        memo = self.__dict__.setdefault("_param_memo", {})
        base_key = ("base", s["C"], s["layers"], s["stem"], self.num_classes)
        if base_key not in memo:
            empty = self._make([("none", 0), ("none", 1)] * STEPS, [("none", 0), ("none", 1)] * STEPS)
            memo[base_key] = _n_params(Network(s["C"], self.num_classes, s["layers"], empty, stem=s["stem"]))
        total, C = memo[base_key], s["C"]
        layers = s["layers"]
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            C = C * 2 if reduction else C
            for op, index in (arch.reduce if reduction else arch.normal):
                key = (op, C, 2 if reduction and index < 2 else 1)
                if key not in memo:
                    memo[key] = _n_params(OPS[op](C, key[2]))
                total += memo[key]
        return total

    def stratum(self, arch: Genotype) -> str:
        """Which of :attr:`STRATA_BINS` equal-count bins of the benchmark's parameter counts ``arch`` falls
        in, e.g. ``"params 1.03–1.38 k"`` (bin edges are quantiles over the 1000 benchmark archs). Size is
        the strongest trivial baseline here (ρ ≈ 0.80), so ρ inside a bin shows what a proxy adds to size."""
        edges = self.__dict__.get("_param_edges")
        if edges is None:
            import numpy as np

            counts = np.array([self.param_count(r.arch) for r in self.benchmark()], dtype=float)
            edges = np.quantile(counts, np.linspace(0, 1, self.STRATA_BINS + 1))
            self._param_edges = edges
        p = self.param_count(arch)
        i = int(min(max(sum(p >= e for e in edges[1:-1]), 0), self.STRATA_BINS - 1))
        return f"params {edges[i] / 1e3:.2f}–{edges[i + 1] / 1e3:.2f} k"


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
