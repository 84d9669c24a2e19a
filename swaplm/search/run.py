"""One search: settings -> scorer -> fitness through the store -> an algorithm -> outputs in a directory.

``DIR/search.json`` holds the settings (written first: ``--resume`` refuses a directory made with other
settings) and, when done, the result and the evaluation sequence; ``DIR/journal.jsonl`` is the store every
evaluation goes to before the search moves on (read first on a resume, then the shared bench cache).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplm.errors import SwapError
from swaplm.runner import Scorer, Store, evaluate, make_executor, resolve
from swaplm.runner.progress import progress as progress_bar
from swaplm.runner.store import Chained

from .algorithms import History, get_algorithm

#: GLUE task names a user may type -> (NAS-Bench-BERT column, shipped text to score on, or None: the default)
FLEXIBERT_TASKS = {"glue": ("glue", None), "sst2": ("sst", "builtin:sst2"), "sst-2": ("sst", "builtin:sst2"),
                   "sst": ("sst", "builtin:sst2"), "cola": ("cola", None), "mnli": ("mnli", None),
                   "mrpc": ("mrpc", None), "qnli": ("qnli", None), "qqp": ("qqp", None), "rte": ("rte", None),
                   "sts": ("sts", None), "stsb": ("sts", None), "sts-b": ("sts", None)}


def resolve_task(space, task: str | None) -> tuple[str, str | None]:
    """(benchmark column, default data source) of a user task name for ``space``."""
    if space.name == "flexibert":
        t = (task or "glue").lower()
        if t not in FLEXIBERT_TASKS:
            raise SwapError(f"unknown task {task!r} for flexibert; choose one of: {', '.join(FLEXIBERT_TASKS)}")
        return FLEXIBERT_TASKS[t]
    tasks = tuple(getattr(space, "tasks", ()) or ())
    t = task or (tasks[0] if tasks else None)
    if tasks and t not in tasks:
        raise SwapError(f"unknown task {task!r} for {space.name}; choose one of: {', '.join(tasks)}")
    return t, None


@dataclass
class SearchConfig:
    """Everything that determines a search's sequence of evaluations (saved in ``search.json``)."""

    space: str
    space_options: dict
    algorithm: str = "swapnas"
    budget: int = 100
    seed: int = 0
    proxy: str = "swap"
    regularise: Any = None
    max_params: int | None = None
    task: str | None = None
    data: str | None = None
    benchmark: bool = False
    algorithm_options: dict = field(default_factory=dict)
    scoring: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        from swaplm.runner.identity import jsonable

        return jsonable(self.__dict__)


class Fitness:
    """Batch fitness through the store: every evaluation goes to the journal; ``-inf`` for a failed proxy or a
    model above ``max_params``. Keeps the evaluated keys, values and parameter counts in order."""

    def __init__(self, space, scorer: Scorer, name: str, journal: Store, cache: Store | None, executor,
                 max_params: int | None = None, on_eval=None):
        self.space, self.scorer, self.name = space, scorer, name
        self.higher = next(p for p in scorer.proxies if p.name == name).higher_is_better
        self.journal, self.store = journal, Chained(journal, cache)
        self.executor, self.max_params, self.on_eval = executor, max_params, on_eval
        self.keys: list[str] = []
        self.params: list[float | None] = []
        self.params_of: dict[str, float | None] = {}  # parameter count by candidate key
        self.computed = 0

    def value(self, ev) -> float:
        v = ev.values.get(self.name)
        if v is None:
            return -math.inf
        if self.max_params is not None and (ev.values.get("params") or math.inf) > self.max_params:
            return -math.inf
        return float(v) if self.higher else -float(v)

    def __call__(self, archs) -> list[float]:
        cands = [(self.space.key(a), a) for a in archs]
        evals = evaluate(self.scorer, cands, store=self.store, executor=self.executor)
        out = []
        for key, _ in cands:
            ev = evals[key]
            full = self.scorer.lookup(self.journal, key)
            if full is None or any(n not in full.values for n in self.scorer.run_names):
                self.scorer.record(self.journal, ev)  # found in the shared cache: journal it too
            self.computed += not ev.cached
            out.append(self.value(ev))
            self.keys.append(key)
            self.params.append(ev.values.get("params"))
            self.params_of[key] = ev.values.get("params")
            if self.on_eval:
                self.on_eval(out[-1])
        return out


def fitness_proxies(proxy: str, regularise) -> tuple[str, list[str]]:
    """(fitness proxy, proxies computed per candidate): params always (size control, reports); ``swap`` with
    a size prior becomes ``swap_reg`` (derived from swap and params at no cost)."""
    if regularise is not None and proxy == "swap":
        proxy = "swap_reg"
    if proxy == "swap_reg" and regularise is None:
        raise SwapError("fitness swap_reg needs a size prior: pass --reg-mu and --reg-sigma")
    names = [proxy] + (["swap"] if proxy == "swap_reg" else []) + ([] if proxy == "params" else ["params"])
    return proxy, list(dict.fromkeys(names))


def run_search(space, config: SearchConfig, out_dir: Path, *, resume: bool = False, cache_dir: Any = None,
               workers: int = 1, threads: int | None = None, progress: bool = True, view=None,
               scoring: dict | None = None) -> dict:
    """Run (or resume) one search into ``out_dir``; returns the result dict (also in ``search.json``)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    fit_name, names = fitness_proxies(config.proxy, config.regularise)
    settings = resolve(space, regularise=config.regularise, **{"data": config.data, **(scoring or {})})
    scorer = Scorer(space, names, settings)  # bad settings or data fail here, before the directory is made
    _prepare_dir(out_dir, config, resume)
    cache = Store(Path(cache_dir) / f"{_slug(space.name)}.jsonl") if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers, threads)
    algo = get_algorithm(config.algorithm)
    target = view or space
    best = [-math.inf]
    with progress_bar(progress, f"{space.name} {config.algorithm}:", config.budget, unit="evals") as advance:
        def on_eval(value):
            best[0] = max(best[0], value)
            advance(f"best {best[0]:,.4g}")

        fitness = Fitness(target, scorer, fit_name, journal, cache, executor, config.max_params, on_eval)
        try:
            hist = algo(target, fitness, config.budget, random.Random(config.seed), **config.algorithm_options)
        finally:
            executor.close()
    result = _result(space, config, hist, fitness, out_dir, view, time.perf_counter() - t0)
    from swaplm.runner.distributed import is_main

    if is_main():
        _write_outputs(space, config, hist, fitness, result, out_dir, scorer)
    else:
        result["best_files"] = []
    return result


def _prepare_dir(out_dir: Path, config: SearchConfig, resume: bool) -> None:
    meta = out_dir / "search.json"
    if resume:
        if not meta.is_file():
            raise SwapError(f"--resume {out_dir}: not a search directory (no search.json)")
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))["config"]
        except (ValueError, KeyError, TypeError):
            raise SwapError(f"--resume {out_dir}: search.json is unreadable") from None
        now = config.to_json()
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if diff:
            raise SwapError(f"--resume {out_dir}: that search was made with other settings ({', '.join(diff)}); "
                            "repeat its original options")
        return
    from swaplm.runner.distributed import is_main

    if not is_main():  # the main process checks and creates the directory (it may already have done so)
        return
    if meta.exists() or (out_dir / "journal.jsonl").exists():
        raise SwapError(f"{out_dir} already holds a search; pass --resume {out_dir} to continue it or another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"config": config.to_json(), "status": "running"}, indent=1), encoding="utf-8")


def _result(space, config, hist: History, fitness: Fitness, out_dir: Path, view, seconds: float) -> dict:
    i = hist.best_index()
    arch = hist.archs[i]
    res = {"out_dir": str(out_dir), "best": space.key(arch), "fitness": hist.fitness[i],
           "params": fitness.params[i], "evaluations": len(hist), "computed": fitness.computed,
           "seconds": seconds}
    if view is not None:
        rec = view.record(arch)
        res["true_score"] = rec.scores.get(config.task)
        res["benchmark_id"] = rec.id
    return res


def _write_outputs(space, config, hist, fitness, result, out_dir: Path, scorer) -> None:
    best = hist.archs[hist.best_index()]
    best_dir = out_dir / "best"
    best_dir.mkdir(exist_ok=True)
    files = space.save(best, best_dir) if hasattr(space, "save") else []
    result["best_files"] = [str(best_dir / f) for f in files]
    if "config.json" in files:
        (best_dir / "README.md").write_text(_model_card(space, config, result), encoding="utf-8")
    trajectory = [{"key": k, "fitness": f if math.isfinite(f) else None, "params": p}
                  for k, f, p in zip(fitness.keys, hist.fitness, fitness.params)]
    meta = {"config": config.to_json(), "status": "done", "result": result,
            "scoring": scorer.settings_json(), "trajectory": trajectory}
    (out_dir / "search.json").write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")
    from .report import write_search_report

    write_search_report(out_dir, config, result, hist, scorer.settings_json())


def _model_card(space, config, result) -> str:
    return (f"# {result['best']}\n\nFound by `swaplm search {space.name}` ({config.algorithm}, budget "
            f"{config.budget} evaluations, seed {config.seed}) with fitness `{config.proxy}`"
            + (f" and size prior {config.regularise}" if config.regularise is not None else "")
            + (f", max {config.max_params:,} parameters" if config.max_params else "")
            + f".\n\nThis is an untrained architecture chosen without training (a zero-cost proxy): "
              f"fitness {result['fitness']:.6g}, {result['params']:,.0f} parameters as scored. Load it with:\n\n"
              "```python\nimport swaplm\nfrom transformers import AutoConfig, AutoModel\n"
              "model = AutoModel.from_config(AutoConfig.from_pretrained(\"<this directory>\"))\n```\n")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "space"


__all__ = ["SearchConfig", "run_search", "resolve_task", "fitness_proxies", "Fitness"]
