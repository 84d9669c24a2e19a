"""swaplm.bench (runner + JSONL cache) and swaplm.report on a tiny fake space with the real proxies."""
import json
import math
import warnings

import pytest
import torch
import torch.nn as nn

from swaplm.bench import CacheWarning, run_bench, split
from swaplm.errors import SwapError
from swaplm.proxies import Proxy, register
from swaplm.report import markdown_table, write_report
from swaplm.spaces.base import Record, ScoringProtocol, Space

WIDTHS = [1, 2, 3, 4, 5, 6]


class TinySpace(Space):
    """Archs are conv widths; ground truth grows with width except id 3 (so correlations are not trivial)."""

    name = "tiny"
    tasks = ("acc", "loss_rank")
    protocol = ScoringProtocol(n=8, repeats=1, init="gaussian", mode="train", padding="mask")

    def __init__(self, broken: int | None = None):
        self._built: list[int] = []  # run-time state is private: not part of the cache identity
        self.broken = broken  # public plain attribute: part of the cache identity
        self._interrupt_at: int | None = None

    @property
    def built(self):
        return self._built

    def key(self, arch):
        return f"w{arch}"

    def build(self, arch):
        self.built.append(arch)
        if self._interrupt_at is not None and len(self.built) == self._interrupt_at:
            raise KeyboardInterrupt
        if arch == self.broken:
            raise ValueError("unsupported width")
        return nn.Sequential(nn.Conv2d(3, arch, 3, padding=1), nn.ReLU(), nn.Conv2d(arch, arch, 3), nn.ReLU())

    def inputs(self, data=None, *, n=None, seed=0, max_length=None):
        return torch.randn(n, 3, 6, 6, generator=torch.Generator().manual_seed(seed))

    def benchmark(self):
        acc = [50.0, 55.0, 61.0, 52.0, 70.0, 72.0]
        return [Record(i, w, {"acc": acc[i], "loss_rank": float(-i)}) for i, w in enumerate(WIDTHS)]

    def features(self, arch):
        return {"width": arch}


def bench(space, tmp_path, **kw):
    kw.setdefault("proxies", ("swap", "params"))
    return run_bench(space, cache_dir=tmp_path / "cache", progress=False, warmup=False, **kw)


def values(result, proxy):
    return {r.id: r.values[proxy] for r in result.rows}


def test_cache_is_reused(tmp_path):
    space = TinySpace()
    first = bench(space, tmp_path)
    assert space.built == WIDTHS and first.computed == 6 and first.from_cache == 0
    assert all(v > 0 for v in values(first, "swap").values())
    assert values(first, "params")[0] == 3 * 1 * 9 + 1 + 1 * 1 * 9 + 1  # two convs of width 1

    again = TinySpace()
    second = bench(again, tmp_path)
    assert again.built == [] and second.computed == 0 and second.from_cache == 6
    assert values(second, "swap") == values(first, "swap")
    assert second.correlations() == first.correlations()
    assert second.compute_seconds() == pytest.approx(first.compute_seconds())
    # limit/ids/tasks do not invalidate the cache
    sub = TinySpace()
    assert bench(sub, tmp_path, limit=3, tasks=["acc"]).from_cache == 3 and sub.built == []


def test_interrupted_run_resumes_with_identical_values(tmp_path):
    space = TinySpace()
    space._interrupt_at = 3
    with pytest.raises(KeyboardInterrupt):
        bench(space, tmp_path)
    assert space.built == [1, 2, 3]  # ids 0 and 1 finished and were flushed
    resumed_space = TinySpace()
    resumed = bench(resumed_space, tmp_path)
    assert resumed_space.built == [3, 4, 5, 6]
    assert resumed.computed == 4 and resumed.from_cache == 2
    fresh = bench(TinySpace(), tmp_path / "other")
    assert values(resumed, "swap") == values(fresh, "swap")  # per-arch seeding: order/resume independent


@pytest.mark.parametrize("change", [{"seed": 1}, {"repeats": 2}, {"n": 6}, {"init": None}, {"mode": "eval"}])
def test_changed_setting_invalidates_cache(tmp_path, change):
    bench(TinySpace(), tmp_path, limit=2)
    space = TinySpace()
    result = bench(space, tmp_path, limit=2, **change)
    assert space.built == [1, 2] and result.from_cache == 0
    for key, value in change.items():
        assert result.settings[key] == value


def test_corrupt_and_truncated_lines_are_warned_and_recomputed(tmp_path):
    first = bench(TinySpace(), tmp_path)
    path = first.cache_path
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"swaplm_store": 1}  # header line
    by_key = {json.loads(line)["key"]: i for i, line in enumerate(lines[1:], 1)}
    lines[by_key["w2"]] = '{"key": "w2", "columns": {"swap": "garbage"'
    bad_value = json.loads(lines[by_key["w4"]])
    col = next(c for c in bad_value["columns"] if c.startswith("swap#"))
    bad_value["columns"][col]["value"] = "NaN"
    lines[by_key["w4"]] = json.dumps(bad_value)
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # last line cut mid-write

    space = TinySpace()
    with pytest.warns(CacheWarning, match="3 corrupt line"):
        second = bench(space, tmp_path)
    assert sorted(space.built) == [2, 4, 6]
    assert values(second, "swap") == values(first, "swap")

    third_space = TinySpace()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        bench(third_space, tmp_path)  # the file was repaired: no warning, nothing recomputed
    assert third_space.built == []


def test_failures_are_recorded_with_reason(tmp_path):
    def flaky(model, batch, ctx):
        width = model[0].out_channels
        if width == 2:
            raise SwapError("width 2 is not supported by this proxy")
        return math.nan if width == 5 else float(width)

    register(Proxy("test_flaky", flaky, higher_is_better=True))
    space = TinySpace(broken=4)
    result = bench(space, tmp_path, proxies=("test_flaky", "params"))
    row = {r.id: r for r in result.rows}
    assert row[1].values["test_flaky"] is None and "width 2 is not supported" in row[1].failed["test_flaky"]
    assert row[4].values["test_flaky"] is None and "not finite" in row[4].failed["test_flaky"]
    assert row[1].values["params"] is not None  # the other proxy still ran
    assert row[3].failed == {"test_flaky": "build failed: ValueError: unsupported width",
                             "params": "build failed: ValueError: unsupported width"}
    assert result.failures() == {"test_flaky": 3, "params": 1}
    c = result.correlations()["test_flaky"]["acc"]
    assert c["n"] == 6 and c["non_finite"] == 3 and c["dropped"] == 0  # failures ranked worst, not dropped

    line = [json.loads(s) for s in result.cache_path.read_text().splitlines()[1:] if '"key": "w2"' in s][0]
    col = next(c for c in line["columns"] if c.startswith("test_flaky#"))
    assert line["columns"][col]["failed"] == row[1].failed["test_flaky"] and "value" not in line["columns"][col]
    cached = bench(TinySpace(broken=4), tmp_path, proxies=("test_flaky", "params"))
    assert cached.computed == 0 and {r.id: r.failed for r in cached.rows} == {r.id: r.failed for r in result.rows}


def test_adding_a_proxy_computes_only_that_proxy(tmp_path):
    from swaplm.swap import Regularise

    first = bench(TinySpace(), tmp_path, proxies=("swap", "params"))
    calls = []
    register(Proxy("test_counting", lambda m, b, c: calls.append(1) or 1.0, higher_is_better=True))
    space = TinySpace()
    more = bench(space, tmp_path, proxies=("params", "swap", "test_counting"))
    assert len(calls) == 6 and more.computed == 6 and more.proxies == ["params", "swap", "test_counting"]
    assert values(more, "swap") == values(first, "swap") and values(more, "params") == values(first, "params")
    assert [list(r.values) for r in more.rows] == [["params", "swap", "test_counting"]] * 6
    again = TinySpace()
    assert bench(again, tmp_path, proxies=("test_counting", "swap")).computed == 0 and again.built == []
    assert len(calls) == 6
    # swap_reg's prior is part of its column: a new prior recomputes swap_reg only, with the same raw swap
    reg_a = bench(TinySpace(), tmp_path, proxies=("swap", "swap_reg"), regularise=Regularise(1.0, 2.0, unit="k"))
    reg_b = bench(TinySpace(), tmp_path, proxies=("swap", "swap_reg"), regularise=Regularise(0.1, 2.0, unit="k"))
    assert reg_b.computed == 6 and values(reg_b, "swap") == values(reg_a, "swap")
    assert values(reg_b, "swap_reg") != values(reg_a, "swap_reg")


def test_space_options_are_part_of_the_cache_identity(tmp_path):
    first = bench(TinySpace(), tmp_path, limit=2)
    assert first.settings["space_options"]["broken"] is None
    other = TinySpace(broken=6)
    assert bench(other, tmp_path, limit=2).from_cache == 0 and other.built == [1, 2]
    class Explicit(TinySpace):
        def identity_options(self):  # an explicit mapping replaces attribute discovery
            return {"build": "faithful"}

    result = bench(Explicit(), tmp_path, limit=2)
    assert result.from_cache == 0 and result.settings["space_options"] == {"build": "faithful"}


def test_proxies_are_independent_and_defaults_come_from_protocol(tmp_path):
    both = bench(TinySpace(), tmp_path, proxies=("swap", "params"))
    alone = bench(TinySpace(), tmp_path, proxies=("swap",))
    assert values(both, "swap") == values(alone, "swap")
    s = both.settings
    assert (s["n"], s["repeats"], s["init"], s["mode"], s["padding"]) == (8, 1, "gaussian", "train", "mask")
    assert bench(TinySpace(), tmp_path, batch_size=8).from_cache == 6  # alias of n
    with pytest.raises(SwapError):
        bench(TinySpace(), tmp_path, n=8, batch_size=4)
    with pytest.raises(SwapError):
        bench(TinySpace(), tmp_path, ids=[0, 99])


def test_warmup_is_not_stored(tmp_path):
    space = TinySpace()
    result = run_bench(space, proxies=("params",), cache_dir=tmp_path, progress=False, limit=2)
    assert space.built == [1, 1, 2] and result.computed == 2
    assert len(result.cache_path.read_text().splitlines()) == 3  # header + 2 archs


def test_correlations_to_json_and_split(tmp_path):
    result = bench(TinySpace(), tmp_path)
    corr = result.correlations()
    assert list(corr) == ["swap", "params", "width"]  # space features are extra baseline rows
    assert corr["width"]["acc"]["spearman"] == pytest.approx(1 - 6 * 6 / (6 * 35))  # acc ranks 1 3 4 2 5 6: sum d^2 = 6
    assert corr["params"]["loss_rank"]["spearman"] == pytest.approx(-1.0)
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert doc["space"] == "tiny" and doc["n_archs"] == 6 and doc["seconds"] > 0
    assert doc["settings"]["proxies"] == ["swap", "params"] and doc["settings"]["seed"] == 0
    assert set(doc["correlations"]["swap"]) == {"acc", "loss_rank"}
    assert {"spearman", "kendall", "pearson", "n"} <= set(doc["correlations"]["swap"]["acc"])
    assert doc["correlations"]["swap"]["acc"]["best_rank@10"] is None  # k >= n -> null in JSON

    halves = split(result, 2)
    assert list(halves) == ["0–2", "3–5"]
    assert halves["3–5"]["width"]["acc"]["n"] == 3
    assert halves["0–2"]["width"]["acc"]["spearman"] == pytest.approx(1.0)
    named = split(result, {"even": [0, 2, 4]})
    assert named["even"]["params"]["acc"]["n"] == 3


def test_report_writes_markdown_and_plots(tmp_path):
    result = bench(TinySpace(), tmp_path)
    md = write_report(result, tmp_path / "rep" / "tiny.md", command="swaplm bench tiny --seed 0",
                      extra_sections=[("Ablation: mode", "eval vs train: same")])
    text = md.read_text()
    assert "swaplm bench tiny --seed 0" in text
    for name in ("swap", "params", "width"):
        assert f"| {name}" in text
    rho = result.correlations()["swap"]["acc"]["spearman"]
    stat_rows = [line for line in text.splitlines() if line.startswith("| swap ") and "| acc " in line]
    assert len(stat_rows) == 1 and f"{rho:.3f}" in stat_rows[0]
    assert "## Ablation: mode" in text and "torch" in text and "gaussian" in text
    for proxy in ("swap", "params"):
        png = md.with_name(f"tiny_{proxy}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png.name})" in text


def test_markdown_table_aligns_and_formats():
    table = markdown_table(["x", "y", "z"], [["a", 0.12345, None], {"x": "bb", "y": float("nan"), "z": 3}])
    lines = table.splitlines()
    assert lines[0] == "| x   |     y |   z |"
    assert lines[1] == "| --- | ----: | --: |"
    assert lines[2] == "| a   | 0.123 |   — |"
    assert lines[3] == "| bb  |     — |   3 |"


def test_derived_swap_reg_equals_the_computed_one(tmp_path):
    from swaplm.swap import Regularise

    reg = Regularise(0.2, 0.5, unit="k")
    alone = bench(TinySpace(), tmp_path / "a", proxies=("swap_reg",), regularise=reg)
    together = bench(TinySpace(), tmp_path / "b", proxies=("swap", "swap_reg", "params"), regularise=reg)
    assert values(together, "swap_reg") == pytest.approx(values(alone, "swap_reg"), rel=1e-12)
    assert len(set(values(together, "swap_reg").values())) > 1  # the prior is not flat here
    row = together.rows[0]
    assert row.seconds["swap_reg"] == pytest.approx(row.seconds["swap"] + row.seconds["params"])


def test_derived_proxy_seconds_are_not_counted_twice():
    from swaplm.bench import ArchRow
    row = ArchRow(id=0, key="k", values={}, build_seconds=1.0, seconds={"swap": 2.0, "swap_reg": 2.0, "params": 0.5})
    assert row.total_seconds() == 3.5          # swap_reg was derived from swap + params: its seconds are theirs
    alone = ArchRow(id=0, key="k", values={}, build_seconds=1.0, seconds={"swap_reg": 2.0})
    assert alone.total_seconds() == 3.0        # computed on its own: its own cost
