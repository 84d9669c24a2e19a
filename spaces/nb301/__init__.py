"""NAS-Bench-301 search space: DARTS genotypes within NB-301's rules, NASLib's compact keys, the network NB-301
trained, the shipped CIFAR-10 sample as inputs and NASLib's 725-arch sample (surrogate accuracies) as the
benchmark."""
from .arch import (CONCAT, OPS, as_arch, check_arch, format_arch, from_naslib_key, naslib_key, parse_arch)
from .benchmark import load_benchmark
from .model import AuxiliaryHead, NB301Network
from .space import BUILDS, NB301Space

__all__ = ["NB301Space", "BUILDS", "OPS", "CONCAT", "check_arch", "as_arch", "format_arch", "parse_arch",
           "naslib_key", "from_naslib_key", "load_benchmark", "NB301Network", "AuxiliaryHead"]
