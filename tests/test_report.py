"""BenchResult statistics (worst-ranked failures, strata, intervals, provenance) and the Markdown report, on
hand-made results (no scoring), plus the spaces' baseline features and strata."""
import json
import math

import pytest

from swaplm import stats
from swaplm.bench import ArchRow, BenchResult, finalise_row, split
from swaplm.report import interval_text, provenance_rows, write_report
from swaplm.spaces.base import Record


def make_result(values, truth, strata=None, dated=False, features=None):
    rows = []
    for i, (v, t) in enumerate(zip(values, truth)):
        row = ArchRow(i, f"a{i}", {"p": v}, {"p": 0.5}, {} if v is not None else {"p": "failed"}, build_seconds=0.25,
                      truth={"acc": t}, features={"size": float(features[i])} if features else {},
                      stratum=None if strata is None else strata[i])
        if dated:
            row.computed_at = f"2026-01-0{1 + i % 3}T00:00:00+00:00"
            row.versions = {"swaplm": "0.1.0", "torch": "2.13.0", "transformers": "5.23.0"}
        rows.append(row)
    return BenchResult(space="handmade", settings={"n": 4, "seed": 0}, rows=rows, proxies=["p"], tasks=["acc"],
                       higher_is_better={"p": True}, wall_seconds=1.0, computed=len(rows))


def test_failed_values_are_ranked_worst_and_counted():
    res = make_result([None, 1.0, 2.0, 3.0, 4.0, None], [1, 2, 3, 4, 5, 6])
    c = res.correlations()["p"]["acc"]
    assert c["n"] == 6 and c["non_finite"] == 2 and c["dropped"] == 0
    assert c["spearman"] == pytest.approx(stats.spearman([0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 6]))
    assert res.non_finite() == {"p": 2}
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert doc["non_finite"] == {"p": 2} and doc["correlations"]["p"]["acc"]["non_finite"] == 2
    assert len(doc["correlations"]["p"]["acc"]["spearman_ci"]) == 2


def test_strata_view_and_its_json():
    # inside each stratum the proxy is reversed; across strata it is right
    values = [1, 2, 3, 10, 11, 12, 20, 21, 22]
    truth = [3, 2, 1, 13, 12, 11, 23, 22, 21]
    res = make_result(values, truth, strata=["A"] * 3 + ["B"] * 3 + ["C"] * 3)
    c = res.correlations()["p"]["acc"]
    assert c["spearman"] > 0.7
    assert c["within_strata"]["spearman_mean"] == pytest.approx(-1.0) and c["within_strata"]["n_strata"] == 3
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    w = doc["correlations"]["p"]["acc"]["within_strata"]
    assert w["strata"]["B"] == {"n": 3, "spearman": pytest.approx(-1.0)} and len(w["spearman_mean_ci"]) == 2
    # no strata: no within_strata key
    assert "within_strata" not in make_result(values, truth).correlations()["p"]["acc"]
    # subsets keep the strata and get their own statistics
    part = split(res, {"AB": range(6)})["AB"]["p"]["acc"]
    assert part["n"] == 6 and part["within_strata"]["n_strata"] == 2


def test_intervals_are_deterministic_and_wider_on_fewer_archs():
    import numpy as np

    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    values = (truth + rng.normal(size=300)).tolist()
    res = make_result(values, truth.tolist())
    a = res.correlations(intervals=True)["p"]["acc"]
    b = make_result(values, truth.tolist()).correlations(intervals=True)["p"]["acc"]
    assert a == b and a["spearman_ci"][0] < a["spearman"] < a["spearman_ci"][1]
    few = res.subset(range(50)).correlations(intervals=True)["p"]["acc"]
    assert few["spearman_ci"][1] - few["spearman_ci"][0] > a["spearman_ci"][1] - a["spearman_ci"][0]
    assert interval_text(0.7021, [0.651, 0.749]) == "0.702 [0.65, 0.75]" and interval_text(math.nan, [0.1, 0.2]) == "—"


def test_provenance_from_rows_or_unknown():
    undated = make_result([1, 2, 3], [1, 2, 3])
    assert undated.provenance() == {"computed_at": None, "versions": [], "rows": 3, "rows_dated": 0}
    assert dict(provenance_rows(undated))["rows computed at"].startswith("unknown")
    dated = make_result([1, 2, 3], [1, 2, 3], dated=True)
    prov = dated.provenance()
    assert prov["computed_at"] == {"first": "2026-01-01T00:00:00+00:00", "last": "2026-01-03T00:00:00+00:00"}
    assert prov["versions"] == [{"swaplm": "0.1.0", "torch": "2.13.0", "transformers": "5.23.0"}]
    text = dict(provenance_rows(dated))
    assert "2026-01-01" in text["rows computed at"] and "torch 2.13.0" in text["versions that computed the rows"]


def test_report_has_intervals_non_finite_strata_and_row_provenance(tmp_path):
    values = [None, 2, 3, 10, 11, 12, 20, None, 22, 25]
    truth = [3, 2, 1, 13, 12, 11, 23, 22, 21, 30]
    res = make_result(values, truth, strata=["A"] * 3 + ["B"] * 3 + ["C"] * 4, dated=True,
                      features=list(range(10)))
    md = write_report(res, tmp_path / "r.md", command="python make_it.py", plots=[])
    text = md.read_text()
    c = res.correlations(intervals=True)["p"]["acc"]
    assert "ranked as the **worst**" in text and "non-finite" in text
    line = next(li for li in text.splitlines() if li.startswith("| p ") and "| acc " in li)
    assert interval_text(c["spearman"], c["spearman_ci"]) in line and line.rstrip(" |").endswith("2")  # 2 non-finite
    assert "## Within strata" in text and "mean ρ within strata" in text
    w = c["within_strata"]
    assert interval_text(w["spearman_mean"], w["spearman_mean_ci"]) in text
    assert "rows computed at" in text and "2026-01-01T00:00:00+00:00 – 2026-01-03T00:00:00+00:00" in text
    assert "report written" in text and "size" in text  # the space's baseline is ranked beside the proxy


def test_finalise_row_sets_truth_features_stratum_and_connected():
    class Space:
        def features(self, arch):
            return {"p": arch, "width": arch * 2}

        def stratum(self, arch):
            return ("wide" if arch > 2 else "narrow")

        def connected(self, arch):
            return arch != 3

    row = ArchRow(0, "a", {"p": 1.0}, {"p": 0.1})
    finalise_row(row, Record(0, 3, {"acc": 50.0, "bad": math.nan}), Space(), ["acc", "bad"], {"p": True})
    assert row.truth == {"acc": 50.0, "bad": None}
    assert row.features == {"p (feature)": 3.0, "width": 6.0} and row.stratum == "wide"
    assert row.connected is False


def test_flexibert_two_feature_rule_and_strata():
    from swaplm.spaces import get_space

    space = get_space("flexibert")
    recs = space.benchmark()
    glue = [r.scores["glue"] for r in recs]
    rule = [space.features(r.arch)["layers+hidden"] for r in recs]
    # anchors §0: sorting by (layers, hidden) gives rho 0.925, tau 0.801 on all 500
    c = stats.correlations(rule, glue)
    assert c["spearman"] == pytest.approx(0.925, abs=5e-4) and c["kendall"] == pytest.approx(0.801, abs=5e-4)
    labels = [space.stratum(r.arch) for r in recs]
    assert sorted(set(labels)) == ["L2/H128", "L2/H256", "L4/H128", "L4/H256"]
    assert labels.count("L2/H128") + labels.count("L2/H256") == 239  # anchors §0: 239 two-layer archs
    # the rule is constant inside a stratum: no within-stratum signal at all
    assert stats.within_strata(rule, glue, labels)["n_strata"] == 0


def test_darts_parameter_strata():
    from swaplm.spaces import get_space
    from swaplm.swap import count_params

    space = get_space("darts")
    recs = space.benchmark()
    for r in recs[:25]:
        assert space.param_count(r.arch) == count_params(space.build(r.arch))
    labels = [space.stratum(r.arch) for r in recs]
    assert len(set(labels)) == space.STRATA_BINS
    assert all(150 <= labels.count(lab) <= 250 for lab in set(labels))  # equal-count bins, up to ties


def test_readme_results_figures_are_in_the_reports_they_name():
    """Every number in the README results table's swaplm column appears in the report(s) named on its row."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme.split("## Results on this 2-core CPU machine", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    assert len(rows) >= 6
    for line in rows:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4, line
        _, ours, _, reports = cells
        names = re.findall(r"reports/[\w./-]+\.md", reports)
        assert names, f"no report named on: {line}"
        text = "\n".join((root / n).read_text() for n in names)
        # ours may also name reports and settings (N = 16, 2-layer, OMP policy); only measured figures must match
        figures = re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", re.sub(r"`[^`]*`", "", ours))
        for fig in figures:
            assert fig in text, f"{fig} (README: {ours[:60]}…) is not in {', '.join(names)}"


def test_shared_report_helpers():
    from swaplm.report import fmt, markdown_table, slug, versions
    from swaplm.runner import identity

    assert slug("nas-bench/201 x") == "nas-bench_201_x" and slug("") == "space"
    assert fmt(0.12345) == "0.123" and fmt(0.12345, 1) == "0.1" and fmt(math.nan) == "—" and fmt(None) == "—"
    assert fmt(7) == "7" and fmt(True) == "True" and fmt("x") == "x"
    assert interval_text(0.912, [0.8912, 0.934]) == "0.912 [0.89, 0.93]" and interval_text(0.5, None) == "0.500"
    table = markdown_table(["a", "b"], [["x", 1.5], {"a": "y|z", "b": None}])
    assert table.splitlines() == ["| a    |     b |", "| ---- | ----: |", "| x    | 1.500 |", "| y\\|z |     — |"]
    assert markdown_table(["a", "b"], [[1, 2]], align="lr").splitlines()[1] == "| --- | --: |"
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [[1]])
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [[1, 2]], align="lx")
    assert versions() == identity.versions()  # the very dict the store keeps with every row


def test_every_report_ends_with_a_readable_provenance_footer(tmp_path):
    import re

    from swaplm.report import (engine_fingerprint, git_commit, provenance_footer, read_provenance, read_sections,
                               write_section)

    commit, fingerprint = git_commit(), engine_fingerprint()
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint) and fingerprint == engine_fingerprint()
    footer = provenance_footer()
    assert read_provenance(footer) == {"commit": commit or "unknown", "fingerprint": fingerprint}
    assert f"engine/proxy fingerprint `{fingerprint[:12]}`" in footer and read_provenance("# no footer") is None
    res = make_result([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4])
    text = write_report(res, tmp_path / "r.md", command="x", plots=[]).read_text()
    assert text.rstrip().endswith("-->") and read_provenance(text)["fingerprint"] == fingerprint
    # a section written into a report carries its own provenance line; the report keeps its footer as it was
    # (it covers the rest of the file), exactly once, at the end
    footer = text[text.rindex("---"):]
    (tmp_path / "r.md").write_text(text.replace(fingerprint, "0" * 64))  # as if computed under older code
    write_section(tmp_path / "r.md", "extra", ["more rows"])
    write_section(tmp_path / "r.md", "extra", ["other rows"])
    write_section(tmp_path / "r.md", "second", ["rows"])
    text = (tmp_path / "r.md").read_text()
    assert text.count("<!-- swaplm-report ") == 1 and text.endswith(footer.replace(fingerprint, "0" * 64))
    assert read_provenance(text)["fingerprint"] == "0" * 64
    assert "other rows" in text and "more rows" not in text and text.index("## Cost") < text.index("other rows")
    here = {"commit": commit or "unknown", "fingerprint": fingerprint}
    assert read_sections(text) == {"extra": here, "second": here}
    assert text.count("<!-- swaplm-section extra ") == 1 and read_sections("<!-- a -->\nx\n<!-- /a -->") == {"a": None}
    new = tmp_path / "new.md"  # a file written by sections only has no footer
    write_section(new, "only", ["rows"])
    assert read_provenance(new.read_text()) is None and read_sections(new.read_text()) == {"only": here}


def test_stale_reports_stamps_sections_from_the_report_history(tmp_path, monkeypatch):
    import importlib.util
    import shutil
    import subprocess
    from pathlib import Path

    from swaplm.report import PROVENANCE_PREFIX, read_provenance, read_sections

    if shutil.which("git") is None:
        pytest.skip("git is not on the PATH")
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("stale_reports", root / "benchmarks" / "stale_reports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    repo = tmp_path / "repo"
    (repo / "reports").mkdir(parents=True)

    def git(*args):
        out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def footer(commit, fp):
        return f"---\n\nComputed at commit `{commit[:12]}`.\n\n{PROVENANCE_PREFIX}commit={commit} fingerprint={fp} -->\n"

    report = repo / "reports" / "r.md"
    body = "# r\n\nmain rows\n\n<!-- one -->\nfirst rows\n<!-- /one -->\n\n"
    git("init", "-q")
    report.write_text(body + footer("a" * 40, "1" * 64))
    git("add", "-A"), git("commit", "-qm", "one")
    # a later section rewrote the footer (as write_section used to): it names the later commit for everything
    report.write_text(body + "<!-- two -->\nsecond rows\n<!-- /two -->\n\n" + footer("b" * 40, "2" * 64))
    git("add", "-A"), git("commit", "-qm", "two")
    monkeypatch.setattr(mod, "ROOT", repo)
    assert mod.stamp_sections(report) == [f"one: {'a' * 12} {'1' * 12}", f"two: {'b' * 12} {'2' * 12}",
                                          f"footer: {'a' * 12} {'1' * 12}"]
    text = report.read_text()
    assert read_sections(text) == {"one": {"commit": "a" * 40, "fingerprint": "1" * 64},
                                   "two": {"commit": "b" * 40, "fingerprint": "2" * 64}}
    assert read_provenance(text) == {"commit": "a" * 40, "fingerprint": "1" * 64}
    assert "first rows" in text and "second rows" in text and "main rows" in text
    assert [r[0] for r in mod.report_status(report, "2" * 64)] == ["r.md", "r.md#one", "r.md#two"]
    assert [r[3] for r in mod.report_status(report, "2" * 64)] == ["stale", "stale", "current"]
    git("add", "-A"), git("commit", "-qm", "stamped")
    assert mod.stamp_sections(report) == [] and report.read_text() == text  # nothing left to stamp


def test_strata_table_says_how_many_resamples_were_dropped():
    from swaplm.report import strata_table

    # stratum A has three architectures: some resamples draw one of them three times and leave its ρ undefined
    res = make_result([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], strata=["A"] * 3 + ["B"] * 5)
    dropped = res.correlations(intervals=True)["p"]["acc"]["within_strata"]["resamples_dropped"]
    assert dropped > 0 and f"p on acc: {dropped}" in strata_table(res)


def test_stale_reports_lists_other_and_missing_fingerprints(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    from swaplm.report import provenance_footer

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "stale_reports.py"
    spec = importlib.util.spec_from_file_location("stale_reports", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    footer = provenance_footer()
    (tmp_path / "current.md").write_text("# a\n\n" + footer)
    (tmp_path / "old.md").write_text("# b\n\n<!-- swaplm-report commit=" + "a" * 40 + " fingerprint=" + "0" * 64 + " -->\n")
    (tmp_path / "a_report_with_a_very_long_name_that_does_not_fit_into_the_first_column_at_all.md").write_text("# c\n")
    monkeypatch.setattr("sys.argv", ["stale_reports.py", "--reports", str(tmp_path)])
    mod.main()
    out = capsys.readouterr().out
    assert "old.md" in out and "current.md" not in out and "aaaaaaaaaaaa  000000000000  stale" in out
    assert "no record" in out and "3 reports and sections: 1 current, 1 stale, 1 with no recorded fingerprint" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    monkeypatch.setattr("sys.argv", ["stale_reports.py", "--reports", str(tmp_path), "--all"])
    mod.main()
    assert "current.md" in capsys.readouterr().out


def test_stale_reports_stamps_an_old_report_with_its_commit_and_an_unknown_fingerprint(tmp_path, monkeypatch,
                                                                                        capsys):
    import importlib.util
    import subprocess
    from pathlib import Path

    import pytest

    from swaplm.report import read_provenance

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("stale_reports", root / "benchmarks" / "stale_reports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    report = tmp_path / "old.md"
    report.write_text("# old\n\nrows\n")
    monkeypatch.setattr("sys.argv", ["stale_reports.py", "--stamp", str(report), head.stdout.strip()[:7]])
    mod.main()
    assert read_provenance(report.read_text()) == {"commit": head.stdout.strip(), "fingerprint": "unknown"}
    assert report.read_text().startswith("# old\n\nrows\n")  # the report itself is kept
    with pytest.raises(SystemExit, match="already has"):  # a second stamp is refused
        mod.main()
    monkeypatch.setattr("sys.argv", ["stale_reports.py", "--stamp", str(tmp_path / "x.md"), "nosuchcommit"])
    (tmp_path / "x.md").write_text("# x\n")
    with pytest.raises(SystemExit, match="not a commit"):
        mod.main()
    monkeypatch.setattr("sys.argv", ["stale_reports.py", "--reports", str(tmp_path)])
    mod.main()
    assert "unknown      stale" in capsys.readouterr().out
