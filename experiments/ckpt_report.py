"""The report of the checkpoint-ranking experiment: its JSON document and the Markdown written from it.

JSON layout (what the issue asks for, plus more keys)::

    {"unigram_entropy": float,
     "studies": {"a" | "b" | "c": {
         "candidates": [{"name", "heldout_mlm_loss", "accuracy": {TASK: {"mean", "std", "seeds"}}, ...}],
         "correlations": {PROXY: {TASK: {"spearman", "interval", "interval_candidates_only", "delta", ...}}},
         "reliability": {TASK: {...}}, "spread": {TASK: {...}}, "verdict": str, ...}},
     "stages": {STAGE: {"wall", "cpu", "invocations"}}, "command", "commit", ...}
"""
from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from pathlib import Path

from swaplm.report import fmt, interval_text, markdown_table

from experiments.ckpt_corpus import TASK_EVAL, TASK_LABEL
from experiments.ckpt_work import write_json

STUDY_TITLE = {"a": "(a) checkpoints of one pretraining run",
               "b": "(b) candidates a user would choose between",
               "c": "(c) real weights: all-MiniLM-L6-v2 cut to k layers, and random inits of the same shapes"}
KIND = {"params": "size", "mlm_loss": "loss", "heldout_mlm_loss": "loss", "step": "training-length"}
BLURB = {"swap": "SWAP-Score", "mlm_loss": "MLM loss on the rank batch", "rankme": "RankMe",
         "alpha_req": "α-ReQ", "params": "parameter count",
         "heldout_mlm_loss": "held-out MLM loss (all held-out blocks; a baseline, not a `swaplm rank` proxy)",
         "step": "pretraining step (a baseline: later is better)"}


def _ok(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _excl(ci) -> int:
    """+1 / -1 when an interval lies above / below zero, 0 when it includes zero or is missing."""
    if not ci or not all(_ok(c) for c in ci):
        return 0
    return 1 if ci[0] > 0 else -1 if ci[1] < 0 else 0


def task_verdict(study: dict, task: str) -> dict:
    """Who ranks best on one task of one study, SWAP against the study's reference baseline, the noise."""
    corr, ref = study["correlations"], study["reference"]
    free = {p: corr[p][task]["spearman"] for p in study["label_free"] if _ok(corr[p][task]["spearman"])}
    allp = {p: corr[p][task]["spearman"] for p in corr if _ok(corr[p][task]["spearman"])}
    best = max(free, key=free.get) if free else None
    best_all = max(allp, key=allp.get) if allp else None
    sw = corr["swap"][task]
    d, dci = sw.get("delta"), sw.get("delta_interval")
    side = _excl(dci)
    return {"task": task, "best": best, "best_rho": free.get(best), "best_interval": corr[best][task]["interval"]
            if best else None, "best_any": best_all, "best_any_rho": allp.get(best_all),
            "swap": sw["spearman"], "swap_interval": sw["interval"], "reference": ref, "ref_rho":
            corr[ref][task]["spearman"], "delta": d, "delta_interval": dci, "delta_side": side,
            "reliability": study["reliability"][task]["reliability"], "ceiling": study["reliability"][task]["ceiling"],
            "ratio": study["spread"][task]["ratio_range"],
            "above": [p for p in corr if corr[p][task].get("above_ceiling")]}


def verdict(key: str, study: dict) -> str:
    """One plain paragraph per study, computed from its numbers."""
    parts = []
    ref = study["reference"]
    for task in study["tasks"]:
        v = task_verdict(study, task)
        t = TASK_LABEL.get(task, task)
        if v["best"] is None:
            parts.append(f"{t}: no proxy has a defined ρ.")
            continue
        kind = KIND.get(v["best"])
        who = f"the {kind} baseline `{v['best']}`" if kind else f"`{v['best']}`"
        s = f"{t}: {who} ranks best among the label-free proxies (ρ {interval_text(v['best_rho'], v['best_interval'])}"
        s += ", interval above 0)" if _excl(v["best_interval"]) > 0 else ", interval includes 0)" if \
            _excl(v["best_interval"]) == 0 else ", interval below 0)"
        if v["best_any"] not in (None, v["best"]) and v["best_any_rho"] > v["best_rho"]:
            s += f"; the {KIND.get(v['best_any'], 'extra')} baseline `{v['best_any']}` does better still " \
                 f"(ρ {fmt(v['best_any_rho'])})"
        if v["best"] != "swap":
            s += f"; SWAP ρ {interval_text(v['swap'], v['swap_interval'])}"
        if _ok(v["delta"]):
            s += f"; SWAP − `{ref}` Δρ {interval_text(v['delta'], v['delta_interval'])}: " + (
                f"SWAP ranks better than `{ref}`" if v["delta_side"] > 0 else
                f"`{ref}` ranks better than SWAP" if v["delta_side"] < 0 else
                "no difference the seeds and candidates can resolve (the interval includes 0)")
        elif not _ok(v["ref_rho"]):
            s += f"; `{ref}` has no defined ρ here"
        s += f". Truth reliability {fmt(v['reliability'], 2)} (ceiling {fmt(v['ceiling'], 2)}), candidate spread " \
             f"{fmt(v['ratio'], 1)} × the seed std."
        parts.append(s)
    extra = _progress_note(study) if key == "a" else _pairs_note(study) if key == "c" else ""
    return f"Study ({key}): " + " ".join(parts) + extra


def _progress_note(study: dict) -> str:
    """(a): does later pretraining give better fine-tuning at all? Step 0 (the random init) against the last step."""
    first, last = study["candidates"][0], study["candidates"][-1]
    out = []
    for task in study["tasks"]:
        a, b = first["accuracy"].get(task), last["accuracy"].get(task)
        if not a or not b:
            continue
        noise = math.sqrt((a["std"] ** 2 + b["std"] ** 2) / 2)
        d = b["mean"] - a["mean"]
        how = ("raised it" if d > 0 else "lowered it") if abs(d) > 2 * noise else \
            "left it unchanged within twice the seed std"
        s = (f"{TASK_LABEL.get(task, task)} accuracy {a['mean']:.3f} at {first['name']} (the random init) and "
             f"{b['mean']:.3f} at {last['name']}: pretraining {how}")
        if abs(d) <= 2 * noise or d < 0:
            s += ", so on this task a later checkpoint is not a better one"
        out.append(s)
    return (" Pretraining progress: " + "; ".join(out) + ".") if out else ""


def _pairs_note(study: dict) -> str:
    """(c): at each depth, does SWAP put the pretrained weights above their random-init control?"""
    by = {}
    for c in study["candidates"]:
        by.setdefault(c["meta"]["layers"], {})["pre" if c["meta"]["pretrained"] else "rnd"] = c
    pairs = [d for d in by.values() if {"pre", "rnd"} <= d.keys()
             and _ok(d["pre"]["proxies"].get("swap")) and _ok(d["rnd"]["proxies"].get("swap"))]
    if not pairs:
        return ""
    won = sum(d["pre"]["proxies"]["swap"] > d["rnd"]["proxies"]["swap"] for d in pairs)
    tasks = study.get("tasks") or sorted({t for d in pairs for t in d["pre"]["accuracy"]})
    better = {t: sum(d["pre"]["accuracy"][t]["mean"] > d["rnd"]["accuracy"][t]["mean"] for d in pairs
                     if t in d["pre"]["accuracy"] and t in d["rnd"]["accuracy"]) for t in tasks}
    where = (f"at {better[tasks[0]]}" if len(tasks) == 1
             else ", ".join(f"on {t} at {n}" for t, n in better.items()))
    return (f" At {won} of {len(pairs)} depths SWAP scores the pretrained weights above the random init of the same "
            f"shape (the pretrained model fine-tunes better {where} of {len(pairs)}); `params` gives each such pair "
            "the same value.")


def document(*, plan: dict, data: dict, pre: dict, studies: dict, stages: dict, this_run: dict, command: str,
             rank_settings: dict, rank_wall: dict) -> dict:
    from swaplm.report import git_commit, versions

    for k, s in studies.items():
        s["verdict"] = verdict(k, s)
    total = sum(v["wall"] for v in stages.values())
    a_info = pre["a_info"]
    return {"unigram_entropy": data["unigram_entropy"], "studies": studies,
            "unigram_entropy_masked_positions": data["unigram_entropy_masked"],
            "command": command, "commit": git_commit(), "code_modified": _code_modified(),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "niceness": os.nice(0),
                        "versions": versions()},
            "stages": stages, "total_seconds": total, "this_invocation": this_run, "data": data, "plan": plan,
            "pretraining_a": {"train_loss": a_info["train_loss"], "seconds": a_info["seconds"],
                              "tokens": a_info["tokens"], "epochs": a_info["epochs"], "params": a_info["params"]},
            "rank_settings": rank_settings, "rank_wall_seconds": rank_wall,
            "summary": [s["verdict"] for s in studies.values()]}


def _code_modified() -> bool | None:
    """Whether experiments/ differs from the checked-out commit (None when git cannot tell)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True, text=True, cwd=here,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def plain(obj):
    """``obj`` with NaN and ±inf as None, numpy numbers as Python ones and tuples as lists (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ------------------------------------------------------------------------------------------------ Markdown
def write(out: Path, doc: dict) -> None:
    """The Markdown report at ``out`` and ``doc`` as JSON beside it (``out`` with ``.json``)."""
    from swaplm.report import provenance_footer

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = plain(doc)
    write_json(out.with_suffix(".json"), doc)
    lines = [*_header(doc), *_summary(doc), *_setup(doc), *_stages(doc), *_learning(doc)]
    for key in doc["studies"]:
        lines += _study(doc, key)
    lines += [*_caveats(doc), provenance_footer()]
    out.write_text("\n".join(lines), encoding="utf-8")


def _header(doc: dict) -> list[str]:
    commit = doc["commit"] or "unknown"
    mod = " (the experiment code was modified after that commit)" if doc["code_modified"] else ""
    tiny = ["**TINY TEST PLAN: a few steps, numbers mean nothing.**", ""] if doc["plan"]["name"] != "full" else []
    m = doc["machine"]
    return ["# Ranking pretraining checkpoints without labels: `swaplm rank` against fine-tuned accuracy", "", *tiny,
            f"Command (run from the repository root): `{doc['command']}`. Code at commit `{commit[:12]}`{mod}; "
            f"finished {doc['finished']}. Every figure here was measured by that command; the same figures are in "
            "the JSON file of the same name.", "",
            f"Machine: {m['machine']}, {m['cpu_count']} CPU cores (niceness {m['niceness']}; other jobs may have "
            "shared the cores, so wall times are upper bounds); "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", ""]


def _summary(doc: dict) -> list[str]:
    return ["## Verdict", "", *[f"* {s}" for s in doc["summary"]], "",
            f"Δρ intervals are paired 95 % bootstrap intervals over {doc['plan']['n_boot']:,} replicates that "
            "resample the candidates "
            "and, within each drawn candidate, its fine-tuning seeds (so they carry the seed noise). The "
            "reliability is the Spearman-Brown split-half reliability of the mean accuracy over seeds; its square "
            "root is the ceiling a proxy can be expected to reach.", ""]


def _setup(doc: dict) -> list[str]:
    d, p = doc["data"], doc["plan"]
    rows = [[v["what"], f"`{v['file']}`", v["lines"], f"{v['words']:,}", v["dropped_overlap"]]
            for v in d["parts"].values()]
    h = d["heldout"]
    ft = p["ft"]
    return ["## Setup", "",
            "### Pretraining corpus (training splits only)", "",
            markdown_table(["part", "file (../shared/data, or the package)", "lines", "words",
                            "lines dropped (overlap)"], rows, align="llrrr"), "",
            f"`lines dropped`: lines that share a run of 8 words with an evaluation example (SST-2 dev, the QNLI "
            f"evaluation pairs) or with the held-out text, or equal a shorter evaluation example. "
            f"Never read: {', '.join(d['not_read'])}. Total {d['corpus_tokens']:,} tokens "
            f"({d['corpus_blocks']:,} blocks of {p['seq']}).", "",
            f"**Held-out MLM text:** {h['what']} (`{h['file']}`, the text of `builtin:wikitext2`), "
            f"{h['lines']} lines, {h['tokens']:,} tokens; the held-out loss uses {h['blocks']} blocks of {p['seq']} "
            f"tokens and the ranking batch its first {p['rank_n']} blocks of {p['rank_len']}.", "",
            f"**Tokenizer:** lower-casing WordPiece trained on the corpus with the `tokenizers` library, "
            f"{d['vocab_size']:,} tokens ([UNK] share {100 * d['tokenizer']['unk_share']:.3f} %).", "",
            f"**Unigram entropy:** {d['unigram_entropy']:.3f} nats/token: the cross-entropy of the held-out tokens "
            "(special tokens excluded) under the corpus's unigram frequencies with add-one smoothing over the "
            f"vocabulary, p(t) = (c(t) + 1) / (C + V). On the masked positions of the held-out loss it is "
            f"{d['unigram_entropy_masked']:.3f}; on the corpus itself {d['unigram_entropy_corpus']:.3f}. A model "
            "that ignores the context cannot do better; the held-out MLM loss below is in the same units.", "",
            "**Pretraining** (HF `Trainer`, masked LM: 15 % of the tokens, 80/10/10): blocks of "
            f"{p['seq']} tokens, batch {p['batch']}, AdamW (β2 0.98, weight decay 0.01), {100 * p['warmup']:.0f} % "
            "warm-up then linear decay, seed 0. ConvBERT (Jiang et al., 2020: span-based dynamic convolution beside "
            "self-attention) is the main family because a BERT of the same size learns far more slowly on this "
            f"budget: {_family_note(doc)}", "",
            "**Fine-tuning** (HF `Trainer`, every weight trained): a masked mean of the last hidden states, "
            "dropout 0.1 and one linear layer (the same head for every model), AdamW, 10 % warm-up, linear decay, "
            f"batch {p['ft_batch']}; seeds {', '.join(map(str, p['seeds']))} (the seed sets the head, dropout and "
            "data order; the training rows are the same for every seed).",
            *[f"  * {TASK_LABEL[t]}: {ft[t]['train_n']:,} training rows (drawn once, seed 0) × {ft[t]['epochs']} "
              f"epochs, at most {ft[t]['max_len']} tokens, lr {p['ft_lr']:g}; evaluated on {TASK_EVAL[t]}."
              for t in p["tasks"]],
            f"  * (c), SST-2 only: {p['c_ft']['train_n']:,} rows × {p['c_ft']['epochs']} epochs, at most "
            f"{p['c_ft']['max_len']} tokens, lr {p['c_ft']['lr']:g} (a rate in the usual range for pretrained BERT "
            "weights; the same for the random initialisations).", "",
            f"**Ranking:** `swaplm.rank.rank` (the function behind `swaplm rank`), proxies "
            + ", ".join(f"`{x}`" for x in ("swap", "mlm_loss", "rankme", "alpha_req", "params"))
            + f", one batch of {p['rank_n']} held-out blocks of {p['rank_len']} tokens, eval mode, seed 0; (a) and (b) "
            "with their own tokenizer, (c) with MiniLM's (BERT uncased). The truth is the mean accuracy over seeds; "
            "the correlations also come from `rank(..., truth=...)`, whose candidate-only intervals are listed "
            "beside the seed-aware ones.", ""]


def _family_note(doc: dict) -> str:
    """The held-out losses of (b)'s BERT and ConvBERT candidates with the same architecture and budget."""
    h = doc["unigram_entropy"]
    by = {(c["meta"].get("family"), json_key(c["meta"])): c for c in doc["studies"]["b"]["candidates"]}
    pairs = [(by[("bert", k)], by[("convbert", k)]) for f, k in by if f == "bert" and ("convbert", k) in by]
    if not pairs:
        return "(b) has no BERT and ConvBERT candidates of the same shape to compare."
    bert, conv = pairs[0]
    return (f"with the same shape, data and steps, (b)'s BERT ends at a held-out MLM loss of "
            f"{fmt(bert['heldout_mlm_loss'], 3)} and its ConvBERT at {fmt(conv['heldout_mlm_loss'], 3)} "
            f"(unigram entropy {h:.3f}).")


def json_key(meta: dict) -> str:
    return repr([meta.get("arch"), meta.get("lr"), meta.get("steps")])


def _stages(doc: dict) -> list[str]:
    rows = []
    for name, v in doc["stages"].items():
        run = doc["this_invocation"].get(name.split(" ")[0], {})
        jobs = f"{run.get('ran', 0)} run, {run.get('reused', 0)} reused" if run else ""
        rows.append([name, f"{v['wall'] / 60:.1f}", f"{v['cpu'] / 60:.1f}", v["invocations"], jobs])
    total = doc["total_seconds"]
    return ["## Cost: measured time of each stage", "",
            markdown_table(["stage", "wall min", "CPU min (all processes)", "invocations", "jobs (last invocation)"],
                           rows, align="lrrrl"), "",
            f"Total **{total / 60:.1f} min** of wall time (the sum over every invocation that worked on this work "
            "folder; a stage resumed by a later invocation counts the time of both). CPU minutes count every "
            "worker process, so twice the wall time means both cores were busy.", ""]


def _learning(doc: dict) -> list[str]:
    h = doc["unigram_entropy"]
    a = doc["studies"]["a"]["candidates"]
    b = doc["studies"]["b"]["candidates"]
    fa = a[-1]["heldout_mlm_loss"]
    lb = [c["heldout_mlm_loss"] for c in b if _ok(c["heldout_mlm_loss"])]
    tl = doc["pretraining_a"]["train_loss"]
    curve = ", ".join(f"{s}: {fmt(x, 2)}" for s, x in tl[:: max(1, len(tl) // 8)])
    below = f"**{h - fa:.2f} nats below** it" if _ok(fa) else "undefined"
    span = (f"span **{max(lb) - min(lb):.2f} nats** ({min(lb):.3f} to {max(lb):.3f})" if lb else "are undefined")
    return ["## Did the models learn?", "",
            f"* (a)'s final checkpoint: held-out MLM loss **{fmt(fa, 3)}** nats against the unigram entropy "
            f"{h:.3f}: {below}.",
            f"* (b): held-out MLM losses {span}.",
            f"* (a)'s training loss (80/10/10 masking, so below the all-[MASK] held-out loss) by step: {curve}.", ""]


def _acc(c: dict, t: str) -> str:
    a = c["accuracy"].get(t)
    return f"{a['mean']:.3f} ± {a['std']:.3f}" if a else "—"


def _proxy_cell(v, p: str) -> str:
    if v is None:
        return "failed"
    if p == "params" or float(v).is_integer():
        return f"{int(v):,}"
    return fmt(float(v), 4)


def _study(doc: dict, key: str) -> list[str]:
    s = doc["studies"][key]
    h = doc["unigram_entropy"]
    tasks = s["tasks"]
    proxies = s["label_free"]
    cols = ["candidate"]
    if key == "b":
        cols += ["family", "params", "tokens", "epochs", "pretrain s"]
    if key == "c":
        cols += ["layers", "weights"]
    if key != "c":
        cols += ["held-out MLM loss", "below unigram"]
    cols += [f"{TASK_LABEL[t]} acc" for t in tasks] + [f"{p}" for p in proxies]
    rows = []
    for c in s["candidates"]:
        m = c["meta"]
        row = [c["name"]]
        if key == "b":
            row += [m["family"], f"{m['params']:,}", f"{m['tokens']:,}", f"{m['epochs']:.2f}", f"{m['seconds']:.0f}"]
        if key == "c":
            row += [m["layers"], "pretrained" if m["pretrained"] else "random"]
        if key != "c":
            loss = c["heldout_mlm_loss"]
            row += [fmt(loss, 3), fmt(h - loss, 2) if _ok(loss) else "—"]
        row += [_acc(c, t) for t in tasks] + [_proxy_cell(c["proxies"].get(p), p) for p in proxies]
        rows.append(row)
    maj = {t: s["candidates"][0]["majority"][t] for t in tasks}
    lines = [f"## {STUDY_TITLE[key]}", "",
             markdown_table(cols, rows, align="l" + "r" * (len(cols) - 1)), "",
             "Accuracy: mean ± standard deviation over the seeds; majority class "
             + ", ".join(f"{TASK_LABEL[t]} {maj[t]:.3f}" for t in tasks) + ". Proxy values as `swaplm rank` "
             "computed them (`failed`: the proxy does not apply, e.g. no masked-LM head).", ""]
    sp_rows = [[TASK_LABEL[t], fmt(s["spread"][t]["range"], 3), fmt(s["spread"][t]["sd_means"], 3),
                fmt(s["spread"][t]["mean_seed_sd"], 3), fmt(s["spread"][t]["ratio_range"], 1),
                fmt(s["spread"][t]["ratio_sd"], 1), fmt(s["reliability"][t]["half_rho"], 3),
                interval_text(s["reliability"][t]["reliability"], s["reliability"][t].get("interval")),
                fmt(s["reliability"][t]["ceiling"], 3)] for t in tasks]
    lines += ["### Spread against the seed noise, and the reliability of the truth", "",
              markdown_table(["task", "range of means", "sd of means", "mean seed sd", "range / seed sd",
                              "sd of means / seed sd", "split-half ρ", "reliability [95 %]", "ceiling √rel"],
                             sp_rows, align="lrrrrrrrr"), "",
              "`range / seed sd` = (max − min of the candidates' mean accuracies) / (mean over candidates of the "
              "standard deviation over seeds). Split-half: the seeds are split into two halves (every split), the "
              "candidates' half means are rank-correlated, and each ρ is stepped up to the full number of seeds "
              "with Spearman-Brown (unequal halves: the single-seed reliability solving r² = R_a·R_b), then "
              "averaged; the interval resamples candidates.", ""]
    for t in tasks:
        rows = []
        notes = []
        ceiling = s["reliability"][t]["ceiling"]
        for p, per in s["correlations"].items():
            c = per[t]
            mark = " ⚠" if c.get("above_ceiling") else ""
            rows.append([f"`{p}`" + ("" if p in proxies else " (baseline)"),
                         interval_text(c["spearman"], c["interval"]) + mark,
                         interval_text(c.get("library_spearman"), c.get("interval_candidates_only"))
                         if "library_spearman" in c else "—",
                         interval_text(c.get("delta"), c.get("delta_interval")) if "delta" in c else "—"])
            if c.get("above_ceiling"):
                notes.append(f"`{p}`'s |ρ| {abs(c['spearman']):.3f} is above the ceiling {ceiling:.3f}: with "
                             f"{len(s['candidates'])} candidates the ceiling is itself an estimate (its reliability "
                             "interval is above) and a proxy can land above it by chance; read the interval, not "
                             "the point value.")
        lines += [f"### {STUDY_TITLE[key].split(':')[0]}, {TASK_LABEL[t]}: rank correlation with the mean "
                  "accuracy", "",
                  markdown_table(["proxy", "Spearman ρ [95 %, seeds + candidates]",
                                  "`swaplm rank --truth` ρ [95 %, candidates only]",
                                  f"Δρ vs `{s['reference']}` [95 %, paired]"], rows, align="lrrr"), "",
                  " ".join(["Positive ρ = ranks like the accuracy (lower-is-better proxies are negated)."]
                           + [f"`{p}`: {BLURB[p]}." for p in s["baselines"]]), ""]
        lines += [f"* {n}" for n in notes] + ([""] if notes else [])
    lines += [f"**Verdict.** {s['verdict']}", ""]
    return lines


def _caveats(doc: dict) -> list[str]:
    n = {k: len(v["candidates"]) for k, v in doc["studies"].items()}
    return ["## Caveats", "",
            f"* {n['a']}, {n['b']} and {n['c']} candidates: the intervals are wide; they, not the point values, "
            "carry the verdicts.",
            "* Small models, a corpus of about a million words and a few thousand fine-tuning rows: the absolute "
            "accuracies say nothing about real BERTs. Whether pretraining helps a task at all at this scale shows "
            "in (a) (step 0 is the random initialisation).",
            "* In (c) no model has a masked-LM head, so `mlm_loss` fails for all of them and the size baseline "
            "(`params`) is the reference; the pretrained and random models of one depth have the same size.",
            "* Wall times were measured on 2 cores that other jobs may have shared.", ""]
