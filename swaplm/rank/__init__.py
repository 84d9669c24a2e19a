"""``swaplm rank``: score pretrained checkpoints with label-free proxies and rank them before fine-tuning.

Every checkpoint is scored with its trained weights (eval mode) on one batch shared by all, through the evaluation
layer (:mod:`swaplm.runner`): values are stored per checkpoint under a key holding a digest of its weight files, so
a changed checkpoint is recomputed and an unchanged one is read back. A checkpoint that cannot be loaded (missing
or corrupt weights, an offline hub id) is reported for itself in one line; the others are still ranked.

>>> result = rank(["runs/bert"], proxies=["swap", "mlm_loss"])
>>> result.ranking()[0]["model"]
"""
from __future__ import annotations

import csv
import functools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplm.errors import SwapError
from swaplm.runner.identity import json_safe
from swaplm.runner.settings import DEFAULT

from .loading import Candidate, content_digest, expand, fingerprint, load_checkpoint

#: the label-free proxies checkpoints are ranked with by default (``swaplm rank``, :class:`SwapCallback`)
DEFAULT_PROXIES = ("swap", "mlm_loss", "rankme", "alpha_req", "params")


def default_store_path() -> Path:
    """``$SWAPLM_CACHE/rank/rank.jsonl``: the store of checkpoint values, beside the bench stores."""
    from swaplm.runner.store import default_cache_dir

    return default_cache_dir().parent / "rank" / "rank.jsonl"


@dataclass
class RankResult:
    """Scores of every candidate (in input order), the proxies' directions, truth and timings."""

    candidates: list[Candidate]
    proxies: list[str]
    higher_is_better: dict[str, bool]
    values: dict[str, dict[str, float | None]]
    failed: dict[str, dict[str, str]]
    seconds: dict[str, float]  # per candidate: load + every proxy (what ranking it cost when computed)
    cached: dict[str, bool]
    settings: dict[str, Any]
    wall_seconds: float
    truth: dict[str, float] = field(default_factory=dict)

    def ranking(self) -> list[dict[str, Any]]:
        """Candidates best first by the first proxy (its direction respected); failed ones last, input order."""
        first = self.proxies[0]
        sign = 1.0 if self.higher_is_better[first] else -1.0

        def order(item):
            i, c = item
            v = self.values[c.name].get(first)
            return (0, -sign * v, i) if v is not None and math.isfinite(v) else (1, 0.0, i)

        rows = []
        for _, c in sorted(enumerate(self.candidates), key=order):
            row = {"model": c.name, "scores": {p: self.values[c.name].get(p) for p in self.proxies},
                   "failed": dict(self.failed.get(c.name, {})), "seconds": self.seconds.get(c.name),
                   "cached": self.cached.get(c.name, False)}
            if c.step is not None:
                row["step"] = c.step
            if c.name in self.truth:
                row["truth"] = self.truth[c.name]
            rows.append(row)
        return rows

    def correlations(self, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
        """Spearman / Kendall (+ Pearson) of each proxy with the truth, 95 % bootstrap intervals; a failed value
        ranks worst. Empty without truth."""
        if not self.truth:
            return {}
        from swaplm import stats

        names = [c.name for c in self.candidates if c.name in self.truth]
        truth = [self.truth[n] for n in names]
        out = {}
        for p in self.proxies:
            vals = [self.values[n].get(p) for n in names]
            c = stats.correlations(vals, truth, self.higher_is_better[p], intervals=True, n_boot=n_boot, seed=seed)
            out[p] = {k: c[k] for k in ("n", "non_finite", "spearman", "spearman_ci", "kendall", "kendall_ci",
                                        "pearson", "pearson_ci")}
        return out

    def to_json(self) -> dict[str, Any]:
        return json_safe({"ranking": self.ranking(), "correlations": self.correlations(),
                           "settings": self.settings, "wall_seconds": self.wall_seconds})

    def terminal(self) -> list:
        """What the terminal shows: the ranking table, one line per failed checkpoint, the truth correlations."""
        from rich.table import Table

        from swaplm.report import fmt, interval_text

        ranking = self.ranking()
        table = Table(title=f"swaplm rank: {len(ranking)} checkpoint(s), {self.wall_seconds:.1f} s "
                            f"({sum(self.cached.values())} from the store)", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("model", style="bold cyan")
        for p in self.proxies:
            table.add_column(f"{p} {'↑' if self.higher_is_better[p] else '↓'}", justify="right")
        if self.truth:
            table.add_column("truth", justify="right")
        for i, r in enumerate(ranking, 1):
            cells = [fmt(r["scores"][p], 4) if r["scores"][p] is not None else "failed" for p in self.proxies]
            table.add_row(str(i), r["model"], *cells, *([fmt(r.get("truth"), 4)] if self.truth else []))
        parts: list = [table]
        for r in ranking:
            if r["failed"]:
                reasons = sorted(set(r["failed"].values()))
                parts.append(f"[yellow]{r['model']}[/]: " + ("; ".join(f"{p}: {w}" for p, w in r["failed"].items())
                                                             if len(reasons) > 1 else reasons[0]))
        if self.truth:
            ct = Table(title="correlation with --truth (95 % bootstrap CI)", title_justify="left")
            for c in ("proxy", "n", "Spearman ρ", "Kendall τ"):
                ct.add_column(c, justify="right" if c != "proxy" else "left")
            for p, c in self.correlations().items():
                ct.add_row(p, str(c["n"]), interval_text(c["spearman"], c["spearman_ci"]),
                           interval_text(c["kendall"], c["kendall_ci"]))
            parts.append(ct)
        return parts

    def check_any_scored(self) -> None:
        """A one-line error when no checkpoint got any value (the first one's reason, and how many failed)."""
        ranking = self.ranking()
        if ranking and all(all(v is None for v in r["scores"].values()) for r in ranking):
            first = ranking[0]
            why = next(iter(first["failed"].values()), "failed")
            more = f" (and {len(ranking) - 1} other checkpoint(s) failed too)" if len(ranking) > 1 else ""
            raise SwapError(f"{first['model']}: {why}{more}")


def make_batch(data: str | None, *, n: int, max_length: int, seed: int, tokenizer: str | None = None):
    """The one batch every checkpoint is scored on (the shipped BERT uncased tokenizer unless ``tokenizer``)."""
    from swaplm import data as data_mod

    tok = None
    if tokenizer is not None:
        from transformers import AutoTokenizer

        from swaplm.models import _offline

        try:
            tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=_offline())
        except Exception as e:
            raise SwapError(f"cannot load tokenizer {tokenizer!r}: {str(e).strip().splitlines()[0][:160]}") from None
    return data_mod.make_batch(data_mod.resolve_source(data, "text"), model_kind="text", tokenizer=tok, n=n,
                               max_length=max_length, seed=seed)


def rank(models: Sequence[str], *, proxies: Sequence[str] | str = DEFAULT_PROXIES, data: str | None = None,
         n: int | None = None, max_length: int | None = None, seed: int = 0, device: str = "cpu", dtype: str = "float32",
         tokenizer: str | None = None, batch=None, store: Any = DEFAULT, workers: int = 1,
         threads: int | None = None, progress: bool = False, truth: Mapping[str, float] | str | Path | None = None
         ) -> RankResult:
    """Score and rank the checkpoints named by ``models`` (directories, ``checkpoint-*`` parents, built-in
    names, hub ids). ``n`` samples and ``max_length`` tokens (None: 128 each). ``proxies``: names or a
    comma-separated string. ``store``: :data:`DEFAULT` the default
    ``$SWAPLM_CACHE/rank/rank.jsonl``, None for no store, or a path / :class:`~swaplm.runner.Store`. ``truth``:
    ``{model name: score}`` or a file :func:`read_truth` reads. ``device``: auto, cpu or cuda."""
    from swaplm.proxies import get_proxy
    from swaplm.runner import Scorer, Settings, Store, evaluate_candidates, make_executor
    from swaplm.runner.settings import resolve_device

    t0 = time.perf_counter()
    if not models:
        raise SwapError("no model or checkpoint directory given")
    n, max_length = (128 if v is None else v for v in (n, max_length))
    if isinstance(proxies, str):
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    for p in proxies:
        get_proxy(p)  # unknown names fail before anything is loaded
    settings = Settings(n=n, repeats=1, init=None, mode="eval", padding="mask", seed=seed,
                        device=resolve_device(device), dtype=dtype)
    if max_length < 2:
        raise SwapError(f"--max-length must be >= 2, got {max_length}")
    if isinstance(truth, (str, Path)):
        truth = read_truth(truth)
    cands = expand(list(models))
    names = [c.name for c in cands]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise SwapError(f"checkpoint listed twice: {', '.join(dup)}")
    truth = match_truth(truth, cands) if truth is not None else None
    if batch is None:
        batch = make_batch(data, n=n, max_length=max_length, seed=seed, tokenizer=tokenizer)
    vocab_limit = int(batch["input_ids"].max()) + 1
    scorer = Scorer(None, list(proxies), settings, batch=batch,
                    build=functools.partial(load_checkpoint, vocab_limit=vocab_limit), name="rank",
                    fingerprint=fingerprint())
    if store is DEFAULT:
        store = Store(default_store_path())
    elif store is not None and not isinstance(store, Store):
        store = Store(store)
    good = [c for c in cands if c.error is None]
    evals = {}
    if good:
        executor = make_executor(workers, threads)
        try:
            evals = evaluate_candidates(scorer, [(c.key, c.source) for c in good], store=store,
                                        executor=executor, progress=progress,
                                        label=f"rank: {len(good)} checkpoint(s)")
        finally:
            executor.close()
    values, failed, seconds, cached = {}, {}, {}, {}
    for c in cands:
        if c.error is not None:
            values[c.name] = {p: None for p in scorer.names}
            failed[c.name] = {p: c.error for p in scorer.names}
            seconds[c.name], cached[c.name] = 0.0, False
            continue
        ev = evals[c.key]
        values[c.name], failed[c.name] = dict(ev.values), dict(ev.failed)
        seconds[c.name] = ev.build_seconds + sum(ev.seconds.get(p, 0.0) for p in scorer.run_names)
        cached[c.name] = ev.cached
    result = RankResult(cands, scorer.names, {p.name: p.higher_is_better for p in scorer.proxies}, values, failed,
                        seconds, cached, {**scorer.settings_json(), "max_length": max_length,
                                          "store": str(store.path) if store is not None else None},
                        time.perf_counter() - t0, dict(truth or {}))
    return result


def read_truth(path: str | Path) -> dict[str, float]:
    """``{model: score}`` from a CSV with columns ``model,score`` (or a JSONL whose rows have ``model`` and a
    numeric ``score``, as :class:`swaplm.integrations.SwapCallback` writes when given ``metric``). Every problem is
    a one-line :class:`SwapError`."""
    p = Path(path)
    if not p.is_file():
        raise SwapError(f"truth file {str(path)!r} not found")
    rows: list[tuple[int, Any, Any]] = []
    try:
        if p.suffix.lower() == ".jsonl":
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    obj = json.loads(line)
                    if not isinstance(obj, dict) or "model" not in obj:
                        raise SwapError(f"truth file {p}: line {i} has no 'model'")
                    if obj.get("score") is not None:
                        rows.append((i, obj["model"], obj["score"]))
        else:
            with p.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                cols = [c.strip() for c in (reader.fieldnames or [])]
                if "model" not in cols or "score" not in cols:
                    raise SwapError(f"truth file {p} needs the columns model,score (found: {', '.join(cols) or 'none'})")
                for i, r in enumerate(reader, 2):
                    r = {(k or "").strip(): v for k, v in r.items()}
                    rows.append((i, (r.get("model") or "").strip(), r.get("score")))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise SwapError(f"cannot read truth file {p}: {str(e).splitlines()[0]}") from None
    out: dict[str, float] = {}
    for i, model, score in rows:
        if not model:
            raise SwapError(f"truth file {p}: line {i} has an empty model name")
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise SwapError(f"truth file {p}: line {i}: score {score!r} of {model!r} is not a number") from None
        if not math.isfinite(value):
            raise SwapError(f"truth file {p}: line {i}: score of {model!r} is not finite ({score})")
        if model in out:
            raise SwapError(f"truth file {p}: model {model!r} appears twice")
        out[str(model)] = value
    if not out:
        raise SwapError(f"truth file {p} has no rows")
    return out


def match_truth(truth: Mapping[str, float], cands: Sequence[Candidate]) -> dict[str, float]:
    """Key the truth by the ranked names: a truth name matches a ranked name exactly or as the same path
    (normalised, or the same absolute directory). Unknown names are a one-line error."""
    by_norm = {}
    for c in cands:
        for alias in {c.name, os.path.normpath(c.name), os.path.abspath(c.name)}:
            by_norm.setdefault(alias, c.name)
    out, unknown = {}, []
    for name, value in truth.items():
        hit = by_norm.get(name) or by_norm.get(os.path.normpath(name)) or by_norm.get(os.path.abspath(name))
        if hit is None:
            unknown.append(name)
        else:
            out[hit] = value
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise SwapError(f"--truth names model(s) not being ranked: {shown} (ranked: "
                        f"{', '.join(c.name for c in cands[:3])}{' ...' if len(cands) > 3 else ''})")
    return out


__all__ = ["rank", "RankResult", "read_truth", "match_truth", "make_batch", "expand", "load_checkpoint",
           "content_digest", "default_store_path", "DEFAULT_PROXIES"]
