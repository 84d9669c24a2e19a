"""Does a label-free score rank pretraining checkpoints like their fine-tuned accuracy?

    nice -n 10 env OMP_WAIT_POLICY=PASSIVE python experiments/checkpoints.py --fresh   # ~35-45 min, 2 cores
    python experiments/checkpoints.py --quick --out /tmp/q/report.md                    # ~3 min smoke run

(``python -m experiments.checkpoints`` from the repository root works too.)

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
import contextlib
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
from swaplm.report import fmt, interval_text, markdown_table

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


#: the repository root (this file lives in its ``experiments/`` folder)
ROOT = Path(__file__).resolve().parents[1]
GLUE_DIR = Path(os.environ.get("SWAPLM_GLUE", ROOT.parent / "shared" / "data" / "glue"))


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
    argv = sys.argv[1:] if argv is None else list(argv)
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
    clock = _Stages()
    run = {"plan": plan, "stages": clock.wall, "cpu": clock.cpu, "resumed": clock.resumed, "quick": ns.quick,
           "argv": argv, "higher": {p: p not in ("mlm_loss", "alpha_req") for p in PROXIES}}
    run.update(_pretrain_all(plan, work, clock))
    run.update(_time_ranking(plan, work, run["info_a"], run["b_names"], clock))
    run["ft"] = _finetune_all(plan, work, run["a_names"], run["b_names"], clock)
    with clock("control: [CLS]-pooler head"):  # why an earlier run found nothing: the stock [CLS]-pooler head
        run["control"] = cls_pooler_control(run["b_names"][0], plan, work)
    with clock("rank with --truth"):  # the store answers: same checkpoints, same batch
        run.update(_rank_with_truth(plan, work, out, run))
    with clock("rank families (third table)"):
        run["third"], run["walls"] = _rank_families(plan, work, out, run["a_names"], run["b_names"])
    run["total"] = clock.elapsed()
    write_report(out, **run)
    print(f"report written to {out} ({run['total'] / 60:.1f} min)")


class _Stages:
    """Wall and CPU seconds per named stage (``with clock(name): ...``), and the stages resumed from an
    earlier invocation."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.resumed: list[str] = []
        self._start = time.perf_counter()
        self._cpu0 = self._cpu_now()

    @staticmethod
    def _cpu_now() -> float:
        return sum(os.times()[:4])  # user + system, this process and its finished children

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.wall[name] = time.perf_counter() - t0
        now = self._cpu_now()
        self.cpu[name], self._cpu0 = now - self._cpu0, now
        print(f"[{name}] {self.wall[name]:.1f} s wall, {self.cpu[name]:.1f} s CPU "
              f"(elapsed {self.elapsed() / 60:.1f} min)", flush=True)


def _pretrain_all(plan: Plan, work: Path, clock: _Stages) -> dict:
    """(a) with the callback, then (b)'s other configurations; -> info_a, info_b, a_names, b_names."""
    base_name = next(iter(plan.configs))
    with clock("pretrain (a)"):
        info_a = pretrain(base_name, plan.configs[base_name], plan, work, callback=True)
    with clock("pretrain (b)"):
        info_b = {base_name: {**info_a, "dir": str(Path(info_a["dir"]) / f"checkpoint-{plan.steps}")}}
        for name, over in plan.configs.items():
            if name != base_name:
                info_b[name] = pretrain(name, over, plan, work, callback=False)
    reused = [k for k, v in [(base_name, info_a), *info_b.items()] if v.get("reused")]
    if reused:  # done.json of an earlier invocation
        clock.resumed.append("pretraining of " + ", ".join(dict.fromkeys(reused)))
    ckpts_a = sorted((p for p in Path(info_a["dir"]).iterdir() if p.name.startswith("checkpoint-")),
                     key=lambda p: int(p.name.split("-")[1]))
    return {"info_a": info_a, "info_b": info_b, "a_names": [str(Path(info_a["dir"]) / p.name) for p in ckpts_a],
            "b_names": [info_b[k]["dir"] for k in plan.configs]}


def _time_ranking(plan: Plan, work: Path, info_a: dict, b_names: list[str], clock: _Stages) -> dict:
    """Rank every checkpoint first (what a user would do before fine-tuning), timed per checkpoint without a
    store; -> rank_s, scores, rank_cost."""
    with clock("rank (a)+(b), no store"):
        shutil.rmtree(work / "cache", ignore_errors=True)
        warm = warmup_checkpoint(work)
        rank_all, wall_all = run_rank([warm, info_a["dir"], *b_names[1:]], None, None, plan, work, "timing")
    timed = [r for r in rank_all["ranking"] if r["model"] != warm]
    rank_s = {r["model"]: r["seconds"] for r in timed}
    return {"rank_s": rank_s, "scores": {r["model"]: r["scores"] for r in timed},
            "rank_cost": {"wall": wall_all, "n": len(timed), "checkpoints": sum(rank_s.values()),
                          "warmup": next(r["seconds"] for r in rank_all["ranking"] if r["model"] == warm)}}


def _finetune_all(plan: Plan, work: Path, a_names: list[str], b_names: list[str], clock: _Stages) -> dict:
    """Every checkpoint fine-tuned on every task with every seed (runs of an earlier invocation are read back
    from ``finetune.jsonl``); -> {(checkpoint, task): [one row per seed]}."""
    cache = {}
    if (work / "finetune.jsonl").is_file():
        for line in (work / "finetune.jsonl").read_text().splitlines():
            row = json.loads(line)
            cache[row.pop("key")] = row
    n_cached = len(cache)
    ft: dict[tuple, list[dict]] = {}
    todo = list(dict.fromkeys(a_names + b_names))
    with clock("fine-tune"):
        t0 = time.perf_counter()
        for i, ck in enumerate(todo):
            for task in plan.tasks:
                ft[(ck, task)] = [finetune(ck, task, s, plan, work, cache) for s in plan.seeds]
            print(f"  fine-tuned {i + 1}/{len(todo)} {ck}: " + ", ".join(
                f"{TASK_LABEL[t]} {statistics.fmean(r['accuracy'] for r in ft[(ck, t)]):.3f}" for t in plan.tasks)
                + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    n_used = sum(len(v) for v in ft.values())
    if n_cached:
        clock.resumed.append(f"fine-tuning ({min(n_cached, n_used)} runs from {work / 'finetune.jsonl'})")
    return ft


def _rank_with_truth(plan: Plan, work: Path, out: Path, run: dict) -> dict:
    """``swaplm rank --truth`` per (group, task), each writing its own report beside ``out``; -> corr, truths,
    sub (those reports' paths)."""
    corr, truths, sub = {}, {}, {}
    for group, names in (("a", run["a_names"]), ("b", run["b_names"])):
        for task in plan.tasks:
            truth = {m: statistics.fmean(r["accuracy"] for r in run["ft"][(m, task)]) for m in names}
            arg = [run["info_a"]["dir"]] if group == "a" else names
            md = out.with_name(f"{out.stem}_{group}_{task}.md")
            res, _ = run_rank(arg, truth, md, plan, work, f"{group}_{task}")
            corr[(group, task)], truths[(group, task)], sub[(group, task)] = res["correlations"], truth, md
    return {"corr": corr, "truths": truths, "sub": sub}


def _rank_families(plan: Plan, work: Path, out: Path, a_names: list[str], b_names: list[str]):
    """The third table: other families and sizes, random inits (no fine-tuning); -> (rank output, walls)."""
    rnd = work / "random"
    if not (rnd / "minilm-random" / "config.json").is_file():
        from swaplm import models as mdl

        transformers.set_seed(0)
        net, _, _ = mdl.load("builtin:minilm", init="random", seed=0)
        net.save_pretrained(rnd / "minilm-random")
    models = ["builtin:minilm", str(rnd / "minilm-random"), a_names[0], *b_names]
    third, wall = run_rank(models, None, out.with_name(f"{out.stem}_families.md"), plan, work, "families")
    return third, {"families": wall}


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
def _excludes_zero(ci) -> int:
    """+1 / −1 when a 95 % interval lies above / below zero, else 0."""
    if not ci or any(x is None or not math.isfinite(x) for x in ci):
        return 0
    return 1 if ci[0] > 0 else -1 if ci[1] < 0 else 0


def _code_state() -> str:
    """The checked-out commit, the last commit that changed this experiment, and whether it is modified now."""
    from swaplm.report import git_commit

    here = Path(__file__).resolve()
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--", here.name], capture_output=True, text=True,
                               cwd=here.parent).stdout.strip()
        last = subprocess.run(["git", "log", "-1", "--format=%h", "--", here.name], capture_output=True, text=True,
                              cwd=here.parent).stdout.strip()
    except OSError:
        dirty, last = "", ""
    return (f"{(git_commit() or 'unknown')[:12]} (last change to {here.parent.name}/{here.name}: {last or 'unknown'})"
            + (", experiment code modified since, not committed" if dirty else ""))


def write_report(out: Path, **run) -> None:
    """The Markdown report at ``out`` (with two plots beside it) and its figures as JSON (``out`` with
    ``.json``). ``run`` holds what :func:`main` measured: plan, stages, cpu, total, resumed, info_a, info_b,
    a_names, b_names, scores, rank_s, ft, corr, truths, sub, third, walls, rank_cost, control, higher, quick,
    argv."""
    from types import SimpleNamespace

    from swaplm.report import provenance_footer

    r = SimpleNamespace(**run)
    verdicts, correlation_lines = _correlation_section(r)
    summary = _plain_summary(verdicts)
    lines = [*_header(r), "## Summary", "", summary, "", *_setup_section(r), *_stage_section(r),
             *_finetune_section(r), *_cost_tables(r), *correlation_lines, *_plot_section(out, r),
             "## Verdict: did SWAP rank the checkpoints better than held-out MLM loss?", ""]
    for v in verdicts:
        lines.append(f"* {v['group']}, {v['task']}: SWAP ρ {fmt(v['swap'])}, MLM loss ρ {fmt(v['mlm'])}; Δρ "
                     f"{fmt(v['diff'])} [{fmt(v['diff_ci'][0])}, {fmt(v['diff_ci'][1])}] → {v['word']}. Best proxy: "
                     f"`{v['best']}` (ρ {fmt(v['best_rho'])}).")
    lines += ["", "In plain words:", "", summary, "", *_families_section(r), *_caveats(r), provenance_footer()]
    out.write_text("\n".join(lines), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({
        "plan": asdict(r.plan), "stages": r.stages, "cpu_seconds": r.cpu, "total_seconds": r.total,
        "resumed": r.resumed, "scores": r.scores, "rank_seconds": r.rank_s, "rank_cost": r.rank_cost,
        "pretrain": r.info_b, "control": r.control, "finetune": {f"{k[0]}|{k[1]}": v for k, v in r.ft.items()},
        "correlations": {f"{k[0]}|{k[1]}": v for k, v in r.corr.items()},
        "verdicts": verdicts, "summary": summary}, indent=1, default=str))


def _task_label(task: str) -> str:
    return TASK_LABEL.get(task, task)


def _header(r) -> list[str]:
    from swaplm.report import versions

    lines = ["# Ranking pretraining checkpoints without labels: SWAP vs held-out MLM loss", ""]
    if r.quick:
        lines += ["**QUICK SMOKE RUN: tiny budget, numbers mean nothing.**", ""]
    cmd = "python experiments/checkpoints.py" + "".join(f" {a}" for a in r.argv)
    return lines + [
        f"Command: `{cmd}`, finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, code at git "
        f"{_code_state()}. Every figure below was written by this code from its own measurements.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs (run under "
        f"`nice`, `OMP_WAIT_POLICY=PASSIVE`; other processes competed for the cores, so every wall time is "
        f"an upper bound), torch threads {torch.get_num_threads()}; "
        f"{', '.join(f'{k} {v}' for k, v in versions().items())}.", ""]


def _setup_section(r) -> list[str]:
    plan, info_a = r.plan, r.info_a
    tok_budget = plan.steps * plan.batch * plan.seq
    return ["## Setup", "",
            f"* Pretraining (HF `Trainer`, masked LM 15 %, shipped BERT uncased vocab, post-LN BERT): {plan.steps} "
            f"steps × {plan.batch} sequences × {plan.seq} tokens = {tok_budget:,} tokens per model "
            f"(≈ {tok_budget / (info_a['blocks'] * plan.seq):.1f} passes over the text), AdamW lr {plan.lr}, "
            f"linear decay after {max(1, plan.steps // 16)} warm-up steps, seed 0, on WikiText-2 raw test lines "
            f"879–2891 ({info_a['blocks']} blocks; the rank batch comes from lines 1–878, so it is held out).",
            f"* (a) `{next(iter(plan.configs))}`, `SwapCallback` on: {len(r.a_names)} checkpoints at steps "
            f"{', '.join(str(s) for s in plan.save_at)} (denser early, where the weights move most).",
            f"* (b) {len(plan.configs)} configurations (depth, width, FF size, activation) with the same token "
            "budget and data order (the first is (a)'s final checkpoint).",
            "* Fine-tuning (HF `Trainer`, every weight trained): `BertMeanPoolClassifier` = "
            "`BertForSequenceClassification` whose classifier reads the masked mean of the last hidden states "
            f"(see the control below for why not the [CLS] pooler); lr {plan.ft_lr} (AdamW, 10 % warm-up, linear "
            f"decay, weight decay 0.01), batch {plan.ft_batch}, at most {plan.ft_len} tokens, seeds "
            f"{', '.join(map(str, plan.seeds))} (the seed sets the head's init, dropout and data order).",
            *[f"  * {_task_label(t)}: {plan.ft_train[t]:,} fixed training examples, {plan.ft_epochs[t]} epoch(s); "
              f"evaluated on {TASK_EVAL.get(t, 'its eval set')}"
              + (f" (first {plan.dev_limit} only)" if plan.dev_limit else "") + "." for t in plan.tasks],
            f"* Ranking: `swaplm rank` (a subprocess, as a user runs it) on one batch of N = {plan.rank_n} blocks × "
            f"{plan.rank_len} tokens (shipped WikiText-2 sample), eval mode, seed 0; proxies "
            + ", ".join(f"`{p}` ({'↑' if r.higher[p] else '↓'})" for p in PROXIES) + ".", ""]


def _stage_section(r) -> list[str]:
    rows = [[k, f"{v:.1f}", f"{v / 60:.2f}", f"{r.cpu[k]:.1f}"] for k, v in r.stages.items()]
    rows.append(["**total**", f"{r.total:.1f}", f"{r.total / 60:.2f}", f"{sum(r.cpu.values()):.1f}"])
    lines = ["## Stage times (measured in this run)", "",
             markdown_table(["stage", "wall s", "wall min", "CPU s (all threads, with subprocesses)"], rows,
                            align="lrrr"), "",
             f"The whole experiment took **{r.total / 60:.1f} min** of wall time (the issue's limit: 60 min). CPU "
             "seconds count both cores, so a stage that had the machine to itself shows up to 2× its wall time; "
             "a CPU time well under the wall time means other jobs held the cores.", ""]
    if r.resumed:
        lines += [f"Resumed from an earlier invocation of the same command: {'; '.join(r.resumed)}; their own "
                  "measured times are used in the tables below, and the stage times above do not include them.", ""]
    per_model = ", ".join(f"`{k}` {v['seconds']:.0f} s (final train loss {fmt(v['final_train_loss'], 2)})"
                          for k, v in r.info_b.items())
    return lines + [f"Pretraining per model: {per_model}. (a)'s time includes `SwapCallback` scoring: "
                    f"{r.info_a['callback_seconds']:.1f} s over {r.info_a['callback_rows']} checkpoints.", ""]


def _finetune_section(r) -> list[str]:
    """Does fine-tuning learn (accuracy against the majority class), and the [CLS]-pooler control."""
    all_ck = list(dict.fromkeys(r.a_names + r.b_names))
    rows = []
    for t in r.plan.tasks:
        accs = [statistics.fmean(x["accuracy"] for x in r.ft[(c, t)]) for c in all_ck]
        mccs = [statistics.fmean(x["mcc"] for x in r.ft[(c, t)]) for c in all_ck]
        sd = statistics.fmean(mean_std([x["accuracy"] for x in r.ft[(c, t)]])[1] for c in all_ck)
        rows.append([_task_label(t), r.ft[(all_ck[0], t)][0]["majority"], min(accs), statistics.fmean(accs),
                     max(accs), sd, statistics.fmean(mccs)])
    lines = ["## Does fine-tuning learn?", "",
             markdown_table(["task", "majority class", "min acc", "mean acc", "max acc", "mean seed std",
                             "mean MCC"], rows), "",
             "Accuracy of every fine-tuned model (mean over seeds) against always predicting the majority class of "
             "the evaluation set. `mean seed std`: the spread between seeds of one model, the noise every ranking "
             "below has to beat.", ""]
    rows = [[f"{c['train']:,} × {c['epochs']}", c["accuracy"], fmt(c["predicted_1"], 2),
             " → ".join(f"{x:.3f}" for x in c["train_loss"]), fmt(c["seconds"], 1)] for c in r.control]
    mean_a = statistics.fmean(x["accuracy"] for x in r.ft[(r.b_names[0], "sst2")])
    return lines + [
        "Control, the cause of the earlier null result: (a)'s final checkpoint fine-tuned on SST-2 (seed 0) with "
        "the stock `AutoModelForSequenceClassification` head ([CLS] → randomly initialised tanh pooler → "
        "classifier; a masked-LM checkpoint has no trained pooler), otherwise the same settings. The first "
        "row is the earlier run's budget:", "",
        markdown_table(["examples × epochs", "SST-2 dev acc", "share predicted positive", "train loss (logged)",
                        "seconds"], rows, align="lrrlr"), "",
        f"With the mean-pooled head the same checkpoint reaches {mean_a:.3f} (mean of "
        f"{len(r.plan.seeds)} seeds). A train loss that stays near ln 2 = 0.693 means the classifier never left "
        "the majority-class plateau; that is what the earlier run measured for every checkpoint.", ""]


def _cost_tables(r) -> list[str]:
    """The (a) and (b) tables (proxy values, accuracies, ranking cost against fine-tuning) and the cost verdict."""
    # the whole timing command (process start, imports, batch, warm-up model, every checkpoint) spread evenly
    share = r.rank_cost["wall"] / r.rank_cost["n"]
    cols = ["checkpoint"] + [f"{p} {'↑' if r.higher[p] else '↓'}" for p in PROXIES] + \
        [f"{_task_label(t)} acc" for t in r.plan.tasks] + \
        ["rank s", "fine-tune s (SST-2, 1 seed)", "1 epoch full SST-2 s (extrap.)", "rank / full epoch",
         "command share / full epoch"]
    ratios, shares = [], []

    def table(names, label_of):
        rows = []
        for ck in names:
            runs = r.ft[(ck, "sst2")]
            ft_s = statistics.fmean(x["train_seconds"] + x["eval_seconds"] for x in runs)
            full = SST2_FULL_TRAIN / statistics.fmean(x["throughput"] for x in runs)
            ratios.append(r.rank_s[ck] / full)
            shares.append(share / full)
            accs = ["{:.3f} ± {:.3f}".format(*mean_std([x["accuracy"] for x in r.ft[(ck, t)]])) for t in r.plan.tasks]
            rows.append([label_of(ck), *(_proxy_cell(r.scores[ck].get(p), p) for p in PROXIES), *accs,
                         f"{r.rank_s[ck]:.2f}", f"{ft_s:.1f}", f"{full:.0f}", f"{100 * ratios[-1]:.2f} %",
                         f"{100 * shares[-1]:.2f} %"])
        return markdown_table(cols, rows, align="l" + "r" * (len(cols) - 1))

    base = next(iter(r.plan.configs))
    lines = ["## (a) Checkpoints of one pretraining run", "",
             "Accuracy: mean ± std over the seeds. `rank s`: load + every proxy for that checkpoint, as "
             "`swaplm rank` measured it (one command for (a) and (b), no store). `fine-tune s`: one SST-2 "
             "fine-tuning run (train + dev evaluation), mean over seeds; the full-epoch time is 67,349 sentences "
             "divided by the measured fine-tuning throughput (training examples per second). `command share`: the "
             f"whole ranking command's wall time ({r.rank_cost['wall']:.1f} s: process start, imports, batch, "
             f"warm-up, every checkpoint) divided by its {r.rank_cost['n']} checkpoints ({share:.2f} s each), over "
             "the same full epoch.", "", table(r.a_names, lambda c: Path(c).name), "",
             "## (b) Configurations with the same token budget", "",
             table(r.b_names, lambda c: Path(c).parent.name if Path(c).name == "final" else base), ""]
    c = r.rank_cost
    fixed = c["wall"] - c["checkpoints"] - c["warmup"]
    under = lambda xs: "under" if max(xs) < 0.02 else "NOT under"  # noqa: E731
    return lines + [
        f"Ranking cost per checkpoint: at most **{100 * max(ratios):.2f} %** (median "
        f"{100 * statistics.median(ratios):.2f} %) of one extrapolated epoch of fine-tuning on the full SST-2 "
        f"train set (**{under(ratios)} the 2 % target**); with the whole command spread over its checkpoints, at "
        f"most **{100 * max(shares):.2f} %** (median {100 * statistics.median(shares):.2f} %; {under(shares)} 2 %). "
        f"The command took {c['wall']:.1f} s wall for {c['n']} checkpoints: {c['checkpoints']:.1f} s in the "
        f"checkpoints themselves, {c['warmup']:.1f} s for the throwaway warm-up model ranked first (the first model "
        f"of a process pays for lazy imports and the first forward), {fixed:.1f} s process start, imports and the "
        "batch.", ""]


def _proxy_cell(value, proxy: str) -> str:
    if value is None:
        return "failed"
    return f"{int(value):,}" if proxy == "params" else fmt(float(value), 4)


def _correlation_section(r) -> tuple[list[dict], list[str]]:
    """One correlation table and SWAP-vs-MLM-loss verdict per (group, task); -> (verdicts, Markdown lines)."""
    lines = ["## Correlation of every proxy with fine-tuned accuracy", "",
             "Spearman ρ and Kendall τ of each proxy with the mean accuracy over seeds, 95 % percentile bootstrap "
             "intervals (1000 resamples of the checkpoints, seed 0); lower-is-better proxies are negated, so "
             "positive = ranks like accuracy. From `swaplm rank --truth` (its own reports: "
             + ", ".join(f"[`{p.name}`]({p.name})" for p in r.sub.values()) + "). `seed split-half` is how well "
             "the accuracy ranks itself: ρ between seed 0's accuracy and the mean of the other seeds (an upper "
             "bound on what any proxy can show with this much fine-tuning noise).", ""]
    verdicts = []
    for group, names, glabel in (("a", r.a_names, "(a) checkpoints of one run"),
                                 ("b", r.b_names, "(b) configurations")):
        for task in r.plan.tasks:
            table, step_rho = _correlation_table(r, group, names, task)
            v = _verdict(r, r.corr[(group, task)], names, r.truths[(group, task)])
            verdicts.append(dict(group=glabel, task=_task_label(task), step_rho=step_rho, **v))
            lines += [f"### {glabel}, {_task_label(task)}", "", table, "",
                      f"SWAP − MLM loss: Δρ = {interval_text(v['diff'], v['diff_ci'])} (paired bootstrap) → "
                      f"**{v['word']}**. Highest ρ: `{v['best']}` ({fmt(v['best_rho'])}). Interval above 0: "
                      f"{', '.join(f'`{p}`' for p in v['pos']) or 'none'}; below 0 (ranks in reverse): "
                      f"{', '.join(f'`{p}`' for p in v['neg']) or 'none'}.", ""]
    return verdicts, lines


def _correlation_table(r, group: str, names, task: str):
    """The proxies' ρ and τ with accuracy, plus the training-step baseline for (a) and the seed split-half
    ceiling; -> (Markdown table, (step ρ, its interval) or None)."""
    from swaplm import stats

    def row(label, c):
        return [label, c["n"], interval_text(c["spearman"], c["spearman_ci"]),
                interval_text(c["kendall"], c["kendall_ci"])]

    c, truth = r.corr[(group, task)], r.truths[(group, task)]
    rows = [row(p, c[p]) for p in PROXIES]
    step_rho = None
    if group == "a":
        steps = [int(Path(n).name.split("-")[1]) for n in names]
        cc = stats.correlations(steps, [truth[n] for n in names], True, intervals=True)
        step_rho = (cc["spearman"], cc["spearman_ci"])
        rows.append(row("(baseline) training step", cc))
    if len(r.plan.seeds) > 1:
        s0 = [r.ft[(n, task)][0]["accuracy"] for n in names]
        rest = [statistics.fmean(x["accuracy"] for x in r.ft[(n, task)][1:]) for n in names]
        rows.append(row("(noise ceiling) seed split-half", stats.correlations(s0, rest, True, intervals=True)))
    return markdown_table(["proxy", "n", "Spearman ρ [95 % CI]", "Kendall τ [95 % CI]"], rows), step_rho


def _verdict(r, c: dict, names, truth: dict) -> dict:
    """SWAP against held-out MLM loss on one (group, task) by a paired bootstrap of Δρ, the best proxy, and
    which proxies' intervals lie above / below zero."""
    d, dci = paired_diff([r.scores[n]["swap"] for n in names], [r.scores[n]["mlm_loss"] for n in names],
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
    return dict(swap=rs, mlm=rm, diff=d, diff_ci=dci, word=word, best=best, best_rho=finite.get(best),
                pos=[p for p in PROXIES if sig[p] > 0], neg=[p for p in PROXIES if sig[p] < 0])


def _plot_section(out: Path, r) -> list[str]:
    png = out.with_name(f"{out.stem}_trajectory.png")
    _trajectory(png, r.a_names, r.scores, r.ft, r.plan.tasks, r.info_a)
    png2 = out.with_name(f"{out.stem}_scatter.png")
    _scatter(png2, r.a_names, r.b_names, r.scores, r.ft, r.higher)
    return [f"![trajectory of (a)]({png.name})", "",
            "Left: each proxy over the pretraining steps of (a), min-max scaled, with the training loss. Right: "
            "fine-tuned accuracy (mean ± std over seeds) of the same checkpoints.", "",
            f"![proxies against SST-2 accuracy]({png2.name})", "",
            "Each proxy against the mean SST-2 accuracy, (a)'s checkpoints (circles, numbered by order) and (b)'s "
            "configurations (squares).", ""]


def _families_section(r) -> list[str]:
    """The third table: models of other families and sizes ranked by ``swaplm rank`` (no fine-tuning)."""
    rows = [[i + 1, x["model"].replace(str(Path.cwd()) + "/", ""),
             *(_proxy_cell(x["scores"][p], p) for p in PROXIES), f"{x['seconds']:.2f}" if x.get("seconds") else "—"]
            for i, x in enumerate(r.third["ranking"])]
    cols = ["#", "model"] + [f"{p} {'↑' if r.higher[p] else '↓'}" for p in PROXIES] + ["rank s"]
    lines = ["## Models of different families and sizes (`swaplm rank`, no fine-tuning)", "",
             "The shipped all-MiniLM-L6-v2 (`builtin:minilm`, a 22.7 M-parameter sentence-embedding model without "
             "an MLM head), a random init of its architecture, (a)'s step-0 random init and (b)'s pretrained models, "
             f"ranked by SWAP; wall {r.walls['families']:.1f} s. `failed` = the proxy does not apply (no masked-LM "
             "head). No fine-tuned accuracy exists for these, so this table shows the command on real checkpoints "
             "of different families, not whether its order is right.", "",
             markdown_table(cols, rows, align="rl" + "r" * (len(cols) - 2)), ""]
    fails = [(x["model"], x["failed"]) for x in r.third["ranking"] if x["failed"]]
    return lines + [f"- `{m}`: " + "; ".join(f"{p}: {w}" for p, w in f.items()) for m, f in fails]


def _caveats(r) -> list[str]:
    return ["", "## Caveats", "",
            "* Tiny models, a tiny pretraining corpus (WikiText-2 test, ≈ 0.2 M tokens) and a few thousand "
            "fine-tuning examples: the absolute accuracies say nothing about real BERTs, and pretraining this "
            "short may not help fine-tuning at all (compare step 0 with the later checkpoints in (a)).",
            f"* {len(r.a_names)} and {len(r.b_names)} points per correlation: the bootstrap intervals are wide; read "
            "them, not the point estimates, and compare them with the seed split-half ceiling.",
            "* The CPU was shared with other jobs; wall times include that contention.", ""]


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
            who += f" (SWAP ρ {fmt(v['swap'])}, MLM loss ρ {fmt(v['mlm'])}; " + (
                "the difference is outside the noise)" if not v["word"].startswith("no clear") else
                "within the noise: the paired interval includes 0)")
        else:
            who = "SWAP vs MLM loss undefined (constant accuracies or scores)"
        pos = ", ".join(f"`{p}`" for p in v["pos"]) or "no proxy"
        neg = f"; in reverse (interval below 0): {', '.join(f'`{p}`' for p in v['neg'])}" if v["neg"] else ""
        best = (f"; highest ρ: `{v['best']}` {fmt(v['best_rho'])}" + (
            " (beats SWAP)" if v["best"] not in ("swap", None) and ok(v["swap"]) and v["best_rho"] > v["swap"] else "")
            if v["best"] else "")
        step = ""
        if v.get("step_rho") is not None and ok(v["step_rho"][0]):
            rho, ci = v["step_rho"]
            trend = {1: "longer pretraining made fine-tuning better", -1: "longer pretraining made fine-tuning "
                     "worse", 0: "no clear trend"}[_excludes_zero(ci)]
            step = (f" Accuracy vs training step: ρ {interval_text(rho, ci)} ({trend}; held-out MLM loss falls as training "
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
