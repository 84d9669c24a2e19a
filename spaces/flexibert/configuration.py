"""FlexiBERT configuration: a heterogeneous ELECTRA-small-style encoder described layer by layer.

Two builds of the same NAS-Bench-BERT record (method-facts §7.2-7.3):

* ``"reference"`` — what the published zero-cost numbers were computed on: hidden 256 and FF width 1024 for
  every model (the record's ``hidden_size`` and ``feed_forward_dimension`` are ignored) and no attention mask.
* ``"faithful"`` — what was trained: hidden size from the record, first FF Linear H -> 4H, the
  ``num_feed_forward - 1`` extra FF Linears ``feed_forward_dimension`` wide, and the attention mask applied in
  every token-mixing operator.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PretrainedConfig

from swaplm.errors import SwapError

OPERATION_PARAMETERS: dict[str, tuple[str | int, ...]] = {"SA": ("SDP", "WMA"), "LT": ("DFT", "DCT"), "DSC": (5, 9)}
NUM_OPERATION_HEADS = (2, 4)
FEED_FORWARD_DIMENSIONS = (512, 1024)
NUM_FEED_FORWARD = (1, 3)
HIDDEN_SIZES = (128, 256)
NUM_LAYERS = (2, 4)
BUILDS = ("reference", "faithful")
LAYER_FIELDS = ("operation_type", "operation_parameter", "num_operation_heads", "feed_forward_dimension",
                "num_feed_forward")
REFERENCE_HIDDEN, REFERENCE_INTERMEDIATE = 256, 1024

_DEFAULT_LAYER = {"operation_type": "SA", "operation_parameter": "SDP", "num_operation_heads": 4,
                  "feed_forward_dimension": 1024, "num_feed_forward": 1}


def canonical_layer(layer: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one encoder-layer dict and return it with canonical types (DSC kernel size as int).

    Raises :class:`SwapError` naming the offending field when a value is outside the FlexiBERT space.
    """
    if not isinstance(layer, Mapping):
        raise SwapError(f"a FlexiBERT layer must be a dict with fields {', '.join(LAYER_FIELDS)}; got {layer!r}")
    missing = [f for f in LAYER_FIELDS if f not in layer]
    if missing:
        raise SwapError(f"FlexiBERT layer {dict(layer)!r} lacks field(s): {', '.join(missing)}")
    op = layer["operation_type"]
    if op not in OPERATION_PARAMETERS:
        raise SwapError(f"operation_type must be one of SA, LT, DSC; got {op!r}")
    param = layer["operation_parameter"]
    if op == "DSC":
        try:
            param = int(param)
        except (TypeError, ValueError):
            raise SwapError(f"DSC operation_parameter must be a kernel size 5 or 9; got {param!r}") from None
    if param not in OPERATION_PARAMETERS[op]:
        choices = ", ".join(map(str, OPERATION_PARAMETERS[op]))
        raise SwapError(f"operation_parameter of {op} must be one of {choices}; got {param!r}")
    out = {"operation_type": op, "operation_parameter": param}
    for name, allowed in (("num_operation_heads", NUM_OPERATION_HEADS),
                          ("feed_forward_dimension", FEED_FORWARD_DIMENSIONS),
                          ("num_feed_forward", NUM_FEED_FORWARD)):
        value = layer[name]
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise SwapError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
        out[name] = value
    return out


def _unwrap_record(obj: Any) -> tuple[int | None, list]:
    """Find (hidden_size, encoder layers) in a benchmark record, its ``hparams``, ``model_hparam_overrides``,
    a ``nas_config``, a plain layer list, or any object with ``hidden_size`` and ``layers`` attributes."""
    if hasattr(obj, "layers") and hasattr(obj, "hidden_size") and not isinstance(obj, Mapping):
        layers = [dict(l) if isinstance(l, Mapping) else l.to_dict() for l in obj.layers]
        return obj.hidden_size, layers
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        return None, list(obj)
    if not isinstance(obj, Mapping):
        raise SwapError(f"cannot read a FlexiBERT architecture from {type(obj).__name__}")
    hidden = None
    for key in ("hparams", "model_hparam_overrides"):
        if key in obj:
            obj = obj[key]
    if "model_hparam_overrides" in obj:
        obj = obj["model_hparam_overrides"]
    if "hidden_size" in obj:
        hidden = obj["hidden_size"]
    if "nas_config" in obj:
        obj = obj["nas_config"]
    for key in ("encoder_layers", "layers"):
        if key in obj:
            return hidden, list(obj[key])
    raise SwapError("no encoder layers found (expected a NAS-Bench-BERT record, its hparams, a nas_config "
                    "with 'encoder_layers', or a list of layer dicts)")


class FlexiBertConfig(PretrainedConfig):
    """Configuration of :class:`FlexiBertModel`.

    ``layers`` is a list of dicts with ``operation_type`` (SA | LT | DSC), ``operation_parameter``
    (SDP | WMA | DFT | DCT | 5 | 9), ``num_operation_heads`` (2 | 4), ``feed_forward_dimension`` (512 | 1024)
    and ``num_feed_forward`` (1 | 3). ``build`` selects FF widths and mask handling (module docstring).
    """

    model_type = "flexibert"

    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 256
    intermediate_size: int = 1024
    layers: list | None = None
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    hidden_act: str = "gelu"
    build: str = "reference"

    def __post_init__(self, **kwargs):
        if self.layers is None:
            self.layers = [dict(_DEFAULT_LAYER), dict(_DEFAULT_LAYER)]
        self.layers = [canonical_layer(l) for l in self.layers]
        if not self.layers:
            raise SwapError("a FlexiBERT model needs at least one encoder layer")
        if self.build not in BUILDS:
            raise SwapError(f"build must be 'reference' or 'faithful'; got {self.build!r}")
        for layer in self.layers:
            if self.hidden_size % layer["num_operation_heads"]:
                raise SwapError(f"hidden_size {self.hidden_size} is not divisible by "
                                f"{layer['num_operation_heads']} heads")
        super().__post_init__(**kwargs)

    @property
    def num_hidden_layers(self) -> int:
        return len(self.layers)

    @property
    def apply_attention_mask(self) -> bool:
        """Whether operators honour ``attention_mask`` (faithful build only, method-facts §7.2)."""
        return self.build == "faithful"

    def feed_forward_widths(self, layer_index: int) -> list[int]:
        """Output widths of the ``num_feed_forward`` Linear+GELU layers of one FF block (before the
        Linear back to ``hidden_size``)."""
        layer = self.layers[layer_index]
        extra = self.intermediate_size if self.build == "reference" else layer["feed_forward_dimension"]
        return [self.intermediate_size] + [extra] * (layer["num_feed_forward"] - 1)

    @classmethod
    def from_record(cls, record: Any, build: str = "reference", **kwargs) -> "FlexiBertConfig":
        """Config for a NAS-Bench-BERT record (or its ``hparams`` / ``nas_config`` / layer list).

        reference: hidden 256, every FF Linear 1024 wide, mask ignored. faithful: hidden from the record
        (``hidden_size=`` must be given when the input carries none), intermediate 4 x hidden, extra FF Linears
        ``feed_forward_dimension`` wide, mask applied. Other keyword arguments override config fields.
        """
        if build not in BUILDS:
            raise SwapError(f"build must be 'reference' or 'faithful'; got {build!r}")
        hidden, layers = _unwrap_record(record)
        if build == "reference":
            kwargs.setdefault("hidden_size", REFERENCE_HIDDEN)
            kwargs.setdefault("intermediate_size", REFERENCE_INTERMEDIATE)
        else:
            hidden = kwargs.pop("hidden_size", hidden)
            if hidden is None:
                raise SwapError("the faithful build needs a hidden_size (the record carries none)")
            kwargs["hidden_size"] = int(hidden)
            kwargs.setdefault("intermediate_size", 4 * int(hidden))
        return cls(layers=[canonical_layer(l) for l in layers], build=build, **kwargs)


__all__ = ["FlexiBertConfig", "canonical_layer", "OPERATION_PARAMETERS", "NUM_OPERATION_HEADS",
           "FEED_FORWARD_DIMENSIONS", "NUM_FEED_FORWARD", "HIDDEN_SIZES", "NUM_LAYERS", "BUILDS", "LAYER_FIELDS"]
