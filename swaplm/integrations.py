"""Hugging Face integration: :class:`SwapCallback`, label-free checkpoint scores logged during training.

>>> from swaplm.integrations import SwapCallback
>>> trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
>>> SwapCallback(tokenizer=tok, metric="eval_accuracy").attach(trainer)   # or Trainer(callbacks=[...])
>>> trainer.train()

At every save (and, with ``on=("save", "evaluate")``, every evaluation) the model is scored in eval mode on one
fixed unlabeled batch with the same proxies, settings and loading convention as ``swaplm rank`` (the encoder is
scored; a masked-LM model's head serves ``mlm_loss``), so a checkpoint's logged values equal what ``swaplm rank``
computes for it. The scores go through ``Trainer.log`` (keys ``swaplm/<proxy>``), so TensorBoard, W&B and
``trainer.state.log_history`` get them like the loss. A callback passed to ``Trainer(callbacks=[...])`` instead of
:meth:`SwapCallback.attach` has no handle on the trainer (callbacks are not given one), so its values are merged
into the next regular log entry instead (``on_log``: they reach ``log_history`` and the callbacks after this one).
Every scored checkpoint is also appended to ``<output_dir>/swaplm_scores.jsonl``::

    {"model": "<output_dir>/checkpoint-500", "step": 500, "epoch": 1.0, "scores": {"swap": ..., ...},
     "failed": {}, "seconds": 0.8, "score": <metric value or null>, "metric": "eval_accuracy"}

which ``swaplm rank --truth swaplm_scores.jsonl`` reads directly when ``metric`` names an evaluation metric
(rows without a value are skipped).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from swaplm.errors import SwapError
from swaplm.rank import DEFAULT_PROXIES


def scored_module(model, tokenizer=None):
    """The module ``swaplm rank`` would score for this model: the encoder of a masked-LM model (carrying its
    head for ``mlm_loss``), else the model itself."""
    from swaplm.proxies.mlm_loss import attach_lm
    from swaplm.rank.loading import HEAD_ARCHS

    if type(model).__name__.endswith(HEAD_ARCHS) and getattr(model, "base_model", model) is not model:
        return attach_lm(model.base_model, model, tokenizer)
    return model


class SwapCallback(TrainerCallback):
    """Score the model on a fixed unlabeled batch at every save (and/or evaluation) and log the scores.

    ``batch``: the inputs (a dict / BatchEncoding of (N, L) tensors); else one is made from ``data`` with
    ``tokenizer`` (default: the Trainer's processing class, else the shipped BERT uncased vocab), ``n`` and
    ``max_length`` exactly as ``swaplm rank --data DATA -n N --max-length L`` makes it. ``proxies``: registered
    proxy names. ``on``: events among "save", "evaluate". ``initial``: also save ``checkpoint-0`` (model and
    tokenizer) and score it when training starts. ``metric``: an evaluation metric (e.g. "eval_accuracy") copied
    into the JSONL as ``score`` from the latest evaluation. ``jsonl``: file name inside ``output_dir`` (None: no
    file). ``prefix``: of the logged keys.
    """

    def __init__(self, batch=None, *, data: str | None = None, tokenizer=None, n: int = 128, max_length: int = 128,
                 proxies: Sequence[str] = DEFAULT_PROXIES, seed: int = 0, on: Sequence[str] = ("save",),
                 initial: bool = False, metric: str | None = None, jsonl: str | None = "swaplm_scores.jsonl",
                 prefix: str = "swaplm/"):
        from swaplm.proxies import get_proxy

        bad = [e for e in on if e not in ("save", "evaluate")]
        if bad or not on:
            raise SwapError(f"SwapCallback on= takes 'save' and/or 'evaluate', got {', '.join(map(str, on))}")
        self.proxies = [get_proxy(p) for p in proxies]
        self._scorers: dict[str, Any] = {}  # one scorer per device the model is on
        self.batch, self.data, self.tokenizer, self.n, self.max_length = batch, data, tokenizer, n, max_length
        self.seed, self.on, self.initial, self.metric = seed, tuple(on), initial, metric
        self.jsonl, self.prefix = jsonl, prefix
        self.trainer = None
        self.history: list[dict[str, Any]] = []
        self._pending: dict[str, float] = {}
        self._last_metrics: dict[str, float] = {}

    def attach(self, trainer) -> "SwapCallback":
        """Add this callback to ``trainer`` and log through ``trainer.log`` (the Trainer's own logging)."""
        trainer.add_callback(self)
        self.trainer = trainer
        return self

    # -- scoring
    def _get_batch(self, processing_class):
        if self.batch is None:
            from swaplm.rank import make_batch
            from swaplm import data as data_mod

            tok = self.tokenizer or (processing_class if hasattr(processing_class, "mask_token_id") else None)
            self.tokenizer = tok
            self.batch = data_mod.make_batch(data_mod.resolve_source(self.data, "text"), model_kind="text",
                                             tokenizer=tok, n=self.n, max_length=self.max_length, seed=self.seed) \
                if tok is not None else make_batch(self.data, n=self.n, max_length=self.max_length, seed=self.seed)
        return self.batch

    def _scorer(self, batch, device: torch.device):
        """The runner's scorer for this callback's batch and settings on ``device`` (what ``swaplm rank`` uses:
        eval mode, padding masked, one pass, TF32 off)."""
        from swaplm.modelstate import batch_len
        from swaplm.runner import Scorer, Settings

        if str(device) not in self._scorers:
            settings = Settings(n=batch_len(batch), repeats=1, init=None, mode="eval", padding="mask",
                                seed=self.seed, device=str(device))
            self._scorers[str(device)] = Scorer(None, self.proxies, settings, batch=batch, name="callback")
        return self._scorers[str(device)]

    def score(self, model, processing_class=None) -> tuple[dict[str, float | None], dict[str, str], float]:
        """``(values, failed, seconds)`` of the proxies on the fixed batch; the model and the RNGs are left as
        they were (training continues exactly as without the callback)."""
        import random

        import numpy as np

        from swaplm.proxies._session import model_device

        batch = self._get_batch(processing_class)
        target = scored_module(model, self.tokenizer or processing_class)
        device = model_device(model)
        scorer = self._scorer(batch, device)
        t0 = time.perf_counter()
        was_training = {m: m.training for m in model.modules()}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            py, npst = random.getstate(), np.random.get_state()
            try:
                ev = scorer.measure(target)
            finally:
                random.setstate(py)
                np.random.set_state(npst)
                for m, t in was_training.items():
                    m.training = t
                target.__dict__.pop("_swaplm_lm", None)
        return ev.values, ev.failed, time.perf_counter() - t0

    def _record(self, args, state, model, processing_class, checkpoint: str | None, event: str) -> None:
        if not state.is_world_process_zero:
            return
        values, failed, seconds = self.score(model, processing_class)
        logs = {f"{self.prefix}{k}": v for k, v in values.items() if v is not None}
        logs[f"{self.prefix}seconds"] = seconds
        row = {"model": checkpoint, "step": state.global_step, "epoch": state.epoch, "event": event,
               "scores": values, "failed": failed, "seconds": seconds}
        if self.metric is not None:
            v = self._last_metrics.get(self.metric)
            row["metric"], row["score"] = self.metric, (v if v is not None and math.isfinite(v) else None)
        self.history.append(row)
        if self.jsonl and args.output_dir:
            path = Path(args.output_dir) / self.jsonl
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        if self.trainer is not None:
            self.trainer.log(logs)
        else:
            self._pending.update(logs)

    # -- Trainer events
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.initial and state.global_step == 0 and model is not None and state.is_world_process_zero:
            path = Path(args.output_dir) / "checkpoint-0"
            model.save_pretrained(path)
            tok = processing_class or self.tokenizer
            if tok is not None and hasattr(tok, "save_pretrained"):
                tok.save_pretrained(path)
            self._record(args, state, model, processing_class, str(path), "initial")

    def on_evaluate(self, args, state, control, model=None, metrics=None, processing_class=None, **kwargs):
        if metrics:
            self._last_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if "evaluate" in self.on and model is not None:
            self._record(args, state, model, processing_class, None, "evaluate")

    def on_save(self, args, state, control, model=None, processing_class=None, **kwargs):
        if "save" in self.on and model is not None:
            ckpt = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            self._record(args, state, model, processing_class, ckpt, "save")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._pending and logs is not None and self.trainer is None:
            logs.update(self._pending)
            if state.log_history and state.log_history[-1] is not logs:
                state.log_history[-1].update(self._pending)
            self._pending = {}


__all__ = ["SwapCallback", "scored_module"]
