"""The numba packing kernel (swaplm.engine.fastpack) against the torch packer and a plain loop, and the engine with the
kernel on and off (SWAPLM_NUMBA=0): same codes, same scores, same NaN errors."""
import math

import pytest
import torch
import torch.nn as nn

pytest.importorskip("numba")

from swaplm import swap_score  # noqa: E402
from swaplm.engine import fastpack  # noqa: E402
from swaplm.errors import SwapError  # noqa: E402
from swaplm.swap import code_words, count_distinct, pack_signs  # noqa: E402


def plain_codes(x: torch.Tensor) -> list[tuple[int, ...]]:
    """Per neuron, the pattern itself: the tuple of its N sign states."""
    return [tuple(int(v) for v in torch.sign(x[:, j]).tolist()) for j in range(x.shape[1])]


def plain_words(x: torch.Tensor) -> torch.Tensor:
    """The documented code layout, bit by bit in Python: sample i positive -> bit i; negative -> bit
    (32 if N <= 32 else 8·ceil(N/8)) + i; int64 words, little-endian."""
    n, v = x.shape
    w = code_words(n)
    neg_off = 32 if n <= 32 else 8 * math.ceil(n / 8)
    out = torch.zeros(v, w, dtype=torch.int64)
    for j in range(v):
        bits = 0
        for i in range(n):
            val = float(x[i, j])
            if val > 0:
                bits |= 1 << i
            elif val < 0:
                bits |= 1 << (neg_off + i)
        for k in range(w):
            word = (bits >> (64 * k)) & ((1 << 64) - 1)
            out[j, k] = word - (1 << 64) if word >= 1 << 63 else word
    return out


def sample(n, v, kind, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, v, generator=g)
    if kind == "relu":
        x = torch.relu(x)
    elif kind == "gelu":
        x = nn.functional.gelu(x)
    elif kind == "ties":  # many exact zeros and repeated patterns
        x = torch.round(x * 0.7)
        x[:, v // 2:] = x[:, : v - v // 2]
        x[0] = -0.0
    return x


@pytest.mark.parametrize("n", [2, 7, 16, 24, 32, 33, 64, 65, 100, 130])
@pytest.mark.parametrize("kind", ["relu", "gelu", "ties"])
def test_kernel_matches_torch_packer_and_plain_count(n, kind):
    assert fastpack.available()
    v = 1031  # not a multiple of the kernel's block
    x = sample(n, v, kind, n)
    out = torch.empty(v, code_words(n), dtype=torch.int64)
    nonneg = kind == "relu"
    assert fastpack.pack(x, out, nonneg) is None
    assert torch.equal(out, pack_signs(x, nonneg))
    assert count_distinct(out) == len(set(plain_codes(x)))


@pytest.mark.parametrize("n", [5, 32, 40])
def test_kernel_matches_plain_bit_layout(n):
    x = sample(n, 70, "ties", 3)
    out = torch.empty(70, code_words(n), dtype=torch.int64)
    fastpack.pack(x, out)
    assert torch.equal(out, plain_words(x))


def test_kernel_reads_non_contiguous_and_float64():
    x = sample(40, 600, "gelu", 1)
    t = x.t().contiguous().t()  # same values, column-major
    out = torch.empty(600, code_words(40), dtype=torch.int64)
    fastpack.pack(t, out)
    assert torch.equal(out, pack_signs(x))
    out64 = torch.empty_like(out)
    fastpack.pack(x.double(), out64)
    assert torch.equal(out64, out)


def test_kernel_flags_nan_and_both_infinities_like_the_sum():
    out = torch.empty(50, 1, dtype=torch.int64)
    x = sample(16, 50, "gelu", 2)
    assert fastpack.pack(x, out) is None
    x[3, 7] = float("inf")
    assert not bool(fastpack.pack(x, out).isnan())  # one infinity: the sum (returned) is inf, not NaN
    assert torch.equal(out, pack_signs(x))
    x[4, 9] = -float("inf")
    assert bool(fastpack.pack(x, out).isnan())
    y = sample(16, 50, "relu", 2)
    y[0, 0] = float("nan")
    assert bool(fastpack.pack(y, out, True).isnan())


def _both(monkeypatch, fn):
    on = fn()
    monkeypatch.setenv("SWAPLM_NUMBA", "0")
    assert not fastpack.available()
    off = fn()
    monkeypatch.delenv("SWAPLM_NUMBA")
    return on, off


def test_engine_same_scores_with_and_without_kernel_cnn(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),
                          nn.GELU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10), nn.ReLU())
    x = torch.randn(37, 3, 8, 8)  # N not a multiple of 8 or 64
    on, off = _both(monkeypatch, lambda: swap_score(model, x, repeats=3, init="gaussian", mode="train"))
    assert on.scores == off.scores and on.path == off.path == "vectorised"
    on, off = _both(monkeypatch, lambda: swap_score(model, x[:16]))
    assert on.scores == off.scores


def test_engine_same_scores_with_and_without_kernel_bert_padding(monkeypatch):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                 vocab_size=100)).eval()
    ids = torch.randint(5, 100, (70, 12))
    mask = torch.ones_like(ids)
    mask[::3, 8:] = 0  # padded rows: the masked outputs take the torch path, the others the kernel
    batch = {"input_ids": ids, "attention_mask": mask}
    on, off = _both(monkeypatch, lambda: swap_score(model, batch))
    assert on.scores == off.scores
    on, off = _both(monkeypatch, lambda: swap_score(model, batch, padding="reference"))
    assert on.scores == off.scores


def test_engine_nan_error_with_and_without_kernel(monkeypatch):
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    x = torch.randn(10, 4)
    x[2, 1] = float("nan")
    for env in ("1", "0"):
        monkeypatch.setenv("SWAPLM_NUMBA", env)
        with pytest.raises(SwapError, match="NaN activations in module '1'"):
            swap_score(model, x)


def test_seen_table_marks_match_plain_count_pooled_over_outputs():
    from swaplm.engine.counting import distinct_per_row as _distinct_per_row

    g = torch.Generator().manual_seed(5)
    k, n = 6, 12
    groups = [torch.randint(0, 1 << n, (k, v, 1), generator=g) for v in (300, 1, 4097)]
    groups[1][:] = groups[0][:, :1]  # the same pattern in two outputs counts once
    table = fastpack.seen_table(k, n)
    for c in groups:
        fastpack.mark(c, table, k)
    pooled = torch.cat([c.view(k, -1) for c in groups], 1)
    assert table[1].tolist() == _distinct_per_row(pooled)
    assert table[1].tolist() == [len(set(pooled[i].tolist())) for i in range(k)]
    assert fastpack.seen_table(1 << 10, 20) is None  # the table would be too large
    assert fastpack.seen_table(1, 33) is None  # codes need more than one word


@pytest.mark.parametrize("k,n,shape", [(1, 16, (5, 7, 3)), (3, 7, (129,)), (4, 32, (2, 9)), (2, 2, (600,))])
def test_pack_mark_counts_like_plain_patterns_per_copy(k, n, shape):
    """pack_mark on a folded output (N·K, ...) = per copy, the distinct sign patterns counted by hand, pooled
    with what the table held already; ties (exact zeros and -0.0) are state 0."""
    g = torch.Generator().manual_seed(k * 100 + n)
    if n > 24:  # a 2^32 table is not allowed: check the kernel on the codes instead
        assert fastpack.seen_table(k, n) is None
        return
    table = fastpack.seen_table(k, n)
    seen = [set() for _ in range(k)]
    for step in range(2):
        out = torch.relu(torch.randn(n * k, *shape, generator=g))
        out[out < 0.4] = 0.0  # many ties, so patterns repeat
        out.view(-1)[::7] = -0.0
        if step:
            out = out.transpose(-1, 0).contiguous().transpose(-1, 0) if len(shape) == 1 else out
        assert fastpack.pack_mark(out, table, k) is None
        x = out.reshape(n, k, -1)  # sample i of copy c is row i·K + c
        for c in range(k):
            for j in range(x.shape[2]):
                seen[c].add(tuple(bool(x[i, c, j] > 0) for i in range(n)))
        assert table[1].tolist() == [len(s) for s in seen]


def test_pack_mark_flags_nan_like_the_sum_test():
    table = fastpack.seen_table(1, 4)
    x = torch.relu(torch.randn(4, 10))
    assert fastpack.pack_mark(x, table) is None
    x[1, 3] = float("nan")
    assert bool(fastpack.pack_mark(x, table).isnan())
    y = torch.zeros(4, 10)
    y[0, 0] = float("inf")  # one infinity alone: the sum is not NaN
    assert not bool(fastpack.pack_mark(y, table).isnan())


def test_engine_relu_only_cnn_small_codes_path(monkeypatch):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 4, 1), nn.ReLU6())
    x = torch.randn(16, 3, 9, 9)
    on, off = _both(monkeypatch, lambda: swap_score(model, x, repeats=5, init="gaussian", mode="train"))
    assert on.scores == off.scores and on.path == "vectorised"
    on, off = _both(monkeypatch, lambda: swap_score(model, x[:11]))
    assert on.scores == off.scores


def test_engine_relu_bert_padding_marks_masked_codes_too(monkeypatch):
    """ReLU transformer with padding, N <= 32: unmasked outputs are marked in the hook, the masked ones packed by
    torch and marked at the count; the same scores as the torch path, ties at the padded zeros included."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                 vocab_size=100, hidden_act="relu")).eval()
    ids = torch.randint(5, 100, (21, 10))
    mask = torch.ones_like(ids)
    mask[::4, 6:] = 0
    for batch in ({"input_ids": ids, "attention_mask": mask}, {"input_ids": ids[:13]}):
        on, off = _both(monkeypatch, lambda: swap_score(model, batch))
        assert on.scores == off.scores and on.neurons == off.neurons


@pytest.mark.parametrize("kind,n", [("gelu", 70), ("relu", 16)])
def test_kernel_split_over_threads_matches(monkeypatch, kind, n):
    monkeypatch.setattr(fastpack, "PARALLEL_ELEMENTS", 1000)
    prev = torch.get_num_threads()
    torch.set_num_threads(3)  # three neuron ranges, the last one short
    try:
        x = sample(n, 5000, kind, 9)
        out = torch.empty(5000, code_words(n), dtype=torch.int64)
        assert fastpack.pack(x, out, kind == "relu") is None
        assert torch.equal(out, pack_signs(x, kind == "relu"))
        x[n - 1, 4999] = float("nan")  # in the last range
        assert bool(fastpack.pack(x, out, kind == "relu").isnan())
    finally:
        torch.set_num_threads(prev)


@pytest.mark.parametrize("w", [1, 2, 5])
def test_count_rows_matches_unique_and_torch_count(monkeypatch, w):
    g = torch.Generator().manual_seed(w)
    codes = torch.randint(-(1 << 62), 1 << 62, (3000, w), generator=g)
    codes[:700] = codes[1000:1700]  # duplicates
    codes[2000:2100, 0] = 7  # rows that differ only after the first word
    codes[2100:2200] = codes[2000:2100]
    codes[-50:] = 0
    want = int(torch.unique(codes, dim=0).shape[0])
    assert fastpack.count_rows(codes) == want
    assert count_distinct(codes) == want
    monkeypatch.setenv("SWAPLM_NUMBA", "0")
    assert count_distinct(codes) == want
    assert count_distinct(codes[:0]) == 0
