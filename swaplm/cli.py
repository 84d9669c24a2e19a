"""The ``swaplm`` command line (typer). Every user error is one line on stderr and exit code 1."""
from __future__ import annotations

import json
import os
import platform
import sys
from enum import Enum
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import SwapError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="swaplm: judge neural networks without training them (SWAP-Score and zero-cost proxies).")
console = Console()
err = Console(stderr=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Init(str, Enum):
    pretrained = "pretrained"
    random = "random"
    gaussian = "gaussian"
    default = "default"


class Mode(str, Enum):
    asis = "as-is"
    train = "train"
    eval = "eval"


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Padding(str, Enum):
    mask = "mask"
    reference = "reference"


def versions() -> dict:
    import torch
    import transformers

    from . import __version__

    return {"swaplm": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def resolve_device(device: Device | str) -> str:
    import torch

    device = Device(device)
    if device is Device.auto:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device is Device.cuda and not torch.cuda.is_available():
        raise SwapError("--device cuda was asked but no CUDA device is available; use --device cpu or auto")
    return device.value


def quiet_hf() -> None:
    """No weight-loading progress bars or warnings from transformers on the terminal."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1e4 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def print_kv(title: str, rows: dict) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column(justify="right")
    for k, v in rows.items():
        table.add_row(k, _fmt(v))
    console.print(table)


def _split(csv: Optional[str]) -> list[str]:
    return [p.strip() for p in (csv or "").split(",") if p.strip()]


def _regularise(mu: Optional[float], sigma: Optional[float], unit: str):
    """The size prior given by --reg-mu/--reg-sigma/--reg-unit, or None when neither is given."""
    from .swap import Regularise

    if (mu is None) != (sigma is None):
        raise SwapError("--reg-mu and --reg-sigma go together")
    return None if mu is None else Regularise(mu, sigma, unit=unit)  # checks unit and sigma > 0


@app.command()
def score(
    model: str = typer.Argument(..., help="HF hub id, local directory or config.json, or builtin:bert-tiny|bert-small|minilm"),
    data: str = typer.Option("auto", help="auto (shipped WikiText-2 for text models, CIFAR-10 for image models), "
                                          "builtin:wikitext2|sst2|cifar10, a hub dataset (wikitext, sst2), or a file/folder"),
    batch_size: int = typer.Option(128, "--batch-size", "-n", help="samples N in the batch (changes the metric)"),
    max_length: int = typer.Option(128, help="tokens per text sample"),
    repeats: int = typer.Option(1, help="forwards to average (with --init gaussian/default: fresh weights each)"),
    init: Init = typer.Option(Init.pretrained, help="pretrained weights, random (from config), or re-init per repeat"),
    seed: int = typer.Option(0),
    mode: Mode = typer.Option(Mode.eval, help="train (reference: dropout/BN batch stats), eval, or as-is"),
    padding: Padding = typer.Option(Padding.mask, help="mask: padded positions get state 0; reference: counted"),
    proxy: Optional[str] = typer.Option(None, help="comma-separated extra proxies (see `swaplm proxies`)"),
    reg_mu: Optional[float] = typer.Option(None, help="size prior of swap_reg: mu (with --reg-sigma)"),
    reg_sigma: Optional[float] = typer.Option(None, help="size prior of swap_reg: sigma (divides (Θ-μ)²)"),
    reg_unit: str = typer.Option("k", help="unit of Θ for --reg-mu/--reg-sigma: 1, k or M parameters"),
    text_column: Optional[str] = typer.Option(None, help="text column of a table/hub dataset"),
    device: Device = typer.Option(Device.auto),
    dtype: DType = typer.Option(DType.float32, help="weights and activations dtype (signs near 0 may differ from float32)"),
    device_map: Optional[str] = typer.Option(None, help="auto: spread the model over GPUs, CPU and disk (accelerate)"),
    offload_folder: Optional[str] = typer.Option(None, help="folder for disk-offloaded weights with --device-map"),
    trust_remote_code: bool = typer.Option(False, help="allow model code from the hub (off by default)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """SWAP-Score of one model on one batch."""
    from . import data as data_mod
    from . import models
    from .proxies import ProxyContext, get_proxy

    if batch_size < 2:
        raise SwapError(f"--batch-size must be >= 2 (SWAP compares samples), got {batch_size}")
    if max_length < 2 or repeats < 1:
        raise SwapError("--max-length must be >= 2 and --repeats >= 1")
    dev = resolve_device(device)
    quiet_hf()
    names = ["swap"] + [p for p in _split(proxy) if p != "swap"]
    chosen = [get_proxy(p) for p in names]  # unknown names fail before loading anything
    regularise = _regularise(reg_mu, reg_sigma, reg_unit)
    if "swap_reg" in names and regularise is None:
        # no prior fits every model: a prior far from the model's size makes the factor 0 (a score of 0 says nothing)
        raise SwapError("--proxy swap_reg needs a size prior for this model: pass --reg-mu and --reg-sigma "
                        "(Θ in --reg-unit parameters: 1, k or M)")
    net, tokenizer, info = models.load(model, init="pretrained" if init is Init.pretrained else "random",
                                       device=dev, trust_remote_code=trust_remote_code,
                                       seed=seed if init is Init.random else None, dtype=dtype.value,
                                       device_map=device_map, offload_folder=offload_folder)
    kind = info.get("modality", "text")
    positions = getattr(getattr(net, "config", None), "max_position_embeddings", None)
    if kind == "text" and isinstance(positions, int) and max_length > positions:
        raise SwapError(f"--max-length {max_length} is above the {positions} positions of {model!r}: "
                        f"pass --max-length {positions} or less")
    image_size = info.get("image_size")
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    source = data_mod.resolve_source(data, kind)  # auto: the shipped sample for the model's modality
    batch = data_mod.make_batch(source, model_kind=kind, tokenizer=tokenizer, n=batch_size, max_length=max_length,
                                seed=seed, text_column=text_column, image_size=image_size)
    reinit = {Init.gaussian: "gaussian", Init.default: "default"}.get(init)
    if init is Init.random and repeats > 1:
        reinit = "default"
    ctx = ProxyContext(seed=seed, repeats=repeats, init=reinit, mode=None if mode is Mode.asis else mode.value,
                       padding=padding.value, regularise=regularise)
    from .modelstate import no_tf32
    from .swap import swap_score

    with no_tf32():  # TF32 rounding flips signs near zero: scores are taken in true float32 on GPUs too
        res = swap_score(net, batch, repeats=repeats, init=reinit, seed=seed, mode=ctx.mode, padding=ctx.padding)
        extra = {}
        for p in chosen[1:]:
            try:
                extra[p.name] = p.compute(net, batch, ctx)
            except SwapError as e:
                extra[p.name] = {"failed": str(e)}
    record = {**res.to_dict(), "model": model, "data": source, "batch_size": batch_size, "max_length": max_length,
              "init": init.value, "mode": mode.value, "padding": padding.value, "seed": seed, "device": dev,
              "dtype": dtype.value, "device_map": info.get("device_map"), "tf32": False,
              "regularise": None if regularise is None else {"mu": regularise.mu, "sigma": regularise.sigma,
                                                             "unit": regularise.unit},
              "versions": versions(), "proxies": extra}
    if as_json:
        print(json.dumps(record))
        return
    rows = {"model": model, "data": source, "SWAP score": res.score, "neurons": res.neurons, "samples": res.samples,
            "saturation": res.saturation, "repeats": res.repeats, "hooked calls": res.calls,
            "parameters": res.params, "device": dev, "seconds": res.seconds}
    for k, v in extra.items():
        rows[k] = v if not isinstance(v, dict) else f"failed: {v['failed']}"
    print_kv("SWAP-Score", rows)


@app.command()
def bench(
    space: str = typer.Argument(..., help="search space: darts or flexibert"),
    proxies: str = typer.Option("swap,swap_reg,params", help="comma-separated proxies, or 'all'"),
    task: str = typer.Option("", help="ground-truth task(s), comma-separated or 'all' (default: the space's tasks)"),
    build: Optional[str] = typer.Option(None, help="FlexiBERT build: reference (published setting) or faithful"),
    data: Optional[str] = typer.Option(None, help="input source passed to the space (default: its own sample)"),
    max_length: Optional[int] = typer.Option(None, help="tokens per text sample (text spaces)"),
    limit: Optional[int] = typer.Option(None, help="score only the first N benchmark architectures"),
    ids: Optional[str] = typer.Option(None, help="benchmark ids to score, e.g. 0-499 or 3,5,8"),
    repeats: Optional[int] = typer.Option(None, help="default: the space's reference protocol"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-n", help="samples N (default: protocol)"),
    init: Optional[str] = typer.Option(None, help="none, gaussian or default (default: protocol)"),
    mode: Optional[str] = typer.Option(None, help="train, eval or as-is (default: protocol)"),
    padding: Optional[Padding] = typer.Option(None, help="mask or reference (default: protocol)"),
    reg_mu: Optional[float] = typer.Option(None, help="regularised SWAP mu (with --reg-sigma)"),
    reg_sigma: Optional[float] = typer.Option(None, help="regularised SWAP sigma (divides (Θ-μ)²)"),
    reg_unit: str = typer.Option("k", help="unit of Θ for --reg-mu/--reg-sigma: 1, k or M parameters"),
    seed: int = typer.Option(0),
    device: Device = typer.Option(Device.auto),
    out: Optional[str] = typer.Option(None, help="write a Markdown report (+ PNG plots) to this path"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the per-arch result cache"),
    workers: int = typer.Option(1, help="score in this many processes (CPU; 2 suits small CNNs on 2 cores)"),
    threads: Optional[int] = typer.Option(None, help="torch threads per process (default: CPUs / workers)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """Correlate proxies with the ground truth of a space's benchmark (resumable: results are cached per arch)."""
    from .bench import run_bench
    from .proxies import available
    from .swap import Regularise

    quiet_hf()
    sp = _bench_space(space, build)
    names = available(getattr(sp, "family", None)) if proxies.strip() == "all" else _split(proxies)
    _check_bench_options(sp, names, max_length=max_length, init=init, mode=mode, repeats=repeats, limit=limit,
                         workers=workers, threads=threads,
                         prior_given=_regularise(reg_mu, reg_sigma, reg_unit) is not None)
    tasks = None if task in ("", "all") else _split(task)
    if tasks:
        unknown = [t for t in tasks if t not in sp.tasks]
        if unknown:
            raise SwapError(f"unknown task(s) {', '.join(unknown)} for {sp.name}; available: {', '.join(sp.tasks)}")
    if (reg_mu is None) != (reg_sigma is None):
        raise SwapError("--reg-mu and --reg-sigma go together")
    regularise = Regularise(reg_mu, reg_sigma, unit=reg_unit) if reg_mu is not None else ...
    init_value = ... if init is None else (None if init == "none" else init)
    mode_value = ... if mode is None else (None if mode == "as-is" else mode)
    if batch_size is not None and batch_size < 2:
        raise SwapError(f"--batch-size must be >= 2, got {batch_size}")
    result = run_bench(sp, proxies=names, tasks=tasks, limit=limit, ids=_ids(ids), repeats=repeats, n=batch_size,
                       init=init_value, mode=mode_value, padding=padding.value if padding else None, seed=seed,
                       device=resolve_device(device), regularise=regularise, data=data,
                       inputs_options={"max_length": max_length} if max_length else None,
                       cache_dir=None if no_cache else ..., progress=not as_json, workers=workers,
                       threads=threads)
    from .runner.distributed import is_main

    if not is_main():  # under accelerate launch only the main process writes and prints
        return
    if out:
        from .report import write_report

        write_report(result, out, command="swaplm " + " ".join(sys.argv[1:]),
                     title=f"swaplm bench {sp.name}")
    if as_json:
        print(json.dumps(result.to_json()))
        return
    corr = result.correlations()
    table = Table(title=f"{sp.name}: {len(result.rows)} archs, {result.computed} computed, "
                        f"{result.from_cache} from cache, {result.wall_seconds:.1f} s", title_justify="left")
    table.add_column("proxy", style="bold cyan")
    strata = result.strata() is not None
    for t in result.tasks:
        table.add_column(f"{t} ρ / τ", justify="right")
        if strata:
            table.add_column(f"{t} ρ within strata", justify="right")
    table.add_column("non-finite", justify="right")
    nonfinite = result.non_finite()

    def cells(c):
        out = [f"{c['spearman']:.3f} / {c['kendall']:.3f}"]
        return out + [f"{c['within_strata']['spearman_mean']:.3f}"] if strata else out

    for name, per_task in corr.items():
        table.add_row(name, *[x for t in result.tasks for x in cells(per_task[t])], str(nonfinite.get(name, 0)))
    console.print(table)
    if any(nonfinite.values()):
        console.print("non-finite values (failed proxies) are ranked as the worst architectures")
    if out:
        console.print(f"report written to {out}")


def _bench_space(name: str, build: Optional[str]):
    """The space ``name`` with ``--build`` if given; a space without builds refuses --build in one line."""
    import inspect

    from .spaces import get_space

    sp = get_space(name)  # unknown names fail here
    if build is None:
        return sp
    if "build" not in inspect.signature(type(sp)).parameters:
        raise SwapError(f"--build is a FlexiBERT option (reference or faithful); the {sp.name} space has no builds")
    return get_space(name, build=build)


def _check_bench_options(sp, names: list[str], *, max_length, init, mode, repeats, limit, workers, threads,
                         prior_given: bool) -> None:
    """Every bench option checked against the space before any model is built: one line for the first bad one."""
    import inspect

    from .init import INITS

    if max_length is not None:
        if "max_length" not in inspect.signature(sp.inputs).parameters:
            raise SwapError(f"--max-length is for text spaces; the {sp.name} space scores images")
        positions = getattr(sp, "max_positions", None)
        if max_length < 2 or (positions is not None and max_length > positions):
            raise SwapError(f"--max-length must be between 2 and {positions or 'the model positions'} for "
                            f"{sp.name}, got {max_length}")
    if init is not None and init not in ("none", *INITS):
        raise SwapError(f"unknown --init {init!r}; choose none, {', '.join(INITS)}")
    if mode is not None and mode not in ("train", "eval", "as-is"):
        raise SwapError(f"unknown --mode {mode!r}; choose train, eval or as-is")
    for option, value in (("--repeats", repeats), ("--limit", limit), ("--workers", workers), ("--threads", threads)):
        if value is not None and value < 1:
            raise SwapError(f"{option} must be >= 1, got {value}")
    if "swap_reg" in names and not prior_given and getattr(getattr(sp, "protocol", None), "regularise", None) is None:
        raise SwapError(f"swap_reg needs a size prior and the {sp.name} space has none: pass --reg-mu and "
                        "--reg-sigma (Θ in --reg-unit parameters), or leave swap_reg out of --proxies")


def _ids(spec: Optional[str]) -> Optional[list[int]]:
    if not spec:
        return None
    ids: list[int] = []
    try:
        for part in _split(spec):
            lo, _, hi = part.partition("-")
            ids.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise SwapError(f"--ids must look like 0-499 or 3,5,8, got {spec!r}") from None
    return ids


@app.command("proxies")
def list_proxies(as_json: bool = typer.Option(False, "--json", help="print a JSON list")):
    """List the registered zero-cost proxies."""
    from .proxies import available, get_proxy

    items = [get_proxy(n) for n in available()]
    if as_json:
        print(json.dumps([{"name": p.name, "higher_is_better": p.higher_is_better, "needs_labels": p.needs_labels,
                           "needs_gradients": p.needs_gradients, "families": list(p.families), "cost": p.cost,
                           "card": p.card} for p in items]))
        return
    table = Table(title="zero-cost proxies", title_justify="left")
    for col in ("name", "direction", "labels", "gradients", "for", "cost", "what it measures"):
        table.add_column(col, overflow="fold")
    for p in items:
        table.add_row(p.name, "higher" if p.higher_is_better else "lower", "yes" if p.needs_labels else "no",
                      "yes" if p.needs_gradients else "no", ", ".join(p.families), p.cost, p.card)
    console.print(table)


@app.command()
def search(
    space: str = typer.Argument(..., help="search space: darts or flexibert"),
    task: Optional[str] = typer.Option(None, help="ground-truth task; FlexiBERT: glue, sst2 (scores on SST-2 text), cola, ..."),
    algorithm: str = typer.Option("swapnas", help="swapnas, evolution (aging) or random"),
    budget: str = typer.Option("100", help="fitness evaluations; with --benchmark --seeds a list, e.g. 50,200"),
    proxy: str = typer.Option("swap", help="fitness proxy (see `swaplm proxies`)"),
    seed: int = typer.Option(0, help="search seed (same seed, same inputs: same search)"),
    out: Optional[str] = typer.Option(None, help="output directory (default runs/search-SPACE-TIME)"),
    resume: Optional[str] = typer.Option(None, help="continue the interrupted search in this directory"),
    benchmark: bool = typer.Option(False, "--benchmark", help="candidates restricted to the benchmark's archs"),
    seeds: Optional[int] = typer.Option(None, help="benchmark mode: compare every method over this many seeds (30 if --benchmark and a budget list)"),
    build: Optional[str] = typer.Option(None, help="FlexiBERT build (default faithful: what is searched is built)"),
    data: Optional[str] = typer.Option(None, help="input source (default: the task's shipped sample)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-n", help="samples N (default: protocol)"),
    max_length: Optional[int] = typer.Option(None, help="tokens per text sample (text spaces)"),
    reg_mu: Optional[float] = typer.Option(None, help="size prior mu (fitness becomes swap_reg)"),
    reg_sigma: Optional[float] = typer.Option(None, help="size prior sigma"),
    reg_unit: str = typer.Option("k", help="unit of Θ for the prior: 1, k or M parameters"),
    max_params: Optional[int] = typer.Option(None, help="hard limit: candidates above it get fitness -inf"),
    population: int = typer.Option(20, help="population P"),
    sample: int = typer.Option(5, help="tournament sample S"),
    mutations: int = typer.Option(5, help="SWAP-NAS: scored mutations per cycle M"),
    workers: int = typer.Option(1, help="CPU worker processes"),
    threads: Optional[int] = typer.Option(None, help="torch threads per process"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the shared bench cache"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """Search a space for the architecture with the best zero-cost fitness (resumable: every evaluation is journaled)."""
    import time as _time
    from pathlib import Path

    from .bench import default_cache_dir
    from .proxies import get_proxy
    from .search import SearchConfig, get_algorithm, resolve_task, run_search
    from .search.compare import compare
    from .swap import Regularise

    quiet_hf()
    try:
        budgets = [int(b) for b in _split(budget)]
    except ValueError:
        raise SwapError(f"--budget must be a number of evaluations (or a list like 50,200), got {budget!r}") from None
    if not budgets or min(budgets) < 1:
        raise SwapError(f"--budget must be >= 1, got {budget!r}")
    get_algorithm(algorithm)
    get_proxy(proxy)
    for option, value in (("--population", population), ("--sample", sample), ("--mutations", mutations),
                          ("--seeds", seeds), ("--max-params", max_params)):
        if value is not None and value < 1:
            raise SwapError(f"{option} must be >= 1, got {value}")
    if (reg_mu is None) != (reg_sigma is None):
        raise SwapError("--reg-mu and --reg-sigma go together")
    if (len(budgets) > 1 or seeds) and not benchmark:
        raise SwapError("a budget list and --seeds compare methods in benchmark mode: add --benchmark")
    sp = get_space_for_search(space, build)
    col, default_data = resolve_task(sp, task)
    regularise = Regularise(reg_mu, reg_sigma, unit=reg_unit) if reg_mu is not None else None
    scoring = {k: v for k, v in (("n", batch_size),) if v is not None}
    if max_length is not None:
        scoring["inputs_options"] = {"max_length": max_length}
    cache_dir = None if no_cache else default_cache_dir()
    opts = {"population": population, "sample": sample}
    if algorithm == "swapnas":
        opts["mutations"] = mutations
    if algorithm == "random":
        opts = {}
    if resume and out and Path(resume) != Path(out):
        raise SwapError("give the search directory once: --resume DIR (or --out DIR for a new search)")
    out_dir = Path(resume or out or f"runs/search-{sp.name}-{_time.strftime('%Y%m%d-%H%M%S')}")
    if benchmark and (len(budgets) > 1 or seeds):
        summary = compare(sp, col, budgets, list(range(seed, seed + (seeds or 30))), proxy=proxy,
                          regularise=regularise, out_dir=out_dir, cache_dir=cache_dir, workers=workers,
                          threads=threads, progress=not as_json, scoring={**scoring, "data": data or default_data},
                          algorithm_options={"population": population, "sample": sample, "mutations": mutations})
        from .runner.distributed import is_main

        if not is_main():
            return
        if as_json:
            print(json.dumps({"out_dir": str(out_dir), **{k: v for k, v in summary.items() if k != "scoring"}}))
        else:
            console.print(f"benchmark-mode comparison written to {out_dir / 'search.md'}")
        return
    config = SearchConfig(space=sp.name, space_options=_space_opts(sp), algorithm=algorithm, budget=budgets[0],
                          seed=seed, proxy=proxy, regularise=regularise, max_params=max_params, task=col,
                          data=data or default_data, benchmark=benchmark, algorithm_options=opts,
                          scoring=scoring)
    view = None
    if benchmark:
        from .search import BenchmarkView

        view = BenchmarkView(sp, [r for r in sp.benchmark() if r.scores.get(col) is not None])
    result = run_search(sp, config, out_dir, resume=resume is not None, cache_dir=cache_dir, workers=workers,
                        threads=threads, progress=not as_json, view=view, scoring={**scoring, "data": config.data})
    from .runner.distributed import is_main

    if not is_main():
        return
    if as_json:
        keys = ("out_dir", "best", "fitness", "params", "evaluations", "seconds") + (("true_score",) if benchmark else ())
        print(json.dumps({k: result[k] for k in keys}))
        return
    rows = {"best": result["best"], "fitness": result["fitness"], "parameters": result["params"],
            "evaluations": result["evaluations"], "computed now": result["computed"], "seconds": result["seconds"]}
    if benchmark:
        rows[f"true {col}"] = result["true_score"]
    print_kv(f"swaplm search {sp.name} ({algorithm})", rows)
    console.print(f"outputs in {out_dir}/: search.md, journal.jsonl, best/ ({', '.join(Path(f).name for f in result['best_files'])})")


def get_space_for_search(name: str, build: Optional[str]):
    """The space to search; FlexiBERT defaults to the faithful build (the searched fields are what is built)."""
    sp = _bench_space(name, build)
    return _bench_space(name, "faithful") if build is None and sp.name == "flexibert" else sp


def _space_opts(sp) -> dict:
    from .runner.identity import jsonable, space_options

    return jsonable(space_options(sp))


@app.command()
def rank(
    models: list[str] = typer.Argument(..., help="checkpoint directories (a folder of HF Trainer checkpoint-* "
                                                 "subfolders expands to them in step order), builtin:minilm, hub ids"),
    data: str = typer.Option("auto", help="auto (shipped WikiText-2), builtin:wikitext2|sst2, a hub dataset or a file"),
    proxies: str = typer.Option("swap,mlm_loss,rankme,alpha_req,params",
                                help="comma-separated proxies; the first one orders the table"),
    truth: Optional[str] = typer.Option(None, help="CSV with columns model,score (e.g. fine-tuned accuracy): adds "
                                                   "Spearman/Kendall with bootstrap intervals"),
    out: Optional[str] = typer.Option(None, help="write a Markdown report (+ PNG plot with --truth) to this path"),
    batch_size: int = typer.Option(128, "--batch-size", "-n", help="samples N in the one batch (changes the metric)"),
    max_length: int = typer.Option(128, help="tokens per sample"),
    tokenizer: Optional[str] = typer.Option(None, help="tokenizer of the batch (default: the shipped BERT uncased)"),
    seed: int = typer.Option(0),
    device: Device = typer.Option(Device.auto),
    workers: int = typer.Option(1, help="score in this many processes (CPU)"),
    threads: Optional[int] = typer.Option(None, help="torch threads per process (default: CPUs / workers)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the per-checkpoint store"),
    as_json: bool = typer.Option(False, "--json", help='print {"ranking": [...], "correlations": {...}}'),
):
    """Rank pretrained checkpoints with label-free proxies before fine-tuning (cached per checkpoint)."""
    from .rank import rank as run_rank
    from .rank import read_truth
    from .runner.distributed import is_main

    quiet_hf()
    names = _split(proxies)
    if not names:
        raise SwapError("--proxies is empty")
    if batch_size < 2 or max_length < 2:
        raise SwapError("--batch-size and --max-length must be >= 2")
    truth_rows = read_truth(truth) if truth else None
    result = run_rank(models, proxies=names, data=data, n=batch_size, max_length=max_length, seed=seed,
                      device=resolve_device(device), tokenizer=tokenizer, store=None if no_cache else ...,
                      workers=workers, threads=threads, progress=not as_json and is_main(), truth=truth_rows)
    if not is_main():  # under accelerate launch only the main process writes and prints
        return
    ranking = result.ranking()
    if all(all(v is None for v in r["scores"].values()) for r in ranking):
        first = ranking[0]
        why = next(iter(first["failed"].values()), "failed")
        more = f" (and {len(ranking) - 1} other checkpoint(s) failed too)" if len(ranking) > 1 else ""
        raise SwapError(f"{first['model']}: {why}{more}")
    if out:
        from .rank.report import write_report

        write_report(result, out, command="swaplm rank " + " ".join(sys.argv[2:]))
    if as_json:
        print(json.dumps(result.to_json()))
        return
    table = Table(title=f"swaplm rank: {len(ranking)} checkpoint(s), {result.wall_seconds:.1f} s "
                        f"({sum(result.cached.values())} from the store)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("model", style="bold cyan")
    for p in result.proxies:
        table.add_column(f"{p} {'↑' if result.higher_is_better[p] else '↓'}", justify="right")
    if result.truth:
        table.add_column("truth", justify="right")
    for i, r in enumerate(ranking, 1):
        cells = [_fmt(r["scores"][p]) if r["scores"][p] is not None else "failed" for p in result.proxies]
        table.add_row(str(i), r["model"], *cells, *([_fmt(r["truth"]) if "truth" in r else "—"]
                                                    if result.truth else []))
    console.print(table)
    for r in ranking:
        if r["failed"]:
            reasons = sorted(set(r["failed"].values()))
            console.print(f"[yellow]{r['model']}[/]: " + ("; ".join(f"{p}: {w}" for p, w in r["failed"].items())
                                                          if len(reasons) > 1 else reasons[0]),
                          highlight=False, soft_wrap=True)
    if result.truth:
        ct = Table(title="correlation with --truth (95 % bootstrap CI)", title_justify="left")
        for c in ("proxy", "n", "Spearman ρ", "Kendall τ"):
            ct.add_column(c, justify="right" if c != "proxy" else "left")
        from .rank.report import ci

        for p, c in result.correlations().items():
            ct.add_row(p, str(c["n"]), ci(c["spearman"], c["spearman_ci"]), ci(c["kendall"], c["kendall_ci"]))
        console.print(ct)
    if out:
        console.print(f"report written to {out}")


def main() -> None:
    """Entry point. A SwapError is one line on stderr and exit code 1; usage errors (unknown command, missing
    argument, bad option value) are typer's own short usage message and exit code 2."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # standalone mode: typer reports its own (click) usage errors, whichever click copy it ships; a SwapError is
    # not a click exception, so it comes out of app() unchanged
    try:
        app(standalone_mode=True)
    except SwapError as e:
        from .runner.distributed import is_main

        if is_main():  # under accelerate launch every process fails alike: say it once
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except SystemExit as e:
        if e.code == 130:  # typer turns Ctrl-C into exit code 130
            err.print("interrupted (results computed so far are kept in the cache)")
        raise


if __name__ == "__main__":
    main()
