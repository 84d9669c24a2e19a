"""SwapCallback inside a real (tiny) Trainer.train(): scores at every save through the Trainer's own logging,
a JSONL next to the checkpoints, values equal to what `swaplm rank` computes for the saved checkpoints, and
training unchanged by the callback."""
from __future__ import annotations

import json
import math

import pytest
import torch

pytest.importorskip("accelerate")  # the Trainer needs it
from transformers import (BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, Trainer,  # noqa: E402
                          TrainerCallback, TrainingArguments)

from swaplm.data import bert_tokenizer, text_batch  # noqa: E402
from swaplm.errors import SwapError  # noqa: E402
from swaplm.integrations import SwapCallback  # noqa: E402

PROXIES = ("swap", "mlm_loss", "rankme", "alpha_req", "params")
N, L = 8, 16


def tiny_mlm(seed: int = 0) -> BertForMaskedLM:
    torch.manual_seed(seed)
    return BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32, max_position_embeddings=32))


def blocks(n: int = 48) -> list[dict]:
    enc = text_batch("builtin:wikitext2", n=n, max_length=L, seed=1)
    return [{"input_ids": enc["input_ids"][i]} for i in range(n)]


class Recorder(TrainerCallback):
    """Stands in for TensorBoard / W&B: what the Trainer's logging hands to a reporting callback."""

    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def train(tmp_path, *, callback: SwapCallback | None, attach: bool = True, steps: int = 6, save_steps: int = 2):
    tok = bert_tokenizer()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=8,
                             learning_rate=1e-2, save_strategy="steps", save_steps=save_steps, logging_steps=1,
                             report_to="none", use_cpu=True, seed=0, disable_tqdm=True, save_only_model=True,
                             dataloader_num_workers=0)
    rec = Recorder()
    trainer = Trainer(model=tiny_mlm(), args=args, train_dataset=blocks(), processing_class=tok,
                      data_collator=DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0),
                      callbacks=[rec] + ([callback] if callback is not None and not attach else []))
    if callback is not None and attach:
        callback.attach(trainer)
    trainer.train()
    return trainer, rec


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cb = SwapCallback(n=N, max_length=L, proxies=PROXIES, initial=True)
    trainer, rec = train(out, callback=cb)
    return out, cb, trainer, rec


def test_scores_logged_at_every_save_through_the_trainer(run):
    out, cb, trainer, rec = run
    steps = [r["step"] for r in cb.history]
    assert steps == [0, 2, 4, 6]
    logged = [h for h in trainer.state.log_history if "swaplm/swap" in h]
    assert [h["step"] for h in logged] == steps
    seen = [l for l in rec.logs if "swaplm/swap" in l]  # a reporting callback sees them like the loss
    assert len(seen) == len(steps)
    for h in logged:
        for p in PROXIES:
            assert math.isfinite(h[f"swaplm/{p}"])
    # training moves the scores (the checkpoints differ)
    assert len({h["swaplm/mlm_loss"] for h in logged}) == len(logged)


def test_jsonl_next_to_checkpoints_matches_swaplm_rank(run, tmp_path):
    from swaplm.rank import rank

    out, cb, _, _ = run
    rows = [json.loads(x) for x in (out / "swaplm_scores.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows] == [str(out / f"checkpoint-{s}") for s in (0, 2, 4, 6)]
    for r in rows:
        assert (out / f"checkpoint-{r['step']}" / "model.safetensors").is_file()
    result = rank([str(out)], proxies=PROXIES, n=N, max_length=L, store=tmp_path / "s.jsonl")
    assert [c.name for c in result.candidates] == [str(out / f"checkpoint-{s}") for s in (0, 2, 4, 6)]
    for r in rows:
        got = result.values[r["model"]]
        for p in PROXIES:
            assert got[p] == pytest.approx(r["scores"][p], rel=1e-9, abs=1e-9), (r["model"], p)


def test_callback_does_not_change_training(run, tmp_path):
    _, _, with_cb, _ = run
    without, _ = train(tmp_path, callback=None)
    a = [h["loss"] for h in with_cb.state.log_history if "loss" in h]
    b = [h["loss"] for h in without.state.log_history if "loss" in h]
    assert a == b and len(a) == 6


def test_callback_without_attach_merges_into_the_next_log(tmp_path):
    cb = SwapCallback(n=N, max_length=L, proxies=("swap", "params"), metric="eval_accuracy")
    trainer, _ = train(tmp_path, callback=cb, attach=False, steps=4, save_steps=2)
    assert [r["step"] for r in cb.history] == [2, 4]
    merged = [h for h in trainer.state.log_history if "swaplm/swap" in h]
    assert merged and all(math.isfinite(h["swaplm/swap"]) for h in merged)
    rows = [json.loads(x) for x in (tmp_path / "swaplm_scores.jsonl").read_text().splitlines()]
    assert all(r["metric"] == "eval_accuracy" and r["score"] is None for r in rows)  # no evaluation ran


def test_bad_options_are_one_line_errors():
    with pytest.raises(SwapError, match="on="):
        SwapCallback(on=("train",))
    with pytest.raises(SwapError, match="unknown proxy"):
        SwapCallback(proxies=("nope",))


def test_callback_scores_with_tf32_off_through_the_runner():
    """The callback scores through the runner's scorer: TF32 is off during every proxy (as in `swaplm rank`) and
    the caller's TF32 flags and RNG are as they were afterwards."""
    from swaplm.proxies import Proxy, register

    seen = []

    def flags(model, batch, ctx):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return 1.0

    register(Proxy("test_tf32_flags", flags))
    cb = SwapCallback(n=N, max_length=L, proxies=("test_tf32_flags", "swap"))
    model, tok = tiny_mlm(), bert_tokenizer()
    kept = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        torch.manual_seed(123)
        before = torch.get_rng_state()
        values, failed, _ = cb.score(model, tok)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = kept
    assert seen == [(False, False)] and not failed and values["swap"] > 0
    assert torch.equal(torch.get_rng_state(), before)
