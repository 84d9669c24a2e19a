"""Can a label-free score rank pretraining checkpoints like their fine-tuned accuracy? (``swaplm rank --truth``)

    nice env OMP_WAIT_POLICY=PASSIVE python experiments/checkpoints.py --out reports/checkpoint_ranking.md
    python experiments/checkpoints.py --tiny --work /tmp/ck --out /tmp/ck/report.md      # the test plan, seconds
    python experiments/checkpoints.py --retrain-tokenizer [--tiny]   # refresh the shipped tokenizer of a plan

Offline, on 2 CPU cores, from the files in ``../shared/data`` and ``swaplm/_data``:

1. data: a pretraining corpus of training splits only (see :mod:`experiments.ckpt_corpus`), a 4,096-token
   WordPiece tokenizer trained on it with the ``tokenizers`` library (the one shipped in
   ``experiments/data/ckpt_tokenizer``: that trainer is not deterministic; ``--retrain-tokenizer`` refreshes it),
   held-out WikiText-2 text, and the unigram cross-entropy of that text (the loss of a model that ignores the
   context);
2. pretrain: masked-LM pretraining with the HF ``Trainer`` of (a) one run saved at 13 steps (0 included, denser
   early) and (b) 14 candidates of different depths, widths, FF sizes, activations, learning rates, token budgets
   and two families (ConvBERT, BERT), some deliberately under-trained; (c) the shipped all-MiniLM-L6-v2 cut to
   its first k layers (k = 1..6) and random initialisations of the same shapes;
3. heldout: each (a)/(b) checkpoint's masked-LM loss on the held-out text;
4. rank: ``swaplm.rank.rank`` (the function behind ``swaplm rank``) with every default label-free proxy;
5. finetune: every candidate fine-tuned with the HF ``Trainer`` on SST-2 (evaluated on its 872-sentence dev
   set) and, for (a) and (b), QNLI, with three seeds;
6. analysis and report: ``swaplm rank --truth`` per study and task, intervals that resample candidates and
   seeds, Spearman-Brown split-half reliability, the spread of the candidates against the seed noise, a verdict
   per study; the Markdown report at ``--out`` and its figures as JSON beside it.

Every stage keeps its results in the work folder (``--work``, default ``runs/checkpoints``) and a rerun reuses
every result that is complete and current (see :mod:`experiments.ckpt_work`).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from experiments import ckpt_corpus as corpus  # noqa: E402
from experiments import ckpt_stats as st  # noqa: E402
from experiments.ckpt_work import Job, Work, digest, file_sha, model_digest, read_json, remove, write_json  # noqa: E402

#: bump when a stage's results change meaning (part of every stored key)
VERSION = 1
PROXIES = ("swap", "mlm_loss", "rankme", "alpha_req", "params")  # swaplm.rank.DEFAULT_PROXIES
BASE = dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512, hidden_act="gelu")
TINY_ARCH = dict(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32, hidden_act="gelu")


def spec(family: str = "convbert", lr: float = 1e-3, steps: int = 2000, arch: dict | None = None, **over) -> dict:
    """One pretraining candidate: model family, architecture (``BASE`` with ``over``), learning rate, steps."""
    return {"family": family, "arch": dict(arch or BASE, **over), "lr": lr, "steps": steps}


def spec_name(s: dict) -> str:
    a = s["arch"]
    lr = f"{s['lr']:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return (f"{s['family']}-L{a['num_hidden_layers']}-H{a['hidden_size']}-F{a['intermediate_size']}-"
            f"{a['hidden_act']}-lr{lr}-{s['steps']}st")


A_SPEC = spec()
B_SPECS = [
    A_SPEC,  # (a)'s final checkpoint
    spec(num_hidden_layers=1),
    spec(num_hidden_layers=4, steps=1500),
    spec(hidden_size=64, intermediate_size=256),
    spec(hidden_size=256, num_attention_heads=4, intermediate_size=1024, steps=1000),
    spec(intermediate_size=128),
    spec(intermediate_size=1024, steps=1500),
    spec(hidden_act="relu"),
    spec(lr=3e-4),
    spec(lr=3e-3),
    spec(steps=250),
    spec(steps=60),
    spec(family="bert"),
    spec(num_hidden_layers=4, hidden_size=64, intermediate_size=256, steps=600),
]


@dataclass
class Plan:
    name: str = "full"
    corpus_limit: int | None = None  # lines per corpus part (None: all)
    vocab: int = 4096
    seq: int = 64                    # tokens per pretraining block ([CLS] + 62 + [SEP]), also the held-out blocks
    batch: int = 32                  # blocks per pretraining step
    warmup: float = 0.06             # share of the steps spent warming up, then linear decay
    a: dict = field(default_factory=lambda: dict(A_SPEC))
    a_save: tuple = (0, 25, 50, 100, 150, 250, 400, 600, 800, 1000, 1300, 1600, 2000)
    b: list = field(default_factory=lambda: list(B_SPECS))
    tasks: tuple = ("sst2", "qnli")
    ft: dict = field(default_factory=lambda: {"sst2": {"train_n": 2000, "epochs": 2, "max_len": 64},
                                              "qnli": {"train_n": 1000, "epochs": 2, "max_len": 96}})
    ft_lr: float = 1e-3
    ft_batch: int = 32
    c_layers: tuple = (1, 2, 3, 4, 5, 6)
    c_ft: dict = field(default_factory=lambda: {"train_n": 600, "epochs": 2, "max_len": 64, "lr": 1e-4})
    seeds: tuple = (0, 1, 2)
    eval_limit: int | None = None    # first rows of each evaluation set (None: all)
    heldout_blocks: int | None = None  # first held-out blocks for the MLM loss (None: all)
    rank_n: int = 128                # the rank batch: N blocks of rank_len tokens of the held-out text
    rank_len: int = 64
    n_boot: int = 2000
    workers: int = 2


def tiny_plan(**over) -> Plan:
    """A plan of seconds for the tests: a few steps, two (b) candidates, two seeds, tiny fine-tuning sets."""
    a = spec(steps=4, arch=TINY_ARCH)
    base = dict(name="tiny", corpus_limit=150, vocab=300, seq=32, batch=4, a=a, a_save=(0, 4),
                b=[a, spec(family="bert", steps=3, arch=TINY_ARCH)],
                ft={"sst2": {"train_n": 24, "epochs": 1, "max_len": 32},
                    "qnli": {"train_n": 24, "epochs": 1, "max_len": 48}},
                c_layers=(1,), c_ft={"train_n": 16, "epochs": 1, "max_len": 32, "lr": 1e-4}, seeds=(0, 1),
                eval_limit=40, heldout_blocks=32, rank_n=8, rank_len=32, n_boot=200, workers=0)
    base.update(over)
    return Plan(**base)


# ------------------------------------------------------------------------------------------------ 1. data
DATA_FILES = ("tokenizer/tokenizer.json", "corpus_blocks.npy", "heldout_blocks.npy", "heldout.txt")


def stage_data(plan: Plan, work: Work) -> dict:
    """Corpus, tokenizer, held-out text and blocks, unigram entropy (``data/manifest.json``)."""
    d = work.root / "data"
    key = digest([VERSION, plan.corpus_limit, plan.vocab, plan.seq, plan.heldout_blocks, corpus.shipped_digest()])
    man = read_json(d / "manifest.json")
    if isinstance(man, dict) and man.get("key") == key and all(
            (d / f).is_file() and file_sha(d / f) == man["files"].get(f) for f in DATA_FILES):
        work.echo(f"  [data] reused from {d}")
        return _data_paths(d, man)
    remove(d)
    t0 = time.perf_counter()
    lines, parts = corpus.build_corpus(plan.corpus_limit)
    tok, source = corpus.tokenizer_for(lines, plan.vocab, d / "tokenizer")
    if source["shipped"]:
        work.echo(f"  [data] tokenizer: the shipped {source['folder']}")
    else:
        work.echo(f"  [data] tokenizer: {source['note']}")
        work.log(stage="data", event="tokenizer trained (not deterministic)", note=source["note"])
    ids = corpus.token_ids(tok, lines)
    held = corpus.heldout_lines()
    hids = corpus.token_ids(tok, held)
    special = tuple(tok.all_special_ids)
    np.save(d / "corpus_blocks.npy", corpus.pack_blocks(ids, plan.seq, tok.cls_token_id, tok.sep_token_id))
    hblocks = corpus.pack_blocks(hids, plan.seq, tok.cls_token_id, tok.sep_token_id)[: plan.heldout_blocks]
    np.save(d / "heldout_blocks.npy", hblocks)
    (d / "heldout.txt").write_text("\n".join(held) + "\n", encoding="utf-8")
    import torch

    from experiments.ckpt_models import heldout_mask

    pos = heldout_mask(torch.from_numpy(hblocks.astype(np.int64)), special, 0).numpy()
    man = {"key": key, "files": {f: file_sha(d / f) for f in DATA_FILES}, "parts": parts,
           "heldout": {"what": corpus.HELDOUT[0], "file": corpus.HELDOUT[1], "lines": len(held),
                       "words": sum(len(x.split()) for x in held), "tokens": int(hids.size),
                       "blocks": int(len(hblocks))},
           "not_read": list(corpus.NOT_READ), "vocab_size": len(tok), "corpus_tokens": int(ids.size),
           "corpus_blocks": int(len(ids) // (plan.seq - 2)),
           "unigram_entropy": corpus.unigram_cross_entropy(ids, hids, len(tok), special),
           "unigram_entropy_masked": corpus.unigram_cross_entropy(ids, hblocks[pos], len(tok), special),
           "unigram_entropy_corpus": corpus.unigram_cross_entropy(ids, ids, len(tok), special),
           "tokenizer": corpus.vocabulary_report(tok, ids), "tokenizer_source": source,
           "seconds": time.perf_counter() - t0}
    write_json(d / "manifest.json", man)
    work.echo(f"  [data] {man['corpus_tokens']:,} corpus tokens, {man['heldout']['tokens']:,} held-out tokens, "
              f"unigram entropy {man['unigram_entropy']:.3f} nats")
    return _data_paths(d, man)


def _data_paths(d: Path, man: dict) -> dict:
    return {"dir": str(d), "tokenizer": str(d / "tokenizer"), "corpus_blocks": str(d / "corpus_blocks.npy"),
            "heldout_blocks": str(d / "heldout_blocks.npy"), "heldout_txt": str(d / "heldout.txt"),
            "id": digest(man["files"]), "manifest": man}


# ------------------------------------------------------------------------------------------------ 2. models
def _pretrain_cost(s: dict) -> float:
    a = s["arch"]
    return s["steps"] * a["num_hidden_layers"] * a["hidden_size"] * (a["hidden_size"] + a["intermediate_size"]) / 1e6 \
        + s["steps"] * 0.05


def stage_pretrain(plan: Plan, work: Work, data: dict) -> dict:
    """(a)'s run and (b)'s other candidates; -> {"a": {step: dir}, "b": {name: dir}, "info": {name: result}}."""
    if plan.a["steps"] not in plan.a_save:
        raise SystemExit("Plan: a_save must include (a)'s last step")
    common = dict(tokenizer=data["tokenizer"], blocks=data["corpus_blocks"], batch=plan.batch, warmup=plan.warmup,
                  seed=0)
    root = work.root / "pretrain"

    def job(s: dict, save_at=()) -> Job:
        name = spec_name(s) + ("-run" if save_at else "")
        return Job(name=name, fn="experiments.ckpt_models:pretrain", out=root / f"{name}.json",
                   kwargs=dict(out=str(root / name), family=s["family"], arch=s["arch"], steps=s["steps"], lr=s["lr"],
                               save_at=list(save_at), **common),
                   cost=_pretrain_cost(s), depends=[VERSION, data["id"]])

    a_job = job(plan.a, plan.a_save)
    b_jobs = {spec_name(s): job(s) for s in plan.b if s != plan.a}
    docs = work.run([a_job, *b_jobs.values()], "pretrain")
    a_doc = docs[a_job.name]["result"]
    a_dirs = {int(k): v for k, v in a_doc["dirs"].items()}
    b_dirs, info = {}, {}
    for s in plan.b:
        name = spec_name(s)
        if s == plan.a:
            b_dirs[name], info[name] = a_dirs[plan.a["steps"]], a_doc
        else:
            res = docs[b_jobs[name].name]["result"]
            b_dirs[name], info[name] = next(iter(res["dirs"].values())), res
    return {"a": a_dirs, "b": b_dirs, "info": info, "a_info": a_doc,
            "specs": {spec_name(s): s for s in plan.b}}


def stage_minilm(plan: Plan, work: Work) -> dict:
    """(c): all-MiniLM-L6-v2 cut to k layers and random inits of the same shapes; -> {name: dir}."""
    root = work.root / "minilm"
    jobs = []
    for k in plan.c_layers:
        for pre in (True, False):
            name = f"{'minilm' if pre else 'random'}-L{k}"
            jobs.append(Job(name=name, fn="experiments.ckpt_models:truncated_minilm", out=root / f"{name}.json",
                            kwargs=dict(out=str(root / name), layers=k, pretrained=pre, seed=0), depends=VERSION))
    docs = work.run(jobs, "minilm", workers=0)
    return {j.name: docs[j.name]["result"]["dirs"]["model"] for j in jobs}


def candidates(plan: Plan, pre: dict, c_dirs: dict) -> dict:
    """Each study's candidates in order: [{"name", "dir", "meta"}]."""
    a = [{"name": f"step-{s}", "dir": d, "meta": {"step": s}} for s, d in sorted(pre["a"].items())]
    b = []
    for name, d in pre["b"].items():
        s, info = pre["specs"][name], pre["info"][name]
        b.append({"name": name, "dir": d, "meta": {**s, "params": info["params"], "tokens": info["tokens"],
                                                   "epochs": info["epochs"], "seconds": info["seconds"],
                                                   "final_train_loss": info["final_train_loss"]}})
    c = [{"name": n, "dir": d, "meta": {"layers": int(n.split("-L")[1]), "pretrained": n.startswith("minilm")}}
         for n, d in c_dirs.items()]
    return {"a": a, "b": b, "c": c}


# ------------------------------------------------------------------------------------------------ 3. held-out loss
def stage_heldout(plan: Plan, work: Work, cands: dict, data: dict) -> dict:
    """Held-out MLM loss of every (a)/(b) checkpoint; -> {dir: loss}."""
    dirs = list(dict.fromkeys(c["dir"] for g in ("a", "b") for c in cands[g]))
    jobs = []
    for d in dirs:
        dg = model_digest(d)
        jobs.append(Job(name=_short(d, work.root), fn="experiments.ckpt_models:heldout_mlm_loss",
                        out=work.root / "heldout" / f"{dg}.json", depends=[VERSION, dg, data["id"]],
                        kwargs=dict(ckpt=d, blocks=data["heldout_blocks"], seed=0)))
    docs = work.run(jobs, "heldout")
    return {d: docs[j.name]["result"]["loss"] for d, j in zip(dirs, jobs)}


def _short(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------------ 4. rank
_BATCHES: dict = {}


def _rank_args(plan: Plan, data: dict, group: str) -> dict:
    """The keyword arguments of ``swaplm.rank.rank`` for a group of studies: the batch (built once per group and
    process; (a)+(b) with their own tokenizer, (c) with MiniLM's BERT uncased one) and the settings."""
    from swaplm.rank import make_batch

    tokenizer = data["tokenizer"] if group == "ab" else None
    key = (data["heldout_txt"], plan.rank_n, plan.rank_len, tokenizer, data["id"])
    if key not in _BATCHES:
        _BATCHES[key] = make_batch(data["heldout_txt"], n=plan.rank_n, max_length=plan.rank_len, seed=0,
                                   tokenizer=tokenizer)
    return dict(proxies=list(PROXIES), batch=_BATCHES[key], n=plan.rank_n, max_length=plan.rank_len, seed=0,
                device="cpu", threads=2)


def stage_rank(plan: Plan, work: Work, cands: dict, data: dict) -> dict:
    """``swaplm.rank.rank`` of (a)+(b) (their own tokenizer) and of (c) (the BERT uncased tokenizer), before any
    fine-tuning; -> {group: stored document}."""
    from swaplm.rank import rank

    out = {}
    store = work.root / "rank" / "store.jsonl"
    for group, studies in (("ab", ("a", "b")), ("c", ("c",))):
        dirs = list(dict.fromkeys(c["dir"] for g in studies for c in cands[g]))
        args = _rank_args(plan, data, group)
        settings = {k: v for k, v in args.items() if k != "batch"}
        key = digest([VERSION, [(d, model_digest(d)) for d in dirs], settings, group, data["id"]])
        path = work.root / "rank" / f"{group}.json"
        doc = read_json(path)
        if isinstance(doc, dict) and doc.get("key") == key:
            work.echo(f"  [rank] {group}: reused from {path}")
            out[group] = doc
            continue
        t0 = time.perf_counter()
        res = rank(dirs, store=store, **args)
        doc = {"key": key, "values": res.values, "failed": res.failed, "seconds": res.seconds, "cached": res.cached,
               "higher": res.higher_is_better, "settings": res.settings, "wall": time.perf_counter() - t0}
        write_json(path, doc)
        work.echo(f"  [rank] {group}: {len(dirs)} checkpoints in {doc['wall']:.0f} s")
        out[group] = doc
    return out


# ------------------------------------------------------------------------------------------------ 5. fine-tuning
def recipes(plan: Plan, study: str) -> dict:
    """{task: fine-tuning keyword arguments} of a study."""
    if study == "c":
        c = plan.c_ft
        return {"sst2": dict(train_n=c["train_n"], epochs=c["epochs"], max_len=c["max_len"], lr=c["lr"],
                             batch=plan.ft_batch, eval_limit=plan.eval_limit)}
    return {t: dict(plan.ft[t], lr=plan.ft_lr, batch=plan.ft_batch, eval_limit=plan.eval_limit) for t in plan.tasks}


def stage_finetune(plan: Plan, work: Work, cands: dict) -> dict:
    """Every candidate × task × seed; a checkpoint in two studies with the same recipe runs once;
    -> {(dir, task, seed): result}."""
    jobs, keys = {}, []
    for study, items in cands.items():
        for task, recipe in recipes(plan, study).items():
            for c in items:
                dg = model_digest(c["dir"])
                size = _ft_cost(c, recipe)
                for seed in plan.seeds:
                    out = work.root / "finetune" / dg / f"{task}-{digest(recipe)[:8]}-s{seed}.json"
                    jobs.setdefault(out, Job(name=f"{study}:{c['name']} {task} seed {seed}",
                                             fn="experiments.ckpt_models:finetune", out=out, cost=size,
                                             kwargs=dict(ckpt=c["dir"], task=task, seed=seed,
                                                         tmp=str(work.root / "ft_tmp"), **recipe),
                                             depends=[VERSION, dg]))
                    keys.append(((c["dir"], task, seed), jobs[out]))
    docs = work.run(list(jobs.values()), "finetune")
    return {k: docs[j.name]["result"] for k, j in keys}


def _ft_cost(c: dict, recipe: dict) -> float:
    m = c["meta"]
    if "arch" in m:
        layers, hidden, ff = m["arch"]["num_hidden_layers"], m["arch"]["hidden_size"], m["arch"]["intermediate_size"]
    elif "layers" in m:
        layers, hidden, ff = m["layers"], 384, 1536
    else:
        layers, hidden, ff = 2, 128, 512
    return recipe["train_n"] * recipe["epochs"] * recipe["max_len"] * (layers * hidden * (hidden + ff) + 2e5) / 1e9


# ------------------------------------------------------------------------------------------------ 6. analysis
def analyse(plan: Plan, work: Work, data: dict, cands: dict, held: dict, ranks: dict, ft: dict) -> dict:
    """The figures of every study (the JSON layout of the report) from the stored stage results."""
    from swaplm.rank import rank

    studies = {}
    for study, items in cands.items():
        group = "c" if study == "c" else "ab"
        rk = ranks[group]
        higher = rk["higher"]
        dirs = [c["dir"] for c in items]
        tasks = list(recipes(plan, study))
        acc = {t: np.array([[ft[(d, t, s)]["accuracy"] for s in plan.seeds] for d in dirs]) for t in tasks}
        proxies = {p: ([rk["values"][d].get(p) for d in dirs], higher[p]) for p in PROXIES}
        if study != "c":
            proxies["heldout_mlm_loss"] = ([held[d] for d in dirs], False)
        if study == "a":
            proxies["step"] = ([c["meta"]["step"] for c in items], True)
        reference = "params" if study == "c" else "mlm_loss"
        cand_rows = []
        for i, c in enumerate(items):
            cand_rows.append({
                "name": c["name"], "dir": c["dir"], "heldout_mlm_loss": held.get(c["dir"]),
                "accuracy": {t: {"mean": float(acc[t][i].mean()), "std": float(acc[t][i].std(ddof=1))
                                 if len(plan.seeds) > 1 else 0.0, "seeds": acc[t][i].tolist()} for t in tasks},
                "majority": {t: ft[(c["dir"], t, plan.seeds[0])]["majority"] for t in tasks},
                "proxies": {p: rk["values"][c["dir"]].get(p) for p in PROXIES},
                "failed": rk["failed"].get(c["dir"], {}), "rank_seconds": rk["seconds"].get(c["dir"]),
                "finetune_seconds": {t: float(np.mean([ft[(c["dir"], t, s)]["seconds"] for s in plan.seeds]))
                                     for t in tasks},
                "meta": c["meta"]})
        corr: dict = {p: {} for p in proxies}
        reliability, spread = {}, {}
        for t in tasks:
            boot = st.seed_bootstrap(acc[t], proxies, reference, n_boot=plan.n_boot, seed=0)
            truth = {d: float(m) for d, m in zip(dirs, acc[t].mean(1))}
            lib = rank(dirs, truth=truth, store=work.root / "rank" / "store.jsonl",
                       **_rank_args(plan, data, group)).correlations()
            rel = st.reliability(acc[t])
            rel["interval"] = st.reliability_interval(acc[t])
            reliability[t], spread[t] = rel, st.spread(acc[t])
            for p in proxies:
                row = dict(boot[p])
                if p in lib:
                    row["interval_candidates_only"] = lib[p]["spearman_ci"]
                    row["kendall"] = lib[p]["kendall"]
                    row["library_spearman"] = lib[p]["spearman"]
                if "delta" in row:
                    row["delta_vs"] = reference
                rho = row["spearman"]
                row["above_ceiling"] = bool(np.isfinite(rho) and np.isfinite(rel["ceiling"])
                                            and abs(rho) > rel["ceiling"])
                corr[p][t] = row
        studies[study] = {"candidates": cand_rows, "correlations": corr, "reliability": reliability,
                          "spread": spread, "reference": reference, "tasks": tasks,
                          "label_free": list(PROXIES), "baselines": [p for p in proxies if p not in PROXIES]}
    return studies


# ------------------------------------------------------------------------------------------------ main
def command_line(argv: list[str]) -> str:
    """The command as it was typed, as far as this process can tell (``nice`` and ``OMP_WAIT_POLICY`` included)."""
    prefix = []
    niceness = os.nice(0)
    if niceness > 0:
        prefix.append("nice" if niceness == 10 else f"nice -n {niceness}")
    if os.environ.get("OMP_WAIT_POLICY"):
        prefix.append(f"env OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    return " ".join(prefix + ["python", "experiments/checkpoints.py", *map(shlex.quote, argv)])


def run(plan: Plan, work: Work, out: Path, command: str) -> dict:
    """Every stage in order (each reusing what the work folder holds); writes the report and its JSON."""
    from experiments import ckpt_report

    import torch

    torch.set_num_threads(2)
    with work.stage("data"):
        data = stage_data(plan, work)
    with work.stage("pretrain"):
        pre = stage_pretrain(plan, work, data)
    with work.stage("minilm (c)"):
        c_dirs = stage_minilm(plan, work)
    cands = candidates(plan, pre, c_dirs)
    with work.stage("heldout"):
        held = stage_heldout(plan, work, cands, data)
    with work.stage("rank"):
        ranks = stage_rank(plan, work, cands, data)
    with work.stage("finetune"):
        ft = stage_finetune(plan, work, cands)
    with work.stage("analysis"):
        studies = analyse(plan, work, data, cands, held, ranks, ft)
    doc = ckpt_report.document(plan=asdict(plan), data=data["manifest"], pre=pre, studies=studies,
                               stages=work.stages(), this_run=work.this_run, command=command,
                               rank_settings={g: r["settings"] for g, r in ranks.items()},
                               rank_wall={g: r["wall"] for g, r in ranks.items()})
    ckpt_report.write(out, doc)
    work.log(stage="report", event="written", out=str(out))
    return doc


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/checkpoint_ranking.md", help="the Markdown report (JSON beside it)")
    ap.add_argument("--work", default=None, help="work folder (default runs/checkpoints, runs/checkpoints-tiny)")
    ap.add_argument("--tiny", action="store_true", help="the test plan: a few steps, two candidates (seconds)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (one torch thread each)")
    ap.add_argument("--fresh", action="store_true", help="delete the work folder first")
    ap.add_argument("--retrain-tokenizer", action="store_true",
                    help="train the plan's tokenizer anew, write it to experiments/data/ckpt_tokenizer/PLAN (the one "
                         "every run uses) and stop; the trainer is not deterministic, so results change with it")
    ns = ap.parse_args(argv)
    command = command_line(argv)
    for k, v in (("OMP_WAIT_POLICY", "PASSIVE"), ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_OFFLINE", "1"),
                 ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                 ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):
        os.environ.setdefault(k, v)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    plan = tiny_plan() if ns.tiny else Plan()
    if ns.retrain_tokenizer:
        lines, _ = corpus.build_corpus(plan.corpus_limit)
        src = corpus.ship_tokenizer(plan.name, lines, plan.vocab, plan.corpus_limit, command)
        print(f"tokenizer of {src['corpus_lines']:,} corpus lines, {src['tokens']:,} tokens, written to "
              f"{corpus.TOKENIZER_DIR / plan.name} (vocab SHA-256 {src['vocab_sha256'][:16]})")
        return
    if ns.workers is not None:
        plan.workers = ns.workers
    work_dir = Path(ns.work or ("runs/checkpoints-tiny" if ns.tiny else "runs/checkpoints"))
    if ns.fresh:
        remove(work_dir)
    work = Work(work_dir, workers=plan.workers)
    out = Path(ns.out)
    t0 = time.perf_counter()
    run(plan, work, out, command)
    print(f"report written to {out} and {out.with_suffix('.json')} ({(time.perf_counter() - t0) / 60:.1f} min)")


if __name__ == "__main__":
    main()
