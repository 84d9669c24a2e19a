"""The FlexiBERT / NAS-Bench-BERT search space (SPEC §5) implementing ``swaplm.spaces.base.Space``."""
from __future__ import annotations

import dataclasses
import random
from typing import Any

from swaplm.errors import SwapError
from swaplm.swap import Regularise
from swaplm.spaces.base import Record, ScoringProtocol, Space

from . import arch as _arch
from .arch import FlexiBertArch, parse_key, reference_build_key
from .benchmark import TASKS, load_benchmark
from .configuration import BUILDS, FlexiBertConfig
from .modeling import FlexiBertModel


def as_arch(value: Any) -> FlexiBertArch:
    """Accept a :class:`FlexiBertArch`, its key string, or a dict/record form."""
    if isinstance(value, FlexiBertArch):
        return value
    if isinstance(value, str):
        return parse_key(value)
    if isinstance(value, dict):
        return FlexiBertArch.from_dict(value)
    raise SwapError(f"not a FlexiBERT architecture: {type(value).__name__}")


class FlexiBertSpace(Space):
    """FlexiBERT space with the NAS-Bench-BERT benchmark.

    ``build="reference"`` builds every model as the published zero-cost studies did (hidden 256, FF 1024, no
    attention mask); ``build="faithful"`` builds what was trained (method-facts §7.3).
    """

    name = "flexibert"
    family = "transformer"  # which proxies apply (swaplm.proxies.available(family))
    tasks = TASKS
    # the published SWAP protocol: one batch of 128 texts, HF default init, one pass, train mode, padding counted
    # swap_reg's size prior per build (Θ in millions of parameters, factor exp(-(Θ-μ)²/σ)): chosen by grid search
    # over μ ∈ 0.5..16, σ ∈ 1..1024 on ids 0-249 (GLUE) only, 250-499 held out (reports/flexibert_glue.md,
    # "Reference build: GLUE on both halves": μ 2.0, σ 256; "Faithful build: GLUE on both halves": μ 0.5, σ 1024,
    # the flattest prior of the grid)
    PRIORS = {"reference": Regularise(mu=2.0, sigma=256.0, unit="M"),
              "faithful": Regularise(mu=0.5, sigma=1024.0, unit="M")}
    protocol = ScoringProtocol(n=128, repeats=1, init=None, mode="train", padding="reference",
                         regularise=PRIORS["reference"])
    max_positions = FlexiBertConfig.max_position_embeddings  # longest text sample (--max-length) a model takes
    builds = BUILDS
    search_build = "faithful"  # a search changes hidden size and FF dimensions: the build that builds them
    #: GLUE names a user may type for the benchmark's columns
    task_aliases = {"sst2": "sst", "sst-2": "sst", "stsb": "sts", "sts-b": "sts"}
    #: a search for SST-2 scores on the shipped SST-2 sentences; every other task on the WikiText-2 blocks
    task_data = {"sst": "builtin:sst2"}

    def __init__(self, build: str = "reference"):
        if not isinstance(build, str) or build not in BUILDS:
            raise SwapError(f"flexibert build must be one of {', '.join(BUILDS)}; got {build!r}")
        self.build_mode = build
        self.protocol = dataclasses.replace(type(self).protocol, regularise=self.PRIORS[build])

    def __repr__(self) -> str:
        return f"FlexiBertSpace(build={self.build_mode!r})"

    # -- variation
    def sample(self, rng: random.Random) -> FlexiBertArch:
        return _arch.sample(rng)

    def mutate(self, arch: FlexiBertArch, rng: random.Random) -> FlexiBertArch:
        """One-field mutation; in the reference build only fields the build uses are changed, so the child is
        always a different model."""
        return _arch.mutate(as_arch(arch), rng, built_fields_only=self.build_mode == "reference")

    def crossover(self, a: FlexiBertArch, b: FlexiBertArch, rng: random.Random) -> FlexiBertArch:
        return _arch.crossover(as_arch(a), as_arch(b), rng)

    # -- identity
    def key(self, arch: FlexiBertArch) -> str:
        """Canonical key of the full architecture (all record fields)."""
        return as_arch(arch).key()

    def build_key(self, arch: FlexiBertArch) -> str:
        """Key of the model this space actually builds: in the reference build hidden size and FF dimensions are
        ignored, so several architectures share one build key."""
        arch = as_arch(arch)
        return reference_build_key(arch) if self.build_mode == "reference" else arch.key()

    def parse(self, key: str) -> FlexiBertArch:
        """Inverse of :meth:`key`."""
        return parse_key(key)

    def input_description(self, data: str | None = None) -> str:
        """What :meth:`inputs` returns for ``data``, in words."""
        if data is None or data.lower() in self.tasks or data.lower() in self.task_aliases:
            return "WikiText-2 blocks (the shipped builtin:wikitext2)"
        return f"{data} (read by swaplm.data)"

    # -- models and data
    def config(self, arch: FlexiBertArch, **overrides) -> FlexiBertConfig:
        return FlexiBertConfig.from_record(as_arch(arch), build=self.build_mode, **overrides)

    def build(self, arch: FlexiBertArch) -> FlexiBertModel:
        """A freshly initialised model (HF init from torch's global RNG; structure independent of the seed)."""
        return FlexiBertModel(self.config(arch))

    def inputs(self, data: str | None = None, *, n: int | None = None, seed: int = 0,
               max_length: int | None = None):
        """The unlabeled batch, a BatchEncoding (n, L): by default (``data`` None or a task name) ``n``
        (default 128) packed WikiText-2 blocks of ``max_length`` (default 128) uncased WordPiece tokens;
        otherwise ``data`` is any ``swaplm.data`` source (``builtin:sst2``, a hub name, a local file). The same
        batch serves every task (the models are scored before any fine-tuning)."""
        from swaplm.data import bert_tokenizer, text_batch

        max_length = 128 if max_length is None else max_length
        if not 2 <= max_length <= self.max_positions:
            raise SwapError(f"max_length must be between 2 and {self.max_positions} (the models' positions), "
                            f"got {max_length}")
        source = "builtin:wikitext2" if data is None or data in self.tasks or data in self.task_aliases else data
        return text_batch(source, bert_tokenizer(), n=n or self.protocol.n, max_length=max_length, seed=seed)

    def benchmark(self) -> list[Record]:
        """The 500 NAS-Bench-BERT records (ids 0-499): GLUE dev score per task (x100) and ``time_to_train``."""
        return load_benchmark()

    # -- search support
    def encode(self, arch: FlexiBertArch) -> tuple:
        """Categorical vector (hidden size, depth, then every layer's operator, heads, FF dimension and FF count;
        absent layers as None), for distances between architectures."""
        arch = as_arch(arch)
        slots = [(l.operator, l.num_operation_heads, l.feed_forward_dimension, l.num_feed_forward)
                 for l in arch.layers] + [(None,) * 4] * (4 - len(arch.layers))
        return (arch.hidden_size, len(arch.layers), *(v for slot in slots for v in slot))

    def save(self, arch: FlexiBertArch, directory) -> list[str]:
        """Write a Hugging Face model directory (``config.json`` of the model this space builds, loadable with
        ``AutoConfig.from_pretrained`` + ``AutoModel.from_config`` once swaplm is imported)."""
        self.config(arch).save_pretrained(str(directory))
        return ["config.json"]

    # -- trivial baselines used in reports
    def features(self, arch: FlexiBertArch) -> dict[str, int]:
        """Trivial baselines reported beside the proxies: number of layers, Σ stacked FF layers, and the
        two-feature rule ``layers+hidden`` = layers·1000 + hidden size (sorts by depth, then by the record's
        width; NAS-Bench-BERT has only two of each, anchors §0)."""
        arch = as_arch(arch)
        layers = _arch.num_layers(arch)
        return {"num_layers": layers, "sum_feed_forward": _arch.sum_feed_forward(arch),
                "layers+hidden": layers * 1000 + arch.hidden_size}

    def stratum(self, arch: FlexiBertArch) -> str:
        """The (layers, hidden size) group of ``arch``, e.g. ``"L4/H256"``: correlations inside these groups
        show what a proxy knows beyond depth and width. The record's hidden size is used in both builds."""
        arch = as_arch(arch)
        return f"L{_arch.num_layers(arch)}/H{arch.hidden_size}"

    @staticmethod
    def num_layers(arch: FlexiBertArch) -> int:
        return _arch.num_layers(as_arch(arch))

    @staticmethod
    def sum_feed_forward(arch: FlexiBertArch) -> int:
        return _arch.sum_feed_forward(as_arch(arch))


__all__ = ["FlexiBertSpace", "as_arch"]
