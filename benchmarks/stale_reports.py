"""List the reports in reports/ whose rows were computed under another engine/proxy fingerprint than this
checkout's, and those that record none.

    python benchmarks/stale_reports.py              # the stale and unrecorded reports
    python benchmarks/stale_reports.py --all        # every report, current ones too
    python benchmarks/stale_reports.py --stamp reports/X.md COMMIT   # a report written before footers existed

``--stamp`` gives such a report the footer with the commit its rows were computed at (as its header or its git
history says) and the fingerprint ``unknown``, so the listing names its commit and counts it as stale.

Every report ends with a provenance line written by :func:`swaplm.report.provenance_footer`,
``<!-- swaplm-report commit=<sha> fingerprint=<sha256> -->``; the fingerprint digests the engine modules and the
proxies package (:func:`swaplm.report.engine_fingerprint`), so a report whose fingerprint differs from the
current one may show values the current code would not give. The current fingerprint is that of the files in
this checkout: at HEAD when they are committed (the header says when they are not). Exit status 0 either way.
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from swaplm.report import engine_fingerprint, git_commit, read_provenance
from swaplm.runner.identity import engine_files

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80


def report_status(path: Path, current: str) -> tuple[str, str, str]:
    """(recorded commit, recorded fingerprint, status) of one report: status is "current", "stale" or
    "no record"."""
    found = read_provenance(path.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        return "—", "—", "no record"
    status = "current" if found["fingerprint"] == current else "stale"
    return found["commit"][:12], found["fingerprint"][:12], status


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
    from swaplm.report import PROVENANCE_PREFIX

    text = report.read_text(encoding="utf-8")
    if read_provenance(text) is not None:
        raise SystemExit(f"{report} already has a provenance footer")
    full = subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True,
                          text=True)
    if full.returncode != 0:
        raise SystemExit(f"{commit!r} is not a commit of this repository")
    sha = full.stdout.strip()
    footer = ["---", "", f"Computed at commit `{sha[:12]}` (as the report's header or the commit that added its rows "
              "says); the engine/proxy fingerprint was not recorded (the report predates provenance footers), so "
              "it is listed as stale.", "",
              f"{PROVENANCE_PREFIX}commit={sha} fingerprint=unknown -->", ""]
    report.write_text(text.rstrip("\n") + "\n\n" + "\n".join(footer), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", default=str(ROOT / "reports"), help="folder of the reports (default reports/)")
    ap.add_argument("--all", action="store_true", help="list the current reports too")
    ap.add_argument("--stamp", nargs=2, metavar=("REPORT", "COMMIT"), help="footer for a report made before them")
    args = ap.parse_args()
    if args.stamp:
        stamp(Path(args.stamp[0]), args.stamp[1])
        return
    current, commit = engine_fingerprint(), git_commit()
    state = ", engine/proxy files modified since" if engine_modified() else ""
    print(f"current engine/proxy fingerprint: {current[:12]}")
    print(f"checkout: commit {(commit or 'unknown')[:12]}{state}")
    found = [(p, *report_status(p, current)) for p in sorted(Path(args.reports).glob("*.md"))]
    shown = [[p.name, c, f, s] for p, c, f, s in found if args.all or s != "current"]
    print()
    if shown:
        print(text_table(["report", "commit", "fingerprint", "status"], shown))
    else:
        print("no stale reports")
    counts = {s: sum(1 for *_, st in found if st == s) for s in ("current", "stale", "no record")}
    print(f"\n{len(found)} reports: {counts['current']} current, {counts['stale']} stale, "
          f"{counts['no record']} with no recorded fingerprint")


if __name__ == "__main__":
    main()
