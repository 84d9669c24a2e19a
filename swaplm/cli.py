"""The ``swaplm`` command line (typer): parse, call one library function, render. Every user error is one line on
stderr and exit code 1 (the library checks the options); usage errors are typer's short message and exit 2."""
from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import SwapError
from .rank import DEFAULT_PROXIES

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="swaplm: judge neural networks without training them (SWAP-Score and zero-cost proxies).")
console = Console()
err = Console(stderr=True)


def _choices(name: str, *values: str) -> type[Enum]:
    """A str Enum of ``values`` for typer (member names: the values with "-" as "_")."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


# one enum per option, used by every command that has the option
Device = _choices("Device", "auto", "cpu", "cuda")
Init = _choices("Init", "pretrained", "random", "gaussian", "default")
Mode = _choices("Mode", "as-is", "train", "eval")
DType = _choices("DType", "float32", "bfloat16", "float16")
Padding = _choices("Padding", "mask", "reference")


# the options every command shares, spelled, defaulted and explained once
Data = Annotated[str, typer.Option(help="auto (the shipped sample: WikiText-2 for text, CIFAR-10 for images, a "
                                        "space's own batch), builtin:wikitext2|sst2|cifar10, a hub dataset or a file")]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", "-n", help="samples N in the batch (changes the "
                                                  "metric; default: the space's protocol, 128 for models)")]
MaxLength = Annotated[Optional[int], typer.Option(help="tokens per text sample (default 128)")]
DeviceOpt = Annotated[Device, typer.Option(help="auto (CUDA when present), cpu or cuda")]
DTypeOpt = Annotated[DType, typer.Option(help="dtype of weights and float inputs (signs near 0 may differ)")]
Seed = Annotated[int, typer.Option(help="seed of weights, data choice and search")]
Workers = Annotated[int, typer.Option(help="score in this many processes (CPU)")]
Threads = Annotated[Optional[int], typer.Option(help="torch threads per process (default: CPUs / workers)")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="do not read or write the store of computed values")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Out = Annotated[Optional[str], typer.Option(help="write the report here (a Markdown file; search: a directory)")]
RegMu = Annotated[Optional[float], typer.Option(help="size prior μ of swap_reg (with --reg-sigma)")]
RegSigma = Annotated[Optional[float], typer.Option(help="size prior σ of swap_reg (divides (Θ-μ)²)")]
RegUnit = Annotated[str, typer.Option(help="unit of Θ for --reg-mu/--reg-sigma: 1, k or M parameters")]
Build = Annotated[Optional[str], typer.Option(help="a space's build, e.g. FlexiBERT reference or faithful")]


def quiet_hf() -> None:
    """No weight-loading progress bars or warnings from transformers on the terminal."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def print_kv(title: str, rows: dict) -> None:
    from .report import fmt

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold cyan")
    table.add_column(justify="right", overflow="fold")  # fold a long value (an arch string) rather than cut it
    for k, v in rows.items():
        table.add_row(k, fmt(v, 4))
    console.print(table)


def _prior(mu: Optional[float], sigma: Optional[float], unit: str):
    """The size prior given by --reg-mu/--reg-sigma/--reg-unit, or None when neither is given."""
    from .swap import Regularise

    if (mu is None) != (sigma is None):
        raise SwapError("--reg-mu and --reg-sigma go together")
    return None if mu is None else Regularise(mu, sigma, unit=unit)  # checks unit and sigma > 0


def _main_process() -> bool:
    """False in the non-main processes of an ``accelerate launch`` (only the main one writes and prints)."""
    from .runner.distributed import is_main

    return is_main()


def _command() -> str:
    return "swaplm " + " ".join(sys.argv[1:])


@app.command()
def score(
    model: str = typer.Argument(..., help="HF hub id, local directory or config.json, builtin:bert-tiny|bert-small|"
                                          "minilm, or SPACE:ARCH (e.g. nb201:'|nor_conv_3x3~0|+|...|')"),
    data: Data = "auto", batch_size: BatchSize = None, max_length: MaxLength = None,
    task: Optional[str] = typer.Option(None, help="SPACE:ARCH: the space's task (its inputs and build)"),
    build: Build = None,
    repeats: Optional[int] = typer.Option(None, help="forwards to average (with --init gaussian/default: fresh "
                                                     "weights each); default 1, SPACE:ARCH: its protocol"),
    init: Optional[Init] = typer.Option(None, help="pretrained (a model's default), random (from config / as "
                                                   "built), or re-init per repeat; SPACE:ARCH: its protocol"),
    seed: Seed = 0,
    mode: Optional[Mode] = typer.Option(None, help="train (dropout/BN batch stats), eval (a model's default) or "
                                                   "as-is; SPACE:ARCH: its protocol"),
    padding: Optional[Padding] = typer.Option(None, help="mask (a model's default: padded positions get state 0) "
                                                         "or reference (counted); SPACE:ARCH: its protocol"),
    proxies: str = typer.Option("swap", help="comma-separated proxies beside SWAP (see `swaplm proxies`)"),
    proxy: Optional[str] = typer.Option(None, "--proxy", hidden=True),
    reg_mu: RegMu = None, reg_sigma: RegSigma = None, reg_unit: RegUnit = "k",
    text_column: Optional[str] = typer.Option(None, help="text column of a table/hub dataset"),
    device: DeviceOpt = Device.auto, dtype: DTypeOpt = DType.float32,
    device_map: Optional[str] = typer.Option(None, help="auto: spread the model over GPUs, CPU and disk (accelerate)"),
    offload_folder: Optional[str] = typer.Option(None, help="folder for disk-offloaded weights with --device-map"),
    trust_remote_code: bool = typer.Option(False, help="allow model code from the hub (off by default)"),
    threads: Threads = None, as_json: AsJson = False,
):
    """SWAP-Score of one model, or of one architecture of a search space (SPACE:ARCH), on one batch."""
    from .runner.settings import DEFAULT
    from .score import score_target

    quiet_hf()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    res = score_target(model, proxies=f"{proxies},{proxy or ''}", data=data, task=task, build=build, n=batch_size,
                       max_length=max_length, repeats=repeats, init=DEFAULT if init is None else init.value,
                       seed=seed, mode=DEFAULT if mode is None else (None if mode is Mode.as_is else mode.value),
                       padding=padding.value if padding else None, regularise=_prior(reg_mu, reg_sigma, reg_unit),
                       text_column=text_column, device=device.value, dtype=dtype.value, device_map=device_map,
                       offload_folder=offload_folder, trust_remote_code=trust_remote_code)
    if as_json:
        print(json.dumps(res.to_json()))
    else:
        print_kv("SWAP-Score", res.rows())


@app.command()
def bench(
    space: str = typer.Argument(..., help="search space: darts, flexibert, nb201, nb101, ..."),
    proxies: str = typer.Option("swap,swap_reg,params", help="comma-separated proxies, or 'all'"),
    task: str = typer.Option("all", help="ground-truth task(s), comma-separated (aliases such as sst2 too) or 'all'"),
    build: Build = None, data: Data = "auto", max_length: MaxLength = None,
    limit: Optional[int] = typer.Option(None, help="score only the first N benchmark architectures"),
    ids: Optional[str] = typer.Option(None, help="benchmark ids to score, e.g. 0-499 or 3,5,8"),
    repeats: Optional[int] = typer.Option(None, help="default: the space's reference protocol"),
    batch_size: BatchSize = None,
    init: Optional[Init] = typer.Option(None, help="random (keep the built weights), gaussian or default "
                                                   "(default: protocol)"),
    mode: Optional[Mode] = typer.Option(None, help="train, eval or as-is (default: protocol)"),
    padding: Optional[Padding] = typer.Option(None, help="mask or reference (default: protocol)"),
    reg_mu: RegMu = None, reg_sigma: RegSigma = None, reg_unit: RegUnit = "k",
    seed: Seed = 0, device: DeviceOpt = Device.auto, dtype: DTypeOpt = DType.float32, out: Out = None,
    export: Optional[str] = typer.Option(None, help="write one row per architecture to a .csv or .jsonl file, "
                                                    "or the whole run in NASLib's NAS-Bench-Suite-Zero layout (.json)"),
    no_cache: NoCache = False, workers: Workers = 1, threads: Threads = None, as_json: AsJson = False,
):
    """Correlate proxies with the ground truth of a space's benchmark (resumable: results are cached per arch).
    A space with one network per task (nb201) is scored once per task: --task all runs each dataset."""
    from .bench import bench_tasks, export_rows
    from .runner.settings import DEFAULT

    quiet_hf()
    if init is Init.pretrained:
        raise SwapError("--init pretrained is for trained models; bench scores untrained architectures")
    prior = _prior(reg_mu, reg_sigma, reg_unit)
    results = bench_tasks(space, proxies=proxies, tasks=task, build=build, limit=limit, ids=ids, repeats=repeats,
                          n=batch_size, init=DEFAULT if init is None else {"random": None}.get(init.value, init.value),
                          mode=DEFAULT if mode is None else (None if mode is Mode.as_is else mode.value),
                          padding=padding.value if padding else None, seed=seed, device=device.value,
                          dtype=dtype.value, regularise=DEFAULT if prior is None else prior,
                          data=None if data == "auto" else data, max_length=max_length,
                          cache_dir=None if no_cache else DEFAULT, progress=not as_json, workers=workers,
                          threads=threads)
    if not _main_process():
        return
    written = []
    for result in results:
        label = result.tasks[0] if len(results) > 1 else None
        if out:
            from .report import write_report

            written.append((_per_task(out, label), "report"))
            write_report(result, written[-1][0], command=_command(), title=f"swaplm bench {result.space}")
    if export:  # a NASLib .json holds every task; a .csv / .jsonl is one file per task
        if len(results) > 1 and not export.lower().endswith(".json"):
            written += [(export_rows(r, _per_task(export, r.tasks[0])), "rows") for r in results]
        else:
            written.append((export_rows(results if len(results) > 1 else results[0], export), "rows"))
    if as_json:
        body = [r.to_json() for r in results]
        print(json.dumps(body[0] if len(body) == 1 else {"space": results[0].space,
                                                          "tasks": {r.tasks[0]: b for r, b in zip(results, body)}}))
        return
    for result in results:
        _print_bench(result)
    for path, what in written:
        console.print(f"{what} written to {path}")


def _per_task(path: str, task: str | None) -> str:
    """``path`` for one task of a several-task bench: ``report.md`` -> ``report-cifar100.md``."""
    if task is None:
        return path
    root, dot, ext = path.rpartition(".")
    return f"{root}-{task}.{ext}" if dot else f"{path}-{task}"


def _print_bench(result) -> None:
    """A bench result's table, its inputs when they stand in for the task's own, and the connected-only view."""
    settings = result.settings
    console.print(result.table())
    if settings.get("substitute"):
        console.print(f"inputs: {settings['inputs']}", highlight=False)
    if any(result.non_finite().values()):
        console.print("non-finite values (failed proxies) are ranked as the worst architectures")
    connected = result.connected_only()
    if connected is not None:
        console.print(f"without the {len(result.disconnected())} disconnected archs (no input-to-output path):")
        console.print(connected.table())


@app.command("proxies")
def list_proxies(as_json: AsJson = False):
    """List the registered zero-cost proxies."""
    from .proxies import available, get_proxy

    items = [get_proxy(n) for n in available()]
    if as_json:
        print(json.dumps([{"name": p.name, "higher_is_better": p.higher_is_better, "needs_labels": p.needs_labels,
                           "needs_gradients": p.needs_gradients, "families": list(p.families), "cost": p.cost,
                           "card": p.card} for p in items]))
        return
    for p in items:  # one header line per proxy, its card below it: readable in an 80-column terminal
        needs = [w for w, on in (("labels", p.needs_labels), ("gradients", p.needs_gradients)) if on]
        console.print(f"[bold cyan]{p.name}[/]  {'higher' if p.higher_is_better else 'lower'} is better; "
                      f"{', '.join(p.families)}; {p.cost}" + (f"; needs {' and '.join(needs)}" if needs else ""),
                      highlight=False)
        console.print(p.card, style="dim", highlight=False)
        console.print()


@app.command()
def search(
    ctx: typer.Context,
    space: Optional[str] = typer.Argument(None, help="search space: darts or flexibert (not needed with --resume)"),
    task: Optional[str] = typer.Option(None, help="ground-truth task; FlexiBERT: glue, sst2 (scores on SST-2 text), cola, ..."),
    algorithm: str = typer.Option("swapnas", help="swapnas, evolution (aging) or random"),
    budget: str = typer.Option("100", help="fitness evaluations; with --benchmark --seeds a list, e.g. 50,200"),
    fitness: str = typer.Option("swap", help="fitness proxy (see `swaplm proxies`)"),
    seed: Seed = 0, out: Out = None,
    resume: Optional[str] = typer.Option(None, help="continue the search in this directory with its saved settings"),
    benchmark: bool = typer.Option(False, "--benchmark", help="candidates restricted to the benchmark's archs"),
    seeds: Optional[int] = typer.Option(None, help="benchmark mode: compare every method over this many seeds"),
    build: Build = None, data: Data = "auto", batch_size: BatchSize = None, max_length: MaxLength = None,
    reg_mu: RegMu = None, reg_sigma: RegSigma = None, reg_unit: RegUnit = "k",
    max_params: Optional[int] = typer.Option(None, help="hard limit: candidates above it get fitness -inf"),
    population: int = typer.Option(20, help="population P"),
    sample: int = typer.Option(5, help="tournament sample S"),
    mutations: int = typer.Option(5, help="SWAP-NAS: scored mutations per cycle M"),
    device: DeviceOpt = Device.auto, dtype: DTypeOpt = DType.float32,
    workers: Workers = 1, threads: Threads = None, no_cache: NoCache = False, as_json: AsJson = False,
):
    """Search a space for the architecture with the best zero-cost fitness (resumable: every evaluation is journaled)."""
    from .search import search as run

    quiet_hf()
    try:
        budgets = [int(b) for b in budget.split(",") if b.strip()]
    except ValueError:
        raise SwapError(f"--budget must be a number of evaluations (or a list like 50,200), got {budget!r}") from None
    if not budgets or min(budgets) < 1:
        raise SwapError(f"--budget must be >= 1, got {budget!r}")
    values = {"task": task, "algorithm": algorithm, "seed": seed, "fitness": fitness, "benchmark": benchmark,
              "build": build, "data": None if data == "auto" else data, "n": batch_size, "max_length": max_length,
              "dtype": dtype.value, "max_params": max_params, "population": population, "sample": sample,
              "mutations": mutations, "regularise": _prior(reg_mu, reg_sigma, reg_unit)}
    source = {"n": "batch_size", "fitness": "fitness", "regularise": "reg_mu"}
    def typed(name: str) -> bool:  # given on the command line (a default never disagrees with --resume)
        return ctx.get_parameter_source(name).name != "DEFAULT"  # typer may ship its own click: compare names

    given = {k: v for k, v in values.items() if typed(source.get(k, k))}
    given_budget = budgets if typed("budget") else None
    result = run(space, resume=resume, out=out, budget=given_budget, seeds=seeds, device=device.value,
                 workers=workers, threads=threads, cache=not no_cache, progress=not as_json, command=_command(),
                 **given)
    if not _main_process():
        return
    if isinstance(result, dict):  # the benchmark-mode comparison
        if as_json:
            print(json.dumps({"out_dir": str(result["out_dir"]), **{k: v for k, v in result.items()
                                                                     if k not in ("scoring", "out_dir")}}))
        else:
            console.print(f"benchmark-mode comparison written to {result['out_dir']}/search.md")
        return
    if as_json:
        print(json.dumps(result.to_json()))
        return
    rows = {"best": result.best, "fitness": result.fitness, "parameters": result.params,
            "evaluations": result.evaluations, "computed now": result.computed, "seconds": result.seconds}
    if result.benchmark_id is not None:
        rows["true score"] = result.true_score
    print_kv("swaplm search", rows)
    files = ", ".join(os.path.basename(f) for f in result.best_files)
    console.print(f"outputs in {result.out_dir}/: search.md, journal.jsonl, best/ ({files})")


@app.command()
def rank(
    models: list[str] = typer.Argument(..., help="checkpoint directories (a folder of HF Trainer checkpoint-* "
                                                 "subfolders expands to them in step order), builtin:minilm, hub ids"),
    data: Data = "auto",
    proxies: str = typer.Option(",".join(DEFAULT_PROXIES), help="comma-separated proxies; the first one orders "
                                                                 "the table"),
    truth: Optional[str] = typer.Option(None, help="CSV with columns model,score (e.g. fine-tuned accuracy): adds "
                                                   "Spearman/Kendall with bootstrap intervals"),
    out: Out = None, batch_size: BatchSize = None, max_length: MaxLength = None,
    tokenizer: Optional[str] = typer.Option(None, help="tokenizer of the batch (default: the shipped BERT uncased)"),
    seed: Seed = 0, device: DeviceOpt = Device.auto, dtype: DTypeOpt = DType.float32,
    workers: Workers = 1, threads: Threads = None, no_cache: NoCache = False, as_json: AsJson = False,
):
    """Rank pretrained checkpoints with label-free proxies before fine-tuning (cached per checkpoint)."""
    from .rank import rank as run_rank
    from .runner.settings import DEFAULT

    quiet_hf()
    result = run_rank(models, proxies=proxies, data=data, n=batch_size, max_length=max_length,
                      seed=seed, device=device.value, dtype=dtype.value, tokenizer=tokenizer,
                      store=None if no_cache else DEFAULT, workers=workers, threads=threads,
                      progress=not as_json and _main_process(), truth=truth)
    if not _main_process():  # under accelerate launch only the main process writes and prints
        return
    result.check_any_scored()
    if out:
        from .rank.report import write_report

        write_report(result, out, command=_command())
    if as_json:
        print(json.dumps(result.to_json()))
        return
    for part in result.terminal():
        console.print(part, highlight=False, soft_wrap=True)
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
        code = 0
    except SwapError as e:
        if _main_process():  # under accelerate launch every process fails alike: say it once
            err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        code = 1
    except SystemExit as e:
        if e.code == 130:  # typer turns Ctrl-C into exit code 130
            err.print("interrupted (results computed so far are kept in the cache)")
        code = e.code
    from .runner.distributed import exit_launched, launched

    if launched() and not code:  # a finished launched process skips the interpreter's teardown (exit_launched);
        exit_launched(code)     # a failed one exits as usual, so the main process's error line is out first
    sys.exit(code)

if __name__ == "__main__":
    main()
