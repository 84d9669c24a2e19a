"""The evaluation loop shared by bench, search and rank: look every candidate up in the store, score what is
missing on an executor, append each result to the store at once, merge, derive."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .executors import InProcess
from .progress import progress as progress_bar
from .scorer import Evaluation, Scorer
from .store import Store


def evaluate_candidates(scorer: Scorer, candidates: Sequence[tuple[str, Any]], *, store: Store | None = None,
             executor=None, progress: bool = False, label: str | None = None, warmup: bool = False,
             on_result: Callable[[Evaluation], str | None] | None = None) -> dict[str, Evaluation]:
    """Evaluations of ``candidates`` (``(key, arch)`` pairs; a repeated key is scored once), in input order.

    Values found in ``store`` are reused (``cached=True``); the rest run on ``executor`` (default in-process)
    and are appended to ``store`` as each one finishes, so an interruption loses nothing already scored.
    ``warmup`` scores the first job once, untimed and discarded. ``on_result(ev)`` may return a note shown
    in the progress bar.
    """
    unique: dict[str, Any] = {}
    for key, arch in candidates:
        unique.setdefault(key, arch)
    cached: dict[str, Evaluation] = {}
    jobs = []
    for key, arch in unique.items():
        hit = scorer.lookup(store, key) if store is not None else None
        need = [p for p in scorer.run_names if hit is None or p not in hit.values]
        if hit is not None:
            cached[key] = hit
        if need:
            jobs.append((key, arch, need))
    pending = {j[0] for j in jobs}
    done = {k: scorer.finish(ev) for k, ev in cached.items() if k not in pending}
    executor = executor or InProcess()
    n_new = 0
    try:
        with progress_bar(progress, label or f"{scorer.name}: scoring"
                          + (f" ({len(done)} cached)" if done else ""), len(jobs)) as advance:
            for ev in executor.map(scorer, jobs, warmup=warmup):
                if store is not None:
                    scorer.record(store, ev)
                n_new += 1
                old = cached.get(ev.key)
                if old is not None:  # some proxies came from the store: merge them in
                    ev = replace(ev, values={**old.values, **ev.values}, seconds={**old.seconds, **ev.seconds},
                                 failed={**old.failed, **ev.failed})
                done[ev.key] = scorer.finish(ev)
                advance(on_result(done[ev.key]) if on_result else None)
    except KeyboardInterrupt as e:
        if store is not None:
            e.add_note(f"swaplm: {n_new} candidate(s) scored now are saved in {store.path}; "
                       "rerun the same command to resume")
        raise
    return {k: done[k] for k in unique}
