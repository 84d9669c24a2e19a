"""Markdown for searches: one search (``search.md`` + trajectory plot) and the benchmark-mode comparison."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any


def _plot_trajectory(path: Path, curves: dict[str, list[float]], ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=110)
    for label, ys in curves.items():
        xs = [i + 1 for i, y in enumerate(ys) if math.isfinite(y)]
        ax.plot(xs, [y for y in ys if math.isfinite(y)], label=label, lw=1.5)
    ax.set_xlabel("evaluations")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}" if math.isfinite(v) else "—"
    return "—" if v is None else str(v)


def write_search_report(out_dir: Path, config, result: dict, hist, scoring: dict) -> Path:
    """``search.md`` and ``search_trajectory.png`` (best fitness vs evaluations) in ``out_dir``."""
    png = out_dir / "search_trajectory.png"
    _plot_trajectory(png, {config.algorithm: hist.best_so_far()}, f"best fitness ({config.proxy})")
    rows = [("command", "`swaplm " + " ".join(sys.argv[1:]) + "`"), ("space", f"{config.space} {config.space_options}"),
            ("algorithm", f"{config.algorithm} {config.algorithm_options}"), ("budget (evaluations)", config.budget),
            ("seed", config.seed), ("fitness", config.proxy), ("size prior", config.regularise),
            ("max params", config.max_params), ("task", config.task), ("data", scoring.get("data")),
            ("N / repeats / init / mode / padding", f"{scoring['n']} / {scoring['repeats']} / {scoring['init']} / "
             f"{scoring['mode']} / {scoring['padding']}"),
            ("versions", scoring.get("versions")),
            ("best architecture", f"`{result['best']}`"), ("best fitness", result["fitness"]),
            ("best parameters", result["params"]), ("evaluations (computed now)",
                                                      f"{result['evaluations']} ({result['computed']})"),
            ("wall time (s)", result["seconds"])]
    if "true_score" in result:
        rows.append((f"true {config.task} score (benchmark id {result['benchmark_id']})", result["true_score"]))
    lines = [f"# swaplm search {config.space}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v) if not isinstance(v, str) else v} |" for k, v in rows]
    lines += ["", f"![best fitness vs evaluations]({png.name})", "",
              "Files: " + ", ".join(f"`{Path(f).relative_to(out_dir)}`" for f in result.get("best_files", []))
              + ", `journal.jsonl` (every evaluation), `search.json` (settings, result, trajectory).", ""]
    path = out_dir / "search.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
