"""Markdown reports of benchmark runs (SPEC §6): settings and provenance, correlation tables, timing, plots.

>>> write_report(result, Path("reports/darts.md"), command="swaplm bench darts --limit 1000")
"""
from __future__ import annotations

import math
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from swaplm import stats

#: (statistic key in swaplm.stats.correlations, column title)
STAT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "n"),
    ("spearman", "Spearman ρ"),
    ("kendall", "Kendall τ"),
    ("pearson", "Pearson r"),
    (f"precision@{stats.TOP_K}", f"P@top-{stats.TOP_K}"),
    (f"precision@{stats.TOP_FRAC:.0%}", f"P@top-{stats.TOP_FRAC:.0%}"),
    (f"best_rank@{stats.TOP_K}", f"best rank@{stats.TOP_K}"),
)


def fmt(value: Any, digits: int = 3) -> str:
    """Cell text: floats with ``digits`` decimals, NaN/None as an em dash, ints as is."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def seconds_text(seconds: float | None) -> str:
    """Human time with 3 significant digits: "69.0 µs", "56.8 ms", "1.23 s"."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-6:.3g} µs"


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def render_table(rows: Iterable[Sequence[Any] | Mapping[str, Any]], columns: Sequence[str], *,
                 digits: int = 3) -> str:
    """A Markdown table with padded, aligned columns (numeric columns right-aligned).

    ``rows`` are sequences in column order or mappings keyed by column name; floats get ``digits``
    decimals and NaN/None show as "—".
    """
    raw = [[r.get(c) for c in columns] if isinstance(r, Mapping) else list(r) for r in rows]
    for r in raw:
        if len(r) != len(columns):
            raise ValueError(f"row has {len(r)} cells for {len(columns)} columns: {r!r}")
    cells = [[fmt(v, digits).replace("|", "\\|") for v in r] for r in raw]
    numeric = [bool(raw) and all(_is_number(r[j]) for r in raw) for j in range(len(columns))]
    heads = [str(c).replace("|", "\\|") for c in columns]
    widths = [max([len(heads[j]), 3, *(len(r[j]) for r in cells)]) for j in range(len(columns))]

    def line(parts: Sequence[str]) -> str:
        return "| " + " | ".join(p.rjust(w) if num else p.ljust(w)
                                 for p, w, num in zip(parts, widths, numeric)) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    return "\n".join([line(heads), rule, *(line(r) for r in cells)])


def versions() -> dict[str, str]:
    """Versions of python, torch, transformers, swaplm (and scipy) without importing the heavy ones."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "swaplm", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _device_text(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import torch

            return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
        except Exception:  # no driver on the machine writing the report
            return device
    return f"{device} ({platform.processor() or platform.machine()})"


def _short(value: Any, width: int = 40) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def scatter_plot(result, proxy: str, task: str, path: Path) -> Path:
    """PNG scatter of ``proxy`` (x; log scale when positive and spanning > 2 decades) vs ``task`` (y)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pairs = [(x, y) for x, y in zip(result.values(proxy), result.truth(task))
             if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    c = stats.correlations([p[0] for p in pairs], [p[1] for p in pairs],
                           higher_is_better=result.higher_is_better.get(proxy, True))
    fig = Figure(figsize=(5, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if pairs:
        xs, ys = zip(*pairs)
        ax.scatter(xs, ys, s=8, alpha=0.6, linewidths=0)
        if min(xs) > 0 and max(xs) / min(xs) > 100:
            ax.set_xscale("log")
    ax.set_xlabel(proxy)
    ax.set_ylabel(task)
    ax.set_title(f"{result.space}: {proxy} vs {task}  (ρ = {fmt(c['spearman'])}, n = {c['n']})", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def write_report(result, path: str | Path, *, command: str, title: str | None = None,
                 extra_sections: Iterable[tuple[str, str]] = (), plots: Sequence[str] | None = None,
                 headline_task: str | None = None) -> Path:
    """Write ``result`` (a :class:`swaplm.bench.BenchResult`) as Markdown at ``path``, with one scatter PNG
    per proxy in ``plots`` (default: every computed proxy) vs the headline task (default ``tasks[0]``) next to
    it as ``<stem>_<proxy>.png``. ``extra_sections`` are ``(title, markdown)`` pairs appended at the end.
    Returns the Markdown path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = result.settings
    task = headline_task or (result.tasks[0] if result.tasks else None)
    corr = result.correlations()
    names = list(corr)
    v = versions()
    lines: list[str] = [f"# {title or f'SWAP benchmark: {result.space}'}", ""]
    lines += ["Command:", "", "```", command, "```", ""]

    options = s.get("space_options") or {}
    opt_text = ", ".join(f"{k}={_short(v)}" for k, v in options.items() if k != "class")
    setting_rows = [
        ("space", result.space + (f" ({opt_text})" if opt_text else "")),
        ("architectures", f"{len(result.rows)} (scored now {result.computed}, from cache {result.from_cache})"),
        ("proxies", ", ".join(result.proxies)),
        ("baselines from the space", ", ".join(result.features) or "none"),
        ("tasks", ", ".join(result.tasks)),
        ("N (samples per batch)", s.get("n")),
        ("repeats", s.get("repeats")),
        ("init", s.get("init") if s.get("init") is not None else "none (weights as built)"),
        ("mode", s.get("mode") if s.get("mode") is not None else "as built"),
        ("padding", s.get("padding")),
        ("regularise", s.get("regularise") if s.get("regularise") is not None else "proxy default"),
        ("data", s.get("data") if s.get("data") is not None else "space default batch"),
        ("batch sha256", (s.get("batch_sha256") or "")[:16]),
        ("seed", s.get("seed")),
        ("device", _device_text(str(s.get("device", "cpu")))),
        ("wall time", f"{result.wall_seconds:.1f} s this invocation; {result.compute_seconds():.1f} s scoring "
                      "all architectures (cached ones included)"),
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("versions", ", ".join(f"{k} {val}" for k, val in v.items())),
    ]
    lines += [render_table([(k, str(val)) for k, val in setting_rows], ["setting", "value"]), ""]

    if len(result.tasks) > 1:
        lines += ["## Spearman ρ per task", ""]
        lines += [render_table([[n, *(corr[n][t]["spearman"] for t in result.tasks)] for n in names],
                               ["proxy", *result.tasks]), ""]
    lines += ["## Ranking statistics", ""]
    lines += [f"Top-k statistics: P@top-k is the share of the true top-k found in the proxy's top-k; best rank@k "
              f"is the true rank (1 = best) of the best architecture among the proxy's top-k (— when k ≥ n). "
              f"Failed proxy values are dropped; `dropped` counts them.", ""]
    table = [[n, t, *(corr[n][t][k] for k, _ in STAT_COLUMNS), corr[n][t]["dropped"]]
             for n in names for t in result.tasks]
    lines += [render_table(table, ["proxy", "task", *(c for _, c in STAT_COLUMNS), "dropped"]), ""]

    lines += ["## Cost", ""]
    mean_s, failures = result.mean_seconds(), result.failures()
    lines += [render_table([[p, seconds_text(mean_s.get(p)), failures.get(p, 0)] for p in result.proxies]
                           + [["(build)", seconds_text(mean_s.get("build")), 0]],
                           ["proxy", "mean time / arch", "failed archs"]), ""]
    reasons = _failure_examples(result)
    if reasons:
        lines += ["Failures (first reasons per proxy):", ""]
        lines += [f"- `{p}` id {i}: {r}" for p, i, r in reasons] + [""]

    if task is not None:
        plotted = []
        for proxy in (plots if plots is not None else result.proxies):
            png = path.with_name(f"{path.stem}_{_slug(proxy)}.png")
            scatter_plot(result, proxy, task, png)
            plotted.append((proxy, png))
        if plotted:
            lines += ["## Scatter plots", ""]
            for proxy, png in plotted:
                lines += [f"![{proxy} vs {task}]({png.name})", ""]

    for sec_title, body in extra_sections:
        lines += [f"## {sec_title}", "", body.rstrip(), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _failure_examples(result, per_proxy: int = 3) -> list[tuple[str, int, str]]:
    out = []
    for p in result.proxies:
        failed = [(r.id, r.failed[p]) for r in result.rows if p in r.failed]
        out += [(p, i, reason) for i, reason in failed[:per_proxy]]
    return out


__all__ = ["write_report", "render_table", "scatter_plot", "versions", "fmt", "seconds_text", "STAT_COLUMNS"]
