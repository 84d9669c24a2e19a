"""NAS-Bench-101 search space: cell specs pruned as the benchmark prunes them, the benchmark's network, the
shipped CIFAR-10 sample as inputs and NASLib's 500-arch sample as the benchmark."""
from .benchmark import load_benchmark
from .model import Cell, ConvBnRelu, Network, cell_param_count, param_count, vertex_channels
from .space import BUILDS, NB101Space
from .spec import (EDGE_SLOTS, MAX_EDGES, MAX_VERTICES, NASLIB_OPS, OPS, Spec, as_spec, check_raw, crossover,
                   encode, format_spec, mutate, naslib_key, pad, parse_spec, prune, sample)

__all__ = ["NB101Space", "BUILDS", "Spec", "OPS", "NASLIB_OPS", "EDGE_SLOTS", "MAX_VERTICES", "MAX_EDGES",
           "check_raw", "prune", "format_spec", "parse_spec", "naslib_key", "as_spec", "pad", "encode", "sample",
           "mutate", "crossover", "load_benchmark", "Network", "Cell", "ConvBnRelu", "vertex_channels",
           "cell_param_count", "param_count"]
