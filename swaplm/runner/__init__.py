"""The evaluation layer shared by ``bench``, ``search`` and ``rank``.

* :class:`Settings` / :func:`resolve`: what every candidate is scored with (from a space's protocol);
* :class:`Scorer`: settings -> one batch, one proxy context, one identity; scores one candidate;
* :class:`Store`: append-only JSONL addressed by (column identity, candidate key);
* executors: :class:`InProcess`, :class:`ProcessPool` (:func:`make_executor`);
* :func:`evaluate_candidates`: the loop (store lookup, executor, append, merge).

>>> scorer = Scorer(space, ["swap", "params"], resolve(space))
>>> evals = evaluate_candidates(scorer, [(space.key(a), a) for a in archs], store=Store("cache.jsonl"))
"""
from .executors import InProcess, ProcessPool, make_executor
from .run import evaluate_candidates
from .scorer import PROXY_FAILURES, TRANSIENT, Evaluation, Scorer
from .settings import DEFAULT, Settings, resolve
from .store import Store, StoreWarning, default_cache_dir, space_store

__all__ = ["Settings", "resolve", "DEFAULT", "Scorer", "Evaluation", "Store", "StoreWarning", "default_cache_dir",
           "space_store", "InProcess", "ProcessPool", "make_executor", "evaluate_candidates", "PROXY_FAILURES",
           "TRANSIENT"]
