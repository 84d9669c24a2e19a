"""One search: options -> settings -> scorer -> fitness through the store -> an algorithm -> outputs in a directory.

``DIR/search.json`` holds the options and the settings (written first: ``--resume DIR`` continues with them and
refuses a disagreeing option) and, when done, the result and the evaluation sequence; ``DIR/journal.jsonl`` is
the store every evaluation goes to before the search moves on (read first on a resume, then the shared bench
cache).

>>> result = search("darts", budget=60, seed=3, out="runs/s")      # a SearchResult
>>> search(resume="runs/s")                                        # after an interruption: the same result
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from swaplm.errors import SwapError
from swaplm.runner import Scorer, Store, evaluate_candidates, make_executor, resolve, space_store
from swaplm.runner.identity import jsonable
from swaplm.runner.progress import progress as progress_bar
from swaplm.runner.store import Chained

from .algorithms import ALGORITHMS, History, get_algorithm

#: what a search is made of, with the value used when an option is not given (and not saved in a resumed
#: directory); ``regularise`` is a :class:`swaplm.Regularise` (None: no size prior)
SEARCH_DEFAULTS: dict[str, Any] = {
    "algorithm": "swapnas", "budget": 100, "seed": 0, "fitness": "swap", "task": None, "build": None,
    "data": None, "n": None, "max_length": None, "dtype": "float32", "regularise": None, "max_params": None,
    "population": 20, "sample": 5, "mutations": 5, "benchmark": False,
}


@dataclass
class SearchConfig:
    """Everything that determines a search's sequence of evaluations (saved in ``search.json``); ``proxy`` is
    the fitness proxy."""

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
        return jsonable(self.__dict__)


@dataclass
class SearchResult:
    """What one search found: the best candidate's key, fitness and parameter count, the number of evaluations
    (``computed``: scored in this run, the rest came from the journal or the store), the wall time, the files
    of the best architecture, and in benchmark mode its true score and record id."""

    out_dir: str
    best: str
    fitness: float
    params: float | None
    evaluations: int
    computed: int
    seconds: float
    best_files: list[str] = field(default_factory=list)
    true_score: float | None = None
    benchmark_id: int | None = None

    def to_dict(self) -> dict:
        """Every field (``true_score`` / ``benchmark_id`` only in benchmark mode), as saved in ``search.json``."""
        out = asdict(self)
        if self.benchmark_id is None:
            del out["true_score"], out["benchmark_id"]
        return out

    def to_json(self) -> dict:
        """The summary ``--json`` prints."""
        keys = ("out_dir", "best", "fitness", "params", "evaluations", "seconds", "true_score")
        return {k: v for k, v in self.to_dict().items() if k in keys}


class StoredFitness:
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
        evals = evaluate_candidates(self.scorer, cands, store=self.store, executor=self.executor)
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


# ------------------------------------------------------------------------------------------------ options
def search_options(space: str | None, given: dict[str, Any], resume: str | Path | None) -> dict[str, Any]:
    """The search's options: on a resume the ones saved in ``DIR/search.json``, where a given option must
    agree (else a one-line error naming it); otherwise the given ones over :data:`SEARCH_DEFAULTS`."""
    given = {k: v for k, v in given.items() if v is not None}
    unknown = sorted(set(given) - set(SEARCH_DEFAULTS))
    if unknown:
        raise SwapError(f"unknown search option(s): {', '.join(unknown)}")
    if resume is None:
        if space is None:
            raise SwapError("name the space to search (e.g. darts), or --resume DIR")
        return {**SEARCH_DEFAULTS, **given, "space": space}
    saved = _saved(Path(resume)).get("options")
    if saved is None:  # a directory written before options were saved: its config is checked later
        return {**SEARCH_DEFAULTS, **given, "space": space}
    options = {**SEARCH_DEFAULTS, **_revive(saved)}
    for name, value in {**given, **({"space": space} if space else {})}.items():
        if jsonable(value) != jsonable(options.get(name)):
            raise SwapError(f"--resume {resume}: that search was made with other settings ({name}): "
                            f"{_flag(name)} {_text(options.get(name))} there, {_text(value)} given; leave "
                            f"{_flag(name)} out to continue it")
    return options


def _saved(directory: Path) -> dict:
    meta = directory / "search.json"
    if not meta.is_file():
        raise SwapError(f"--resume {directory}: not a search directory (no search.json)")
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except ValueError:
        saved = None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise SwapError(f"--resume {directory}: search.json is unreadable")
    return saved


def _revive(saved: dict) -> dict:
    """Saved options back to values (the size prior as a :class:`swaplm.Regularise`)."""
    from swaplm.swap import Regularise

    prior = saved.get("regularise")
    if isinstance(prior, dict):
        saved = {**saved, "regularise": Regularise(prior["mu"], prior["sigma"], unit=prior["unit"])}
    return saved


def _flag(name: str) -> str:
    return {"n": "--batch-size", "regularise": "--reg-mu/--reg-sigma/--reg-unit", "space": "SPACE"}.get(
        name, "--" + name.replace("_", "-"))


def _text(value: Any) -> str:
    from swaplm.swap import Regularise

    if isinstance(value, Regularise):
        return f"μ={value.mu:g}, σ={value.sigma:g} ({value.unit})"
    return "none" if value is None else str(value)


def check_options(options: dict[str, Any]) -> None:
    """Every option of a search checked in one place, before any model is built; one line for the first bad one."""
    from swaplm.proxies import get_proxy

    get_algorithm(options["algorithm"])
    get_proxy(options["fitness"])
    for name in ("budget", "population", "sample", "mutations", "max_params"):
        value = options[name]
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SwapError(f"{_flag(name)} must be >= 1, got {value}")


def config_of(space, options: dict[str, Any]) -> SearchConfig:
    """The :class:`SearchConfig` of ``options`` for ``space`` (the space the search explores)."""
    column, task_data = space.resolve_task(options["task"])
    scoring: dict[str, Any] = {"n": options["n"]} if options["n"] is not None else {}
    if options["max_length"] is not None:
        scoring["inputs_options"] = {"max_length": options["max_length"]}
    if options["dtype"] != "float32":
        scoring["dtype"] = options["dtype"]
    algo = {"swapnas": ("population", "sample", "mutations"), "evolution": ("population", "sample"),
            "random": ()}[options["algorithm"]]
    return SearchConfig(space=space.name, space_options=jsonable(space.identity_options()),
                        algorithm=options["algorithm"], budget=options["budget"], seed=options["seed"],
                        proxy=options["fitness"], regularise=options["regularise"],
                        max_params=options["max_params"], task=column, data=options["data"] or task_data,
                        benchmark=options["benchmark"], algorithm_options={k: options[k] for k in algo},
                        scoring=scoring)


# ------------------------------------------------------------------------------------------------ the task
def search(space: str | None = None, *, resume: str | Path | None = None, out: str | Path | None = None,
           budget: int | list[int] | None = None, seeds: int | None = None, device: str = "auto",
           workers: int = 1, threads: int | None = None, cache: bool = True, progress: bool = True,
           command: str | None = None, **given: Any):
    """Search ``space`` (a registered name) for the architecture with the best zero-cost fitness.

    ``given``: the options of :data:`SEARCH_DEFAULTS` (unset ones take their defaults, or on ``resume`` the
    values saved in ``DIR/search.json``). ``out``: the new search's directory (default
    ``runs/search-SPACE-TIME``). ``budget``: evaluations, or with ``benchmark=True`` a list of budgets (with
    ``seeds``, default 30) for the multi-seed comparison of every method. ``device``: auto, cpu or cuda;
    ``cache``: also read and write the shared bench store. Returns a :class:`SearchResult`, or the comparison
    summary (a dict) in comparison mode."""
    from swaplm.runner.settings import resolve_device
    from swaplm.runner.store import default_cache_dir
    from swaplm.spaces import get_space

    budgets = list(budget) if isinstance(budget, (list, tuple)) else [budget] if budget is not None else []
    if resume is not None and out is not None and Path(resume) != Path(out):
        raise SwapError("give the search directory once: --resume DIR (or --out DIR for a new search)")
    comparing = len(budgets) > 1 or seeds is not None
    if comparing and not given.get("benchmark"):
        raise SwapError("a budget list and --seeds compare methods in benchmark mode: add --benchmark")
    options = search_options(space, {**given, "budget": budgets[0] if budgets else None}, resume)
    check_options({**options, "budget": min(budgets) if budgets else options["budget"]})
    device = resolve_device(device)
    sp = get_space(options["space"]).for_search(options["build"])
    config = config_of(sp, options)
    cache_dir = default_cache_dir() if cache else None
    out_dir = Path(resume or out or f"runs/search-{sp.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if comparing:
        from .compare import compare

        first = options["seed"]
        return {"out_dir": str(out_dir), **compare(
            sp, config.task, budgets, list(range(first, first + (seeds or 30))), proxy=config.proxy,
            regularise=config.regularise, out_dir=out_dir, cache_dir=cache_dir, workers=workers, threads=threads,
            progress=progress, device=device, command=command, scoring={**config.scoring, "data": config.data},
            algorithm_options={k: options[k] for k in ("population", "sample", "mutations")})}
    view = None
    if config.benchmark:
        from .benchmark_view import BenchmarkView

        view = BenchmarkView(sp, [r for r in sp.benchmark() if r.scores.get(config.task) is not None])
    return run_search(sp, config, out_dir, resume=resume is not None, cache_dir=cache_dir, workers=workers,
                      threads=threads, progress=progress, view=view, device=device, options=options,
                      command=command)


# ------------------------------------------------------------------------------------------------ the run
def run_search(space, config: SearchConfig, out_dir: Path, *, resume: bool = False, cache_dir: Any = None,
               workers: int = 1, threads: int | None = None, progress: bool = True, view=None,
               device: str = "cpu", options: dict | None = None, command: str | None = None) -> SearchResult:
    """Run (or resume) one search into ``out_dir``; ``options`` (see :func:`search_options`) are saved in
    ``search.json`` so that ``--resume DIR`` alone can continue it; ``command`` goes into the report."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    fit_name, names = fitness_proxies(config.proxy, config.regularise)
    settings = resolve(space, regularise=config.regularise, device=device,
                       **{"data": config.data, **config.scoring})
    scorer = Scorer(space, names, settings)  # bad settings or data fail here, before the directory is made
    _prepare_dir(out_dir, config, resume, options)
    cache = space_store(cache_dir, space.name) if cache_dir is not None else None
    journal = Store(out_dir / "journal.jsonl")
    executor = make_executor(workers, threads)
    algo = get_algorithm(config.algorithm)
    target = view or space
    best = [-math.inf]
    with progress_bar(progress, f"{space.name} {config.algorithm}:", config.budget, unit="evals") as advance:
        def on_eval(value):
            best[0] = max(best[0], value)
            advance(f"best {best[0]:,.4g}")

        fitness = StoredFitness(target, scorer, fit_name, journal, cache, executor, config.max_params, on_eval)
        try:
            hist = algo(target, fitness, config.budget, random.Random(config.seed), **config.algorithm_options)
        finally:
            executor.close()
    result = _result(space, config, hist, fitness, out_dir, view, time.perf_counter() - t0)
    from swaplm.runner.distributed import is_main

    if is_main():
        _write_outputs(space, config, hist, fitness, result, out_dir, scorer, options, command)
    return result


def _prepare_dir(out_dir: Path, config: SearchConfig, resume: bool, options: dict | None) -> None:
    if resume:
        saved = _saved(out_dir)["config"]
        now = config.to_json()
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if diff:
            raise SwapError(f"--resume {out_dir}: that search was made with other settings ({', '.join(diff)}); "
                            "repeat its original options")
        return
    from swaplm.runner.distributed import is_main

    if not is_main():  # the main process checks and creates the directory (it may already have done so)
        return
    if (out_dir / "search.json").exists() or (out_dir / "journal.jsonl").exists():
        raise SwapError(f"{out_dir} already holds a search; pass --resume {out_dir} to continue it or another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"config": config.to_json(), "options": jsonable(options), "status": "running"}
    (out_dir / "search.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _result(space, config, hist: History, fitness: StoredFitness, out_dir: Path, view,
            seconds: float) -> SearchResult:
    i = hist.best_index()
    arch = hist.archs[i]
    res = SearchResult(out_dir=str(out_dir), best=space.key(arch), fitness=hist.fitness[i],
                       params=fitness.params[i], evaluations=len(hist), computed=fitness.computed, seconds=seconds)
    if view is not None:
        rec = view.record(arch)
        res.true_score, res.benchmark_id = rec.scores.get(config.task), rec.id
    return res


def _write_outputs(space, config, hist, fitness, result: SearchResult, out_dir: Path, scorer, options,
                   command) -> None:
    best = hist.archs[hist.best_index()]
    best_dir = out_dir / "best"
    best_dir.mkdir(exist_ok=True)
    files = space.save(best, best_dir)
    result.best_files = [str(best_dir / f) for f in files]
    if "config.json" in files:
        (best_dir / "README.md").write_text(_model_card(space, config, result), encoding="utf-8")
    trajectory = [{"key": k, "fitness": f if math.isfinite(f) else None, "params": p}
                  for k, f, p in zip(fitness.keys, hist.fitness, fitness.params)]
    saved_options = options if options is not None else _saved(out_dir).get("options")
    meta = {"config": config.to_json(), "options": jsonable(saved_options), "status": "done",
            "result": result.to_dict(), "scoring": scorer.settings_json(), "trajectory": trajectory}
    (out_dir / "search.json").write_text(json.dumps(meta, indent=1, allow_nan=False), encoding="utf-8")
    from .report import write_search_report

    write_search_report(out_dir, config, result.to_dict(), hist, scorer.settings_json(), command=command)


def _model_card(space, config, result: SearchResult) -> str:
    return (f"# {result.best}\n\nFound by `swaplm search {space.name}` ({config.algorithm}, budget "
            f"{config.budget} evaluations, seed {config.seed}) with fitness `{config.proxy}`"
            + (f" and size prior {config.regularise}" if config.regularise is not None else "")
            + (f", max {config.max_params:,} parameters" if config.max_params else "")
            + f".\n\nThis is an untrained architecture chosen without training (a zero-cost proxy): "
              f"fitness {result.fitness:.6g}, {result.params:,.0f} parameters as scored. Load it with:\n\n"
              "```python\nimport swaplm\nfrom transformers import AutoConfig, AutoModel\n"
              "model = AutoModel.from_config(AutoConfig.from_pretrained(\"<this directory>\"))\n```\n")


def resolve_task(space, task: str | None) -> tuple[str, str | None]:
    """(benchmark column, default data source) of a user task name: ``space.resolve_task``."""
    return space.resolve_task(task)


__all__ = ["search", "SearchConfig", "SearchResult", "SEARCH_DEFAULTS", "search_options", "check_options", "config_of",
           "run_search", "resolve_task", "fitness_proxies", "StoredFitness", "ALGORITHMS"]
