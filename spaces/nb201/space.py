"""The NAS-Bench-201 search space: NATS-Bench arch strings, variation, the benchmark's own network per dataset,
real input images per dataset and the 15,625-arch benchmark table.

Builds: one per dataset (``cifar10``, ``cifar100``, ``imagenet16_120``); they differ only in the classifier
width (10, 100, 120 classes). The network scored by default is the reduced one the protocol study chose
(C = 3, one cell per stage: :data:`SCORE_C`, :data:`SCORE_N`); ``NB201Space(C=16, N=5)`` builds the
benchmark's own network, whose parameter counts are the benchmark's.

Inputs per task: real CIFAR-10 training images (swaplm's shipped sample) for
cifar10, real CIFAR-100 test images (256 shipped in ``data/``) for cifar100, and for imagenet16_120, which has
no images here, the same CIFAR-100 images downsampled to 16x16: a stated substitute (:attr:`substitutes`).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from swaplm.errors import SwapError, check_samples
from swaplm.swap import Regularise

from ..base import Record, ScoringProtocol, Space
from . import arch as _arch
from .arch import Arch, as_arch, parse_arch
from .benchmark import CSV_PATH, EXPECTED_ROWS, TASKS, load_benchmark
from .model import C_DEFAULT, N_DEFAULT, Network, param_count

DATA_DIR = Path(__file__).parent / "data"
CIFAR100_PATH = DATA_DIR / "cifar100_test_256.npz"
#: classes and input side of each dataset's network and images
DATASETS: dict[str, tuple[int, int]] = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet16_120": (120, 16)}
# per-channel mean / std (of pixels in [0, 1]) that NAS-Bench-201's training normalised each dataset with
CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)
SUBSTITUTE_NAME = "cifar100-16x16"


#: the network the default protocol scores: 3 channels in the first stage, one cell per stage (chosen on the
#: tuning sample by benchmarks/nb201_protocol.py, as the DARTS reference code scores a 1-cell, 3-channel net)
SCORE_C, SCORE_N = 3, 1


class NB201Space(Space):
    """NAS-Bench-201 (NATS-Bench topology search space): 15,625 cells.

    ``build`` picks the dataset the network is built for (classifier width) and the default inputs. ``C`` and
    ``N`` set the network size: by default the protocol's reduced network (:data:`SCORE_C`, :data:`SCORE_N`);
    ``C=16, N=5`` is the benchmark's own network. The trivial baselines (:meth:`features`) and the strata
    always use the benchmark's network's parameter count.
    """

    name = "nb201"
    family = "cnn"
    tasks = TASKS
    #: chosen on a tuning sample (index % 16 == 0) by benchmarks/nb201_protocol.py (reports/nb201_protocol.md):
    #: the DARTS reference code's protocol, 16 images and the mean over 32 Gaussian re-inits, train mode, on the
    #: reduced network; swap_reg's size prior (Θ in thousands of the scored network's parameters) from a grid
    #: on the same sample. One pass of the benchmark's network with PyTorch's init (``NB201Space(C=16, N=5)``,
    #: ``--repeats 1 --init random``) was the cheaper runner-up.
    protocol = ScoringProtocol(n=16, repeats=32, init="gaussian", mode="train",
                               regularise=Regularise(mu=11.8, sigma=87.3, unit="k"))
    task_aliases = {"c10": "cifar10", "cifar-10": "cifar10", "c100": "cifar100", "cifar-100": "cifar100",
                    "imagenet16-120": "imagenet16_120", "imagenet16": "imagenet16_120",
                    "imagenet": "imagenet16_120", "in16": "imagenet16_120"}
    builds = TASKS
    #: what each task's default inputs are (for reports and --json)
    input_descriptions: ClassVar[Mapping[str, str]] = {
        "cifar10": "CIFAR-10 training images (swaplm's shipped sample, builtin:cifar10)",
        "cifar100": "CIFAR-100 test images 0-255 (shipped in swaplm.spaces.nb201/data)",
        "imagenet16_120": "substitute cifar100-16x16: the CIFAR-100 test images downsampled to 16x16 by 2x2 "
                          "averaging (no ImageNet16-120 images ship with swaplm)",
    }
    #: tasks whose default inputs are not the task's own images -> the substitute's name
    substitutes: ClassVar[Mapping[str, str]] = {"imagenet16_120": SUBSTITUTE_NAME}

    def __init__(self, build: str = "cifar10", C: int = SCORE_C, N: int = SCORE_N):
        if build not in DATASETS:
            raise SwapError(f"nb201 build must be one of {', '.join(DATASETS)}; got {build!r}")
        self.dataset, self.C, self.N = build, C, N
        self.num_classes, self.image_size = DATASETS[build]

    def __repr__(self) -> str:
        return f"NB201Space(build={self.dataset!r}, C={self.C}, N={self.N})"

    def with_build(self, build: str | None) -> "NB201Space":
        """This space built for dataset ``build`` (None: unchanged), keeping ``C`` and ``N``."""
        space = super().with_build(build)
        return space if space is self else type(self)(build=build, C=self.C, N=self.N)

    # --- architectures -------------------------------------------------------------------------------------
    def key(self, arch: Arch | str) -> str:
        """The NATS-Bench arch string (the benchmark file's ``arch`` column)."""
        return str(as_arch(arch))

    def parse(self, text: str) -> Arch:
        """An :class:`Arch` from a NATS-Bench arch string (one-line SwapError when malformed)."""
        return parse_arch(text)

    # variation and encoding are the module functions of .arch (their docstrings say what each does)
    sample = staticmethod(_arch.sample)
    mutate = staticmethod(_arch.mutate)
    crossover = staticmethod(_arch.crossover)
    encode = staticmethod(_arch.encode)

    def connected(self, arch: Arch | str) -> bool:
        """Whether any input-to-output path avoids ``none`` edges (341 of the 15,625 cells have none)."""
        return _arch.connected(arch)

    # --- models ----------------------------------------------------------------------------------------------
    def build(self, arch: Arch | str) -> nn.Module:
        """A freshly initialised NB-201 network for ``arch`` (this build's classifier width)."""
        return Network(as_arch(arch), num_classes=self.num_classes, C=self.C, N=self.N)

    def param_count(self, arch: Arch | str) -> int:
        """Parameters of :meth:`build`'s network, computed from layer shapes (no model is built)."""
        return param_count(arch, self.num_classes, self.C, self.N)

    def benchmark_params(self, arch: Arch | str) -> int:
        """Parameters of the benchmark's own network for ``arch`` (C = 16, 5 cells per stage; this build's
        classifier), whatever network this instance scores."""
        return param_count(arch, self.num_classes, C_DEFAULT, N_DEFAULT)

    def features(self, arch: Arch | str) -> dict[str, float]:
        """Trivial baseline: the benchmark network's parameter count in millions (the benchmark's ``params``)."""
        return {"params_m": self.benchmark_params(arch) / 1e6}

    #: equal-count parameter bins of :meth:`stratum`
    STRATA_BINS: ClassVar[int] = 10

    def stratum(self, arch: Arch | str) -> str:
        """Which of :attr:`STRATA_BINS` equal-count bins of the benchmark network's parameter counts ``arch``
        falls in, e.g.
        ``"params 0.39-0.53 M"`` (edges: quantiles over the 15,625 benchmark archs). #params alone ranks NB-201
        well, so ρ inside a bin shows what a proxy adds to size."""
        edges = self.__dict__.get("_param_edges")
        if edges is None:
            counts = np.array([self.benchmark_params(a) for a in _arch.all_archs()], dtype=float)
            edges = self._param_edges = np.quantile(counts, np.linspace(0, 1, self.STRATA_BINS + 1))
        i = int(min(np.searchsorted(edges[1:-1], self.benchmark_params(arch), side="right"),
                    self.STRATA_BINS - 1))
        return f"params {edges[i] / 1e6:.2f}-{edges[i + 1] / 1e6:.2f} M"

    def save(self, arch: Arch | str, directory) -> list[str]:
        """Write ``arch.txt`` (the arch string); returns the file names written."""
        Path(directory, "arch.txt").write_text(self.key(arch) + "\n", encoding="utf-8")
        return ["arch.txt"]

    def benchmark(self) -> list[Record]:
        """All 15,625 records: id = NAS-Bench-201 index, scores = test accuracy (%) per task,
        extra = {"unique_str": isomorphism class}."""
        return load_benchmark(CSV_PATH, expected_rows=EXPECTED_ROWS)

    # --- inputs ----------------------------------------------------------------------------------------------
    def input_task(self, data: str | None) -> str | None:
        """The task whose shipped images ``data`` means (None: this build's; a task name or alias), or None
        when ``data`` is an image source for ``swaplm.data.load_images``; a SwapError for anything else."""
        if data is None:
            return self.dataset
        name = data.lower()
        if name in self.tasks or name in self.task_aliases:
            return self.task_aliases.get(name, name)
        if ":" not in data and not Path(data).expanduser().exists():
            raise SwapError(f"nb201 has no task {data!r}; tasks: {', '.join(self.tasks)} (or pass an image "
                            "source: builtin:cifar10, an .npz file or an image folder)")
        return None

    def substitute(self, data: str | None = None) -> str | None:
        """The stand-in scored for ``data``'s task (``cifar100-16x16`` for imagenet16_120), or None."""
        task = self.input_task(data)
        return self.substitutes.get(task) if task else None

    def input_description(self, data: str | None = None) -> str:
        """What :meth:`inputs` returns for ``data``, in words (names the substitute for imagenet16_120)."""
        task = self.input_task(data)
        return self.input_descriptions[task] if task else f"images from {data}"

    def inputs(self, data: str | None = None, *, n: int | None = None, seed: int = 0,
               max_length: int | None = None) -> torch.Tensor:
        """``n`` (default ``protocol.n``) normalised images (n, 3, H, W) for ``data``: a task's shipped images
        (seed 0: the first n; another seed: n distinct images drawn with it), or another image source read by
        ``swaplm.data.load_images`` at this build's input size."""
        if max_length is not None:
            raise SwapError(f"--max-length is for text spaces; the {self.name} space scores images")
        n = check_samples(n or self.protocol.n)
        task = self.input_task(data)
        if task is None:
            from swaplm.data import load_images

            return load_images(data, n, seed=seed, size=self.image_size)
        images, _, mean, std = _task_arrays(task)
        x = _normalise(images[_pick(len(images), n, seed, task)], mean, std)
        return F.avg_pool2d(x, 2) if task == "imagenet16_120" else x  # the substitute: 32x32 -> 16x16

    def labels(self, data: str | None = None, *, n: int | None = None, seed: int = 0) -> torch.Tensor | None:
        """Class labels (n,) of the images :meth:`inputs` returns for the same arguments (CIFAR-100 fine labels
        for the imagenet16_120 substitute); None for an outside image source."""
        n = check_samples(n or self.protocol.n)
        task = self.input_task(data)
        if task is None:
            return None
        images, labels, _, _ = _task_arrays(task)
        return torch.from_numpy(labels[_pick(len(images), n, seed, task)].astype(np.int64))


@functools.lru_cache(maxsize=2)
def _task_arrays(task: str) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
    """(uint8 NHWC images, labels, mean, std) shipped for ``task``."""
    if task == "cifar10":
        from swaplm.data import BUILTIN_IMAGES, CIFAR_MEAN, CIFAR_STD, cifar10_labels

        images = BUILTIN_IMAGES["cifar10"]("train")
        return images, cifar10_labels(len(images)).numpy(), CIFAR_MEAN, CIFAR_STD
    with np.load(CIFAR100_PATH, allow_pickle=False) as z:  # cifar100 and its 16x16 substitute
        return z["x_test"], z["y_test_fine"], CIFAR100_MEAN, CIFAR100_STD


def _pick(available: int, n: int, seed: int, task: str) -> np.ndarray:
    """The first n indices for seed 0, else n distinct indices drawn with ``seed`` (sorted); the same rule as
    ``swaplm.data.load_images``, so seed 0 on cifar10 is the DARTS space's reference batch."""
    if n > available:
        raise SwapError(f"asked for {n} {task} images but {available} ship with swaplm: pass an .npz file or an "
                        "image folder as the data source for more")
    if seed == 0:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(available, size=n, replace=False))


def _normalise(images: np.ndarray, mean: tuple, std: tuple) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W), scaled to [0, 1] and standardised per channel."""
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


__all__ = ["NB201Space", "DATASETS", "SUBSTITUTE_NAME"]
