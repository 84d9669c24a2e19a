"""Markdown for searches: one search (``search.md`` + trajectory plot) and the benchmark-mode comparison
(:func:`write_comparison`)."""
from __future__ import annotations

import math
from pathlib import Path

from swaplm.report import fmt, markdown_table, provenance_footer


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


def write_search_report(out_dir: Path, config, result: dict, hist, scoring: dict, *,
                        command: str | None = None) -> Path:
    """``search.md`` and ``search_trajectory.png`` (best fitness vs evaluations) in ``out_dir``; ``command`` is
    the command line that ran the search, as the caller has it (no row when None)."""
    png = out_dir / "search_trajectory.png"
    _plot_trajectory(png, {config.algorithm: hist.best_so_far()}, f"best fitness ({config.proxy})")
    rows = [("space", f"{config.space} {config.space_options}"),
            ("algorithm", f"{config.algorithm} {config.algorithm_options}"), ("budget (evaluations)", config.budget),
            ("seed", config.seed), ("fitness", config.proxy), ("size prior", config.regularise),
            ("max params", config.max_params), ("task", config.task), ("data", scoring.get("data")),
            ("N / repeats / init / mode / padding", f"{scoring['n']} / {scoring['repeats']} / {scoring['init']} / "
             f"{scoring['mode']} / {scoring['padding']}"),
            ("versions", scoring.get("versions")),
            ("best architecture", f"`{result['best']}`"), ("best fitness", fmt(result["fitness"], 4)),
            ("best parameters", result["params"]), ("evaluations (computed now)",
                                                      f"{result['evaluations']} ({result['computed']})"),
            ("wall time (s)", fmt(result["seconds"], 1))]
    if command is not None:
        rows.insert(0, ("command", f"`{command}`"))
    if "true_score" in result:
        rows.append((f"true {config.task} score (benchmark id {result['benchmark_id']})",
                     fmt(result["true_score"], 4)))
    lines = [f"# swaplm search {config.space}", "", markdown_table(["setting", "value"], rows, align="ll"), "",
             f"![best fitness vs evaluations]({png.name})", "",
             "Files: " + ", ".join(f"`{Path(f).relative_to(out_dir)}`" for f in result.get("best_files", []))
             + ", `journal.jsonl` (every evaluation), `search.json` (settings, result, trajectory).", "",
             provenance_footer()]
    path = out_dir / "search.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _verdict(summary: dict, fit_name: str) -> list[str]:
    """One bullet per budget: did SWAP-NAS beat, tie with or lose to each baseline (2 standard errors)."""
    lines = []
    swap = summary["methods"][f"SWAP-NAS ({fit_name})"]
    for b in map(str, summary["budgets"]):
        s = swap[b]
        parts = []
        for other in ("random choice (no proxy)", "size-only SWAP-NAS (params)", f"NASWOT protocol ({fit_name})"):
            o = summary["methods"][other][b]
            se = math.sqrt((s["std"] ** 2 + o["std"] ** 2) / max(1, summary["seeds"]))
            diff = s["mean"] - o["mean"]
            word = "beat" if diff > 2 * se else "lost to" if diff < -2 * se else "tied with"
            parts.append(f"{word} {other} ({s['mean']:.2f} vs {o['mean']:.2f}, difference {diff:+.2f} ± "
                         f"{2 * se:.2f} at 2 standard errors)")
        lines.append(f"- Budget {b}: SWAP-NAS " + "; ".join(parts) + ".")
        if s.get("in_best_stratum") is not None:
            lines.append(f"  - {100 * s['in_best_stratum']:.0f} % of SWAP-NAS runs ended in the best group "
                         f"{summary['best_stratum']} (size-only: "
                         f"{100 * summary['methods']['size-only SWAP-NAS (params)'][b]['in_best_stratum']:.0f} %, "
                         f"oracle: {100 * summary['methods']['oracle best-of-budget'][b]['in_best_stratum']:.0f} %).")
    return lines


def write_comparison(path: Path, summary: dict, fit_name: str) -> None:
    """The benchmark-mode comparison (:func:`swaplm.search.compare.compare`'s ``summary``) as Markdown."""
    sc = summary["scoring"]
    budgets = list(map(str, summary["budgets"]))
    grouped = bool(summary["best_stratum"])
    cols = ["method"]
    for b in budgets:
        cols += [f"budget {b}: true {summary['task']} (mean ± std)", "percentile"] + (["in best group"] if grouped
                                                                                        else [])
    rows = []
    for name, per in summary["methods"].items():
        cells = [name]
        for b in budgets:
            r = per[b]
            cells += [f"{r['mean']:.2f} ± {r['std']:.2f}", f"{r['percentile']:.1f}"]
            if grouped:
                cells.append(f"{100 * r['in_best_stratum']:.0f} %")
        rows.append(cells)
    lines = [f"# Benchmark-mode search: {summary['space']} ({summary['task']})", "",
             f"Command: `{summary['command']}`", "",
             f"Every figure below was computed by swaplm: {summary['seeds']} seeds per method and budget, on the "
             f"{summary['n_archs']} benchmark architectures (true score: the benchmark's trained {summary['task']}; "
             f"benchmark mean {summary['benchmark_mean']:.2f}, max {summary['benchmark_max']:.2f}). Fitness values "
             f"come from the store (N = {sc['n']}, repeats {sc['repeats']}, init {sc['init']}, mode {sc['mode']}, "
             f"padding {sc['padding']}, data {sc['data']}, build {sc['space_options']}); "
             f"{summary['computed']} were computed in this run. Wall time {summary['seconds']:.1f} s. Versions: "
             f"{sc['versions']}.", "",
             "Mutation in benchmark mode: the space's own mutation (or crossover), then the benchmark architecture "
             "nearest to the child (Hamming distance between architecture encodings, the parent excluded, ties "
             "broken by the search's random generator). Percentile: share of benchmark architectures whose true "
             "score is at most the found one's.", "",
             markdown_table(cols, rows, align="l" + "r" * (len(cols) - 1)), "",
             "## Verdict", "", *_verdict(summary, fit_name), ""]
    if grouped:
        lines += [f"Groups are the space's strata (FlexiBERT: layers and hidden size; DARTS: equal-count bins of "
                  f"parameter count); the best group is {summary['best_stratum']} (highest mean true score). A "
                  "search that ends in that group as often as the size-only search, with a similar true score, "
                  "has only found the right size group: it knows nothing beyond size.", ""]
    lines.append(provenance_footer())
    path.write_text("\n".join(lines), encoding="utf-8")
