"""Inputs for the CIFAR-10 spaces whose benchmark has one task (NB-101, NB-301): the shipped CIFAR-10 training
sample, or any image source ``swaplm.data.load_images`` reads, at 32x32."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np
import torch

from swaplm.errors import SwapError, check_samples

from .base import ScoringProtocol


class Cifar10Sample:
    """Mixin for a :class:`~swaplm.spaces.base.Space` scored on CIFAR-10 images: its protocol (16 images, one
    pass, PyTorch default init, train mode, no size prior), task aliases and inputs. The space sets ``name``
    and ``tasks``."""

    family = "cnn"
    protocol = ScoringProtocol(n=16, repeats=1, init=None, mode="train")
    task_aliases: ClassVar[Mapping[str, str]] = {"c10": "cifar10", "cifar-10": "cifar10"}
    num_classes = 10
    #: what the default inputs are (for reports and --json)
    input_descriptions: ClassVar[Mapping[str, str]] = {
        "cifar10": "CIFAR-10 training images (swaplm's shipped sample, builtin:cifar10)"}

    def _own_sample(self, data: str | None) -> bool:
        """Whether ``data`` means the shipped CIFAR-10 sample (None or the task) rather than an image source
        for ``swaplm.data.load_images``; a SwapError for anything that is neither."""
        if data is None or data.lower() in self.tasks or data.lower() in self.task_aliases:
            return True
        if ":" not in data and not Path(data).expanduser().exists():
            raise SwapError(f"{self.name} has no task {data!r}; tasks: {', '.join(self.tasks)} (or pass an "
                            "image source: builtin:cifar10, an .npz file or an image folder)")
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
        if seed == 0:
            return labels[:n]
        # the indices load_images picks for another seed: n distinct, sorted
        return labels[torch.from_numpy(np.sort(np.random.default_rng(seed).choice(available, size=n,
                                                                                    replace=False)))]


__all__ = ["Cifar10Sample"]
