"""Input batches for scoring: shipped real samples, local files and hub datasets.

Text sources give either a *corpus* (running text, packed into fixed-length blocks with no padding) or
*sentences* (independent rows, padded to the longest). Image sources give float tensors (N, C, H, W).
Shipped samples live in ``swaplm/_data`` (see its SOURCES.md for origin and licences).
"""
from __future__ import annotations

import csv
import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from swaplm.errors import SwapError, check_samples

DATA_DIR = Path(__file__).parent / "_data"
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet"}
_OTHER_SOURCES = ("a local file (.txt corpus; .csv/.tsv/.jsonl/.parquet sentences), builtin:wikitext2 or builtin:sst2")


# ----------------------------------------------------------------------------------------------- shipped samples

@functools.lru_cache(maxsize=1)
def bert_tokenizer():
    """Uncased BERT WordPiece tokenizer built from the shipped vocab (30,522 tokens; offline)."""
    from transformers import BertTokenizerFast

    path = DATA_DIR / "bert-base-uncased-vocab.txt"
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:  # transformers >= 5: vocab dict
        vocab = {line.rstrip("\n"): i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())}
        return BertTokenizerFast(vocab=vocab, do_lower_case=True)
    return BertTokenizerFast(vocab_file=str(path), do_lower_case=True)  # transformers 4.x


@functools.lru_cache(maxsize=1)
def _cifar10_arrays() -> dict[str, np.ndarray]:
    with np.load(DATA_DIR / "cifar10_sample.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def cifar10_batch(n: int = 16, split: str = "train", normalize: bool = True, offset: int = 0) -> torch.Tensor:
    """Real CIFAR-10 images ``offset .. offset+n-1`` of the shipped sample as float (n, 3, 32, 32).

    ``split="train"`` follows data_batch_1 order, ``"test"`` the official test order. With ``normalize`` pixels
    are scaled to [0, 1] and standardised with the CIFAR-10 channel mean/std; otherwise they are in [0, 1].
    """
    if split not in ("train", "test"):
        raise SwapError(f"unknown CIFAR-10 split {split!r}: use 'train' or 'test'")
    images = _cifar10_arrays()[f"x_{split}"]
    if offset < 0 or n < 1 or offset + n > len(images):
        raise SwapError(f"asked for CIFAR-10 {split} images {offset}..{offset + n - 1} but {len(images)} ship with "
                        "swaplm: pass an .npz file or an image folder for more")
    return _to_float(images[offset:offset + n], normalize)


def cifar10_labels(n: int = 16, split: str = "train", offset: int = 0) -> torch.Tensor:
    """Class labels (n,) long of the images :func:`cifar10_batch` returns for the same arguments."""
    labels = _cifar10_arrays()[f"y_{split}"] if split in ("train", "test") else None
    if labels is None:
        raise SwapError(f"unknown CIFAR-10 split {split!r}: use 'train' or 'test'")
    if offset < 0 or n < 1 or offset + n > len(labels):
        raise SwapError(f"asked for CIFAR-10 {split} labels {offset}..{offset + n - 1} but {len(labels)} ship "
                        "with swaplm")
    return torch.from_numpy(labels[offset:offset + n].astype(np.int64))


def _to_float(images: np.ndarray, normalize: bool, mean=CIFAR_MEAN, std=CIFAR_STD) -> torch.Tensor:
    """NHWC or NCHW uint8/float array -> float (N, C, H, W); uint8 is scaled to [0, 1] and, for 3 channels and
    ``normalize``, standardised with mean/std. Float arrays are taken as already preprocessed."""
    if images.ndim != 4:
        raise SwapError(f"expected a 4-d image array (N,H,W,C or N,C,H,W), got shape {images.shape}")
    if images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        images = images.transpose(0, 3, 1, 2)
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.dtype != torch.uint8:
        return x.float()
    x = x.float() / 255.0
    if normalize and x.shape[1] == 3:
        x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return x


# ----------------------------------------------------------------------------------------------- images

BUILTIN_IMAGES: dict[str, Callable[[str], np.ndarray]] = {
    "cifar10": lambda split: _cifar10_arrays()[f"x_{split}"],
}


def load_images(source: str, n: int = 16, *, seed: int = 0, normalize: bool = True, split: str = "train",
                size: int | None = None) -> torch.Tensor:
    """``n`` images from ``builtin:cifar10``, an ``.npz`` (first 4-d array) or an image folder -> float (n, C, H, W).

    seed 0 takes the first n images (folder: sorted path order), other seeds a seeded random choice.
    ``size`` resizes to size x size (folders with mixed sizes are resized to the first image's size).
    """
    check_samples(n)
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_IMAGES:
            known = ", ".join("builtin:" + k for k in BUILTIN_IMAGES)
            raise SwapError(f"unknown image source {source!r}: available {known}")
        arrays = BUILTIN_IMAGES[name](split)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise SwapError(f"image source {source!r} not found: pass builtin:cifar10, an .npz file or an image folder")
        arrays = _read_npz(path) if path.is_file() else _read_folder(path, n, seed)
    if len(arrays) < n:
        raise SwapError(f"{source!r} holds {len(arrays)} images but n={n} were asked for")
    x = _to_float(arrays[_choose(len(arrays), n, seed)], normalize)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def _read_npz(path: Path) -> np.ndarray:
    if path.suffix != ".npz":
        raise SwapError(f"image file {str(path)!r} is not an .npz: pass an .npz array file or an image folder")
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            if z[key].ndim == 4:
                return z[key]
    raise SwapError(f"{str(path)!r} holds no 4-d image array (N,H,W,C or N,C,H,W)")


def _read_folder(path: Path, n: int, seed: int) -> np.ndarray:
    """Images under ``path`` (flat or torchvision-style class subfolders), as uint8 NHWC RGB."""
    try:
        from PIL import Image
    except ImportError:
        raise SwapError("reading an image folder needs Pillow (pip install pillow); or pass an .npz file") from None
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < n:
        raise SwapError(f"image folder {str(path)!r} holds {len(files)} images but n={n} were asked for")
    files = [files[i] for i in _choose(len(files), n, seed)]
    images = [Image.open(f).convert("RGB") for f in files]
    images = [im if im.size == images[0].size else im.resize(images[0].size) for im in images]
    return np.stack([np.asarray(im, dtype=np.uint8) for im in images])


# ----------------------------------------------------------------------------------------------- texts

def _read_corpus(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# name -> (kind, loader); adding a shipped dataset is one line here.
BUILTIN_TEXTS: dict[str, tuple[str, Callable[[], list[str]]]] = {
    "wikitext2": ("corpus", lambda: _read_corpus(DATA_DIR / "wikitext2_sample.txt")),
    "sst2": ("sentences", lambda: _read_table(DATA_DIR / "sst2_sample.tsv", "sentence")),
}
# short hub names -> (kind, load_dataset args, split, text column); parquet datasets, no loading scripts.
HUB_ALIASES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "wikitext": ("corpus", ("Salesforce/wikitext", "wikitext-2-raw-v1"), "test", "text"),
    "sst2": ("sentences", ("nyu-mll/glue", "sst2"), "validation", "sentence"),
}


def load_texts(source: str, text_column: str | None = None, split: str | None = None) -> tuple[list[str], str]:
    """Texts of ``source`` and their kind: ``"corpus"`` (lines of running text) or ``"sentences"``.

    source: ``builtin:<name>`` (shipped), a local .txt (corpus) or .csv/.tsv/.jsonl/.parquet (sentences), a short
    hub name (``wikitext``, ``sst2``) or any hub dataset id (sentences from ``text_column`` or the text column found).
    """
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_TEXTS:
            known = ", ".join("builtin:" + k for k in BUILTIN_TEXTS)
            raise SwapError(f"unknown text source {source!r}: available {known}")
        kind, loader = BUILTIN_TEXTS[name]
        texts = loader()
    elif Path(source).expanduser().is_file() or _looks_like_path(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise SwapError(f"text file {source!r} not found" + (" (it is a directory)" if path.is_dir() else ""))
        kind = "corpus" if path.suffix.lower() in (".txt", ".raw", ".tokens", "") else "sentences"
        try:
            texts = _read_corpus(path) if kind == "corpus" else _read_table(path, text_column)
        except (ValueError, OSError, csv.Error) as e:  # bad encoding, JSON, CSV or parquet
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SwapError(f"cannot read {source!r}: {reason}") from None
    else:
        texts, kind = _load_hub_texts(source, text_column, split)
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise SwapError(f"{source!r} contains no text")
    return texts, kind


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).suffix.lower() in TABLE_SUFFIXES | {".txt"}


def _read_table(path: Path, text_column: str | None) -> list[str]:
    """Text column of a .csv/.tsv/.jsonl/.json/.parquet file (given, else 'text'/'sentence'/first text column)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        rows = pq.read_table(path).to_pylist()
    elif suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):  # a JSON array of objects
            rows = json.loads(text)
        else:  # JSON lines
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            # GLUE TSVs contain unbalanced quotes: read them without quote handling
            quoting = csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL
            rows = list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",", quoting=quoting))
    else:
        raise SwapError(f"unsupported text file type {suffix!r}: use .txt, .csv, .tsv, .jsonl or .parquet")
    rows = [r for r in rows if isinstance(r, dict)]
    if not rows:
        raise SwapError(f"{str(path)!r} contains no rows")
    column = _text_column(rows[0], text_column, str(path))
    return [str(r.get(column) or "").strip() for r in rows]


def _text_column(example: dict, text_column: str | None, what: str) -> str:
    """The requested column, else 'text' or 'sentence', else the first column holding non-numeric strings."""
    if text_column is not None:
        if text_column not in example:
            raise SwapError(f"{what} has no column {text_column!r}; columns: {', '.join(map(str, example))}")
        return text_column
    for name in ("text", "sentence"):
        if isinstance(example.get(name), str):
            return name
    strings = [k for k, v in example.items() if isinstance(v, str) and not _is_number(v)]
    if not strings:
        raise SwapError(f"{what} has no text column; columns: {', '.join(map(str, example))}")
    return strings[0]


def _is_number(value: str) -> bool:
    """CSV cells are all strings: '3' or '0.5' is not a text column."""
    try:
        float(value)
        return True
    except ValueError:
        return False


def _no_scripts(source: str) -> dict:
    """Refuse a dataset loading script (arbitrary Python) up front; -> extra load_dataset keywords.

    datasets >= 4 (the declared floor) never runs a loading script: it refuses script datasets itself. An older
    datasets would run one only with trust_remote_code=True, so it is passed False explicitly there.
    """
    import datasets

    local = Path(source).expanduser()
    if source.endswith(".py") or (local.is_dir() and (local / f"{local.name}.py").is_file()):
        raise SwapError(f"{source!r} is a dataset loading script (Python code): swaplm never runs one; pass "
                        f"the data files instead ({_OTHER_SOURCES})")
    major = int(datasets.__version__.split(".")[0])
    return {"trust_remote_code": False} if 2 <= major < 4 else {}


def _load_hub_texts(source: str, text_column: str | None, split: str | None) -> tuple[list[str], str]:
    kind, args, default_split, column = HUB_ALIASES.get(source, ("sentences", (source,), None, text_column))
    column = text_column or column
    extra = _no_scripts(args[0])
    try:
        import datasets

        data = datasets.load_dataset(*args, **extra)
    except Exception as e:  # hub/network/cache failures come as many types; all mean "cannot load it here"
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        asked = repr(source) + (f" ({', '.join(args)})" if args != (source,) else "")
        raise SwapError(f"cannot load hub dataset {asked}: {reason}; pass {_OTHER_SOURCES}, "
                        "or set HF_DATASETS_OFFLINE=1 with a cached copy") from None
    split = split or default_split or next(s for s in ("test", "validation", "train", *data) if s in data)
    if split not in data:
        raise SwapError(f"hub dataset {source!r} has no split {split!r}; splits: {', '.join(data)}")
    rows = data[split]
    if len(rows) == 0:
        raise SwapError(f"hub dataset {source!r} split {split!r} is empty")
    column = _text_column(rows[0], column, f"hub dataset {source!r}")
    return [str(t or "").strip() for t in rows[column]], kind


# ----------------------------------------------------------------------------------------------- batches

def _choose(available: int, n: int, seed: int) -> np.ndarray:
    """Indices of the first n items for seed 0, else n distinct items drawn with ``seed`` (sorted)."""
    if seed == 0:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(available, size=n, replace=False))


def text_batch(source: str = "builtin:wikitext2", tokenizer=None, n: int = 128, max_length: int = 128, seed: int = 0,
               text_column: str | None = None, split: str | None = None):
    """A tokenized batch of ``n`` samples as a BatchEncoding of torch tensors, shape (n, L).

    Corpus: the text is tokenized once and cut into blocks of ``max_length`` tokens ([CLS] ... [SEP] when the
    tokenizer has them), so L = max_length, no padding, attention_mask all ones. Sentences: padded to the longest
    of the chosen rows, truncated at ``max_length``. seed 0 takes the first n blocks/rows, other seeds a seeded
    random choice. Too few blocks or rows for ``n`` is an error (n is never shrunk).
    """
    from transformers import BatchEncoding

    check_samples(n)
    tokenizer = tokenizer or bert_tokenizer()
    texts, kind = load_texts(source, text_column=text_column, split=split)
    if kind == "sentences":
        if len(texts) < n:
            raise SwapError(f"{source!r} has {len(texts)} sentences but n={n} were asked for: "
                            "lower n or pass more data")
        if tokenizer.pad_token is None:
            raise SwapError("the tokenizer has no padding token, so sentences cannot be batched: "
                            "use a corpus source such as builtin:wikitext2 (packed blocks need no padding)")
        chosen = [texts[i] for i in _choose(len(texts), n, seed)]
        return tokenizer(chosen, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")

    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    wrap = cls is not None and sep is not None
    width = max_length - 2 if wrap else max_length
    if width < 1:
        raise SwapError(f"max_length={max_length} is too short for a block of text")
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]  # one call over all lines
    ids = torch.tensor([i for piece in pieces for i in piece], dtype=torch.long)
    available = len(ids) // width
    if available < n:
        raise SwapError(f"{source!r} gives {available} blocks of {max_length} tokens but n={n} were asked for: "
                        "lower n or max_length, or pass a larger corpus")
    blocks = ids[: available * width].view(available, width)[torch.from_numpy(_choose(available, n, seed))]
    if wrap:
        blocks = torch.cat([torch.full((n, 1), cls), blocks, torch.full((n, 1), sep)], dim=1)
    encoding = {"input_ids": blocks}
    if "token_type_ids" in tokenizer.model_input_names:
        encoding["token_type_ids"] = torch.zeros_like(blocks)
    encoding["attention_mask"] = torch.ones_like(blocks)
    return BatchEncoding(encoding)


AUTO_SOURCES = {"text": "builtin:wikitext2", "image": "builtin:cifar10"}


def resolve_source(data: str | None, model_kind: str = "text") -> str:
    """The source a ``--data`` value means for a model of ``model_kind``: ``None`` or ``"auto"`` is the shipped
    sample (WikiText-2 blocks for text models, CIFAR-10 images for image models; offline); anything else as is."""
    if model_kind not in AUTO_SOURCES:
        raise SwapError(f"unknown model kind {model_kind!r}: use 'text' or 'image'")
    return AUTO_SOURCES[model_kind] if data in (None, "auto") else data


def make_batch(data: str | None = None, *, model_kind: str = "text", tokenizer=None, n: int = 128,
               max_length: int = 128, seed: int = 0, text_column: str | None = None,
               image_size: int | None = None):
    """Turn a ``--data`` value into model inputs: a BatchEncoding for text models, a float tensor (n, 3, H, W)
    for image models. ``data=None`` or ``"auto"`` uses builtin:wikitext2 (text) or builtin:cifar10 (image);
    ``image_size`` resizes images to the model's input size."""
    source = resolve_source(data, model_kind)
    if model_kind == "text":
        return text_batch(source, tokenizer=tokenizer, n=n, max_length=max_length, seed=seed,
                          text_column=text_column)
    return load_images(source, n, seed=seed, size=image_size)
