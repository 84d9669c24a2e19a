"""A rich progress bar (rate, elapsed, ETA) on stderr as a context manager yielding ``advance(note="")``."""
from __future__ import annotations


class progress:
    """``with progress(enabled, "darts: scoring", total) as advance: ... advance()``; ``advance(note=...)``
    replaces the text after the label (e.g. the best fitness so far)."""

    def __init__(self, enabled: bool, label: str, total: int, unit: str = "archs"):
        from .distributed import is_main

        self.enabled = enabled and total > 0 and is_main()
        self.label, self.total, self.unit = label, total, unit
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda note=None: None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        unit = self.unit

        class Rate(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.2f} {unit}/s" if speed else f"- {unit}/s")

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)

        def advance(note: str | None = None) -> None:
            self._bar.update(task, advance=1,
                             **({"description": f"{self.label} {note}"} if note else {}))

        return advance

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
