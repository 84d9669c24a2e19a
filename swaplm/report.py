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
    """Cell text: floats with ``digits`` decimals, NaN/None as an em dash, ints and bools as is."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    return str(value)


def interval_text(value: Any, interval: Sequence[float] | None, digits: int = 3) -> str:
    """``"0.702 [0.65, 0.75]"``: a statistic (``digits`` decimals) with its 95 % interval (two decimals); the
    statistic alone when the interval is missing or not finite; "—" when the statistic is undefined."""
    head = fmt(value, digits)
    if head == "—" or not interval or any(c is None or not math.isfinite(c) for c in interval):
        return head
    return f"{head} [{interval[0]:.2f}, {interval[1]:.2f}]"


def seconds_text(seconds: float | None) -> str:
    """Human time with 3 significant digits: "69.0 µs", "56.8 ms", "1.23 s"."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-6:.3g} µs"


def slug(name: str) -> str:
    """``name`` as a file-name part: every character but letters, digits, ``-`` and ``_`` becomes ``_``;
    ``"space"`` for an empty name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name)) or "space"


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                   align: Sequence[str] | None = None, *, digits: int = 3) -> str:
    """A Markdown table with padded columns.

    ``rows`` are sequences in header order or mappings keyed by header; cells go through :func:`fmt` (floats
    with ``digits`` decimals, NaN/None as "—"). ``align`` gives ``"l"`` or ``"r"`` per column; by default a
    column whose cells are all numbers is right-aligned and every other one left-aligned.
    """
    headers = list(headers)
    raw = [[r.get(c) for c in headers] if isinstance(r, Mapping) else list(r) for r in rows]
    for r in raw:
        if len(r) != len(headers):
            raise ValueError(f"row has {len(r)} cells for {len(headers)} columns: {r!r}")
    if align is None:
        right = [bool(raw) and all(_is_number(r[j]) for r in raw) for j in range(len(headers))]
    elif len(align) != len(headers) or any(a not in ("l", "r") for a in align):
        raise ValueError(f"align must give 'l' or 'r' for each of the {len(headers)} columns: {align!r}")
    else:
        right = [a == "r" for a in align]
    cells = [[fmt(v, digits).replace("|", "\\|") for v in r] for r in raw]
    heads = [str(c).replace("|", "\\|") for c in headers]
    widths = [max([len(heads[j]), 3, *(len(r[j]) for r in cells)]) for j in range(len(headers))]

    def line(parts: Sequence[str]) -> str:
        return "| " + " | ".join(p.rjust(w) if r else p.ljust(w) for p, w, r in zip(parts, widths, right)) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right)) + " |"
    return "\n".join([line(heads), rule, *(line(r) for r in cells)])


def versions() -> dict[str, str | None]:
    """Versions that can change a computed value (swaplm, torch, transformers): the very dict the store keeps
    with every row (:func:`swaplm.runner.identity.versions`)."""
    from swaplm.runner.identity import versions as identity_versions

    return identity_versions()


def git_commit() -> str | None:
    """The commit checked out in the git work tree that holds this package (40 hex digits), or None (installed
    outside a work tree, or git not on the PATH)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, text=True,
                             capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def engine_fingerprint() -> str:
    """Digest of the code every proxy value depends on: the engine modules and the proxies package (what
    :func:`swaplm.runner.identity.proxy_fingerprint` covers for the built-in proxies). Values computed under
    another fingerprint may differ."""
    from swaplm.runner import identity

    proxies = Path(identity.__file__).resolve().parent.parent / "proxies"
    return identity.files_digest([*identity.engine_files(), *sorted(proxies.glob("*.py"))])


#: the machine-readable provenance line at the end of every report: ``<!-- swaplm-report commit=<40 hex or
#: unknown> fingerprint=<64 hex or unknown> -->`` (unknown: a report written before fingerprints were recorded)
PROVENANCE_PREFIX = "<!-- swaplm-report "


def provenance_footer(commit: str | None = None, fingerprint: str | None = None, note: str | None = None) -> str:
    """The closing lines of every report: a readable line with the commit, the engine/proxy fingerprint and
    ``note`` (default: the versions), then the same commit and fingerprint as one machine-readable HTML comment
    (read back by :func:`read_provenance`). Commit and fingerprint default to this checkout's."""
    commit = commit or git_commit() or "unknown"
    fingerprint = fingerprint or engine_fingerprint()
    note = note or ", ".join(f"{k} {v}" for k, v in versions().items())
    return "\n".join(["---", "", f"Computed at commit `{commit[:12]}` with engine/proxy fingerprint "
                      f"`{fingerprint[:12]}` ({note}).", "",
                      f"{PROVENANCE_PREFIX}commit={commit} fingerprint={fingerprint} -->", ""])


def read_provenance(text: str) -> dict[str, str] | None:
    """``{"commit": ..., "fingerprint": ...}`` from the last provenance line in a report's text, or None."""
    import re

    found = re.findall(r"<!-- swaplm-report commit=(\S+) fingerprint=([0-9a-f]+|unknown) -->", text)
    if not found:
        return None
    commit, fingerprint = found[-1]
    return {"commit": commit, "fingerprint": fingerprint}


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
        rows.append([name, *(interval_text(w[t]["spearman_mean"], w[t].get("spearman_mean_ci")) for t in tasks),
                     *(w[tasks[0]]["strata"][lab]["spearman"] for lab in labels)])
    sizes = ", ".join(f"{lab}: {first[lab]['n']}" for lab in labels)
    table = markdown_table(["proxy / baseline", *(f"{t}: mean ρ within strata" for t in tasks),
                            *(f"{tasks[0]} ρ {lab}" for lab in labels)], rows)
    dropped = [f"{name} on {t}: {per_task[t]['within_strata']['resamples_dropped']}"
               for name, per_task in corr.items() for t in tasks
               if per_task[t]["within_strata"].get("resamples_dropped")]
    note = ("\n\nBootstrap resamples left out of the interval because a stratum's ρ was undefined in them (of "
            "1000): " + ", ".join(dropped) + ".") if dropped else ""
    return f"Architectures per stratum: {sizes}.\n\n" + table + note


def cited_section(cited: Iterable[Sequence[str]]) -> str:
    """Markdown for figures quoted from elsewhere, kept apart from the computed ones: a sentence saying so and a
    table of ``(what, figure, source)`` rows."""
    return ("Not computed by swaplm; quoted with their source for comparison only. Every other figure in this "
            "report was computed by the command above.\n\n"
            + markdown_table(["what", "figure", "source"], [list(c) for c in cited]))


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


def settings_section(result) -> list[str]:
    """The settings table of a bench report: space, sizes, scoring settings, device, times, provenance."""
    s = result.settings
    options = s.get("space_options") or {}
    opt_text = ", ".join(f"{k}={_short(v)}" for k, v in options.items() if k != "class")

    def given(key: str, absent: str) -> Any:
        return s.get(key) if s.get(key) is not None else absent

    rows = [
        ("space", result.space + (f" ({opt_text})" if opt_text else "")),
        ("architectures", f"{len(result.rows)} (scored now {result.computed}, from cache {result.from_cache})"),
        ("proxies", ", ".join(result.proxies)),
        ("baselines from the space", ", ".join(result.features) or "none"),
        ("tasks", ", ".join(result.tasks)),
        ("N (samples per batch)", s.get("n")),
        ("repeats", s.get("repeats")),
        ("init", given("init", "none (weights as built)")),
        ("mode", given("mode", "as built")),
        ("padding", s.get("padding")),
        ("regularise", given("regularise", "proxy default")),
        ("data", given("data", "space default batch")),
        ("batch sha256", (s.get("batch_sha256") or "")[:16]),
        ("seed", s.get("seed")),
        ("device", _device_text(str(s.get("device", "cpu")))),
        ("wall time", wall_text(result)),
        *provenance_rows(result),
        ("report written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + " with "
                           + ", ".join(f"{k} {val}" for k, val in versions().items())),
    ]
    return [markdown_table(["setting", "value"], [(k, str(val)) for k, val in rows]), ""]


_CORRELATION_NOTE = (
    "Every correlation carries its 95 % bootstrap interval [low, high] (1000 resamples of the architectures, "
    "seed 0). A proxy value that is not finite (a failed proxy: −inf, NaN, an error) is ranked as the **worst** "
    "architecture, so every proxy is ranked on the same architectures; `non-finite` counts such values. "
    "Pearson r, being linear in the values, uses the finite ones only.")


def correlation_sections(result) -> list[str]:
    """Spearman ρ per task (when there are several), the ranking statistics, and the within-strata table."""
    corr = result.correlations(intervals=True)
    names, tasks = list(corr), result.tasks
    lines = [_CORRELATION_NOTE, ""]
    if len(tasks) > 1:
        lines += ["## Spearman ρ per task", "",
                  markdown_table(["proxy", *tasks], [[n, *(interval_text(corr[n][t]["spearman"],
                                                                         corr[n][t].get("spearman_ci"))
                                                           for t in tasks)] for n in names]), ""]
    lines += ["## Ranking statistics", "",
              "Top-k statistics: P@top-k is the share of the true top-k found in the proxy's top-k; best rank@k "
              "is the true rank (1 = best) of the best architecture among the proxy's top-k (— when k ≥ n).", ""]
    with_ci = ("spearman", "kendall", "pearson")
    top = [(k, c) for k, c in STAT_COLUMNS if k not in (*with_ci, "n")]
    table = [[n, t, corr[n][t]["n"], *(interval_text(corr[n][t][k], corr[n][t].get(f"{k}_ci")) for k in with_ci),
              *(corr[n][t][k] for k, _ in top), corr[n][t]["non_finite"]]
             for n in names for t in tasks]
    lines += [markdown_table(["proxy", "task", "n", "Spearman ρ [95 % CI]", "Kendall τ [95 % CI]",
                              "Pearson r [95 % CI]", *(c for _, c in top), "non-finite"], table), ""]
    strata = strata_table(result)
    if strata is not None:
        lines += ["## Within strata", "",
                  "Mean Spearman ρ inside each stratum of the space (`space.stratum(arch)`), with a 95 % bootstrap "
                  "interval that resamples architectures inside each stratum: what a proxy ranks beyond the "
                  "grouping itself.", "", strata, ""]
    return lines


def cost_section(result) -> list[str]:
    """Mean seconds per architecture and failure counts per proxy, with the first failure reasons."""
    mean_s, failures = result.mean_seconds(), result.failures()
    rows = [[p, seconds_text(mean_s.get(p)), failures.get(p, 0)] for p in result.proxies]
    rows.append(["(build)", seconds_text(mean_s.get("build")), 0])
    lines = ["## Cost", "", markdown_table(["proxy", "mean time / arch", "failed archs"], rows), ""]
    reasons = _failure_examples(result)
    if reasons:
        lines += ["Failures (first reasons per proxy):", ""]
        lines += [f"- `{p}` id {i}: {r}" for p, i, r in reasons] + [""]
    return lines


def plot_section(result, path: Path, task: str | None, plots: Sequence[str] | None) -> list[str]:
    """One scatter PNG per proxy in ``plots`` (default: every computed proxy) vs ``task``, written next to
    ``path`` as ``<stem>_<proxy>.png``, and the Markdown that shows them."""
    proxies = list(plots if plots is not None else result.proxies)
    if task is None or not proxies:
        return []
    lines = ["## Scatter plots", ""]
    for proxy in proxies:
        png = scatter_plot(result, proxy, task, path.with_name(f"{path.stem}_{slug(proxy)}.png"))
        lines += [f"![{proxy} vs {task}]({png.name})", ""]
    return lines


def write_report(result, path: str | Path, *, command: str, title: str | None = None,
                 extra_sections: Iterable[tuple[str, str]] = (), plots: Sequence[str] | None = None,
                 headline_task: str | None = None) -> Path:
    """Write ``result`` (a :class:`swaplm.bench.BenchResult`) as Markdown at ``path``, with one scatter PNG
    per proxy in ``plots`` (default: every computed proxy) vs the headline task (default ``tasks[0]``) next to
    it as ``<stem>_<proxy>.png``. ``extra_sections`` are ``(title, markdown)`` pairs appended before the
    provenance footer. Returns the Markdown path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    task = headline_task or (result.tasks[0] if result.tasks else None)
    lines = [f"# {title or f'SWAP benchmark: {result.space}'}", "", "Command:", "", "```", command, "```", ""]
    lines += settings_section(result)
    lines += correlation_sections(result)
    lines += cost_section(result)
    lines += plot_section(result, path, task, plots)
    for sec_title, body in extra_sections:
        lines += [f"## {sec_title}", "", body.rstrip(), ""]
    lines.append(provenance_footer())
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _failure_examples(result, per_proxy: int = 3) -> list[tuple[str, int, str]]:
    out = []
    for p in result.proxies:
        failed = [(r.id, r.failed[p]) for r in result.rows if p in r.failed]
        out += [(p, i, reason) for i, reason in failed[:per_proxy]]
    return out


#: the provenance line closing every section :func:`write_section` writes: ``<!-- swaplm-section <name>
#: commit=<40 hex or unknown> fingerprint=<64 hex or unknown> -->``; a report's footer covers the rest of it
SECTION_PREFIX = "<!-- swaplm-section "


def section_provenance(name: str, commit: str | None = None, fingerprint: str | None = None) -> list[str]:
    """The closing lines of section ``name``: a readable line and the machine-readable one (by default this
    checkout's commit and engine/proxy fingerprint)."""
    commit = commit or git_commit() or "unknown"
    fingerprint = fingerprint or engine_fingerprint()
    return ["", f"_Section computed at commit `{commit[:12]}` with engine/proxy fingerprint `{fingerprint[:12]}`._",
            f"{SECTION_PREFIX}{name} commit={commit} fingerprint={fingerprint} -->"]


def read_sections(text: str) -> dict[str, dict[str, str] | None]:
    """Every ``<!-- name -->`` ... ``<!-- /name -->`` section of a report in order, with the commit and
    fingerprint of its provenance line (None for a section without one)."""
    import re

    out: dict[str, dict[str, str] | None] = {}
    for name in re.findall(r"^<!-- ([A-Za-z0-9_]+) -->$", text, flags=re.M):
        body = text.partition(f"<!-- {name} -->")[2].partition(f"<!-- /{name} -->")[0]
        found = re.findall(rf"<!-- swaplm-section {name} commit=(\S+) fingerprint=([0-9a-f]+|unknown) -->", body)
        out[name] = {"commit": found[-1][0], "fingerprint": found[-1][1]} if found else None
    return out


def write_section(path, name: str, lines: list[str]) -> None:
    """Put ``lines`` between ``<!-- name -->`` and ``<!-- /name -->`` in the Markdown file ``path``, replacing
    that section if it is there (the rest of the file is kept) or appending it. The section ends with its own
    provenance line (:func:`section_provenance`: its rows were computed under this checkout's code); the
    file's footer, which covers the rest of the file, is kept as it was."""
    path = Path(path)
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    body = "\n".join([start, *lines, *section_provenance(name), end])
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    text = strip_provenance(old)
    footer = old[len(text.rstrip("\n")):].strip("\n") if read_provenance(old) else ""
    if start in text:
        head, _, rest = text.partition(start)
        text = head.rstrip("\n") + "\n\n" + body + rest.partition(end)[2]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text.strip("\n") + "\n" + (f"\n{footer}\n" if footer else ""), encoding="utf-8")


def strip_provenance(text: str) -> str:
    """``text`` without a trailing provenance footer (as :func:`provenance_footer` writes it)."""
    at = text.rfind(PROVENANCE_PREFIX)
    if at < 0:
        return text
    head = text[:at].rstrip()
    rule = head.rfind("\n---\n")
    return (head[:rule] if rule >= 0 else head).rstrip("\n") + "\n"


__all__ = ["STAT_COLUMNS", "fmt", "interval_text", "seconds_text", "slug", "markdown_table", "versions", "git_commit",
           "engine_fingerprint", "provenance_footer", "read_provenance", "strip_provenance", "provenance_rows", "cited_section",
           "wall_text", "strata_table", "scatter_plot", "write_report", "write_section", "SECTION_PREFIX",
           "section_provenance", "read_sections"]
