"""Running under ``accelerate launch``: one process per device, candidates sharded with accelerate's own
primitives (``PartialState``, ``split_between_processes``, ``gather_object``).

Every process runs the same program on the same candidate list (bench records, a search's deterministic
questions), scores its share, and receives everyone's evaluations, so all processes keep the same state and a
search takes the same path whatever the number of processes. Only the main process writes the store, the
journal, reports and terminal output (:func:`is_main`); the others keep the store's lines in memory.
"""
from __future__ import annotations

import atexit
import math
import os
from collections.abc import Iterator, Sequence

from swaplm.errors import SwapError


def world_size() -> int:
    """Processes started by ``accelerate launch`` / torchrun (1 for a plain run)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def launched() -> bool:
    return world_size() > 1


def is_main() -> bool:
    """True in a plain run and in the main process of a launched one."""
    return os.environ.get("RANK", "0") in ("", "0")


def _destroy_process_group() -> None:
    """Close this process's side of the process group before the interpreter shuts down.

    A gloo process group left to the interpreter's own teardown is destroyed while its communication threads
    may still be running, which aborts the process ("terminate called without an active exception", exit -6)
    after all its work is done. Registered once, by the first executor of a launched run; ``close()`` does not
    destroy the group because one process may create several executors (a benchmark-mode search does)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_launched(code: object) -> None:
    """End a process of a launched run with exit status ``code`` (a SystemExit code): flush the output,
    destroy the process group, then leave through ``os._exit``.

    A launched process that leaves through the interpreter's normal shutdown can still abort after its work is
    done ("terminate called without an active exception", exit -6): C++ threads of the distributed runtime
    and of the libraries it loaded may still be joinable when their objects are destroyed. Skipping the
    interpreter's teardown once every output is written leaves nothing to destroy. The CLI ends only successful
    processes this way: a failed process that left at once could make the launcher stop the main process before
    it has written its one-line error."""
    import sys

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    _destroy_process_group()
    os._exit(code or 0)


class AccelerateExecutor:
    """Shard jobs over the launched processes; evaluations come back in job order, chunk by chunk (a chunk is
    ``chunk`` jobs per process), so the main process stores results as they arrive and a killed run resumes
    from the store."""

    def __init__(self, chunk: int = 4, threads: int | None = None):
        try:
            from accelerate import PartialState
        except ImportError:
            raise SwapError("accelerate is not installed: pip install accelerate") from None
        import torch

        # cpu=True unless CUDA is present: on CPU machines accelerate otherwise stays single-process (MULTI_CPU)
        cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not torch.cuda.is_available()
        self.state = PartialState(cpu=cpu)
        atexit.unregister(_destroy_process_group)  # registered once, whatever the number of executors
        atexit.register(_destroy_process_group)
        if self.state.num_processes != world_size():
            raise SwapError(f"accelerate sees {self.state.num_processes} process(es) but {world_size()} were "
                            "launched; check the accelerate config")
        self.chunk = max(1, chunk)
        if threads is None:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.state.num_processes) or 1)
            threads = max(1, (os.cpu_count() or 1) // max(1, local))
        torch.set_num_threads(threads)
        self.threads = threads

    @property
    def device(self):
        return self.state.device

    def map(self, scorer, jobs: Sequence, warmup: bool = False) -> Iterator:
        from accelerate.utils import gather_object

        if warmup and jobs:
            scorer.score(jobs[0][1], jobs[0][0], jobs[0][2])
        # a collective per chunk: chunks grow with the job list (about ten per call, at least ``chunk`` jobs per
        # process), so synchronisation stays rare and a killed run loses at most one chunk
        per = max(self.chunk, math.ceil(len(jobs) / (10 * self.state.num_processes)))
        step = per * self.state.num_processes
        for start in range(0, len(jobs), step):
            part = list(jobs[start:start + step])
            with self.state.split_between_processes(part) as mine:
                evs = [scorer.score(arch, key, names) for key, arch, names in mine]
            for ev in gather_object(evs):
                yield ev

    def close(self) -> None:
        pass


__all__ = ["AccelerateExecutor", "exit_launched", "launched", "is_main", "world_size"]
