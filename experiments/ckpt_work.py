"""The work folder of the checkpoint-ranking experiment: jobs whose results are JSON files, checked before reuse.

Every unit of work (one pretraining run, one fine-tuning run, one held-out evaluation) is a :class:`Job`: a
function named by ``module:function`` called with JSON keyword arguments. Its result lands in one JSON file
written atomically, carrying the job's key (a digest of the function name and the arguments). A rerun reuses a
result only when the file parses, its key matches and every model folder it names still has the content digest
recorded when it was written; anything else (no file, a cut-off or corrupt file, another plan, a changed or
half-written model folder) is run again. Jobs run in worker processes (one torch thread each) or, with
``workers=0``, in this process.

The journal (``journal.jsonl``) records every stage and job as it finishes; ``stages.json`` adds up each stage's
measured wall and CPU seconds over all invocations.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


def digest(obj: Any) -> str:
    """A short stable digest of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def model_digest(folder: str | Path) -> str:
    """The content digest ``swaplm rank`` keys a checkpoint by (config and weight files)."""
    from swaplm.rank.loading import content_digest

    return content_digest(Path(folder))[:16]


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or does not parse."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class Job:
    """``fn`` (``module:function``) called with ``kwargs``; its result is stored in ``out``. ``depends`` (for
    instance the content digest of the checkpoint it reads) is part of the key but not passed on. ``cost`` orders
    the queue (largest first) and feeds the progress estimate."""

    name: str
    fn: str
    kwargs: dict
    out: Path
    cost: float = 1.0
    depends: Any = None

    @property
    def key(self) -> str:
        return digest([self.fn, self.kwargs, self.depends])


def stored(job: Job) -> dict | None:
    """The job's stored result when it is complete and current (key, and the digests of the model folders it
    names), else None."""
    doc = read_json(job.out)
    if not isinstance(doc, dict) or doc.get("key") != job.key or "result" not in doc:
        return None
    for folder, want in (doc.get("digests") or {}).items():
        try:
            if not (Path(folder) / "config.json").is_file() or model_digest(folder) != want:
                return None
        except OSError:
            return None
    return doc


def _call(fn: str, kwargs: dict) -> dict:
    module, name = fn.split(":")
    t0, c0 = time.perf_counter(), time.process_time()
    result = getattr(importlib.import_module(module), name)(**kwargs)
    digests = {d: model_digest(d) for d in (result.get("dirs") or {}).values()} if isinstance(result, dict) else {}
    return {"result": result, "digests": digests, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


def _init_worker(root: str, threads: int) -> None:
    if root not in sys.path:
        sys.path.insert(0, root)
    import torch
    import transformers

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


class Work:
    """The work folder: journal, stage clock, job runner."""

    def __init__(self, root: Path, workers: int = 2, echo: Callable[[str], None] = print):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.echo = echo
        self.started = time.perf_counter()
        self.this_run: dict[str, dict] = {}

    # -------------------------------------------------------------------------------------------- journal
    def log(self, **event) -> None:
        with (self.root / "journal.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **event}, default=str) + "\n")

    def stages(self) -> dict:
        """{stage: {"wall", "cpu", "invocations", "reused", "ran"}} summed over every invocation."""
        doc = read_json(self.root / "stages.json")
        return doc if isinstance(doc, dict) else {}

    def stage(self, name: str):
        """``with work.stage(name):`` times a stage and adds it to ``stages.json``."""
        return _StageClock(self, name)

    # -------------------------------------------------------------------------------------------- jobs
    def run(self, jobs: list[Job], label: str, workers: int | None = None) -> dict[str, dict]:
        """Every job's stored result ({job name: stored document}), running those without a current one
        (``workers`` worker processes, default the folder's; 0 runs them in this process)."""
        workers = self.workers if workers is None else workers
        done, todo = {}, []
        for job in jobs:
            doc = stored(job)
            if doc is None:
                todo.append(job)
            else:
                done[job.name] = doc
        clock = self.this_run.setdefault(label, {"reused": 0, "ran": 0})
        clock["reused"] += len(done)
        if done:
            self.echo(f"  [{label}] {len(done)} of {len(jobs)} reused from {self.root}")
        if not todo:
            return done
        todo.sort(key=lambda j: -j.cost)
        for job in todo:  # a half-written folder of an interrupted run is not reused
            if job.out.exists():
                job.out.unlink()
        total_cost, finished_cost, t0 = sum(j.cost for j in todo), 0.0, time.perf_counter()

        def finish(job: Job, doc: dict) -> None:
            nonlocal finished_cost
            doc = {"key": job.key, "fn": job.fn, "kwargs": job.kwargs, **doc}
            write_json(job.out, doc)
            done[job.name] = doc
            clock["ran"] += 1
            finished_cost += job.cost
            el = time.perf_counter() - t0
            eta = el * (total_cost - finished_cost) / finished_cost if finished_cost else float("nan")
            self.log(stage=label, job=job.name, seconds=doc["seconds"], cpu_seconds=doc["cpu_seconds"])
            self.echo(f"  [{label}] {clock['ran']}/{len(todo)} {job.name} ({doc['seconds']:.0f} s) "
                      f"elapsed {el / 60:.1f} min, about {eta / 60:.1f} min left")

        if workers <= 0:
            for job in todo:
                finish(job, _call(job.fn, job.kwargs))
            return done
        ctx = multiprocessing.get_context("spawn")
        root = str(Path(__file__).resolve().parents[1])
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                    initializer=_init_worker, initargs=(root, 1)) as pool:
            futures = {pool.submit(_call, job.fn, job.kwargs): job for job in todo}
            failed = []
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    finish(job, fut.result())
                except Exception as e:  # noqa: BLE001 - reported and re-raised after the others finish
                    failed.append((job, e))
                    self.log(stage=label, job=job.name, error=repr(e))
                    self.echo(f"  [{label}] FAILED {job.name}: {e!r}")
        if failed:
            raise RuntimeError(f"{len(failed)} {label} job(s) failed (first: {failed[0][0].name}: {failed[0][1]!r}); "
                               "rerun the command to retry them, finished jobs are kept")
        return done


class _StageClock:
    def __init__(self, work: Work, name: str):
        self.work, self.name = work, name

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), _cpu_now()
        self.work.echo(f"[{self.name}] ...")
        self.work.log(stage=self.name, event="start")
        return self

    def __exit__(self, exc_type, exc, tb):
        wall, cpu = time.perf_counter() - self.t0, _cpu_now() - self.c0
        if exc_type is not None:
            self.work.log(stage=self.name, event="failed", seconds=wall, error=repr(exc))
            return False
        stages = self.work.stages()
        st = stages.setdefault(self.name, {"wall": 0.0, "cpu": 0.0, "invocations": 0})
        st["wall"] += wall
        st["cpu"] += cpu
        st["invocations"] += 1
        st["last_wall"] = wall
        write_json(self.work.root / "stages.json", stages)
        self.work.log(stage=self.name, event="done", seconds=wall, cpu_seconds=cpu)
        total = time.perf_counter() - self.work.started
        self.work.echo(f"[{self.name}] done in {wall / 60:.1f} min (this invocation {total / 60:.1f} min so far)")
        return False


def _cpu_now() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
