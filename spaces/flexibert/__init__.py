"""FlexiBERT / NAS-Bench-BERT: HF model (``model_type="flexibert"``), search space and benchmark.

Importing this package registers ``FlexiBertConfig`` / ``FlexiBertModel`` with ``AutoConfig`` / ``AutoModel``.
"""
from .arch import FlexiBertArch, LayerChoice, num_layers, parse_key, sum_feed_forward
from .benchmark import TASKS, load_benchmark
from .configuration import FlexiBertConfig
from .modeling import FlexiBertModel, FlexiBertPreTrainedModel
from .space import FlexiBertSpace

__all__ = ["FlexiBertSpace", "FlexiBertArch", "LayerChoice", "FlexiBertConfig", "FlexiBertModel",
           "FlexiBertPreTrainedModel", "load_benchmark", "parse_key", "num_layers", "sum_feed_forward", "TASKS"]
