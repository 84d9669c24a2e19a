"""DARTS CNN search space: ops, cells/networks, safe genotype parsing, sampling and the 1000-arch benchmark."""
from .benchmark import load_benchmark
from .genotype import Genotype, check_genotype, format_genotype, parse_genotype
from .model import Cell, EvalNetwork, Network, proxy_network
from .ops import OPS, PRIMITIVES
from .space import DartsSpace

__all__ = ["DartsSpace", "Genotype", "parse_genotype", "format_genotype", "check_genotype", "load_benchmark",
           "Network", "EvalNetwork", "Cell", "proxy_network", "OPS", "PRIMITIVES"]
