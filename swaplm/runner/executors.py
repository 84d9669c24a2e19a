"""Executors: where a scorer's jobs run. ``InProcess`` (this process) and ``ProcessPool`` (spawned CPU worker
processes, one candidate per task). Both yield :class:`~swaplm.runner.scorer.Evaluation` objects in completion
order; every candidate is seeded on its own, so values never depend on the executor.

A job is ``(key, arch, proxy_names)``. Proxies and activation classes registered at run time travel to the
workers with the scorer; one that cannot be sent (a lambda, a function defined inside another) is refused with
a clear error before any work starts.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from swaplm.errors import SwapError

Job = tuple[str, Any, Sequence[str]]


class InProcess:
    """Score jobs one after the other in this process (with ``threads`` torch threads when given)."""

    def __init__(self, threads: int | None = None):
        if threads is not None and threads < 1:
            raise SwapError(f"threads must be >= 1, got {threads}")
        self.threads = threads

    def map(self, scorer, jobs: Sequence[Job], warmup: bool = False) -> Iterator:
        prev = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            if warmup and jobs:  # lazy imports and allocator start-up do not land in the first timing
                scorer.score(jobs[0][1], jobs[0][0], jobs[0][2])
            for key, arch, names in jobs:
                yield scorer.score(arch, key, names)
        finally:
            torch.set_num_threads(prev)

    def close(self) -> None:
        pass


_WORKER: dict[str, Any] = {}


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker process once its parent has gone (killed or terminated without closing the pool): a
    worker never goes on computing values nobody will receive."""
    import time

    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _worker_init(threads: int, payload: bytes, warm: Job | None, parent: int) -> None:
    import threading

    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="swaplm-exit-with-parent").start()
    torch.set_num_threads(threads)
    scorer, extra_acts = pickle.loads(payload)
    from swaplm import activations

    for cls, nonneg in extra_acts:
        if cls not in activations._extra:
            activations.register(cls, nonnegative=nonneg)
    _WORKER["scorer"] = scorer
    if warm is not None:
        scorer.score(warm[1], warm[0], warm[2])


def _worker_score(key: str, arch: Any, names: Sequence[str]):
    return _WORKER["scorer"].score(arch, key, names)


class ProcessPool:
    """``workers`` spawned processes with ``threads`` torch threads each (default: CPUs / workers). The pool
    starts on the first :meth:`map` and is kept for later calls with the same scorer (a search maps many
    small batches); :meth:`close` stops it."""

    def __init__(self, workers: int, threads: int | None = None):
        if workers < 2:
            raise SwapError(f"a process pool needs >= 2 workers, got {workers}")
        if threads is not None and threads < 1:
            raise SwapError(f"threads must be >= 1, got {threads}")
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._ex = None
        self._scorer_id = None

    def _start(self, scorer, warm: Job | None) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if scorer.device.type != "cpu":
            raise SwapError("--workers > 1 is for CPU runs; on a GPU use one worker (or accelerate launch)")
        from swaplm import activations

        extra = [(c, c in activations._extra_nonneg) for c in activations._extra]
        try:
            payload = pickle.dumps((scorer, extra))
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            raise SwapError(f"this run cannot be sent to worker processes ({e}); a proxy, activation or space "
                            "registered at run time must be defined at module level of an importable module "
                            "— or use --workers 1") from None
        self.close()
        self._ex = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                       initargs=(self.threads, payload, warm, os.getpid()))
        self._scorer_id = id(scorer)

    def map(self, scorer, jobs: Sequence[Job], warmup: bool = False) -> Iterator:
        from concurrent.futures import as_completed

        if not jobs:
            return
        if self._ex is None or self._scorer_id != id(scorer):
            self._start(scorer, jobs[0] if warmup else None)
        futures = [self._ex.submit(_worker_score, key, arch, list(names)) for key, arch, names in jobs]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=True)
            self._ex = None


def make_executor(workers: int = 1, threads: int | None = None):
    """``InProcess`` for one worker, a ``ProcessPool`` for several, and under ``accelerate launch`` the
    :class:`~swaplm.runner.distributed.AccelerateExecutor` (one process per device; ``workers`` must be 1)."""
    from .distributed import AccelerateExecutor, launched

    if workers < 1 or (threads is not None and threads < 1):
        raise SwapError(f"workers and threads must be >= 1 (got workers={workers}, threads={threads})")
    if launched():
        if workers > 1:
            raise SwapError("--workers > 1 and accelerate launch do not mix: accelerate already runs one process "
                            "per device (use --num_processes)")
        return AccelerateExecutor(threads=threads)
    return InProcess(threads) if workers == 1 else ProcessPool(workers, threads)


__all__ = ["InProcess", "ProcessPool", "make_executor"]
