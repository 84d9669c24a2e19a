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


def ci_text(value: Any, ci: Sequence[float] | None, digits: int = 3) -> str:
    """``"0.702 [0.65, 0.75]"``: a statistic with its 95 % bootstrap interval (two decimals); "—" if undefined."""
    head = fmt(value, digits)
    if head == "—" or not ci or any(c is None or not math.isfinite(c) for c in ci):
        return head
    return f"{head} [{ci[0]:.2f}, {ci[1]:.2f}]"


def provenance_rows(result) -> list[tuple[str, str]]:
    """Settings-table rows saying when and with which versions the result's rows were computed (from the
    rows' own ``computed_at`` / ``versions``; "unknown" where the cache lines do not carry them)."""
    prov = result.provenance()
    when = prov["computed_at"]
    if when is None:
        when_text = "unknown (the cache lines carry no computation time)"
    else:
        when_text = when["first"] if when["first"] == when["last"] else f"{when['first']} – {when['last']}"
        if prov["rows_dated"] < prov["rows"]:
            when_text += f" ({prov['rows_dated']} of {prov['rows']} rows dated; the rest unknown)"
    if prov["versions"]:
        vers_text = "; ".join(", ".join(f"{k} {v}" for k, v in d.items()) for d in prov["versions"])
    else:
        vers_text = "unknown (the cache lines carry no versions)"
    return [("rows computed at", when_text), ("versions that computed the rows", vers_text)]


def wall_text(result) -> str:
    """This invocation's wall time and the scoring seconds stored with the rows (cached ones included)."""
    return (f"{result.wall_seconds:.1f} s this invocation ({result.computed} of {len(result.rows)} rows scored "
            f"now); {result.compute_seconds():.1f} s of scoring summed over the per-architecture seconds "
            "stored with the rows")


def strata_table(result, tasks: Sequence[str] | None = None) -> str | None:
    """Markdown table of the mean within-stratum Spearman ρ (with its 95 % interval) of every proxy and
    baseline per task, plus each stratum's ρ on the first task; None when the space defines no strata."""
    if result.strata() is None:
        return None
    tasks = list(tasks or result.tasks)
    corr = result.correlations(intervals=True)
    first = next(iter(corr.values()))[tasks[0]]["within_strata"]["strata"]
    labels = list(first)
    rows = []
    for name, per_task in corr.items():
        w = {t: per_task[t]["within_strata"] for t in tasks}
        rows.append([name, *(ci_text(w[t]["spearman_mean"], w[t].get("spearman_mean_ci")) for t in tasks),
                     *(w[tasks[0]]["strata"][lab]["spearman"] for lab in labels)])
    sizes = ", ".join(f"{lab}: {first[lab]['n']}" for lab in labels)
    table = render_table(rows, ["proxy / baseline", *(f"{t}: mean ρ within strata" for t in tasks),
                                *(f"{tasks[0]} ρ {lab}" for lab in labels)])
    return f"Architectures per stratum: {sizes}.\n\n" + table


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
    c = result.correlations()[proxy][task]  # non-finite values ranked worst, as in the tables
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
    missing = f", {c['non_finite']} non-finite not drawn" if c["non_finite"] else ""
    ax.set_title(f"{result.space}: {proxy} vs {task}  (ρ = {fmt(c['spearman'])}, n = {c['n']}{missing})", fontsize=9)
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
    corr = result.correlations(intervals=True)
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
        ("wall time", wall_text(result)),
        *provenance_rows(result),
        ("report written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + " with "
                           + ", ".join(f"{k} {val}" for k, val in v.items())),
    ]
    lines += [render_table([(k, str(val)) for k, val in setting_rows], ["setting", "value"]), ""]

    lines += ["Every correlation carries its 95 % bootstrap interval [low, high] (1000 resamples of the "
              "architectures, seed 0). A proxy value that is not finite (a failed proxy: "
              "−inf, NaN, an error) is ranked as the **worst** architecture, so every proxy is ranked on the same "
              "architectures; `non-finite` counts such values. Pearson r, being linear in the values, uses the "
              "finite ones only.", ""]
    if len(result.tasks) > 1:
        lines += ["## Spearman ρ per task", ""]
        lines += [render_table([[n, *(ci_text(corr[n][t]["spearman"], corr[n][t].get("spearman_ci"))
                                      for t in result.tasks)] for n in names],
                               ["proxy", *result.tasks]), ""]
    lines += ["## Ranking statistics", ""]
    lines += [f"Top-k statistics: P@top-k is the share of the true top-k found in the proxy's top-k; best rank@k "
              f"is the true rank (1 = best) of the best architecture among the proxy's top-k (— when k ≥ n).", ""]
    cols = [(k, c) for k, c in STAT_COLUMNS if k not in ("spearman", "kendall", "pearson")]
    table = [[n, t, corr[n][t]["n"], *(ci_text(corr[n][t][k], corr[n][t].get(f"{k}_ci"))
                                      for k in ("spearman", "kendall", "pearson")),
              *(corr[n][t][k] for k, _ in cols[1:]), corr[n][t]["non_finite"]]
             for n in names for t in result.tasks]
    lines += [render_table(table, ["proxy", "task", "n", "Spearman ρ [95 % CI]", "Kendall τ [95 % CI]",
                                   "Pearson r [95 % CI]", *(c for _, c in cols[1:]), "non-finite"]), ""]
    strata = strata_table(result)
    if strata is not None:
        lines += ["## Within strata", "",
                  "Mean Spearman ρ inside each stratum of the space (`space.stratum(arch)`), with a 95 % bootstrap "
                  "interval that resamples architectures inside each stratum: what a proxy ranks beyond the "
                  "grouping itself.", "", strata, ""]

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


def write_section(path, name: str, lines: list[str]) -> None:
    """Put ``lines`` between ``<!-- name -->`` and ``<!-- /name -->`` in the Markdown file ``path``, replacing
    that section if it is there (the rest of the file is kept) or appending it."""
    from pathlib import Path

    path = Path(path)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    body = "\n".join([start, *lines, end])
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text:
        head, _, rest = text.partition(start)
        text = head.rstrip("\n") + "\n\n" + body + rest.partition(end)[2]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


__all__ = ["write_section", "write_report", "render_table", "scatter_plot", "versions", "fmt", "seconds_text", "STAT_COLUMNS",
           "ci_text", "provenance_rows", "wall_text", "strata_table"]
