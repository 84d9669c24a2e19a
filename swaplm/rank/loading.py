"""Checkpoints for ``swaplm rank``: expand arguments to candidates, give each a content key, load one.

This module is the rank scorer's build code: its source digest (with ``swaplm/models.py``) is part of every
stored value's identity.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from swaplm.errors import SwapError

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json")
HEAD_ARCHS = ("ForMaskedLM", "ForPreTraining")


@dataclass
class Candidate:
    """One checkpoint to rank: ``name`` as shown and matched against ``--truth``; ``source`` what is loaded
    (a local directory or a built-in name); ``key`` the store key (name + content digest); ``error`` a one-line
    reason it cannot even be looked at (then it is reported as failed and not scored)."""

    name: str
    source: str
    key: str
    step: int | None = None
    error: str | None = None


def expand(args: list[str]) -> list[Candidate]:
    """Every argument as candidates, in order: a directory with ``checkpoint-*`` subfolders becomes those, in
    step order; a model directory, ``builtin:`` name or hub id one candidate each."""
    out: list[Candidate] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            steps = sorted((int(m.group(1)), p) for p in path.iterdir()
                           if p.is_dir() and (m := CHECKPOINT.match(p.name)))
            if steps:
                out += [_local(os.path.join(arg, p.name), p, step) for step, p in steps]
            else:
                out.append(_local(arg, path, None))
        elif arg.startswith("builtin:"):
            out.append(_builtin(arg))
        elif arg.startswith((".", "/", "~")) or os.sep in arg.strip("/") and Path(arg.split(os.sep)[0]).exists():
            out.append(Candidate(arg, arg, f"{arg}@missing", error=f"not found: {arg}"))
        else:
            out.append(_hub(arg))
    return out


def _local(name: str, path: Path, step: int | None) -> Candidate:
    if not (path / "config.json").is_file():
        return Candidate(name, str(path), f"{name}@noconfig", step, error="no config.json in this directory")
    return Candidate(name, str(path), f"{name}@{content_digest(path)[:16]}", step)


def _builtin(name: str) -> Candidate:
    from swaplm import models

    short = name.removeprefix("builtin:")
    if short in models.BUILTIN_DIRS:
        try:
            folder = Path(models.BUILTIN_DIRS[short]())
        except SwapError as e:
            return Candidate(name, name, f"{name}@missing", error=str(e))
        return Candidate(name, str(folder), f"{name}@{content_digest(folder)[:16]}")
    if short in models.BUILTIN_CONFIGS:
        return Candidate(name, name, f"{name}@config", error=f"{name} is a config only (no trained weights); "
                                                             "rank scores trained checkpoints")
    return Candidate(name, name, f"{name}@unknown", error=f"unknown built-in model {name!r}")


def _hub(repo: str) -> Candidate:
    """A hub id, resolved to its local snapshot (downloaded unless offline) so its key is a content digest."""
    from swaplm.models import _offline

    try:
        from huggingface_hub import snapshot_download

        common = dict(local_files_only=_offline())
        try:
            folder = snapshot_download(repo, allow_patterns=["config.json", "*.safetensors", "*.safetensors.index.json",
                                                             "tokenizer*", "vocab*", "special_tokens_map.json"],
                                       **common)
            if not any(any(Path(folder).glob(p)) for p in WEIGHT_PATTERNS):
                folder = snapshot_download(repo, allow_patterns=["pytorch_model*.bin", "pytorch_model*.bin.index.json"],
                                           **common)
        except Exception as e:  # offline / not cached / unknown repo / gated: one line, this candidate only
            text = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            hint = ("offline and not in the local cache: pass a local directory or run once online"
                    if _offline() or "offline" in text.lower() or "local" in text.lower() else text)
            return Candidate(repo, repo, f"hub:{repo}@unresolved", error=f"cannot get hub model {repo!r}: {hint}")
    except ImportError:
        return Candidate(repo, repo, f"hub:{repo}@unresolved", error="huggingface_hub is not installed")
    return Candidate(repo, str(folder), f"hub:{repo}@{content_digest(Path(folder))[:16]}")


def content_digest(folder: Path) -> str:
    """sha256 over config.json and every weight file (names and bytes) of a model directory."""
    h = hashlib.sha256()
    files = [folder / "config.json"] + sorted({p for pat in WEIGHT_PATTERNS for p in folder.glob(pat)})
    for f in files:
        h.update(f.name.encode())
        if not f.is_file():
            h.update(b"missing")
            continue
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def load_checkpoint(source: str, vocab_limit: int | None = None):
    """The encoder to score (eval mode, float32, CPU) from a local directory or built-in name. A masked-LM
    checkpoint is loaded with its head, which the encoder carries for ``mlm_loss`` (``attach_lm``). Any failure
    is a one-line :class:`SwapError` (the runner reports it for this checkpoint and ranks the others)."""
    try:
        return _load(source, vocab_limit)
    except SwapError:
        raise
    except Exception as e:  # corrupt weights come as many types (SafetensorError, OSError, RuntimeError, ...)
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise SwapError(f"cannot load the weights: {type(e).__name__}{': ' + text if text else ''}") from None


def _load(source: str, vocab_limit: int | None):
    from transformers import AutoModelForMaskedLM

    from swaplm import models
    from swaplm.proxies.mlm_loss import attach_lm

    hub_kwargs = dict(trust_remote_code=False, local_files_only=True)
    config, weights_dir, tokenizer_dir = models._resolve(source, hub_kwargs)
    if weights_dir is None:
        raise SwapError("no weight file (model.safetensors or pytorch_model.bin) in this checkpoint")
    _check_weight_files(Path(weights_dir))
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(HEAD_ARCHS) for a in archs):
        lm = models._pretrained(AutoModelForMaskedLM, weights_dir, config, source, hub_kwargs).float().eval()
        base = lm.base_model
        tokenizer, _ = models._tokenizer(tokenizer_dir, config, hub_kwargs)
        attach_lm(base, lm, tokenizer)
    else:
        base, _, _ = models.load(weights_dir)
    vocab = getattr(base.config, "vocab_size", None)
    if vocab_limit is not None and isinstance(vocab, int) and vocab < vocab_limit:
        raise SwapError(f"its vocabulary ({vocab} tokens) does not cover the batch's token ids (up to "
                        f"{vocab_limit - 1}): pass --tokenizer with this model's tokenizer")
    return base.float().eval()


def _check_weight_files(folder: Path) -> None:
    """A weight file that is empty or cut short is named in one line before transformers sees it."""
    for f in sorted(folder.glob("*.safetensors")):
        size = f.stat().st_size
        if size < 8:
            raise SwapError(f"{f.name} is empty or truncated ({size} bytes)")
        with open(f, "rb") as fh:
            header = int.from_bytes(fh.read(8), "little")
            if header <= 0 or 8 + header > size:
                raise SwapError(f"{f.name} is corrupt or truncated (header of {header} bytes in a {size}-byte file)")
            try:
                meta = json.loads(fh.read(header))
                end = max((int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"), default=0)
            except (ValueError, KeyError, TypeError, IndexError):
                raise SwapError(f"{f.name} is corrupt (its header is not safetensors JSON)") from None
        if 8 + header + end > size:
            raise SwapError(f"{f.name} is truncated ({size:,} bytes; its header describes {8 + header + end:,})")


def fingerprint() -> str:
    """Digest of the code that loads checkpoints (this module and swaplm/models.py)."""
    from swaplm import models
    from swaplm.runner.identity import files_digest

    return files_digest([__file__, models.__file__, Path(__file__).parent.parent / "proxies" / "mlm_loss.py"])
