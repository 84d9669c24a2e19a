"""Markdown report (+ one PNG of every proxy against the truth) of a :class:`~swaplm.rank.RankResult`."""
from __future__ import annotations

import math
from pathlib import Path

from swaplm.report import fmt, interval_text, markdown_table, provenance_footer


def ranking_table(result, truth_label: str = "truth") -> str:
    rows = []
    for i, r in enumerate(result.ranking(), 1):
        fail = next(iter(r["failed"].values()), None) if r["failed"] and \
            all(v is None for v in r["scores"].values()) else None
        cells = [i, r["model"]] + ([fmt(r["scores"][p], 4) if r["scores"][p] is not None else "failed"
                                    for p in result.proxies]) + [fmt(r.get("truth"), 4) if "truth" in r else "—",
                                                                 f"{r['seconds']:.2f}" if r["seconds"] else "—"]
        if fail:
            cells[2] = f"failed: {fail}"
            cells[3:3 + len(result.proxies) - 1] = [""] * (len(result.proxies) - 1)
        rows.append(cells)
    cols = ["#", "model"] + [f"{p} ({'↑' if result.higher_is_better[p] else '↓'})" for p in result.proxies] + \
        [truth_label, "rank s"]
    return markdown_table(cols, rows)


def correlation_table(result, n_boot: int = 1000) -> str:
    corr = result.correlations(n_boot=n_boot)
    rows = [[p, c["n"], interval_text(c["spearman"], c["spearman_ci"]), interval_text(c["kendall"], c["kendall_ci"]),
             c["non_finite"]] for p, c in corr.items()]
    return markdown_table(["proxy", "n", "Spearman ρ [95 % CI]", "Kendall τ [95 % CI]", "failed (ranked worst)"], rows)


def scatter(result, path: Path, title: str = "", truth_label: str = "truth") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.name for c in result.candidates if c.name in result.truth]
    k = len(result.proxies)
    cols = min(k, 3)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    corr = result.correlations()
    for ax, p in zip(axes.flat, result.proxies):
        pts = [(result.values[n].get(p), result.truth[n]) for n in names if result.values[n].get(p) is not None]
        if pts:
            ax.scatter([a for a, _ in pts], [b for _, b in pts], s=18)
        rho = corr.get(p, {}).get("spearman")
        ax.set_title(f"{p} ({'higher' if result.higher_is_better[p] else 'lower'} better), ρ={fmt(rho, 2)}",
                     fontsize=9)
        ax.set_xlabel(p, fontsize=8)
        ax.set_ylabel(truth_label, fontsize=8)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(result, path: str | Path, *, command: str, title: str = "swaplm rank",
                 truth_label: str = "truth") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = result.settings
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             f"{len(result.candidates)} checkpoint(s); one batch of N = {s['n']} samples × {s['max_length']} tokens "
             f"(`{s['data']}`, sha256 {str(s['batch_sha256'])[:12]}), eval mode, seed {s['seed']}, "
             f"device {s['device']}; wall {result.wall_seconds:.1f} s "
             f"({sum(result.cached.values())} from the store). ↑/↓: higher/lower is better; "
             "`rank s` is the time to load and score that checkpoint when it was computed.", "",
             "## Ranking (best first by the first proxy)", "", ranking_table(result, truth_label), ""]
    failed = [(r["model"], r["failed"]) for r in result.ranking() if r["failed"]]
    if failed:
        lines += ["Failures (a failed value ranks worst):", ""]
        lines += [f"- `{m}`: " + "; ".join(f"{p}: {why}" for p, why in f.items()) for m, f in failed]
        lines.append("")
    if result.truth:
        png = scatter(result, path.with_suffix(".png"), title, truth_label)
        lines += ["## Correlation with the truth", "",
                  "Spearman ρ and Kendall τ with 95 % percentile bootstrap intervals (1000 resamples of the "
                  "checkpoints, seed 0); lower-is-better proxies are negated first, so positive always means "
                  "\"ranks like the truth\".", "", correlation_table(result), "", f"![scatter]({png.name})", ""]
    lines.append(provenance_footer())
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
