"""Architecture search on a space with a zero-cost fitness: SWAP-NAS, aging evolution and random search
(:mod:`.algorithms`), the search driver with journal and resume (:mod:`.run`), benchmark mode
(:mod:`.benchmark_view`), the multi-seed comparison (:mod:`.compare`) and searches over a table of stored
fitness values (:mod:`.tabular`)."""
from .algorithms import ALGORITHMS, History, evolution, get_algorithm, random_search, swapnas
from .benchmark_view import BenchmarkView
from .run import SearchConfig, SearchResult, resolve_task, run_search, search
from .tabular import TableFitness, chosen

__all__ = ["ALGORITHMS", "History", "swapnas", "evolution", "random_search", "get_algorithm", "BenchmarkView",
           "search", "SearchConfig", "SearchResult", "run_search", "resolve_task", "TableFitness", "chosen"]
