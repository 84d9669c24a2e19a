"""The checkpoint-ranking experiment's parts (python -m swaplm.experiments.checkpoints), on tiny models."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from swaplm.experiments import checkpoints as C  # noqa: E402

TINY = dict(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32, hidden_act="gelu")


def tiny_plan(**kw) -> C.Plan:
    base = dict(steps=4, save_at=(0, 1, 3, 4), batch=2, seq=16, ft_train={"sst2": 32, "qnli": 32},
                ft_epochs={"sst2": 1, "qnli": 1}, ft_batch=16, ft_len=32, seeds=(0,), rank_n=4, rank_len=16,
                dev_limit=24, configs={"tiny": TINY})
    base.update(kw)
    return C.Plan(**base)


def test_sst2_data_is_the_shipped_slices():
    train, dev = C.task_data("sst2", C.Plan())
    assert len(train) == 2000 and len(dev) == 872
    assert {y for *_, y in train} == {0, 1} and all(b is None for _, b, _ in dev)
    assert abs(np.mean([y for *_, y in dev]) - 0.509) < 0.001  # the dev set's majority share


@pytest.mark.skipif(not (C.GLUE_DIR / "QNLI" / "dev.tsv").is_file(), reason="../shared/data/glue not present")
def test_qnli_split_is_seeded_and_disjoint():
    train, dev = C.task_data("qnli", C.Plan())
    again, dev2 = C.task_data("qnli", C.Plan())
    assert (len(train), len(dev)) == (4000, 1463) and train == again and dev == dev2
    assert not {(a, b) for a, b, _ in train} & {(a, b) for a, b, _ in dev}
    assert all(b for _, b, _ in train) and {y for *_, y in dev} == {0, 1}


def test_unknown_task_is_one_line():
    with pytest.raises(SystemExit, match="unknown task"):
        C.task_data("nope", C.Plan())


def test_pretrain_saves_at_the_chosen_steps_with_the_callback(tmp_path):
    plan = tiny_plan()
    info = C.pretrain("tiny", TINY, plan, tmp_path, callback=True)
    ckpts = sorted(p.name for p in (tmp_path / "pretrain" / "tiny").iterdir() if p.name.startswith("checkpoint-"))
    assert ckpts == ["checkpoint-0", "checkpoint-1", "checkpoint-3", "checkpoint-4"]
    assert [r["step"] for r in info["callback"]] == [0, 1, 3, 4]
    rows = [json.loads(x) for x in (tmp_path / "pretrain" / "tiny" / "swaplm_scores.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 3, 4] and all(r["scores"]["swap"] is not None for r in rows)
    assert not info.get("reused")
    assert C.pretrain("tiny", TINY, plan, tmp_path, callback=True)["reused"]  # same plan: the done.json answers
    other = C.pretrain("tiny", TINY, tiny_plan(steps=3, save_at=(0, 3)), tmp_path, callback=True)
    assert not other.get("reused")  # another plan: trained again
    assert sorted(p.name for p in (tmp_path / "pretrain" / "tiny").glob("checkpoint-*")) == ["checkpoint-0",
                                                                                           "checkpoint-3"]


def test_mean_pool_head_ignores_padding_and_fine_tunes(tmp_path):
    plan = tiny_plan()
    info = C.pretrain("tiny", TINY, plan, tmp_path, callback=False)
    model = C.BertMeanPoolClassifier.from_pretrained(info["dir"], num_labels=2).eval()
    ids = torch.tensor([[101, 2023, 2003, 102]])
    padded = torch.tensor([[101, 2023, 2003, 102, 0, 0]])
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        b = model(input_ids=padded, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]])).logits
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([1]))
    assert torch.allclose(a, b, atol=1e-5) and a.shape == (1, 2) and math.isfinite(float(out.loss))

    cache: dict = {}
    row = C.finetune(info["dir"], "sst2", 0, plan, tmp_path, cache)
    assert 0.0 <= row["accuracy"] <= 1.0 and row["train_examples"] == 32 and row["throughput"] > 0
    assert -1.0 <= row["mcc"] <= 1.0 and 0.5 <= row["majority"] <= 1.0 and 0.0 <= row["predicted_1"] <= 1.0
    assert C.finetune(info["dir"], "sst2", 0, plan, tmp_path, cache) is row  # cached
    assert len((tmp_path / "finetune.jsonl").read_text().splitlines()) == 1


def test_mcc_matches_its_definition():
    y = np.array([1, 1, 0, 0, 1, 0])
    assert C._mcc(y, y) == pytest.approx(1.0) and C._mcc(y, 1 - y) == pytest.approx(-1.0)
    assert C._mcc(y, np.ones_like(y)) == 0.0  # the majority-class answer


def _verdict(swap, mlm, word, pos=(), neg=(), best="swap", best_rho=None):
    return dict(group="(a) g", task="SST-2", swap=swap, mlm=mlm, diff=swap - mlm, diff_ci=[-1, 1], word=word,
                step_rho=(-0.8, [-0.95, -0.4]),
                best=best, best_rho=swap if best_rho is None else best_rho, pos=list(pos), neg=list(neg))


def test_plain_summary_says_who_wins_and_when_nothing_correlates():
    text = C._plain_summary([_verdict(0.1, 0.4, "no clear difference: SWAP's ρ is lower, but ...", best="mlm_loss",
                                      best_rho=0.4)])
    assert "**0 of 1**" in text and "MLM loss ranks better than SWAP" in text and "within the noise" in text
    assert "Nothing correlates reliably" in text and "does **not** show" in text and "(beats SWAP)" in text
    assert "longer pretraining made fine-tuning worse" in text and "higher ρ than SWAP in 1 of 1" in text
    text = C._plain_summary([_verdict(0.9, 0.1, "SWAP ranked better than held-out MLM loss", pos=["swap"])])
    assert "**1 of 1**" in text and "SWAP ranks better than MLM loss" in text and "Nothing correlates" not in text
