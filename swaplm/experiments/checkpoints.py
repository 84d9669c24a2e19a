"""Does a label-free score rank pretraining checkpoints like their fine-tuned accuracy? (issue #11)

    nice -n 15 env OMP_WAIT_POLICY=PASSIVE python -m swaplm.experiments.checkpoints      # ~30 min on 2 cores
    python -m swaplm.experiments.checkpoints --quick --out /tmp/q/report.md              # ~3 min smoke run

Fully offline, on data shipped in ``swaplm/_data`` (see its SOURCES.md), with the Hugging Face ``Trainer``:

(a) one small BERT pretrained (masked LM, the shipped uncased vocab) on WikiText-2 with
    :class:`swaplm.integrations.SwapCallback` on, saving checkpoints at step 0 and every ``save_every`` steps;
(b) further small configurations (depth, width, FF size, activation) pretrained with the same token budget;
every checkpoint of (a) and the final model of every (b) configuration is fine-tuned on SST-2 (a fixed train subset,
evaluated on the 872-sentence dev set) and on CoLA (a fixed subset of the official train split, evaluated on 1,301
held-out train sentences: the official dev set is not in the shared data), with several seeds; then ``swaplm rank --truth`` ranks them and every proxy is correlated with the mean
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
from transformers.modeling_outputs import MaskedLMOutput

from swaplm.data import DATA_DIR, bert_tokenizer

SST2_FULL_TRAIN = 67349  # sentences in the full GLUE SST-2 train split (shared/data/SOURCES.md)
PROXIES = ("swap", "mlm_loss", "rankme", "alpha_req", "params")


@dataclass
class Plan:
    steps: int = 144            # pretraining steps (every model of (a) and (b): the same token budget)
    save_every: int = 16        # (a): checkpoints at 0, 16, ..., 144 -> 10
    batch: int = 16             # pretraining sequences per step
    seq: int = 64               # tokens per pretraining sequence ([CLS] + 62 + [SEP])
    lr: float = 1e-3
    ft_train: int = 1000        # fine-tuning train examples (fixed subset), per task
    ft_epochs: int = 2
    ft_lr: float = 1e-3
    ft_batch: int = 32
    ft_len: int = 64            # max tokens of a fine-tuning sentence
    seeds: tuple = (0, 1, 2)
    rank_n: int = 128           # the rank batch: N blocks of rank_len tokens of held-out WikiText-2
    rank_len: int = 64
    dev_limit: int | None = None  # None: the whole SST-2 dev / CoLA held-out set
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
QUICK = dict(steps=12, save_every=2, batch=8, seq=32, ft_train=128, ft_epochs=1, seeds=(0, 1, 2), rank_n=16,
             rank_len=32, dev_limit=160,
             configs={k: v for k, v in CONFIGS.items() if k in ("base-L2-H64-F256-gelu", "L1-H64-F256-gelu",
                                                                 "L2-H64-F256-relu")})


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
    raw = gzip.decompress(path.read_bytes()).decode("utf-8") if path.suffix == ".gz" else path.read_text("utf-8")
    return [r.split("\t") for r in raw.splitlines()[1 if header else 0:] if r.strip()]


def task_data(task: str, plan: Plan):
    """(train rows, eval rows): rows are (text_a, text_b or None, label)."""
    if task == "sst2":
        train = [(r[0].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "sst2_train_subset.tsv")]
        dev = [(r[0].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "sst2_sample.tsv")]
    else:  # CoLA (GLUE format, no header: source, label, original mark, sentence)
        train = [(r[3].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "cola_train_subset.tsv", False)]
        dev = [(r[3].strip(), None, int(r[1])) for r in _tsv(DATA_DIR / "cola_val_resplit.tsv", False)]
    return train[: plan.ft_train], dev[: plan.dev_limit] if plan.dev_limit else dev


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


def pretrain(name: str, overrides: dict, plan: Plan, work: Path, *, callback: bool) -> dict:
    """Pretrain one configuration; (a) saves every plan.save_every steps with the callback on. Returns info."""
    from swaplm.integrations import SwapCallback

    out = work / "pretrain" / name
    done = out / "done.json"
    if done.is_file():
        return json.loads(done.read_text())
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
                 logging_steps=plan.save_every,
                 save_strategy="steps" if callback else "no", save_steps=plan.save_every)
    collator = transformers.DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, data_collator=collator,
                                   processing_class=tok)
    cb = None
    if callback:
        cb = SwapCallback(tokenizer=tok, n=plan.rank_n, max_length=plan.rank_len, proxies=PROXIES, initial=True)
        cb.attach(trainer)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    if not callback:
        trainer.save_model(str(out / "final"))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    info = {"name": name, "config": overrides, "seconds": seconds, "steps": plan.steps,
            "tokens": plan.steps * plan.batch * plan.seq, "blocks": len(data),
            "params": sum(p.numel() for p in model.bert.parameters()), "final_train_loss": losses[-1] if losses else None,
            "callback_seconds": sum(r["seconds"] for r in cb.history) if cb else 0.0,
            "callback_rows": len(cb.history) if cb else 0,
            "dir": str(out if callback else out / "final")}
    done.write_text(json.dumps(info))
    return info


def finetune(ckpt: str, task: str, seed: int, plan: Plan, work: Path, cache: dict) -> dict:
    """Fine-tune ``ckpt`` on ``task`` with ``seed``; accuracy on the eval set and the measured seconds."""
    from swaplm.rank.loading import content_digest

    key = json.dumps([content_digest(Path(ckpt))[:16], task, seed, plan.ft_train, plan.ft_epochs, plan.ft_lr,
                      plan.ft_batch, plan.ft_len, plan.dev_limit])
    if key in cache:
        return cache[key]
    tok = bert_tokenizer()
    train_rows, dev_rows = task_data(task, plan)
    max_len = plan.ft_len
    train, dev = encode(tok, train_rows, max_len), encode(tok, dev_rows, max_len)
    transformers.set_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(ckpt, num_labels=2)
    tmp = work / "ft_tmp"
    args = targs(tmp, num_train_epochs=plan.ft_epochs, per_device_train_batch_size=plan.ft_batch,
                 per_device_eval_batch_size=128, learning_rate=plan.ft_lr, weight_decay=0.01,
                 warmup_steps=max(1, len(train) * plan.ft_epochs // plan.ft_batch // 10), seed=seed, data_seed=seed,
                 save_strategy="no", eval_strategy="no", logging_strategy="no")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train,
                                   data_collator=transformers.DataCollatorWithPadding(tok))
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
           "train_seconds": train_s, "eval_seconds": eval_s, "train_examples": len(train) * plan.ft_epochs,
           "throughput": len(train) * plan.ft_epochs / train_s}
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
    work = Path(ns.work or ("runs/checkpoints-quick" if ns.quick else "runs/checkpoints"))
    if ns.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    stages: dict[str, float] = {}
    resumed: list[str] = []

    def stage(name, t0):
        stages[name] = time.perf_counter() - t0
        print(f"[{name}] {stages[name]:.1f} s", flush=True)

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
    pre_seconds = {k: v["seconds"] for k, v in info_b.items()}
    if abs(sum(pre_seconds.values()) - (stages["pretrain (a)"] + stages["pretrain (b)"])) > 0.5 * sum(pre_seconds.values()):
        resumed.append("pretraining")  # measured in an earlier invocation (done.json), reused
    ckpts_a = sorted((p for p in Path(info_a["dir"]).iterdir() if p.name.startswith("checkpoint-")),
                     key=lambda p: int(p.name.split("-")[1]))
    a_names = [str(Path(info_a["dir"]) / p.name) for p in ckpts_a]
    b_names = [info_b[k]["dir"] for k in plan.configs]

    # rank first (what a user would do before fine-tuning), timed per checkpoint without a store
    t0 = time.perf_counter()
    shutil.rmtree(work / "cache", ignore_errors=True)
    rank_a, wall_a = run_rank([info_a["dir"]], None, None, plan, work, "a")
    rank_b, wall_b = run_rank(b_names, None, None, plan, work, "b")
    stage("rank (a)+(b), no store", t0)
    rank_s = {r["model"]: r["seconds"] for r in rank_a["ranking"] + rank_b["ranking"]}
    scores = {r["model"]: r["scores"] for r in rank_a["ranking"] + rank_b["ranking"]}

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
        for task in ("sst2", "cola"):
            ft[(ck, task)] = [finetune(ck, task, s, plan, work, cache) for s in plan.seeds]
        print(f"  fine-tuned {i + 1}/{len(todo)} {ck}: SST-2 "
              f"{statistics.fmean(r['accuracy'] for r in ft[(ck, 'sst2')]):.3f}", flush=True)
    stage("fine-tune", t0)
    if n_cached:
        resumed.append(f"fine-tuning ({n_cached} runs from {work / 'finetune.jsonl'})")

    # rank with --truth (the store answers: same checkpoints, same batch)
    t0 = time.perf_counter()
    corr, truths, sub = {}, {}, {}
    for group, names in (("a", a_names), ("b", b_names)):
        for task in ("sst2", "cola"):
            truth = {m: statistics.fmean(r["accuracy"] for r in ft[(m, task)]) for m in names}
            if group == "a":
                arg = [info_a["dir"]]
            else:
                arg = names
            md = out.with_name(f"{out.stem}_{group}_{task}.md")
            res, _ = run_rank(arg, truth, md, plan, work, f"{group}_{task}")
            corr[(group, task)], truths[(group, task)], sub[(group, task)] = res["correlations"], truth, md
    # the third table: other families and sizes, random inits (no fine-tuning)
    rnd = work / "random"
    if not (rnd / "minilm-random" / "config.json").is_file():
        from swaplm import models as mdl

        transformers.set_seed(0)
        net, _, _ = mdl.load("builtin:minilm", init="random", seed=0)
        net.save_pretrained(rnd / "minilm-random")
    third_models = ["builtin:minilm", str(rnd / "minilm-random"), a_names[0], *b_names]
    third, wall3 = run_rank(third_models, None, out.with_name(f"{out.stem}_families.md"), plan, work, "families")
    stage("rank with --truth (+ families)", t0)
    total = time.perf_counter() - t_all

    write_report(out, plan=plan, stages=stages, total=total, resumed=resumed, info_a=info_a, info_b=info_b,
                 a_names=a_names, b_names=b_names, scores=scores, rank_s=rank_s, ft=ft, corr=corr, truths=truths,
                 sub=sub, third=third, walls={"a": wall_a, "b": wall_b, "families": wall3},
                 higher={p: p not in ("mlm_loss", "alpha_req") for p in PROXIES}, quick=ns.quick, argv=argv)
    print(f"report written to {out} ({total / 60:.1f} min)")


# ------------------------------------------------------------------------------------------------- report
def _f(x, d=3):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"


def _ci(v, c):
    return _f(v) if not c or any(x is None for x in c) else f"{_f(v)} [{_f(c[0])}, {_f(c[1])}]"


def write_report(out: Path, *, plan, stages, total, resumed, info_a, info_b, a_names, b_names, scores, rank_s, ft,
                 corr, truths, sub, third, walls, higher, quick, argv):
    from swaplm.report import render_table, versions

    lines = ["# Ranking pretraining checkpoints without labels: SWAP vs held-out MLM loss (issue #11)", ""]
    if quick:
        lines += ["**QUICK SMOKE RUN: tiny budget, numbers mean nothing.**", ""]
    cmd = "python -m swaplm.experiments.checkpoints" + (" " + " ".join(argv) if argv else
                                                         (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""))
    lines += [f"Command: `{cmd}` (every figure below was written by this code from its own measurements).", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs; run under "
              f"`nice -n 15`, `OMP_WAIT_POLICY=PASSIVE`), torch threads {torch.get_num_threads()}; "
              f"{', '.join(f'{k} {v}' for k, v in versions().items())}.", ""]
    # setup
    tok_budget = plan.steps * plan.batch * plan.seq
    lines += ["## Setup", "",
              f"* Pretraining (HF `Trainer`, masked LM 15 %, shipped BERT uncased vocab): {plan.steps} steps × "
              f"{plan.batch} sequences × {plan.seq} tokens = {tok_budget:,} tokens per model, AdamW lr {plan.lr}, "
              f"linear decay, seed 0, on WikiText-2 raw test lines 879–2891 "
              f"({info_a['blocks']} blocks; the rank batch comes from lines 1–878, so it is held out).",
              f"* (a) `{next(iter(plan.configs))}`, `SwapCallback` on: {len(a_names)} checkpoints "
              f"(step 0 and every {plan.save_every} steps).",
              f"* (b) {len(plan.configs)} configurations with the same token budget (the first is (a)'s final "
              "checkpoint).",
              f"* Fine-tuning (HF `Trainer`, full model, `AutoModelForSequenceClassification`): {plan.ft_train} "
              f"fixed training examples per task, {plan.ft_epochs} epochs, batch {plan.ft_batch}, lr {plan.ft_lr}, seeds "
              f"{', '.join(map(str, plan.seeds))}. SST-2: the first 1,000 of the shipped train subset (2,000 of 67,349 sentences, "
              f"seed 0), accuracy on the 872-sentence dev set; CoLA: 1,000 sentences (seed 0) of a third-party "
              f"re-split of the official train split, accuracy on its 1,301 held-out sentences (the official dev "
              f"set is not in the shared data)" + (f" (first {plan.dev_limit} only)" if plan.dev_limit else "") + ".",
              f"* Ranking: `swaplm rank` on one batch of N = {plan.rank_n} blocks × {plan.rank_len} tokens "
              "(shipped WikiText-2 sample), eval mode, seed 0; proxies "
              + ", ".join(f"`{p}` ({'↑' if higher[p] else '↓'})" for p in PROXIES) + ".", ""]
    # stage times
    rows = [[k, f"{v:.1f}", f"{v / 60:.2f}"] for k, v in stages.items()] + [["total", f"{total:.1f}",
                                                                            f"{total / 60:.2f}"]]
    lines += ["## Stage times (measured)", "", render_table(rows, ["stage", "seconds", "minutes"]), ""]
    if resumed:
        lines += [f"Resumed from an earlier invocation of the same command: {'; '.join(resumed)}; their own "
                  "measured times are used in the tables below.", ""]
    per_model = ", ".join(f"{k}: {v['seconds']:.0f} s" for k, v in info_b.items())
    lines += [f"Pretraining time per model: {per_model}. Callback scoring during (a): "
              f"{info_a['callback_seconds']:.1f} s over {info_a['callback_rows']} checkpoints.", ""]

    def acc(ck, task):
        rs = ft[(ck, task)]
        m, s = mean_std([r["accuracy"] for r in rs])
        return f"{m:.3f} ± {s:.3f}"

    def cost(ck):
        rs = ft[(ck, "sst2")]
        ft_s = statistics.fmean(r["train_seconds"] + r["eval_seconds"] for r in rs)
        thr = statistics.fmean(r["throughput"] for r in rs)
        full = SST2_FULL_TRAIN / thr
        return ft_s, full, rank_s[ck] / full

    cols = ["checkpoint"] + [f"{p} {'↑' if higher[p] else '↓'}" for p in PROXIES] + \
        ["SST-2 acc", "CoLA acc", "rank s", "fine-tune s (SST-2, 1 seed)", "1 epoch full SST-2 s (extrap.)",
         "rank / full epoch"]
    ratios = []

    def table(names, label_of):
        rows = []
        for ck in names:
            ft_s, full, ratio = cost(ck)
            ratios.append(ratio)
            rows.append([label_of(ck)] + [_f(scores[ck].get(p), 4) if p != "params" else
                                          f"{int(scores[ck]['params']):,}" for p in PROXIES]
                        + [acc(ck, "sst2"), acc(ck, "cola"), f"{rank_s[ck]:.2f}", f"{ft_s:.1f}", f"{full:.0f}",
                           f"{100 * ratio:.2f} %"])
        return render_table(rows, cols)

    lines += ["## (a) Checkpoints of one pretraining run", "",
              "Accuracy: mean ± std over the seeds. `rank s`: load + every proxy for that checkpoint in "
              "`swaplm rank` (no store). `fine-tune s`: one SST-2 fine-tuning run (train + dev evaluation), mean over "
              "seeds; the full-epoch time is 67,349 sentences divided by the measured fine-tuning throughput.", "",
              table(a_names, lambda c: Path(c).name), ""]
    lines += ["## (b) Configurations with the same token budget", "", table(b_names, lambda c: Path(c).parent.name
                                                                           if Path(c).name == "final" else
                                                                           next(iter(plan.configs))), ""]
    lines += [f"Ranking cost: at most **{100 * max(ratios):.2f} %** (median {100 * statistics.median(ratios):.2f} %) "
              "of one extrapolated epoch of fine-tuning on the full SST-2 train set, per checkpoint "
              f"({'under' if max(ratios) < 0.02 else 'NOT under'} the 2 % target). Wall time of the whole "
              f"`swaplm rank` command (process start, imports, batch, all checkpoints): (a) {walls['a']:.1f} s for "
              f"{len(a_names)} checkpoints, (b) {walls['b']:.1f} s for {len(b_names)} models.", ""]
    # correlations
    lines += ["## Correlation of every proxy with fine-tuned accuracy", "",
              "Spearman ρ and Kendall τ of each proxy with the mean accuracy, 95 % percentile bootstrap "
              "intervals (1000 resamples, seed 0); lower-is-better proxies are negated, so positive = ranks like "
              "accuracy. From `swaplm rank --truth` (its own reports: "
              + ", ".join(f"[`{p.name}`]({p.name})" for p in sub.values()) + ").", ""]
    verdicts = []
    for group, names, glabel in (("a", a_names, "(a) checkpoints of one run"), ("b", b_names, "(b) configurations")):
        for task, tlabel in (("sst2", "SST-2"), ("cola", "CoLA")):
            c = corr[(group, task)]
            rows = [[p, c[p]["n"], _ci(c[p]["spearman"], c[p]["spearman_ci"]), _ci(c[p]["kendall"], c[p]["kendall_ci"])]
                    for p in PROXIES]
            truth = truths[(group, task)]
            extra = []
            if group == "a":
                steps = [int(Path(n).name.split("-")[1]) for n in names]
                from swaplm import stats

                cc = stats.correlations(steps, [truth[n] for n in names], True, intervals=True)
                extra = [["(baseline) training step", cc["n"], _ci(cc["spearman"], cc["spearman_ci"]),
                          _ci(cc["kendall"], cc["kendall_ci"])]]
            lines += [f"### {glabel}, {tlabel}", "", render_table(rows + extra, ["proxy", "n", "Spearman ρ [95 % CI]",
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
            verdicts.append((glabel, tlabel, rs, rm, d, dci, word))
            lines += [f"SWAP − MLM loss: Δρ = {_f(d)} [{_f(dci[0])}, {_f(dci[1])}] (paired bootstrap) → **{word}**.", ""]
    lines += ["## Verdict: did SWAP rank the checkpoints better than held-out MLM loss?", ""]
    for glabel, tlabel, rs, rm, d, dci, word in verdicts:
        lines.append(f"* {glabel}, {tlabel}: SWAP ρ {_f(rs)}, MLM loss ρ {_f(rm)}; Δρ {_f(d)} "
                     f"[{_f(dci[0])}, {_f(dci[1])}] → {word}.")
    wins = sum(w.startswith("SWAP ranked better") for *_, w in verdicts)
    losses = sum(w.startswith("SWAP ranked WORSE") for *_, w in verdicts)
    lines += ["", f"In plain words: SWAP beat held-out MLM loss with an interval excluding zero in {wins} of "
              f"{len(verdicts)} comparisons and lost in {losses}; "
              + ("it did not show that it ranks pretraining checkpoints better than the pretraining loss." if wins == 0
                 else "see the rows above for where.")
              + " With this few checkpoints and accuracies this close to each other, every interval is wide.", ""]
    # trajectory plot
    png = out.with_name(f"{out.stem}_trajectory.png")
    _trajectory(png, a_names, scores, ft)
    lines += [f"![trajectory of (a)]({png.name})", "",
              "Each proxy over pretraining steps of (a), min-max scaled, with the SST-2 / CoLA accuracy.", ""]
    # third table
    rows = [[i + 1, r["model"].replace(str(Path.cwd()) + "/", "")] +
            [(_f(r["scores"][p], 4) if p != "params" else f"{int(r['scores'][p]):,}") if r["scores"][p] is not None
             else "failed" for p in PROXIES] + [f"{r['seconds']:.2f}" if r.get("seconds") else "—"]
            for i, r in enumerate(third["ranking"])]
    lines += ["## Models of different families and sizes (`swaplm rank`, no fine-tuning)", "",
              "The shipped all-MiniLM-L6-v2 (`builtin:minilm`, a sentence-embedding model without an MLM head), a "
              "random init of its architecture, (a)'s step-0 random init and (b)'s pretrained models, ranked by SWAP; "
              f"wall {walls['families']:.1f} s. `failed` = the proxy does not apply (no masked-LM head).", "",
              render_table(rows, ["#", "model"] + [f"{p} {'↑' if higher[p] else '↓'}" for p in PROXIES]
                           + ["rank s"]), ""]
    fails = [(r["model"], r["failed"]) for r in third["ranking"] if r["failed"]]
    lines += [f"- `{m}`: " + "; ".join(f"{p}: {w}" for p, w in f.items()) for m, f in fails]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out.with_suffix(".json")).write_text(json.dumps({
        "plan": asdict(plan), "stages": stages, "total_seconds": total, "resumed": resumed,
        "scores": scores, "rank_seconds": rank_s,
        "finetune": {f"{k[0]}|{k[1]}": v for k, v in ft.items()},
        "correlations": {f"{k[0]}|{k[1]}": v for k, v in corr.items()},
        "verdicts": [dict(group=g, task=t, swap=rs, mlm_loss=rm, diff=d, diff_ci=dci, verdict=w)
                     for g, t, rs, rm, d, dci, w in verdicts]}, indent=1, default=str))


def _trajectory(png: Path, names, scores, ft):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(Path(n).name.split("-")[1]) for n in names]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
    for p in PROXIES[:-1]:
        v = np.array([scores[n][p] if scores[n][p] is not None else np.nan for n in names], dtype=float)
        span = np.nanmax(v) - np.nanmin(v)
        ax[0].plot(steps, (v - np.nanmin(v)) / span if span > 0 else v * 0, marker="o", ms=3, label=p)
    ax[0].set_xlabel("pretraining step")
    ax[0].set_ylabel("min-max scaled value")
    ax[0].legend(fontsize=8)
    for task in ("sst2", "cola"):
        m = [statistics.fmean(r["accuracy"] for r in ft[(n, task)]) for n in names]
        s = [statistics.stdev([r["accuracy"] for r in ft[(n, task)]]) if len(ft[(n, task)]) > 1 else 0 for n in names]
        ax[1].errorbar(steps, m, yerr=s, marker="o", ms=3, capsize=2, label=task)
    ax[1].set_xlabel("pretraining step")
    ax[1].set_ylabel("fine-tuned accuracy (mean ± std)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
