"""NAS-Bench-201 search space: NATS-Bench arch strings, the benchmark's network, shipped inputs and table."""
from .arch import (EDGES, OPS, Arch, all_archs, as_arch, connected, crossover, decode, encode, format_arch,
                   mutate, parse_arch, sample)
from .benchmark import load_benchmark
from .model import Cell, Network, ResidualReduction, ReLUConvBN, param_count
from .space import DATASETS, SUBSTITUTE_NAME, NB201Space

__all__ = ["NB201Space", "Arch", "OPS", "EDGES", "DATASETS", "SUBSTITUTE_NAME", "parse_arch", "format_arch",
           "as_arch", "encode", "decode", "connected", "all_archs", "sample", "mutate", "crossover",
           "load_benchmark", "Network", "Cell", "ResidualReduction", "ReLUConvBN", "param_count"]
