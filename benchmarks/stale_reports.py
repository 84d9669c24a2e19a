"""List the reports in reports/ whose rows were computed under another engine/proxy fingerprint than this
checkout's, and those that record none.

    python benchmarks/stale_reports.py              # the stale and unrecorded reports
    python benchmarks/stale_reports.py --all        # every report, current ones too
    python benchmarks/stale_reports.py --stamp reports/X.md COMMIT   # a report written before footers existed
    python benchmarks/stale_reports.py --stamp-sections reports/X.md   # sections written before section lines

``--stamp`` gives such a report the footer with the commit its rows were computed at (as its header or its git
history says) and the fingerprint ``unknown``, so the listing names its commit and counts it as stale.
``--stamp-sections`` gives every marked section without a provenance line of its own the commit and fingerprint
of the footer the report had in the oldest committed version whose section text is the present one (the footer
was stamped when the section was written; a version without a footer gives its own commit and the fingerprint
``unknown``), and gives the footer the same treatment for the text outside the sections.

A report's marked sections (``<!-- name -->`` ... ``<!-- /name -->``, written by
:func:`swaplm.report.write_section`) carry their own provenance lines and are listed as ``report#name``; the
footer covers the rest of the report. Every report ends with a provenance line written by
:func:`swaplm.report.provenance_footer`,
``<!-- swaplm-report commit=<sha> fingerprint=<sha256> -->``; the fingerprint digests the engine modules and the
proxies package (:func:`swaplm.report.engine_fingerprint`), so a report whose fingerprint differs from the
current one may show values the current code would not give. The current fingerprint is that of the files in
this checkout: at HEAD when they are committed (the header says when they are not). Exit status 0 either way.
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from swaplm.report import engine_fingerprint, git_commit, read_provenance, read_sections
from swaplm.runner.identity import engine_files

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80


def _status(found: dict[str, str] | None, current: str) -> tuple[str, str, str]:
    if found is None:
        return "—", "—", "no record"
    return found["commit"][:12], found["fingerprint"][:12], "current" if found["fingerprint"] == current else "stale"


def report_status(path: Path, current: str) -> list[tuple[str, str, str, str]]:
    """(name, recorded commit, recorded fingerprint, status) of a report's footer and of each of its marked
    sections (named ``report#section``); status is "current", "stale" or "no record". A report made of
    sections only (no footer) is listed by its sections."""
    text = path.read_text(encoding="utf-8", errors="replace")
    sections = read_sections(text)
    rows = [(f"{path.name}#{name}", *_status(found, current)) for name, found in sections.items()]
    footer = read_provenance(text)
    return ([(path.name, *_status(footer, current))] if footer or not sections else []) + rows


def text_table(headers: list[str], rows: list[list[str]], width: int = WIDTH) -> str:
    """A plain aligned table at most ``width`` columns wide; the first column is shortened with "…" to fit."""
    gap = "  "
    widths = [max(len(r[j]) for r in [headers, *rows]) for j in range(len(headers))]
    room = width - sum(widths[1:]) - len(gap) * (len(headers) - 1)
    widths[0] = max(8, min(widths[0], room))

    def cut(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "…"

    lines = [gap.join(cut(c, w).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    lines.insert(1, gap.join("-" * w for w in widths))
    return "\n".join(lines)


def engine_modified() -> bool:
    """Whether the engine / proxy files differ from HEAD (uncommitted edits), so the fingerprint is not HEAD's."""
    proxies = sorted((ROOT / "swaplm" / "proxies").glob("*.py"))
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", *map(str, [*engine_files(), *proxies])],
                             cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.stdout.strip())


def stamp(report: Path, commit: str) -> None:
    """Append the provenance footer of a report computed at ``commit`` under an unrecorded fingerprint."""
    from swaplm.report import provenance_footer

    text = report.read_text(encoding="utf-8")
    if read_provenance(text) is not None:
        raise SystemExit(f"{report} already has a provenance footer")
    full = subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True,
                          text=True)
    if full.returncode != 0:
        raise SystemExit(f"{commit!r} is not a commit of this repository")
    sha = full.stdout.strip()
    footer = provenance_footer(sha, "unknown", "as the report's header or the commit that added its rows says; the "
                               "fingerprint was not recorded (the report predates provenance footers), so it is "
                               "listed as stale")
    report.write_text(text.rstrip("\n") + "\n\n" + footer, encoding="utf-8")


def _split(text: str) -> tuple[str, dict[str, str]]:
    """A report's text outside its sections and each section's text, both without provenance lines."""
    import re

    from swaplm.report import strip_provenance

    text = strip_provenance(text)
    sections = {}
    for name in read_sections(text):
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        head, _, rest = text.partition(start)
        body, _, tail = rest.partition(end)
        sections[name] = re.sub(r"\n*_Section computed at commit .*\n<!-- swaplm-section .* -->\n*", "\n", body)
        text = head + tail
    return text.strip(), {k: v.strip() for k, v in sections.items()}


def stamp_sections(report: Path) -> list[str]:
    """Provenance for the sections of ``report`` that lack their own line, and a footer matching the text
    outside the sections, from the report's git history (see the module doc); returns what was stamped."""
    from swaplm.report import provenance_footer, section_provenance, strip_provenance

    text = report.read_text(encoding="utf-8")
    rel = report.resolve().relative_to(ROOT)
    log = subprocess.run(["git", "log", "--format=%H", "--", str(rel)], cwd=ROOT, capture_output=True, text=True)
    versions = []  # (outside text, sections, footer) of each committed version, newest first
    for sha in log.stdout.split():
        old = subprocess.run(["git", "show", f"{sha}:{rel}"], cwd=ROOT, capture_output=True, text=True).stdout
        # a version without a footer predates them: its own commit, fingerprint unknown
        versions.append((*_split(old), read_provenance(old) or {"commit": sha, "fingerprint": "unknown"}))
    outside, sections = _split(text)

    def origin(matches) -> dict[str, str] | None:
        """The footer of the oldest version in the newest unbroken run of versions that ``matches``."""
        found = None
        for version in versions:
            if not matches(version):
                break
            found = version[2]
        return found

    stamped, missing = [], [name for name, found in read_sections(text).items() if found is None]
    for name in missing:
        found = origin(lambda v, name=name: v[1].get(name) == sections[name])
        if found is None:
            raise SystemExit(f"{rel}#{name}: no committed version with this text and a footer; commit it first")
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        head, _, rest = text.partition(start)
        body, _, tail = rest.partition(end)
        lines = section_provenance(name, found["commit"], found["fingerprint"])
        text = head + start + body.rstrip("\n") + "\n" + "\n".join(lines) + "\n" + end + tail
        stamped.append(f"{name}: {found['commit'][:12]} {found['fingerprint'][:12]}")
    footer = origin(lambda v: v[0] == outside)
    now = read_provenance(text)
    if footer is not None and now is not None and footer != now:
        body = strip_provenance(text).rstrip("\n")
        text = body + "\n\n" + provenance_footer(footer["commit"], footer["fingerprint"],
                                                  "the text outside the marked sections; each section names its own")
        stamped.append(f"footer: {footer['commit'][:12]} {footer['fingerprint'][:12]}")
    report.write_text(text, encoding="utf-8")
    return stamped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", default=str(ROOT / "reports"), help="folder of the reports (default reports/)")
    ap.add_argument("--all", action="store_true", help="list the current reports too")
    ap.add_argument("--stamp", nargs=2, metavar=("REPORT", "COMMIT"), help="footer for a report made before them")
    ap.add_argument("--stamp-sections", metavar="REPORT", help="section lines for a report made before them")
    args = ap.parse_args()
    if args.stamp:
        stamp(Path(args.stamp[0]), args.stamp[1])
        return
    if args.stamp_sections:
        print("\n".join(stamp_sections(Path(args.stamp_sections))) or "every section already has its line")
        return
    current, commit = engine_fingerprint(), git_commit()
    state = ", engine/proxy files modified since" if engine_modified() else ""
    print(f"current engine/proxy fingerprint: {current[:12]}")
    print(f"checkout: commit {(commit or 'unknown')[:12]}{state}")
    found = [row for p in sorted(Path(args.reports).glob("*.md")) for row in report_status(p, current)]
    shown = [list(row) for row in found if args.all or row[3] != "current"]
    print()
    if shown:
        print(text_table(["report", "commit", "fingerprint", "status"], shown))
    else:
        print("no stale reports")
    counts = {s: sum(1 for *_, st in found if st == s) for s in ("current", "stale", "no record")}
    print(f"\n{len(found)} reports and sections: {counts['current']} current, {counts['stale']} stale, "
          f"{counts['no record']} with no recorded fingerprint")


if __name__ == "__main__":
    main()
