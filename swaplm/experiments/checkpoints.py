"""Does a label-free score rank pretraining checkpoints like their fine-tuned accuracy? (issue #11)

    nice -n 10 env OMP_WAIT_POLICY=PASSIVE python -m swaplm.experiments.checkpoints --fresh   # ~35-45 min, 2 cores
    python -m swaplm.experiments.checkpoints --quick --out /tmp/q/report.md                    # ~3 min smoke run

Fully offline, with the Hugging Face ``Trainer``, on data shipped in ``swaplm/_data`` (see its SOURCES.md) plus the
second task's GLUE files in ``../shared/data/glue`` (``SWAPLM_GLUE`` overrides the folder):

(a) one small BERT pretrained (masked LM, the shipped uncased vocab) on WikiText-2 with
    :class:`swaplm.integrations.SwapCallback` on, saving checkpoints at the steps ``Plan.save_at`` (step 0 included);
(b) further small configurations (depth, width, FF size, activation) pretrained with the same token budget;
every checkpoint of (a) and the final model of every (b) configuration is fine-tuned (mean-pooled classifier, see
:class:`BertMeanPoolClassifier`) on SST-2 (a fixed train subset, evaluated on the 872-sentence dev set) and on QNLI
(a seeded split of its labelled GLUE dev set: tiny models beat the majority class there, unlike CoLA, where their
MCC is 0), with three seeds; then ``swaplm rank --truth`` ranks them and every proxy is correlated with the mean
fine-tuned accuracy, separately for (a) and (b). A third table ranks models of other families and sizes (the
shipped MiniLM, random inits). Every figure of the report is written here, by the code that measured it.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput

from swaplm.data import DATA_DIR, bert_tokenizer

SST2_FULL_TRAIN = 67349  # sentences in the full GLUE SST-2 train split (shared/data/SOURCES.md)
PROXIES = ("swap", "mlm_loss", "rankme", "alpha_req", "params")


@dataclass
class Plan:
    steps: int = 160            # pretraining steps (every model of (a) and (b): the same token budget)
    save_at: tuple = (0, 5, 10, 20, 30, 40, 60, 80, 120, 160)  # (a)'s checkpoints (denser where it moves)
    batch: int = 32             # pretraining sequences per step
    seq: int = 64               # tokens per pretraining sequence ([CLS] + 62 + [SEP])
    lr: float = 1e-3
    tasks: tuple = ("sst2", "qnli")  # the first is SST-2 (its throughput gives the full-epoch extrapolation)
    ft_train: dict = field(default_factory=lambda: {"sst2": 2000, "qnli": 2000})  # fixed train subset per task
    ft_epochs: dict = field(default_factory=lambda: {"sst2": 2, "qnli": 2})
    ft_lr: float = 1e-3
    ft_batch: int = 32
    ft_len: int = 64            # max tokens of a fine-tuning example (a pair: both segments together)
    seeds: tuple = (0, 1, 2)
    rank_n: int = 128           # the rank batch: N blocks of rank_len tokens of held-out WikiText-2
    rank_len: int = 64
    dev_limit: int | None = None  # None: the whole evaluation set of each task
    configs: dict = field(default_factory=lambda: dict(CONFIGS))


BASE = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=256, hidden_act="gelu")
CONFIGS = {  # (b): name -> BertConfig overrides; the first is (a)'s model (its final checkpoint is reused)
    "base-L2-H64-F256-gelu": BASE,
    "L1-H64-F256-gelu": dict(BASE, num_hidden_layers=1),
    "L4-H64-F256-gelu": dict(BASE, num_hidden_layers=4),
    "L2-H128-F512-gelu": dict(BASE, hidden_size=128, intermediate_size=512),
    "L2-H64-F1024-gelu": dict(BASE, intermediate_size=1024),
    "L2-H64-F256-relu": dict(BASE, hidden_act="relu"),
}
QUICK = dict(steps=12, save_at=(0, 2, 4, 6, 9, 12), batch=8, seq=32, ft_train={"sst2": 128, "qnli": 128},
             ft_epochs={"sst2": 1, "qnli": 1}, seeds=(0, 1, 2), rank_n=16, rank_len=32, dev_limit=160,
             configs={k: v for k, v in CONFIGS.items() if k in ("base-L2-H64-F256-gelu", "L1-H64-F256-gelu",
                                                                 "L2-H64-F256-relu")})
TASK_LABEL = {"sst2": "SST-2", "qnli": "QNLI", "mrpc": "MRPC", "rte": "RTE", "cola": "CoLA"}
TASK_EVAL = {"sst2": "the 872-sentence GLUE dev set (shipped)",
             "qnli": "1,463 pairs held out (seeded) of the labelled GLUE dev set, the only labelled QNLI split in "
                     "../shared/data/glue; training pairs come from the other 4,000",
             "mrpc": "the 1,725-pair MSR paraphrase test file", "rte": "the 277-pair GLUE dev set",
             "cola": "1,301 held-out sentences of a re-split of the official train split"}


class SaveAt(transformers.TrainerCallback):
    """Save a checkpoint at exactly these global steps (the Trainer's own saving, any step list)."""

    def __init__(self, steps):
        self.steps = {int(s) for s in steps}

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            control.should_save = True
        return control


class BertForMaskedLM(transformers.BertForMaskedLM):
    """BERT masked LM whose training loss projects only the masked positions onto the vocabulary (same loss and
    gradients as the stock model, without the (N, L, 30522) logits that dominate CPU time). Saved checkpoints
    are ordinary ``BertForMaskedLM`` ones (same class name, same weights)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if labels is None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, **kwargs)
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        sel = labels != -100
        logits = self.cls(h[sel])
        loss = F.cross_entropy(logits, labels[sel]) if bool(sel.any()) else h.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)


class BertMeanPoolClassifier(transformers.BertForSequenceClassification):
    """``BertForSequenceClassification`` that classifies the masked mean of the last hidden states instead of the
    tanh pooler over [CLS]. A masked-LM checkpoint has no trained pooler, and in a tiny, briefly pretrained
    post-LN BERT the [CLS] state is mostly its own constant embedding: with [CLS] pooling fine-tuning sat on the
    majority-class plateau (train loss 0.69 throughout); the mean over the tokens lets it learn from the words."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        m = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1).to(h.dtype)
        logits = self.classifier(self.dropout((h * m).sum(1) / m.sum(1).clamp_min(1.0)))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


# ------------------------------------------------------------------------------------------------- data
def pretrain_blocks(tok, seq: int) -> list[dict]:
    """WikiText-2 raw test lines 879-2891 (disjoint from the rank batch's lines 1-878), packed into blocks."""
    text = gzip.decompress((DATA_DIR / "wikitext2_test_rest.txt.gz").read_bytes()).decode("utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    ids = [i for piece in tok(lines, add_special_tokens=False)["input_ids"] for i in piece]
    w = seq - 2
    return [{"input_ids": torch.tensor([tok.cls_token_id, *ids[k:k + w], tok.sep_token_id])}
            for k in range(0, len(ids) - w + 1, w)]


def _tsv(path: Path, header: bool = True) -> list[list[str]]:
    raw = gzip.decompress(path.read_bytes()).decode("utf-8") if path.suffix == ".gz" else path.read_text("utf-8-sig")
    return [r.split("\t") for r in raw.splitlines()[1 if header else 0:] if r.strip()]


GLUE_DIR = Path(os.environ.get("SWAPLM_GLUE", Path(__file__).resolve().parents[2].parent / "shared" / "data" / "glue"))


def _split(rows, n_eval: int, seed: int = 0):
    """A seeded (train, eval) split of one labelled file (for tasks whose shared copy has a single split)."""
    idx = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in idx[n_eval:]], [rows[i] for i in sorted(idx[:n_eval])]


def _glue(*parts) -> Path:
    path = GLUE_DIR.joinpath(*parts)
    if not path.is_file():
        raise SystemExit(f"{path} not found: the second task reads ../shared/data/glue (set SWAPLM_GLUE to its folder)")
    return path


def task_data(task: str, plan: Plan):
    """(train rows, eval rows): rows are (text_a, text_b or None, label 0/1)."""
    if task == "sst2":  # shipped: 2,000 seeded rows of the GLUE train split; the whole 872-sentence dev set
        train = [(r[0].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "sst2_train_subset.tsv")]
        dev = [(r[0].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "sst2_sample.tsv")]
    elif task == "cola":  # GLUE format, no header: source, label, original mark, sentence
        train = [(r[3].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "cola_train_subset.tsv", False)]
        dev = [(r[3].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "cola_val_resplit.tsv", False)]
    elif task == "qnli":  # only the labelled GLUE dev (5,463 pairs) is shared: a seeded split, 1,463 held out
        rows = [(r[1], r[2], int(r[3] != "entailment")) for r in _tsv(_glue("QNLI", "dev.tsv"))]
        train, dev = _split(rows, 1463)
    elif task == "mrpc":  # MSR paraphrase train (4,076) / test (1,725); label 1 = paraphrase
        read = lambda f: [(r[3], r[4], int(r[0])) for r in _tsv(_glue("MRPC", f)) if len(r) == 5]
        train, dev = read("msr_paraphrase_train.txt"), read("msr_paraphrase_test.txt")
    elif task == "rte":  # GLUE RTE train (2,490) / dev (277)
        read = lambda f: [(r[1], r[2], int(r[3] != "entailment")) for r in _tsv(_glue("RTE", f))]
        train, dev = read("train.tsv"), read("dev.tsv")
    else:
        raise SystemExit(f"unknown task {task!r}")
    return train, dev[: plan.dev_limit] if plan.dev_limit else dev


def encode(tok, rows, max_len):
    out = []
    for a, b, y in rows:
        enc = tok(a, b, truncation=True, max_length=max_len)
        out.append({**{k: torch.tensor(v) for k, v in enc.items()}, "labels": torch.tensor(y)})
    return out


# ------------------------------------------------------------------------------------------------- training
def targs(out: Path, **kw) -> transformers.TrainingArguments:
    return transformers.TrainingArguments(output_dir=str(out), report_to="none", use_cpu=True, disable_tqdm=True,
                                          dataloader_num_workers=0, save_only_model=True, **kw)


def quiet(trainer):
    """The Trainer without its stdout printer (``disable_tqdm`` prints every log dict); logs stay in
    ``state.log_history``."""
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    return trainer


def pretrain(name: str, overrides: dict, plan: Plan, work: Path, *, callback: bool) -> dict:
    """Pretrain one configuration; (a) saves at plan.save_at with the callback on. Returns info (reused when an
    earlier invocation finished the same configuration with the same plan)."""
    from swaplm.integrations import SwapCallback

    out = work / "pretrain" / name
    done = out / "done.json"
    plan_key = [plan.steps, list(plan.save_at) if callback else None, plan.batch, plan.seq, plan.lr, overrides,
                plan.rank_n, plan.rank_len]
    if done.is_file():
        info = json.loads(done.read_text())
        if info.get("plan_key") == plan_key:
            return {**info, "reused": True}
    if out.exists():
        shutil.rmtree(out)
    tok = bert_tokenizer()
    data = pretrain_blocks(tok, plan.seq)
    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=len(tok), max_position_embeddings=128,
                                     **overrides)
    model = BertForMaskedLM(config)
    args = targs(out, max_steps=plan.steps, per_device_train_batch_size=plan.batch, learning_rate=plan.lr,
                 warmup_steps=max(1, plan.steps // 16), weight_decay=0.01, seed=0, data_seed=0,
                 logging_steps=max(1, plan.steps // 20), save_strategy="no")
    collator = transformers.DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)
    trainer = quiet(transformers.Trainer(model=model, args=args, train_dataset=data, data_collator=collator,
                                         processing_class=tok,
                                         callbacks=[SaveAt([s for s in plan.save_at if s > 0])] if callback else None))
    cb = None
    if callback:
        cb = SwapCallback(tokenizer=tok, n=plan.rank_n, max_length=plan.rank_len, proxies=PROXIES,
                          initial=0 in plan.save_at)
        cb.attach(trainer)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    if not callback:
        trainer.save_model(str(out / "final"))
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    info = {"name": name, "config": overrides, "plan_key": plan_key, "seconds": seconds, "steps": plan.steps,
            "tokens": plan.steps * plan.batch * plan.seq, "blocks": len(data),
            "params": sum(p.numel() for p in model.bert.parameters()),
            "final_train_loss": losses[-1][1] if losses else None, "train_loss": losses,
            "callback_seconds": sum(r["seconds"] for r in cb.history) if cb else 0.0,
            "callback_rows": len(cb.history) if cb else 0,
            "callback": [{"step": r["step"], "scores": r["scores"], "seconds": r["seconds"]} for r in cb.history]
            if cb else [],
            "dir": str(out if callback else out / "final")}
    done.write_text(json.dumps(info))
    return info


def _mcc(y, yhat) -> float:
    tp, tn = float(((yhat == 1) & (y == 1)).sum()), float(((yhat == 0) & (y == 0)).sum())
    fp, fn = float(((yhat == 1) & (y == 0)).sum()), float(((yhat == 0) & (y == 1)).sum())
    den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / den if den > 0 else 0.0


def finetune(ckpt: str, task: str, seed: int, plan: Plan, work: Path, cache: dict) -> dict:
    """Fine-tune ``ckpt`` on ``task`` with ``seed`` (every weight trained, mean-pooled head, see
    :class:`BertMeanPoolClassifier`); accuracy, F1 and MCC on the eval set and the measured seconds."""
    from swaplm.rank.loading import content_digest

    n_train, epochs = plan.ft_train[task], plan.ft_epochs[task]
    key = json.dumps([content_digest(Path(ckpt))[:16], task, seed, n_train, epochs, plan.ft_lr,
                      plan.ft_batch, plan.ft_len, plan.dev_limit, "meanpool"])
    if key in cache:
        return cache[key]
    tok = bert_tokenizer()
    train_rows, dev_rows = task_data(task, plan)
    train_rows = train_rows[:n_train]
    train, dev = encode(tok, train_rows, plan.ft_len), encode(tok, dev_rows, plan.ft_len)
    transformers.set_seed(seed)
    model = BertMeanPoolClassifier.from_pretrained(ckpt, num_labels=2)
    tmp = work / "ft_tmp"
    steps = math.ceil(len(train) / plan.ft_batch) * epochs
    args = targs(tmp, num_train_epochs=epochs, per_device_train_batch_size=plan.ft_batch,
                 per_device_eval_batch_size=128, learning_rate=plan.ft_lr, weight_decay=0.01,
                 warmup_steps=max(1, steps // 10), seed=seed, data_seed=seed,
                 save_strategy="no", eval_strategy="no", logging_steps=max(1, steps // 4))
    trainer = quiet(transformers.Trainer(model=model, args=args, train_dataset=train,
                                         data_collator=transformers.DataCollatorWithPadding(tok)))
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = trainer.predict(dev)
    eval_s = time.perf_counter() - t1
    yhat = np.asarray(pred.predictions).argmax(-1)
    y = np.array([r[2] for r in dev_rows])
    tp = int(((yhat == 1) & (y == 1)).sum())
    f1 = 2 * tp / max(1, int((yhat == 1).sum()) + int((y == 1).sum()))
    row = {"ckpt": ckpt, "task": task, "seed": seed, "accuracy": float((yhat == y).mean()), "f1": f1,
           "mcc": _mcc(y, yhat), "predicted_1": float(yhat.mean()), "majority": float(max(y.mean(), 1 - y.mean())),
           "train_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h],
           "train_seconds": train_s, "eval_seconds": eval_s, "train_examples": len(train) * epochs,
           "throughput": len(train) * epochs / train_s}
    cache[key] = row
    with (work / "finetune.jsonl").open("a") as f:
        f.write(json.dumps({"key": key, **row}) + "\n")
    return row


def run_rank(models: list[str], truth: dict[str, float] | None, out_md: Path | None, plan: Plan, work: Path,
             label: str) -> tuple[dict, float]:
    """``swaplm rank`` as a user runs it (a subprocess), with ``--truth``; -> (its --json output, wall seconds)."""
    cmd = [sys.executable, "-m", "swaplm", "rank", *models, "--json", "-n", str(plan.rank_n), "--max-length",
           str(plan.rank_len), "--device", "cpu", "--threads", "2"]
    if truth is not None:
        csv_path = work / f"truth_{label}.csv"
        csv_path.write_text("model,score\n" + "".join(f"{m},{v}\n" for m, v in truth.items()))
        cmd += ["--truth", str(csv_path)]
    if out_md is not None:
        cmd += ["--out", str(out_md)]
    env = dict(os.environ, SWAPLM_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"swaplm rank failed ({label}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout), wall


# ------------------------------------------------------------------------------------------------- analysis
def paired_diff(a_vals, b_vals, truth, hib_a, hib_b, n_boot=1000, seed=0):
    """ρ(a) − ρ(b) on the same checkpoints, with a paired 95 % bootstrap interval (checkpoints resampled)."""
    from swaplm import stats

    sa, t, _, _ = stats.worst_ranked(a_vals, truth, hib_a)
    sb, _, _, _ = stats.worst_ranked(b_vals, truth, hib_b)
    point = stats.spearman(sa, t) - stats.spearman(sb, t)
    idx = np.random.default_rng(seed).integers(0, len(t), size=(n_boot, len(t)))
    d = stats._row_spearman(sa[idx], t[idx]) - stats._row_spearman(sb[idx], t[idx])
    d = d[np.isfinite(d)]
    lo, hi = (np.percentile(d, [2.5, 97.5]) if d.size > 1 else (math.nan, math.nan))
    return float(point), [float(lo), float(hi)]


def mean_std(xs):
    return (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (minutes), not for the report")
    ap.add_argument("--out", default="reports/checkpoint_ranking.md")
    ap.add_argument("--work", default=None, help="working folder (default runs/checkpoints[-quick])")
    ap.add_argument("--fresh", action="store_true", help="delete the working folder first (no resumed stages)")
    ns = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    plan = Plan(**QUICK) if ns.quick else Plan()
    if plan.steps not in plan.save_at or plan.tasks[0] != "sst2":
        raise SystemExit("Plan: save_at must include the last step and the first task must be sst2")
    work = Path(ns.work or ("runs/checkpoints-quick" if ns.quick else "runs/checkpoints"))
    if ns.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    resumed: list[str] = []
    cpu_now = lambda: sum(os.times()[:4])  # noqa: E731 - user + system, this process and its finished children
    c0 = [cpu_now()]

    def stage(name, t0):
        stages[name] = time.perf_counter() - t0
        cpu[name], c0[0] = cpu_now() - c0[0], cpu_now()
        print(f"[{name}] {stages[name]:.1f} s wall, {cpu[name]:.1f} s CPU "
              f"(elapsed {(time.perf_counter() - t_all) / 60:.1f} min)", flush=True)

    # (a) + (b) pretraining
    t0 = time.perf_counter()
    base_name = next(iter(plan.configs))
    info_a = pretrain(base_name, plan.configs[base_name], plan, work, callback=True)
    stage("pretrain (a)", t0)
    t0 = time.perf_counter()
    info_b = {base_name: {**info_a, "dir": str(Path(info_a["dir"]) / f"checkpoint-{plan.steps}")}}
    for name, over in plan.configs.items():
        if name != base_name:
            info_b[name] = pretrain(name, over, plan, work, callback=False)
    stage("pretrain (b)", t0)
    reused = [k for k, v in [(base_name, info_a), *info_b.items()] if v.get("reused")]
    if reused:
        resumed.append("pretraining of " + ", ".join(dict.fromkeys(reused)))  # done.json of an earlier invocation
    ckpts_a = sorted((p for p in Path(info_a["dir"]).iterdir() if p.name.startswith("checkpoint-")),
                     key=lambda p: int(p.name.split("-")[1]))
    a_names = [str(Path(info_a["dir"]) / p.name) for p in ckpts_a]
    b_names = [info_b[k]["dir"] for k in plan.configs]

    # rank first (what a user would do before fine-tuning), timed per checkpoint without a store
    t0 = time.perf_counter()
    shutil.rmtree(work / "cache", ignore_errors=True)
    warm = warmup_checkpoint(work)
    rank_all, wall_all = run_rank([warm, info_a["dir"], *b_names[1:]], None, None, plan, work, "timing")
    stage("rank (a)+(b), no store", t0)
    timed = [r for r in rank_all["ranking"] if r["model"] != warm]
    rank_s = {r["model"]: r["seconds"] for r in timed}
    scores = {r["model"]: r["scores"] for r in timed}
    rank_cost = {"wall": wall_all, "n": len(timed), "checkpoints": sum(rank_s.values()),
                 "warmup": next(r["seconds"] for r in rank_all["ranking"] if r["model"] == warm)}

    # fine-tuning
    cache = {}
    if (work / "finetune.jsonl").is_file():
        for line in (work / "finetune.jsonl").read_text().splitlines():
            row = json.loads(line)
            cache[row.pop("key")] = row
    n_cached = len(cache)
    t0 = time.perf_counter()
    ft: dict[tuple, list[dict]] = {}
    todo = list(dict.fromkeys(a_names + b_names))
    for i, ck in enumerate(todo):
        for task in plan.tasks:
            ft[(ck, task)] = [finetune(ck, task, s, plan, work, cache) for s in plan.seeds]
        print(f"  fine-tuned {i + 1}/{len(todo)} {ck}: " + ", ".join(
            f"{TASK_LABEL[t]} {statistics.fmean(r['accuracy'] for r in ft[(ck, t)]):.3f}" for t in plan.tasks)
            + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    stage("fine-tune", t0)
    n_used = sum(len(v) for v in ft.values())
    if n_cached:
        resumed.append(f"fine-tuning ({min(n_cached, n_used)} runs from {work / 'finetune.jsonl'})")
    # the control that explains the earlier null result: the stock [CLS]-pooler head on (a)'s final checkpoint
    t0 = time.perf_counter()
    control = cls_pooler_control(b_names[0], plan, work)
    stage("control: [CLS]-pooler head", t0)

    # rank with --truth (the store answers: same checkpoints, same batch)
    t0 = time.perf_counter()
    corr, truths, sub = {}, {}, {}
    for group, names in (("a", a_names), ("b", b_names)):
        for task in plan.tasks:
            truth = {m: statistics.fmean(r["accuracy"] for r in ft[(m, task)]) for m in names}
            arg = [info_a["dir"]] if group == "a" else names
            md = out.with_name(f"{out.stem}_{group}_{task}.md")
            res, _ = run_rank(arg, truth, md, plan, work, f"{group}_{task}")
            corr[(group, task)], truths[(group, task)], sub[(group, task)] = res["correlations"], truth, md
    stage("rank with --truth", t0)
    # the third table: other families and sizes, random inits (no fine-tuning)
    t0 = time.perf_counter()
    rnd = work / "random"
    if not (rnd / "minilm-random" / "config.json").is_file():
        from swaplm import models as mdl

        transformers.set_seed(0)
        net, _, _ = mdl.load("builtin:minilm", init="random", seed=0)
        net.save_pretrained(rnd / "minilm-random")
    third_models = ["builtin:minilm", str(rnd / "minilm-random"), a_names[0], *b_names]
    third, wall3 = run_rank(third_models, None, out.with_name(f"{out.stem}_families.md"), plan, work, "families")
    stage("rank families (third table)", t0)
    total = time.perf_counter() - t_all

    write_report(out, plan=plan, stages=stages, cpu=cpu, total=total, resumed=resumed, info_a=info_a, info_b=info_b,
                 a_names=a_names, b_names=b_names, scores=scores, rank_s=rank_s, ft=ft, corr=corr, truths=truths,
                 sub=sub, third=third, walls={"families": wall3}, rank_cost=rank_cost, control=control,
                 higher={p: p not in ("mlm_loss", "alpha_req") for p in PROXIES}, quick=ns.quick, argv=argv)
    print(f"report written to {out} ({total / 60:.1f} min)")


def warmup_checkpoint(work: Path) -> str:
    """A throwaway random BERT masked LM (seed 12345) ranked first in the timing command, so that no measured
    checkpoint carries the command's one-time warm-up (lazy imports, first forward); reported separately."""
    path = work / "warmup" / "bert-warmup"
    if not (path / "config.json").is_file():
        tok = bert_tokenizer()
        transformers.set_seed(12345)
        model = transformers.BertForMaskedLM(transformers.BertConfig(vocab_size=len(tok), max_position_embeddings=128,
                                                                     **BASE))
        model.save_pretrained(path)
        tok.save_pretrained(path)
    return str(path)


def cls_pooler_control(ckpt: str, plan: Plan, work: Path) -> list[dict]:
    """SST-2 fine-tuning of one checkpoint, seed 0, with the stock ``AutoModelForSequenceClassification`` head
    ([CLS] -> randomly initialised tanh pooler -> classifier), once with the earlier run's budget (1,000 examples,
    2 epochs) and once with this run's; the same Trainer settings otherwise."""
    rows = []
    n_new, ep_new = plan.ft_train["sst2"], plan.ft_epochs["sst2"]
    for n_train, epochs in ((min(1000, n_new), 2 if ep_new > 1 else 1), (n_new, ep_new)):
        tok = bert_tokenizer()
        train_rows, dev_rows = task_data("sst2", plan)
        train, dev = encode(tok, train_rows[:n_train], plan.ft_len), encode(tok, dev_rows, plan.ft_len)
        transformers.set_seed(0)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(ckpt, num_labels=2)
        steps = math.ceil(len(train) / plan.ft_batch) * epochs
        args = targs(work / "ft_tmp", num_train_epochs=epochs, per_device_train_batch_size=plan.ft_batch,
                     per_device_eval_batch_size=128, learning_rate=plan.ft_lr, weight_decay=0.01,
                     warmup_steps=max(1, steps // 10), seed=0, data_seed=0, save_strategy="no", eval_strategy="no",
                     logging_steps=max(1, steps // 4))
        trainer = quiet(transformers.Trainer(model=model, args=args, train_dataset=train,
                                             data_collator=transformers.DataCollatorWithPadding(tok)))
        t0 = time.perf_counter()
        trainer.train()
        yhat = np.asarray(trainer.predict(dev).predictions).argmax(-1)
        y = np.array([r[2] for r in dev_rows])
        rows.append({"train": len(train), "epochs": epochs, "accuracy": float((yhat == y).mean()),
                     "predicted_1": float(yhat.mean()), "seconds": time.perf_counter() - t0,
                     "train_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h]})
    return rows


# ------------------------------------------------------------------------------------------------- report
def _f(x, d=3):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"


def _ci(v, c):
    return _f(v) if not c or any(x is None for x in c) else f"{_f(v)} [{_f(c[0])}, {_f(c[1])}]"


def _excludes_zero(ci) -> int:
    """+1 / −1 when a 95 % interval lies above / below zero, else 0."""
    if not ci or any(x is None or not math.isfinite(x) for x in ci):
        return 0
    return 1 if ci[0] > 0 else -1 if ci[1] < 0 else 0


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "swaplm/experiments"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
        last = subprocess.run(["git", "log", "-1", "--format=%h", "--", "swaplm/experiments"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
        return (f"{head or 'unknown'} (last change to swaplm/experiments: {last or 'unknown'})"
                + (", experiment code modified since, not committed" if dirty else ""))
    except OSError:
        return "unknown"


def write_report(out: Path, *, plan, stages, cpu, total, resumed, info_a, info_b, a_names, b_names, scores, rank_s, ft,
                 corr, truths, sub, third, walls, rank_cost, control, higher, quick, argv):
    from swaplm import stats
    from swaplm.report import render_table, versions

    tasks = list(plan.tasks)
    tl = lambda t: TASK_LABEL.get(t, t)  # noqa: E731
    lines = ["# Ranking pretraining checkpoints without labels: SWAP vs held-out MLM loss (issue #11)", ""]
    if quick:
        lines += ["**QUICK SMOKE RUN: tiny budget, numbers mean nothing.**", ""]
    cmd = "python -m swaplm.experiments.checkpoints" + (" " + " ".join(argv) if argv else
                                                         (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""))
    lines += [f"Command: `{cmd}`, finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, code at git "
              f"{_git_commit()}. Every figure below was written by this code from its own measurements.", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (run under "
              f"`nice`, `OMP_WAIT_POLICY=PASSIVE`; other processes competed for the cores, so every wall time is "
              f"an upper bound), torch threads {torch.get_num_threads()}; "
              f"{', '.join(f'{k} {v}' for k, v in versions().items())}.", ""]
    placeholder = len(lines)  # the summary goes here once the verdicts are known
    # setup
    tok_budget = plan.steps * plan.batch * plan.seq
    lines += ["## Setup", "",
              f"* Pretraining (HF `Trainer`, masked LM 15 %, shipped BERT uncased vocab, post-LN BERT): {plan.steps} "
              f"steps × {plan.batch} sequences × {plan.seq} tokens = {tok_budget:,} tokens per model "
              f"(≈ {tok_budget / (info_a['blocks'] * plan.seq):.1f} passes over the text), AdamW lr {plan.lr}, "
              f"linear decay after {max(1, plan.steps // 16)} warm-up steps, seed 0, on WikiText-2 raw test lines "
              f"879–2891 ({info_a['blocks']} blocks; the rank batch comes from lines 1–878, so it is held out).",
              f"* (a) `{next(iter(plan.configs))}`, `SwapCallback` on: {len(a_names)} checkpoints at steps "
              f"{', '.join(str(s) for s in plan.save_at)} (denser early, where the weights move most).",
              f"* (b) {len(plan.configs)} configurations (depth, width, FF size, activation) with the same token "
              "budget and data order (the first is (a)'s final checkpoint).",
              f"* Fine-tuning (HF `Trainer`, every weight trained): `BertMeanPoolClassifier` = "
              "`BertForSequenceClassification` whose classifier reads the masked mean of the last hidden states "
              f"(see the control below for why not the [CLS] pooler); lr {plan.ft_lr} (AdamW, 10 % warm-up, linear "
              f"decay, weight decay 0.01), batch {plan.ft_batch}, at most {plan.ft_len} tokens, seeds "
              f"{', '.join(map(str, plan.seeds))} (the seed sets the head's init, dropout and data order).",
              *[f"  * {tl(t)}: {plan.ft_train[t]:,} fixed training examples, {plan.ft_epochs[t]} epoch(s); evaluated "
                f"on {TASK_EVAL.get(t, 'its eval set')}" + (f" (first {plan.dev_limit} only)" if plan.dev_limit
                                                             else "") + "." for t in tasks],
              f"* Ranking: `swaplm rank` (a subprocess, as a user runs it) on one batch of N = {plan.rank_n} blocks × "
              f"{plan.rank_len} tokens (shipped WikiText-2 sample), eval mode, seed 0; proxies "
              + ", ".join(f"`{p}` ({'↑' if higher[p] else '↓'})" for p in PROXIES) + ".", ""]
    # stage times
    rows = [[k, f"{v:.1f}", f"{v / 60:.2f}", f"{cpu[k]:.1f}"] for k, v in stages.items()] + [
        ["**total**", f"{total:.1f}", f"{total / 60:.2f}", f"{sum(cpu.values()):.1f}"]]
    lines += ["## Stage times (measured in this run)", "",
              render_table(rows, ["stage", "wall s", "wall min", "CPU s (all threads, with subprocesses)"]), "",
              f"The whole experiment took **{total / 60:.1f} min** of wall time (the issue's limit: 60 min). CPU "
              "seconds count both cores, so a stage that had the machine to itself shows up to 2× its wall time; "
              "a CPU time well under the wall time means other jobs held the cores.", ""]
    if resumed:
        lines += [f"Resumed from an earlier invocation of the same command: {'; '.join(resumed)}; their own "
                  "measured times are used in the tables below, and the stage times above do not include them.", ""]
    per_model = ", ".join(f"`{k}` {v['seconds']:.0f} s (final train loss {_f(v['final_train_loss'], 2)})"
                          for k, v in info_b.items())
    lines += [f"Pretraining per model: {per_model}. (a)'s time includes `SwapCallback` scoring: "
              f"{info_a['callback_seconds']:.1f} s over {info_a['callback_rows']} checkpoints.", ""]

    # fine-tuning sanity and the control
    all_ck = list(dict.fromkeys(a_names + b_names))
    lines += ["## Does fine-tuning learn?", ""]
    rows = []
    for t in tasks:
        accs = [statistics.fmean(r["accuracy"] for r in ft[(c, t)]) for c in all_ck]
        mccs = [statistics.fmean(r["mcc"] for r in ft[(c, t)]) for c in all_ck]
        sd = statistics.fmean(mean_std([r["accuracy"] for r in ft[(c, t)]])[1] for c in all_ck)
        maj = ft[(all_ck[0], t)][0]["majority"]
        rows.append([tl(t), f"{maj:.3f}", f"{min(accs):.3f}", f"{statistics.fmean(accs):.3f}", f"{max(accs):.3f}",
                     f"{sd:.3f}", f"{statistics.fmean(mccs):.3f}"])
    lines += [render_table(rows, ["task", "majority class", "min acc", "mean acc", "max acc", "mean seed std",
                                  "mean MCC"]), "",
              "Accuracy of every fine-tuned model (mean over seeds) against always predicting the majority class of "
              "the evaluation set. `mean seed std`: the spread between seeds of one model, the noise every ranking "
              "below has to beat.", ""]
    rows = [[f"{c['train']:,} × {c['epochs']}", f"{c['accuracy']:.3f}", f"{c['predicted_1']:.2f}",
             " → ".join(f"{x:.3f}" for x in c["train_loss"]), f"{c['seconds']:.1f}"] for c in control]
    mean_a = statistics.fmean(r["accuracy"] for r in ft[(b_names[0], "sst2")])
    lines += [f"Control, the cause of the earlier null result: (a)'s final checkpoint fine-tuned on SST-2 (seed 0) with "
              "the stock `AutoModelForSequenceClassification` head ([CLS] → randomly initialised tanh pooler → "
              "classifier; a masked-LM checkpoint has no trained pooler), otherwise the same settings. The first "
              "row is the earlier run's budget:", "",
              render_table(rows, ["examples × epochs", "SST-2 dev acc", "share predicted positive",
                                  "train loss (logged)", "seconds"]), "",
              f"With the mean-pooled head the same checkpoint reaches {mean_a:.3f} (mean of "
              f"{len(plan.seeds)} seeds). A train loss that stays near ln 2 = 0.693 means the classifier never left "
              "the majority-class plateau; that is what the earlier run measured for every checkpoint.", ""]

    def acc(ck, task):
        m, s = mean_std([r["accuracy"] for r in ft[(ck, task)]])
        return f"{m:.3f} ± {s:.3f}"

    # the whole timing command (process start, imports, batch, warm-up model, every checkpoint) spread evenly
    share = rank_cost["wall"] / rank_cost["n"]

    def cost(ck):
        rs = ft[(ck, "sst2")]
        ft_s = statistics.fmean(r["train_seconds"] + r["eval_seconds"] for r in rs)
        thr = statistics.fmean(r["throughput"] for r in rs)
        full = SST2_FULL_TRAIN / thr
        return ft_s, full, rank_s[ck] / full, share / full

    cols = ["checkpoint"] + [f"{p} {'↑' if higher[p] else '↓'}" for p in PROXIES] + \
        [f"{tl(t)} acc" for t in tasks] + ["rank s", "fine-tune s (SST-2, 1 seed)", "1 epoch full SST-2 s (extrap.)",
                                           "rank / full epoch", "command share / full epoch"]
    ratios, shares = [], []

    def table(names, label_of):
        rows = []
        for ck in names:
            ft_s, full, ratio, sh = cost(ck)
            ratios.append(ratio)
            shares.append(sh)
            rows.append([label_of(ck)] + [_f(scores[ck].get(p), 4) if p != "params" else
                                          f"{int(scores[ck]['params']):,}" for p in PROXIES]
                        + [acc(ck, t) for t in tasks] + [f"{rank_s[ck]:.2f}", f"{ft_s:.1f}", f"{full:.0f}",
                                                         f"{100 * ratio:.2f} %", f"{100 * sh:.2f} %"])
        return render_table(rows, cols)

    lines += ["## (a) Checkpoints of one pretraining run", "",
              "Accuracy: mean ± std over the seeds. `rank s`: load + every proxy for that checkpoint, as "
              "`swaplm rank` measured it (one command for (a) and (b), no store). `fine-tune s`: one SST-2 "
              "fine-tuning run (train + dev evaluation), mean over seeds; the full-epoch time is 67,349 sentences "
              "divided by the measured fine-tuning throughput (training examples per second). `command share`: the "
              f"whole ranking command's wall time ({rank_cost['wall']:.1f} s: process start, imports, batch, "
              f"warm-up, every checkpoint) divided by its {rank_cost['n']} checkpoints ({share:.2f} s each), over the "
              "same full epoch.", "",
              table(a_names, lambda c: Path(c).name), ""]
    lines += ["## (b) Configurations with the same token budget", "", table(b_names, lambda c: Path(c).parent.name
                                                                           if Path(c).name == "final" else
                                                                           next(iter(plan.configs))), ""]
    fixed = rank_cost["wall"] - rank_cost["checkpoints"] - rank_cost["warmup"]
    lines += [f"Ranking cost per checkpoint: at most **{100 * max(ratios):.2f} %** (median "
              f"{100 * statistics.median(ratios):.2f} %) of one extrapolated epoch of fine-tuning on the full SST-2 "
              f"train set (**{'under' if max(ratios) < 0.02 else 'NOT under'} the 2 % target**); with the whole "
              f"command spread over its checkpoints, at most **{100 * max(shares):.2f} %** (median "
              f"{100 * statistics.median(shares):.2f} %; {'under' if max(shares) < 0.02 else 'NOT under'} 2 %). The "
              f"command took {rank_cost['wall']:.1f} s wall for {rank_cost['n']} checkpoints: "
              f"{rank_cost['checkpoints']:.1f} s in the checkpoints themselves, {rank_cost['warmup']:.1f} s for the "
              f"throwaway warm-up model ranked first (the first model of a process pays for lazy imports and the "
              f"first forward), {fixed:.1f} s process start, imports and the batch.", ""]
    # correlations
    lines += ["## Correlation of every proxy with fine-tuned accuracy", "",
              "Spearman ρ and Kendall τ of each proxy with the mean accuracy over seeds, 95 % percentile bootstrap "
              "intervals (1000 resamples of the checkpoints, seed 0); lower-is-better proxies are negated, so "
              "positive = ranks like accuracy. From `swaplm rank --truth` (its own reports: "
              + ", ".join(f"[`{p.name}`]({p.name})" for p in sub.values()) + "). `seed split-half` is how well the "
              "accuracy ranks itself: ρ between seed 0's accuracy and the mean of the other seeds (an upper bound on "
              "what any proxy can show with this much fine-tuning noise).", ""]
    verdicts = []
    for group, names, glabel in (("a", a_names, "(a) checkpoints of one run"), ("b", b_names, "(b) configurations")):
        for task in tasks:
            c = corr[(group, task)]
            rows = [[p, c[p]["n"], _ci(c[p]["spearman"], c[p]["spearman_ci"]), _ci(c[p]["kendall"], c[p]["kendall_ci"])]
                    for p in PROXIES]
            truth = truths[(group, task)]
            extra = []
            step_rho = None
            if group == "a":
                steps = [int(Path(n).name.split("-")[1]) for n in names]
                cc = stats.correlations(steps, [truth[n] for n in names], True, intervals=True)
                step_rho = (cc["spearman"], cc["spearman_ci"])
                extra.append(["(baseline) training step", cc["n"], _ci(cc["spearman"], cc["spearman_ci"]),
                              _ci(cc["kendall"], cc["kendall_ci"])])
            if len(plan.seeds) > 1:
                s0 = [ft[(n, task)][0]["accuracy"] for n in names]
                rest = [statistics.fmean(r["accuracy"] for r in ft[(n, task)][1:]) for n in names]
                cc = stats.correlations(s0, rest, True, intervals=True)
                extra.append(["(noise ceiling) seed split-half", cc["n"], _ci(cc["spearman"], cc["spearman_ci"]),
                              _ci(cc["kendall"], cc["kendall_ci"])])
            lines += [f"### {glabel}, {tl(task)}", "", render_table(rows + extra, ["proxy", "n", "Spearman ρ [95 % CI]",
                                                                                   "Kendall τ [95 % CI]"]), ""]
            d, dci = paired_diff([scores[n]["swap"] for n in names], [scores[n]["mlm_loss"] for n in names],
                                 [truth[n] for n in names], True, False)
            rs, rm = (math.nan if v is None else v for v in (c["swap"]["spearman"], c["mlm_loss"]["spearman"]))
            if all(math.isfinite(x) for x in dci) and dci[0] > 0:
                word = "SWAP ranked better than held-out MLM loss"
            elif all(math.isfinite(x) for x in dci) and dci[1] < 0:
                word = "SWAP ranked WORSE than held-out MLM loss"
            elif not (math.isfinite(rs) and math.isfinite(rm)):
                word = "undefined (a constant proxy or constant accuracies)"
            else:
                word = ("no clear difference: " + ("SWAP's ρ is higher" if rs > rm else "SWAP's ρ is lower"
                                                   if rs < rm else "equal ρ") + ", but the paired interval includes 0")
            finite = {p: c[p]["spearman"] for p in PROXIES if c[p]["spearman"] is not None
                      and math.isfinite(c[p]["spearman"])}
            best = max(finite, key=finite.get) if finite else None
            sig = {p: _excludes_zero(c[p]["spearman_ci"]) for p in PROXIES}
            verdicts.append(dict(group=glabel, task=tl(task), swap=rs, mlm=rm, diff=d, diff_ci=dci, word=word,
                                 best=best, best_rho=finite.get(best), step_rho=step_rho,
                                 pos=[p for p in PROXIES if sig[p] > 0],
                                 neg=[p for p in PROXIES if sig[p] < 0]))
            lines += [f"SWAP − MLM loss: Δρ = {_f(d)} [{_f(dci[0])}, {_f(dci[1])}] (paired bootstrap) → **{word}**. "
                      f"Highest ρ: `{best}` ({_f(finite.get(best))}). Interval above 0: "
                      f"{', '.join(f'`{p}`' for p in verdicts[-1]['pos']) or 'none'}; below 0 (ranks in reverse): "
                      f"{', '.join(f'`{p}`' for p in verdicts[-1]['neg']) or 'none'}.", ""]
    # plots
    png = out.with_name(f"{out.stem}_trajectory.png")
    _trajectory(png, a_names, scores, ft, tasks, info_a)
    png2 = out.with_name(f"{out.stem}_scatter.png")
    _scatter(png2, a_names, b_names, scores, ft, higher)
    lines += [f"![trajectory of (a)]({png.name})", "",
              "Left: each proxy over the pretraining steps of (a), min-max scaled, with the training loss. Right: "
              "fine-tuned accuracy (mean ± std over seeds) of the same checkpoints.", "",
              f"![proxies against SST-2 accuracy]({png2.name})", "",
              "Each proxy against the mean SST-2 accuracy, (a)'s checkpoints (circles, numbered by order) and (b)'s "
              "configurations (squares).", ""]
    # verdict
    lines += ["## Verdict: did SWAP rank the checkpoints better than held-out MLM loss?", ""]
    for v in verdicts:
        lines.append(f"* {v['group']}, {v['task']}: SWAP ρ {_f(v['swap'])}, MLM loss ρ {_f(v['mlm'])}; Δρ "
                     f"{_f(v['diff'])} [{_f(v['diff_ci'][0])}, {_f(v['diff_ci'][1])}] → {v['word']}. Best proxy: "
                     f"`{v['best']}` (ρ {_f(v['best_rho'])}).")
    summary = _plain_summary(verdicts)
    lines += ["", "In plain words:", "", summary, ""]
    lines[placeholder:placeholder] = ["## Summary", "", summary, ""]
    # third table
    rows = [[i + 1, r["model"].replace(str(Path.cwd()) + "/", "")] +
            [(_f(r["scores"][p], 4) if p != "params" else f"{int(r['scores'][p]):,}") if r["scores"][p] is not None
             else "failed" for p in PROXIES] + [f"{r['seconds']:.2f}" if r.get("seconds") else "—"]
            for i, r in enumerate(third["ranking"])]
    lines += ["## Models of different families and sizes (`swaplm rank`, no fine-tuning)", "",
              "The shipped all-MiniLM-L6-v2 (`builtin:minilm`, a 22.7 M-parameter sentence-embedding model without an "
              "MLM head), a random init of its architecture, (a)'s step-0 random init and (b)'s pretrained models, "
              f"ranked by SWAP; wall {walls['families']:.1f} s. `failed` = the proxy does not apply (no masked-LM "
              "head). No fine-tuned accuracy exists for these, so this table shows the command on real checkpoints "
              "of different families, not whether its order is right.", "",
              render_table(rows, ["#", "model"] + [f"{p} {'↑' if higher[p] else '↓'}" for p in PROXIES]
                           + ["rank s"]), ""]
    fails = [(r["model"], r["failed"]) for r in third["ranking"] if r["failed"]]
    lines += [f"- `{m}`: " + "; ".join(f"{p}: {w}" for p, w in f.items()) for m, f in fails]
    lines += ["", "## Caveats", "",
              "* Tiny models, a tiny pretraining corpus (WikiText-2 test, ≈ 0.2 M tokens) and a few thousand "
              "fine-tuning examples: the absolute accuracies say nothing about real BERTs, and pretraining this "
              "short may not help fine-tuning at all (compare step 0 with the later checkpoints in (a)).",
              f"* {len(a_names)} and {len(b_names)} points per correlation: the bootstrap intervals are wide; read "
              "them, not the point estimates, and compare them with the seed split-half ceiling.",
              "* The CPU was shared with other jobs; wall times include that contention.", ""]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out.with_suffix(".json")).write_text(json.dumps({
        "plan": asdict(plan), "stages": stages, "cpu_seconds": cpu, "total_seconds": total, "resumed": resumed,
        "scores": scores, "rank_seconds": rank_s, "rank_cost": rank_cost, "pretrain": info_b, "control": control,
        "finetune": {f"{k[0]}|{k[1]}": v for k, v in ft.items()},
        "correlations": {f"{k[0]}|{k[1]}": v for k, v in corr.items()},
        "verdicts": verdicts, "summary": summary}, indent=1, default=str))


def _plain_summary(verdicts) -> str:
    """Markdown: one headline sentence, one bullet per (group, task), one closing sentence."""
    wins = [v for v in verdicts if v["word"].startswith("SWAP ranked better")]
    losses = [v for v in verdicts if v["word"].startswith("SWAP ranked WORSE")]
    out = [f"SWAP ranked better than held-out MLM loss (paired bootstrap interval of Δρ above zero) in **{len(wins)} "
           f"of {len(verdicts)}** comparisons and worse (interval below zero) in **{len(losses)}**.", ""]
    ok = lambda x: x is not None and math.isfinite(x)  # noqa: E731
    for v in verdicts:
        if ok(v["swap"]) and ok(v["mlm"]):
            who = ("MLM loss ranks better than SWAP" if v["mlm"] > v["swap"] else "SWAP ranks better than MLM loss"
                   if v["swap"] > v["mlm"] else "SWAP and MLM loss tie")
            who += f" (SWAP ρ {_f(v['swap'])}, MLM loss ρ {_f(v['mlm'])}; " + (
                "the difference is outside the noise)" if not v["word"].startswith("no clear") else
                "within the noise: the paired interval includes 0)")
        else:
            who = "SWAP vs MLM loss undefined (constant accuracies or scores)"
        pos = ", ".join(f"`{p}`" for p in v["pos"]) or "no proxy"
        neg = f"; in reverse (interval below 0): {', '.join(f'`{p}`' for p in v['neg'])}" if v["neg"] else ""
        best = (f"; highest ρ: `{v['best']}` {_f(v['best_rho'])}" + (
            " (beats SWAP)" if v["best"] not in ("swap", None) and ok(v["swap"]) and v["best_rho"] > v["swap"] else "")
            if v["best"] else "")
        step = ""
        if v.get("step_rho") is not None and ok(v["step_rho"][0]):
            rho, ci = v["step_rho"]
            trend = {1: "longer pretraining made fine-tuning better", -1: "longer pretraining made fine-tuning "
                     "worse", 0: "no clear trend"}[_excludes_zero(ci)]
            step = (f" Accuracy vs training step: ρ {_ci(rho, ci)} ({trend}; held-out MLM loss falls as training "
                    "goes on, so within one run it can only rank well where pretraining helps the task).")
        out.append(f"* {v['group']}, {v['task']}: {who}. Correlates with an interval above 0: {pos}{neg}{best}.{step}")
    out.append("")
    if not any(v["pos"] for v in verdicts):
        out.append("**Nothing correlates reliably**: no proxy's interval lies above zero in any comparison. ")
    if not wins:
        out.append("This experiment does **not** show that SWAP ranks pretraining checkpoints better than the held-out "
                   "pretraining (MLM) loss.")
    else:
        out.append("SWAP's wins are listed above; with this few points one comparison is weak evidence.")
    beaten = [f"{v['group']}, {v['task']} (`{v['best']}`)" for v in verdicts
              if v["best"] not in (None, "swap") and ok(v["swap"]) and v["best_rho"] > v["swap"]]
    if beaten:
        out.append(f"Another proxy had a higher ρ than SWAP in {len(beaten)} of {len(verdicts)} comparisons: "
                   + "; ".join(beaten) + ".")
    return "\n".join(out).rstrip()


def _trajectory(png: Path, names, scores, ft, tasks, info_a):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(Path(n).name.split("-")[1]) for n in names]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    for p in PROXIES[:-1]:
        v = np.array([scores[n][p] if scores[n][p] is not None else np.nan for n in names], dtype=float)
        span = np.nanmax(v) - np.nanmin(v)
        ax[0].plot(steps, (v - np.nanmin(v)) / span if span > 0 else v * 0, marker="o", ms=3, label=p)
    if info_a.get("train_loss"):
        st, lo = zip(*info_a["train_loss"])
        lo = np.array(lo)
        ax[0].plot(st, (lo - lo.min()) / max(1e-12, lo.max() - lo.min()), ls=":", color="k", label="train loss")
    ax[0].set_xlabel("pretraining step")
    ax[0].set_ylabel("min-max scaled value")
    ax[0].legend(fontsize=7)
    for task in tasks:
        m = [statistics.fmean(r["accuracy"] for r in ft[(n, task)]) for n in names]
        s = [statistics.stdev([r["accuracy"] for r in ft[(n, task)]]) if len(ft[(n, task)]) > 1 else 0 for n in names]
        ax[1].errorbar(steps, m, yerr=s, marker="o", ms=3, capsize=2, label=TASK_LABEL.get(task, task))
    ax[1].set_xlabel("pretraining step")
    ax[1].set_ylabel("fine-tuned accuracy (mean ± std)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _scatter(png: Path, a_names, b_names, scores, ft, higher):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in PROXIES if p != "params"]
    fig, ax = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2))
    for k, p in enumerate(shown):
        for names, marker, label in ((a_names, "o", "(a)"), (b_names[1:], "s", "(b)")):
            x = [scores[n][p] if scores[n][p] is not None else np.nan for n in names]
            y = [statistics.fmean(r["accuracy"] for r in ft[(n, "sst2")]) for n in names]
            ax[k].scatter(x, y, marker=marker, s=18, label=label)
            if marker == "o":
                for i, (xi, yi) in enumerate(zip(x, y)):
                    ax[k].annotate(str(i), (xi, yi), fontsize=6)
        ax[k].set_xlabel(f"{p} ({'higher' if higher[p] else 'lower'} = better)")
        ax[k].set_ylabel("SST-2 acc" if k == 0 else "")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
