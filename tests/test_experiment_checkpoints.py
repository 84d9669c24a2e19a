"""The checkpoint-ranking experiment's parts (python experiments/checkpoints.py), on tiny models."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, which holds experiments/
from experiments import checkpoints as C  # noqa: E402

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


def fake_run(tmp_path):
    """What main() hands write_report, made up: 4 checkpoints of (a), 2 configurations of (b), 2 seeds."""
    plan = tiny_plan(seeds=(0, 1))
    a = [str(tmp_path / "a" / f"checkpoint-{s}") for s in (0, 1, 3, 4)]
    b = [a[-1], str(tmp_path / "wide" / "final")]
    names = list(dict.fromkeys(a + b))
    rng = np.random.default_rng(0)
    scores = {n: {"swap": float(10 + i), "mlm_loss": float(5 - i), "rankme": float(rng.random()),
                  "alpha_req": None if i == 0 else float(rng.random()), "params": 1000 + i} for i, n in enumerate(names)}
    ft = {(n, t): [{"accuracy": 0.5 + 0.05 * i + 0.01 * s, "mcc": 0.1, "majority": 0.51, "train_seconds": 2.0,
                    "eval_seconds": 0.5, "throughput": 30.0} for s in plan.seeds]
          for i, n in enumerate(names) for t in plan.tasks}
    corr, truths = {}, {}
    from swaplm import stats

    for group, ns in (("a", a), ("b", b)):
        for t in plan.tasks:
            truths[(group, t)] = {n: statistics_mean([r["accuracy"] for r in ft[(n, t)]]) for n in ns}
            corr[(group, t)] = {p: stats.correlations([scores[n][p] for n in ns], [truths[(group, t)][n] for n in ns],
                                                      p not in ("mlm_loss", "alpha_req"), intervals=True)
                                for p in C.PROXIES}
    third = {"ranking": [{"model": "builtin:minilm", "scores": {**scores[a[0]], "mlm_loss": None},
                          "failed": {"mlm_loss": "no masked-LM head"}, "seconds": 1.5}]}
    return dict(plan=plan, stages={"pretrain (a)": 10.0}, cpu={"pretrain (a)": 15.0}, total=10.0, resumed=[],
                info_a={"blocks": 40, "callback_seconds": 1.0, "callback_rows": 4, "train_loss": [(1, 2.0), (4, 1.0)]},
                info_b={"tiny": {"seconds": 5.0, "final_train_loss": 1.0}}, a_names=a, b_names=b, scores=scores,
                rank_s={n: 0.5 for n in names}, ft=ft, corr=corr, truths=truths,
                sub={k: tmp_path / f"sub_{k[0]}_{k[1]}.md" for k in corr}, third=third, walls={"families": 3.0},
                rank_cost={"wall": 6.0, "n": len(names), "checkpoints": 2.5, "warmup": 1.0},
                control=[{"train": 32, "epochs": 1, "accuracy": 0.5, "predicted_1": 1.0, "train_loss": [0.69, 0.69],
                          "seconds": 3.0}],
                higher={p: p not in ("mlm_loss", "alpha_req") for p in C.PROXIES}, quick=True, argv=["--quick"])


def statistics_mean(xs):
    return sum(xs) / len(xs)


def test_write_report_writes_every_section_and_the_provenance_footer(tmp_path):
    from swaplm.report import read_provenance

    out = tmp_path / "report.md"
    C.write_report(out, **fake_run(tmp_path))
    text = out.read_text()
    for head in ("## Summary", "## Setup", "## Stage times", "## Does fine-tuning learn?", "## (a) Checkpoints",
                 "## (b) Configurations", "## Correlation of every proxy", "### (a) checkpoints of one run, SST-2",
                 "## Verdict", "## Models of different families", "## Caveats"):
        assert head in text, head
    assert "Command: `python experiments/checkpoints.py --quick`" in text and "(baseline) training step" in text
    assert "(noise ceiling) seed split-half" in text and "- `builtin:minilm`: mlm_loss: no masked-LM head" in text
    assert read_provenance(text) is not None
    assert (tmp_path / "report_trajectory.png").is_file() and (tmp_path / "report_scatter.png").is_file()
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["summary"] in text and len(doc["verdicts"]) == 4
