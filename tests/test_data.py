"""swaplm.data: shipped samples, text packing/padding, local files, images, errors."""
import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from swaplm import data
from swaplm.errors import SwapError

SHARED_CIFAR = Path("/work/shared/data/cifar10/cifar10_real_subset.npz")
CLS, SEP, PAD = 101, 102, 0


def test_shipped_files_are_small_and_documented():
    files = [p for p in data.DATA_DIR.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 3_000_000
    sources = (data.DATA_DIR / "SOURCES.md").read_text()
    for name in ("cifar10_sample.npz", "wikitext2_sample.txt", "sst2_sample.tsv", "bert-base-uncased-vocab.txt"):
        assert (data.DATA_DIR / name).is_file()
    for p in files:
        if p.name not in ("SOURCES.md", "__init__.py"):
            assert f"`{p.name}`" in sources, f"{p.name} is shipped but not documented in SOURCES.md"


def test_bert_tokenizer_uses_the_real_vocab():
    tok = data.bert_tokenizer()
    assert len(tok) == 30522
    assert tok("Hello World")["input_ids"] == [CLS, 7592, 2088, SEP]


def test_wikitext_blocks_are_packed_without_padding():
    batch = data.text_batch("builtin:wikitext2", n=128, max_length=128)
    ids = batch["input_ids"]
    assert ids.shape == (128, 128) and batch["attention_mask"].shape == (128, 128)
    assert batch["attention_mask"].eq(1).all() and batch["token_type_ids"].eq(0).all()
    assert ids[:, 0].eq(CLS).all() and ids[:, -1].eq(SEP).all()
    inner = ids[:, 1:-1]
    assert not inner.eq(PAD).any() and not inner.eq(CLS).any() and not inner.eq(SEP).any()
    assert inner.eq(100).float().mean() < 0.01  # real text, almost no [UNK]
    # blocks are consecutive 126-token slices of the tokenized corpus, in order
    tok = data.bert_tokenizer()
    lines = data.load_texts("builtin:wikitext2")[0][:40]
    expected = [i for piece in tok(lines, add_special_tokens=False)["input_ids"] for i in piece][:252]
    assert inner[:2].reshape(-1).tolist() == expected
    assert tok.convert_ids_to_tokens(inner[0, :6].tolist()) == ["=", "robert", "bo", "##ult", "##er", "="]


def test_sst2_batch_is_padded_with_correct_mask():
    batch = data.text_batch("builtin:sst2", n=32, max_length=128)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    rows = list(csv.DictReader((data.DATA_DIR / "sst2_sample.tsv").open(), delimiter="\t", quoting=csv.QUOTE_NONE))
    lengths = [len(data.bert_tokenizer()(r["sentence"])["input_ids"]) for r in rows[:32]]
    assert ids.shape == (32, max(lengths))
    assert mask.sum(1).tolist() == lengths
    assert (mask == 0).any()  # sentences differ in length, so there is padding
    assert ids[mask == 0].eq(PAD).all() and not ids[mask == 1].eq(PAD).any()


def test_truncation_at_max_length():
    batch = data.text_batch("builtin:sst2", n=64, max_length=16)
    assert batch["input_ids"].shape == (64, 16)


def test_seeded_selection_is_deterministic_and_differs_from_first_n():
    a = data.text_batch(n=8, max_length=64, seed=5)["input_ids"]
    b = data.text_batch(n=8, max_length=64, seed=5)["input_ids"]
    first = data.text_batch(n=8, max_length=64, seed=0)["input_ids"]
    other = data.text_batch(n=8, max_length=64, seed=6)["input_ids"]
    assert torch.equal(a, b) and not torch.equal(a, first) and not torch.equal(a, other)
    s1 = data.text_batch("builtin:sst2", n=8, seed=3)["input_ids"]
    assert torch.equal(s1, data.text_batch("builtin:sst2", n=8, seed=3)["input_ids"])


def test_too_many_samples_is_an_error_naming_what_is_available():
    with pytest.raises(SwapError, match="691 blocks"):
        data.text_batch(n=1000, max_length=128)
    with pytest.raises(SwapError, match="872 sentences"):
        data.text_batch("builtin:sst2", n=1000)
    with pytest.raises(SwapError, match="256 ship"):
        data.cifar10_batch(300)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_samples_is_an_error(n):
    with pytest.raises(SwapError, match="at least 2"):
        data.text_batch(n=n)
    with pytest.raises(SwapError, match="at least 2"):
        data.load_images("builtin:cifar10", n)


def test_missing_empty_and_unknown_sources(tmp_path):
    with pytest.raises(SwapError, match="not found"):
        data.load_texts(str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(SwapError, match="no text"):
        data.text_batch(str(tmp_path / "empty.txt"))
    (tmp_path / "empty.csv").write_text("text,label\n")
    with pytest.raises(SwapError, match="no rows"):
        data.load_texts(str(tmp_path / "empty.csv"))
    with pytest.raises(SwapError, match="builtin:wikitext2"):
        data.load_texts("builtin:nope")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(SwapError, match="cannot read"):
        data.load_texts(str(tmp_path / "bad.jsonl"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(SwapError, match="cannot read"):
        data.load_texts(str(tmp_path / "bad.parquet"))
    (tmp_path / "t.csv").write_text("id,review\n1,a fine film\n")
    with pytest.raises(SwapError, match="no column 'body'; columns: id, review"):
        data.load_texts(str(tmp_path / "t.csv"), text_column="body")
    (tmp_path / "numbers.csv").write_text("id,score\n1,0.5\n")
    with pytest.raises(SwapError, match="no text column"):
        data.load_texts(str(tmp_path / "numbers.csv"))


ROWS = [{"id": i, "review": f"review number {i} is good", "label": i % 2} for i in range(6)]


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "parquet"])
def test_local_tables_with_column_and_auto_detect(tmp_path, suffix):
    path = tmp_path / f"data.{suffix}"
    if suffix in ("csv", "tsv"):
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(ROWS[0]), delimiter="," if suffix == "csv" else "\t")
            w.writeheader()
            w.writerows(ROWS)
    elif suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(ROWS), path)
    expected = [r["review"] for r in ROWS]
    assert data.load_texts(str(path), text_column="review") == (expected, "sentences")
    assert data.load_texts(str(path)) == (expected, "sentences")  # first non-numeric string column
    batch = data.text_batch(str(path), n=4)
    assert batch["input_ids"].shape[0] == 4 and batch["input_ids"][0, 1].item() == 3319  # "review"


def test_auto_detect_prefers_text_or_sentence_column(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"title": "t", "sentence": f"s{i}"}) + "\n" for i in range(3)))
    assert data.load_texts(str(path))[0] == ["s0", "s1", "s2"]


def test_local_txt_is_a_corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat .\n\n" * 40)
    texts, kind = data.load_texts(str(path))
    assert kind == "corpus" and len(texts) == 40
    batch = data.text_batch(str(path), n=4, max_length=16)
    assert batch["input_ids"].shape == (4, 16) and batch["attention_mask"].eq(1).all()
    tokens = data.bert_tokenizer().convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert tokens[:9] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "the"] and tokens[-1] == "[SEP]"


def test_hub_dataset_offline_is_a_quick_swap_error(monkeypatch):
    import datasets
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # datasets reads the variable at import
    start = time.perf_counter()
    with pytest.raises(SwapError, match="cannot load hub dataset 'wikitext'.*builtin:wikitext2"):
        data.load_texts("wikitext")
    with pytest.raises(SwapError, match="cannot load hub dataset 'someone/some-data'"):
        data.text_batch("someone/some-data", text_column="text")
    assert time.perf_counter() - start < 10


def test_cifar10_batch_shape_and_normalisation():
    x = data.cifar10_batch(256)
    assert x.shape == (256, 3, 32, 32) and x.dtype == torch.float32
    assert x.mean((0, 2, 3)).abs().max() < 0.25 and (x.std((0, 2, 3)) - 1).abs().max() < 0.15
    raw = data.cifar10_batch(4, normalize=False, offset=2)
    assert raw.min() >= 0 and raw.max() <= 1
    assert torch.allclose(data.cifar10_batch(16)[2:6], (raw - torch.tensor(data.CIFAR_MEAN).view(1, 3, 1, 1))
                          / torch.tensor(data.CIFAR_STD).view(1, 3, 1, 1))
    assert data.cifar10_batch(4, split="test").shape == (4, 3, 32, 32)


@pytest.mark.skipif(not SHARED_CIFAR.exists(), reason="shared CIFAR-10 subset not present")
def test_cifar10_sample_is_the_real_first_images():
    with np.load(SHARED_CIFAR, allow_pickle=False) as z:
        x_train, x_test, y_train = z["x_train"], z["x_test"], z["y_train"]
    raw = (data.cifar10_batch(256, normalize=False) * 255).round().to(torch.uint8)
    assert np.array_equal(raw.permute(0, 2, 3, 1).numpy(), x_train[:256])
    test = (data.cifar10_batch(256, split="test", normalize=False) * 255).round().to(torch.uint8)
    assert np.array_equal(test.permute(0, 2, 3, 1).numpy(), x_test[:256])
    assert np.array_equal(data._cifar10_arrays()["y_train"], y_train[:256])


def test_load_images_from_npz_and_folder(tmp_path):
    from PIL import Image
    images = np.random.default_rng(0).integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", labels=np.arange(6), x=images)
    np.savez(tmp_path / "nchw.npz", x=images.transpose(0, 3, 1, 2))
    a = data.load_images(str(tmp_path / "nhwc.npz"), 4, normalize=False)
    b = data.load_images(str(tmp_path / "nchw.npz"), 4, normalize=False)
    assert a.shape == (4, 3, 8, 8) and torch.equal(a, b)
    assert torch.allclose(a[1].permute(1, 2, 0) * 255, torch.from_numpy(images[1]).float())
    for i, img in enumerate(images):
        (tmp_path / "folder" / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "folder" / f"class{i % 2}" / f"{i}.png")
    f = data.load_images(str(tmp_path / "folder"), 3, normalize=False)
    assert f.shape == (3, 3, 8, 8) and torch.equal(f[0], a[0])  # class0/0.png comes first
    assert data.load_images(str(tmp_path / "folder"), 2, size=16).shape == (2, 3, 16, 16)
    with pytest.raises(SwapError, match="holds 6 images"):
        data.load_images(str(tmp_path / "folder"), 7)
    with pytest.raises(SwapError, match="not found"):
        data.load_images(str(tmp_path / "missing"), 2)


def test_make_batch_for_text_and_image():
    text = data.make_batch(None, model_kind="text", n=4, max_length=32, seed=0, text_column=None)
    assert text["input_ids"].shape == (4, 32)
    image = data.make_batch("builtin:cifar10", model_kind="image", n=4, max_length=32, seed=0, text_column=None)
    assert torch.equal(image, data.cifar10_batch(4))
    with pytest.raises(SwapError, match="model kind"):
        data.make_batch(None, model_kind="audio", n=4)


def test_dataset_loading_scripts_are_never_run(tmp_path, monkeypatch):
    """A hub id / folder whose dataset is a loading script (Python) is refused in one line; the script never
    runs. A script-free folder still loads through datasets."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "script-ran"
    for name in ("scriptds",):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    for source in ("scriptds", "org/builder.py"):
        with pytest.raises(SwapError, match="loading script") as e:
            data.load_texts(source)
        assert "\n" not in str(e.value)
    assert not marker.exists()

    (tmp_path / "plainds").mkdir()
    with (tmp_path / "plainds" / "train.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["label", "text"], [0, "first sentence"], [1, "second sentence"]])
    texts, kind = data.load_texts("plainds")
    assert texts == ["first sentence", "second sentence"] and kind == "sentences"
