"""Text of the checkpoint-ranking experiment: the pretraining corpus, its tokenizer, the held-out MLM text, the
unigram baseline and the fine-tuning tasks.

Every file is read offline from ``../shared/data`` (``SWAPLM_SHARED`` names another folder) or from the package's
``swaplm/_data``. The corpus holds training splits only; every evaluation split stays out of it:

* in the corpus: SST-2 train (the 67,349 rows cut to those not contained in a longer row: the others are
  phrases of those), WikiText-2 valid (the tokenized file, ``<unk>`` dropped),
  WikiText-2 raw test lines 879-2,891 (``swaplm/_data/wikitext2_test_rest.txt.gz``), STS-B train (both
  sentences), the MSR paraphrase train file (both strings), RTE train (both sentences), the CoLA train re-split;
* held out for the MLM loss and the ranking batch: WikiText-2 raw test lines 1-878
  (``swaplm/_data/wikitext2_sample.txt``, the text behind ``builtin:wikitext2``);
* never read: SST-2 dev and test, QNLI (its one labelled file is the second task's train/eval data), STS-B dev,
  the MSR paraphrase test file, RTE dev, the CoLA validation re-split.

A corpus line that shares a run of 8 words with an evaluation example (SST-2 dev, the QNLI evaluation pairs) or
with the held-out text, or that equals a shorter evaluation example, is dropped, and the count is reported.

The tokenizer is the one shipped in ``experiments/data/ckpt_tokenizer`` for this corpus and vocabulary size (see
:func:`tokenizer_for`): the ``tokenizers`` trainer is not deterministic, so the experiment trains one only when no
shipped one matches, and says so.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np


ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWAPLM_SHARED", ROOT.parent / "shared" / "data"))
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
#: the tokenizer's model_max_length: the models take at most 128 positions and every caller truncates explicitly,
#: so this only keeps transformers from warning when a whole corpus line is tokenized for packing
MAX_LENGTH = 1_000_000

#: the corpus parts: name -> (what it is, the file it is read from, relative to SHARED or the package data)
CORPUS_PARTS = {
    "sst2_train": ("SST-2 train (67,349 rows), the rows that are not a span of a longer row", "glue/SST-2/train.tsv"),
    "wikitext2_valid": ("WikiText-2 valid (tokenized file, `<unk>` dropped)", "wikitext-2/valid.txt"),
    "wikitext2_test_rest": ("WikiText-2 raw test lines 879-2,891", "swaplm/_data/wikitext2_test_rest.txt.gz"),
    "stsb_train": ("STS-B train, both sentences (5,749 pairs)", "glue/STS-B/train.tsv"),
    "mrpc_train": ("MSR paraphrase train file, both strings (4,076 pairs)", "glue/MRPC/msr_paraphrase_train.txt"),
    "rte_train": ("RTE train, both sentences (2,490 pairs)", "glue/RTE/train.tsv"),
    "cola_train": ("CoLA train re-split sentences (7,250)", "glue/CoLA/train_resplit.tsv"),
}
HELDOUT = ("WikiText-2 raw test lines 1-878", "swaplm/_data/wikitext2_sample.txt")
NOT_READ = ("SST-2 dev and test", "QNLI dev (the second task's own data)", "STS-B dev", "MSR paraphrase test",
            "RTE dev", "CoLA val re-split")

TASK_LABEL = {"sst2": "SST-2", "qnli": "QNLI"}
TASK_EVAL = {
    "sst2": "the 872-sentence GLUE SST-2 dev set",
    "qnli": "1,463 pairs held out (seed 0) of the labelled GLUE QNLI dev file (5,463 pairs), the only labelled QNLI "
            "split in ../shared/data/glue; training pairs are drawn from the other 4,000",
}


# ------------------------------------------------------------------------------------------------ reading
def shared(rel: str) -> Path:
    """A file of ``../shared/data`` (or of the package data when ``rel`` starts with ``swaplm/``)."""
    path = (ROOT / rel) if rel.startswith("swaplm/") else SHARED / rel
    if not path.is_file():
        raise SystemExit(f"{path} not found: the experiment reads ../shared/data (set SWAPLM_SHARED to its folder)")
    return path


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig").replace("\r\n", "\n")


def _rows(path: Path, header: bool = True) -> list[list[str]]:
    lines = _text(path).split("\n")[1 if header else 0:]
    return [ln.split("\t") for ln in lines if ln.strip()]


_WIKI_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))


def clean_wiki(line: str) -> str:
    """A WikiText line with its ``@-@`` style joins undone and ``<unk>`` removed, spaces collapsed."""
    for a, b in _WIKI_JOINS:
        line = line.replace(a, b)
    return " ".join(w for w in line.split() if w != "<unk>")


def read_part(name: str) -> list[str]:
    """The lines of one corpus part (non-empty, stripped)."""
    path = shared(CORPUS_PARTS[name][1])
    if name == "sst2_train":
        lines = maximal_phrases([r[0].strip() for r in _rows(path)])
    elif name in ("wikitext2_valid", "wikitext2_test_rest"):
        lines = [clean_wiki(ln) for ln in _text(path).split("\n")]
    elif name == "stsb_train":
        lines = [s for r in _rows(path) if len(r) >= 9 for s in (r[7], r[8])]
    elif name == "mrpc_train":
        lines = [s for r in _rows(path) if len(r) == 5 for s in (r[3], r[4])]
    elif name == "rte_train":
        lines = [s for r in _rows(path) if len(r) == 4 for s in (r[1], r[2])]
    elif name == "cola_train":
        lines = [r[3] for r in _rows(path, header=False) if len(r) == 4]
    else:
        raise KeyError(name)
    return [ln.strip() for ln in lines if ln.strip()]


def maximal_phrases(rows: list[str]) -> list[str]:
    """The rows that are not a word span of a longer row, in file order. SST-2 train holds every labelled phrase
    of its parse trees, so most rows are spans of a longer row; the maximal ones carry all of its text once."""
    spans: set[str] = set()
    keep = set()
    for i in sorted(range(len(rows)), key=lambda i: -len(rows[i].split())):
        words = rows[i].split()
        text = " ".join(words)
        if not words or text in spans:
            continue
        keep.add(i)
        for a in range(len(words)):
            for b in range(a + 1, len(words) + 1):
                spans.add(" ".join(words[a:b]))
    return [rows[i] for i in sorted(keep)]


def heldout_lines() -> list[str]:
    return [s for s in (clean_wiki(ln) for ln in _text(shared(HELDOUT[1])).split("\n")) if s.strip()]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


OVERLAP_N = 8  # a corpus line sharing a run of this many words with an evaluation or held-out text is dropped


def _grams(words: list[str], n: int = OVERLAP_N) -> set[str]:
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def build_corpus(limit: int | None = None) -> tuple[list[str], dict]:
    """The pretraining lines (each part capped at ``limit`` lines when given) and a manifest: per part the lines
    and words kept, and how many lines were dropped because they share a run of ``OVERLAP_N`` words with an
    evaluation example or a held-out line, or equal a shorter evaluation example."""
    guard_texts = [_norm(s) for s in evaluation_texts()] + [_norm(s) for s in heldout_lines()]
    grams, whole = set(), set()
    for g in guard_texts:
        words = g.split()
        if len(words) >= OVERLAP_N:
            grams |= _grams(words)
        elif words:
            whole.add(g)
    lines, parts = [], {}
    for name in CORPUS_PARTS:
        kept, dropped = [], 0
        for ln in read_part(name)[:limit]:
            norm = _norm(ln)
            if norm in whole or not grams.isdisjoint(_grams(norm.split())):
                dropped += 1
            else:
                kept.append(ln)
        parts[name] = {"what": CORPUS_PARTS[name][0], "file": CORPUS_PARTS[name][1], "lines": len(kept),
                       "words": sum(len(x.split()) for x in kept), "dropped_overlap": dropped}
        lines += kept
    return lines, parts


def evaluation_texts() -> list[str]:
    """The text of every evaluation example of the fine-tuning tasks (kept out of the corpus)."""
    out = [a for a, _, _ in task_data("sst2")[1]]
    for a, b, _ in task_data("qnli")[1]:
        out += [a, b]
    return out


# ------------------------------------------------------------------------------------------------ tokenizer
#: the tokenizers shipped with the experiment: one folder per plan (``full``, ``tiny``), each a ``vocab.txt`` (the
#: tokens in id order) and a ``source.json`` (the digest and size of the corpus it was trained on, the trainer
#: settings, the vocabulary's digest, the command that trained it); written by ``--retrain-tokenizer``
TOKENIZER_DIR = ROOT / "experiments" / "data" / "ckpt_tokenizer"
#: the WordPiece trainer's settings (a shipped tokenizer is used only when it was trained with these)
TRAINER = {"model": "WordPiece", "lowercase": True, "strip_accents": True, "min_frequency": 2,
           "special_tokens": SPECIAL_TOKENS}
NOT_DETERMINISTIC = ("the tokenizers WordPieceTrainer is not deterministic (it breaks ties between merges of equal "
                     "count in an order that changes from process to process), so this run's vocabulary, and every "
                     "result after it, depends on this training")


def corpus_sha(lines: list[str]) -> str:
    """The SHA-256 of the corpus lines (joined by newlines, UTF-8)."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def vocab_sha(vocab: list[str]) -> str:
    """The SHA-256 of a vocabulary's ``vocab.txt`` (the tokens in id order, one a line)."""
    return hashlib.sha256(_vocab_text(vocab).encode("utf-8")).hexdigest()


def _vocab_text(vocab: list[str]) -> str:
    return "".join(t + "\n" for t in vocab)


def _bare(model):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers

    t = Tokenizer(model)
    t.normalizer = normalizers.BertNormalizer(lowercase=TRAINER["lowercase"], strip_accents=TRAINER["strip_accents"],
                                              clean_text=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return t


def train_vocab(lines: list[str], vocab_size: int) -> list[str]:
    """A lower-casing WordPiece vocabulary trained on ``lines`` with the ``tokenizers`` library, in id order: the
    special tokens, then the others sorted. Not deterministic: two trainings on the same lines, in separate
    processes, can give different vocabularies (see ``NOT_DETERMINISTIC``)."""
    from tokenizers import models, trainers

    trained = _bare(models.WordPiece(unk_token="[UNK]"))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=TRAINER["special_tokens"],
                                        min_frequency=TRAINER["min_frequency"], show_progress=False)
    trained.train_from_iterator(lines, trainer=trainer, length=len(lines))
    # the trainer numbers tokens of equal rank in no fixed order: renumber them (special tokens, then the others
    # sorted), so that a vocabulary always gets the same ids
    return SPECIAL_TOKENS + sorted(t for t in trained.get_vocab() if t not in SPECIAL_TOKENS)


def make_tokenizer(vocab: list[str], out_dir: Path):
    """The ``BertTokenizerFast`` of a vocabulary (tokens in id order), saved in ``out_dir`` (so every checkpoint
    folder can carry it); -> the tokenizer."""
    from tokenizers import decoders, models, processors
    from transformers import BertTokenizerFast

    tok = _bare(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                 continuing_subword_prefix="##"))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                             cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True, model_max_length=MAX_LENGTH)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def train_tokenizer(lines: list[str], vocab_size: int, out_dir: Path):
    """A tokenizer trained on ``lines`` (:func:`train_vocab`, not deterministic), saved in ``out_dir``
    (:func:`make_tokenizer`); -> the tokenizer."""
    return make_tokenizer(train_vocab(lines, vocab_size), out_dir)


def shipped_sources(root: Path = TOKENIZER_DIR) -> dict[str, dict]:
    """{folder name: its ``source.json``} of every shipped tokenizer under ``root``."""
    out = {}
    for path in sorted(root.glob("*/source.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out[path.parent.name] = doc
    return out


def shipped_vocab(lines: list[str], vocab_size: int, root: Path = TOKENIZER_DIR) -> tuple[list[str], dict] | None:
    """(vocabulary, source) of the shipped tokenizer trained on exactly these lines with this vocabulary size and
    the current ``TRAINER`` settings, or None when none is. A shipped ``vocab.txt`` whose digest is not the one
    its ``source.json`` records stops the run."""
    sha = corpus_sha(lines)
    for name, src in shipped_sources(root).items():
        if (src.get("corpus_sha256"), src.get("vocab_size"), src.get("trainer")) != (sha, vocab_size, TRAINER):
            continue
        path = root / name / "vocab.txt"
        text = path.read_text(encoding="utf-8")
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != src.get("vocab_sha256"):
            raise SystemExit(f"{path} is not the vocabulary its source.json records: restore it, or refresh it with "
                             f"{src.get('command', 'python experiments/checkpoints.py --retrain-tokenizer')}")
        folder = path.parent.relative_to(ROOT) if path.parent.is_relative_to(ROOT) else path.parent
        return text.split("\n")[:-1], dict(src, folder=str(folder))
    return None


def ship_tokenizer(name: str, lines: list[str], vocab_size: int, corpus_limit: int | None, command: str,
                   root: Path = TOKENIZER_DIR) -> dict:
    """Train a vocabulary on ``lines`` and write it as the shipped tokenizer ``root/name`` (``vocab.txt`` and
    ``source.json``), replacing what was there; -> the source."""
    import tokenizers

    vocab = train_vocab(lines, vocab_size)
    src = {"corpus_sha256": corpus_sha(lines), "corpus_lines": len(lines), "corpus_limit": corpus_limit,
           "vocab_size": vocab_size, "tokens": len(vocab), "trainer": TRAINER, "vocab_sha256": vocab_sha(vocab),
           "tokenizers": tokenizers.__version__, "command": command}
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text(_vocab_text(vocab), encoding="utf-8")
    (folder / "source.json").write_text(json.dumps(src, indent=1) + "\n", encoding="utf-8")
    return src


def tokenizer_for(lines: list[str], vocab_size: int, out_dir: Path, root: Path = TOKENIZER_DIR):
    """The tokenizer of the corpus ``lines``, saved in ``out_dir``: the shipped one trained on exactly these lines
    with this vocabulary size when there is one (the same tokenizer on every run), else one trained now (not
    deterministic); -> (tokenizer, source). ``source["shipped"]`` says which; a trained one's ``note`` says so."""
    found = shipped_vocab(lines, vocab_size, root)
    if found is not None:
        vocab, src = found
        return make_tokenizer(vocab, out_dir), {"shipped": True, **src}
    vocab = train_vocab(lines, vocab_size)
    note = (f"no shipped tokenizer (in {root}) was trained on this corpus (SHA-256 {corpus_sha(lines)[:16]}, "
            f"{len(lines):,} lines) with {vocab_size:,} tokens: trained one in this run; {NOT_DETERMINISTIC} "
            "(to ship one for a plan: python experiments/checkpoints.py --retrain-tokenizer [--tiny])")
    return make_tokenizer(vocab, out_dir), {"shipped": False, "corpus_sha256": corpus_sha(lines),
                                            "corpus_lines": len(lines), "vocab_size": vocab_size,
                                            "tokens": len(vocab), "trainer": TRAINER,
                                            "vocab_sha256": vocab_sha(vocab), "note": note}


def shipped_digest(root: Path = TOKENIZER_DIR) -> str:
    """A digest of every shipped tokenizer's ``source.json`` (it changes when one is retrained)."""
    return hashlib.sha256(json.dumps(shipped_sources(root), sort_keys=True).encode()).hexdigest()[:16]


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def token_ids(tok, lines: list[str]) -> np.ndarray:
    """Every line's tokens (no special tokens) concatenated, as int32."""
    pieces = tok(lines, add_special_tokens=False)["input_ids"]
    return np.fromiter((i for p in pieces for i in p), dtype=np.int32)


def pack_blocks(ids: np.ndarray, seq: int, cls: int, sep: int) -> np.ndarray:
    """(n, seq) int32 blocks of running text: [CLS] + seq-2 tokens + [SEP], the tail that does not fill a block
    dropped."""
    w = seq - 2
    n = len(ids) // w
    body = ids[: n * w].reshape(n, w)
    return np.concatenate([np.full((n, 1), cls, np.int32), body, np.full((n, 1), sep, np.int32)], axis=1)


# ------------------------------------------------------------------------------------------------ unigram
def unigram_cross_entropy(train_ids: np.ndarray, eval_ids: np.ndarray, vocab_size: int, exclude=()) -> float:
    """Cross-entropy (nats per token) of ``eval_ids`` under the unigram distribution of ``train_ids`` with
    add-one (Laplace) smoothing over the ``vocab_size - len(exclude)`` ordinary tokens:
    p(t) = (c(t) + 1) / (C + V). Tokens in ``exclude`` (the special tokens) are neither counted nor scored.
    This is the loss of a masked-LM predictor that ignores the context and knows only the corpus frequencies."""
    ex = np.asarray(sorted(exclude), dtype=np.int64)
    counts = np.bincount(np.asarray(train_ids, np.int64), minlength=vocab_size).astype(np.float64)
    counts[ex] = 0.0
    v = vocab_size - len(ex)
    logp = np.log(counts + 1.0) - math.log(counts.sum() + v)
    e = np.asarray(eval_ids, np.int64)
    e = e[~np.isin(e, ex)]
    return float(-logp[e].mean())


# ------------------------------------------------------------------------------------------------ tasks
def _split(rows, n_eval: int, seed: int = 0):
    """A seeded (train, eval) split of one labelled file."""
    idx = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in idx[n_eval:]], [rows[i] for i in sorted(idx[:n_eval])]


@functools.lru_cache(maxsize=4)
def task_data(task: str):
    """(train rows, eval rows) of a fine-tuning task; a row is (text_a, text_b or None, label 0/1)."""
    if task == "sst2":
        train = [(r[0].strip(), None, int(r[1])) for r in _rows(shared("glue/SST-2/train.tsv"))]
        dev = [(r[0].strip(), None, int(r[1])) for r in _rows(shared("glue/SST-2/dev.tsv"))]
        return train, dev
    if task == "qnli":
        rows = [(r[1], r[2], int(r[3] != "entailment")) for r in _rows(shared("glue/QNLI/dev.tsv")) if len(r) == 4]
        return _split(rows, 1463)
    raise SystemExit(f"unknown task {task!r}")


def vocabulary_report(tok, ids: np.ndarray) -> dict:
    """How the tokenizer cuts the corpus: tokens, the share of [UNK], the most frequent tokens."""
    c = Counter(ids.tolist())
    unk = tok.convert_tokens_to_ids("[UNK]")
    return {"tokens": int(ids.size), "unk_share": c.get(unk, 0) / max(1, ids.size),
            "top": [tok.convert_ids_to_tokens(int(i)) for i, _ in c.most_common(12)]}
