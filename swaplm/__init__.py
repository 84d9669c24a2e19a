"""swaplm: training-free evaluation of neural networks with the SWAP-Score.

>>> from swaplm import swap_score
>>> swap_score(model, batch).score
"""
from .errors import SwapError
from .swap import Regularise, SwapResult, count_params, swap_score

__version__ = "0.1.0"

from . import _hf_registry

_hf_registry.install()  # flexibert model type for AutoConfig/AutoModel, without importing transformers now
__all__ = ["swap_score", "SwapResult", "Regularise", "SwapError", "count_params", "__version__"]
