"""FlexiBERT architectures: immutable values, canonical keys, and sampling / mutation / crossover.

Space (method-facts §7.1): hidden size 128 | 256, 2 | 4 encoder layers, each layer one of
SA-SDP, SA-WMA, LT-DFT, LT-DCT, DSC-5, DSC-9 with 2 | 4 heads, FF dimension 512 | 1024 and 1 | 3 FF layers
(48 layer variants; 2 x (48^2 + 48^4) = 10,621,440 architectures).
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from swaplm.errors import SwapError

from .configuration import (FEED_FORWARD_DIMENSIONS, HIDDEN_SIZES, NUM_FEED_FORWARD, NUM_LAYERS,
                            NUM_OPERATION_HEADS, OPERATION_PARAMETERS, canonical_layer)

OPERATION_TYPES = tuple(OPERATION_PARAMETERS)  # ("SA", "LT", "DSC"), the benchmark's draw order


@dataclass(frozen=True)
class LayerChoice:
    """One encoder layer: operator (type + parameter), heads, FF dimension and FF count."""

    operation_type: str
    operation_parameter: str | int
    num_operation_heads: int
    feed_forward_dimension: int
    num_feed_forward: int

    def __post_init__(self):
        canonical = canonical_layer(self.to_dict())  # validates
        object.__setattr__(self, "operation_parameter", canonical["operation_parameter"])

    @property
    def operator(self) -> str:
        """e.g. ``"SA-WMA"``, ``"DSC-9"``."""
        return f"{self.operation_type}-{self.operation_parameter}"

    def to_dict(self) -> dict[str, Any]:
        return {"operation_type": self.operation_type, "operation_parameter": self.operation_parameter,
                "num_operation_heads": self.num_operation_heads,
                "feed_forward_dimension": self.feed_forward_dimension, "num_feed_forward": self.num_feed_forward}

    def key(self) -> str:
        return f"{self.operator}-h{self.num_operation_heads}-ff{self.feed_forward_dimension}x{self.num_feed_forward}"

    def build_key(self) -> str:
        """Key of what the reference build makes of this layer (FF dimension ignored)."""
        return f"{self.operator}-h{self.num_operation_heads}-x{self.num_feed_forward}"


@dataclass(frozen=True)
class FlexiBertArch:
    """A FlexiBERT architecture: model-wide hidden size and a tuple of layers."""

    hidden_size: int
    layers: tuple[LayerChoice, ...]

    def __post_init__(self):
        if self.hidden_size not in HIDDEN_SIZES:
            raise SwapError(f"hidden_size must be 128 or 256; got {self.hidden_size!r}")
        layers = tuple(l if isinstance(l, LayerChoice) else LayerChoice(**canonical_layer(l)) for l in self.layers)
        if len(layers) not in NUM_LAYERS:
            raise SwapError(f"a FlexiBERT architecture has 2 or 4 layers; got {len(layers)}")
        object.__setattr__(self, "layers", layers)

    def key(self) -> str:
        """Stable canonical id, e.g. ``"h256/SA-WMA-h4-ff1024x3/LT-DCT-h2-ff512x3"``."""
        return "/".join([f"h{self.hidden_size}"] + [l.key() for l in self.layers])

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``hidden_size`` + ``nas_config.encoder_layers``, as in NAS-Bench-BERT)."""
        return {"hidden_size": self.hidden_size, "nas_config": {"encoder_layers": [l.to_dict() for l in self.layers]}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FlexiBertArch":
        """From :meth:`to_dict` output, a benchmark record, its ``hparams`` or ``model_hparam_overrides``."""
        from .configuration import _unwrap_record

        hidden, layers = _unwrap_record(data)
        if hidden is None:
            raise SwapError("a FlexiBERT architecture needs a hidden_size")
        return cls(int(hidden), tuple(LayerChoice(**canonical_layer(l)) for l in layers))


def parse_key(key: str) -> FlexiBertArch:
    """Inverse of :meth:`FlexiBertArch.key`."""
    try:
        head, *parts = key.strip().split("/")
        if not head.startswith("h"):
            raise ValueError
        layers = []
        for part in parts:
            op_type, param, heads, ff = part.split("-")
            dim, count = ff.removeprefix("ff").split("x")
            layers.append(LayerChoice(op_type, param, int(heads.removeprefix("h")), int(dim), int(count)))
        return FlexiBertArch(int(head[1:]), tuple(layers))
    except SwapError as err:
        raise SwapError(f"invalid FlexiBERT key {key!r}: {err}") from None
    except ValueError:
        raise SwapError(f"invalid FlexiBERT key {key!r} (expected e.g. 'h256/SA-SDP-h4-ff512x1/LT-DFT-h2-ff1024x3')") \
            from None


def reference_build_key(arch: FlexiBertArch) -> str:
    """Key of the reference build (hidden 256 and FF width 1024 for every model): equal keys, equal models."""
    return "ref/" + "/".join(l.build_key() for l in arch.layers)


# ---------------------------------------------------------------------------------------------- sampling
def sample_layer(rng: random.Random) -> LayerChoice:
    """One layer, fields drawn uniformly in the benchmark's order (type, parameter of that type, heads, FF dim,
    FF count)."""
    op = rng.choice(OPERATION_TYPES)
    param = rng.choice(OPERATION_PARAMETERS[op])
    return LayerChoice(op, param, rng.choice(NUM_OPERATION_HEADS), rng.choice(FEED_FORWARD_DIMENSIONS),
                       rng.choice(NUM_FEED_FORWARD))


def sample(rng: random.Random) -> FlexiBertArch:
    """Draw as NAS-Bench-BERT was drawn (hidden size, layer count, then each layer): 500 successive draws from
    ``random.Random(0)`` reproduce the benchmark's 500 architectures in order."""
    hidden = rng.choice(HIDDEN_SIZES)
    depth = rng.choice(NUM_LAYERS)
    return FlexiBertArch(hidden, tuple(sample_layer(rng) for _ in range(depth)))


def _mutate_layer(layer: LayerChoice, rng: random.Random, fields: tuple[str, ...]) -> LayerChoice:
    field = rng.choice(fields)
    if field == "operator":
        ops = [(t, p) for t, ps in OPERATION_PARAMETERS.items() for p in ps
               if (t, p) != (layer.operation_type, layer.operation_parameter)]
        t, p = rng.choice(ops)
        return replace(layer, operation_type=t, operation_parameter=p)
    choices = {"num_operation_heads": NUM_OPERATION_HEADS, "feed_forward_dimension": FEED_FORWARD_DIMENSIONS,
               "num_feed_forward": NUM_FEED_FORWARD}[field]
    return replace(layer, **{field: next(v for v in choices if v != getattr(layer, field))})


def mutate(arch: FlexiBertArch, rng: random.Random, built_fields_only: bool = False) -> FlexiBertArch:
    """Change one thing: the depth (2 -> 4 appends two random layers, 4 -> 2 drops two random layers), the hidden
    size, or one field of one layer (operator, heads, FF dimension, FF count). The result always differs from
    ``arch``; with ``built_fields_only`` the hidden size and FF dimensions are never chosen (the reference build
    ignores them), so the built model always changes."""
    kinds = ["depth", "layer"] if built_fields_only else ["depth", "hidden", "layer"]
    fields = ("operator", "num_operation_heads", "num_feed_forward")
    if not built_fields_only:
        fields += ("feed_forward_dimension",)
    kind = rng.choice(kinds)
    if kind == "hidden":
        return replace(arch, hidden_size=next(h for h in HIDDEN_SIZES if h != arch.hidden_size))
    if kind == "depth":
        if len(arch.layers) == 2:
            return replace(arch, layers=arch.layers + (sample_layer(rng), sample_layer(rng)))
        keep = sorted(rng.sample(range(len(arch.layers)), 2))
        return replace(arch, layers=tuple(arch.layers[i] for i in keep))
    i = rng.randrange(len(arch.layers))
    layers = list(arch.layers)
    layers[i] = _mutate_layer(layers[i], rng, fields)
    return replace(arch, layers=tuple(layers))


def crossover(a: FlexiBertArch, b: FlexiBertArch, rng: random.Random) -> FlexiBertArch:
    """Uniform crossover: hidden size and depth each from a random parent; layer i from a random parent that
    has a layer i."""
    hidden = rng.choice((a.hidden_size, b.hidden_size))
    depth = rng.choice((len(a.layers), len(b.layers)))
    layers = []
    for i in range(depth):
        options = [p.layers[i] for p in (a, b) if i < len(p.layers)]
        layers.append(rng.choice(options))
    return FlexiBertArch(hidden, tuple(layers))


def num_layers(arch: FlexiBertArch) -> int:
    """Number of encoder layers (alone a strong GLUE baseline: Spearman ~0.83, method-facts §4.2)."""
    return len(arch.layers)


def sum_feed_forward(arch: FlexiBertArch) -> int:
    """Sum of num_feed_forward over layers; the saturated SWAP-Score is ~ L x 1024 x this (method-facts §1.7)."""
    return sum(l.num_feed_forward for l in arch.layers)


__all__ = ["LayerChoice", "FlexiBertArch", "parse_key", "reference_build_key", "sample", "sample_layer", "mutate",
           "crossover", "num_layers", "sum_feed_forward", "OPERATION_TYPES"]
