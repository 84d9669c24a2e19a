"""Vectorised repeats (swaplm.engine.vectorised) give, copy for copy, the looped path's counts, and the plain definition's."""
import pytest
import torch
import torch.nn as nn

import swaplm.engine.counting as counting
import swaplm.engine.packers as engine
import swaplm.engine.vectorised as vec
from swaplm import swap_score
from swaplm.engine.packers import pack_copies
from swaplm.init import get_init
from swaplm.swap import pack_signs, repeat_seed
from test_swap_engine import naive_swap, text_inputs


def darts_net(i):
    from swaplm.spaces import get_space

    space = get_space("darts")
    return space.build(space.benchmark()[i].arch)


def bn_cnn(act=nn.ReLU):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), act(),
                         nn.Conv2d(6, 8, 3, stride=2, groups=2), nn.BatchNorm2d(8), act(),
                         nn.Conv2d(8, 8, 1), act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 12), nn.BatchNorm1d(12), act(), nn.Linear(12, 10))


def looped_and_vectorised(model, x, **kw):
    loop = swap_score(model, x, vectorise=False, **kw)
    fast = swap_score(model, x, **kw)
    assert loop.path == "loop" and fast.path == "vectorised", fast.fallback
    return loop, fast


def definition_per_copy(model, x, repeats, init="gaussian", mode="train", seed=0, padding="mask"):
    """The plain definition on the weights repeat r draws (seeded as the engine seeds it)."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = []
    for r in range(repeats):
        torch.manual_seed(repeat_seed(seed, r))
        get_init(init)(model)
        model.train(mode == "train")
        out.append(naive_swap(model, x, padding=padding, seed=repeat_seed(seed, r))[0])
    model.load_state_dict(state)
    return out


@pytest.mark.parametrize("arch", [0, 7, 123])
def test_darts_net_copy_for_copy(arch):
    model = darts_net(arch)
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(arch))
    loop, fast = looped_and_vectorised(model, x, repeats=6, init="gaussian", mode="train", seed=arch)
    assert fast.scores == loop.scores and fast.neurons == loop.neurons and fast.calls == loop.calls
    assert fast.raw_score == loop.raw_score


def test_darts_net_matches_definition_on_real_images():
    from swaplm.data import cifar10_batch

    model, x = darts_net(3), cifar10_batch(16)
    res = swap_score(model, x, repeats=3, init="gaussian", mode="train")
    assert res.path == "vectorised"
    assert list(res.scores) == definition_per_copy(model, x, 3)


@pytest.mark.parametrize("n", [2, 16, 19, 33, 64, 70])
@pytest.mark.parametrize("act", [nn.ReLU, nn.GELU])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_bn_cnn_copy_for_copy_and_definition(n, act, mode):
    model = bn_cnn(act)
    x = torch.randn(n, 3, 7, 7, generator=torch.Generator().manual_seed(n))
    x[n - n // 2:] = x[:n // 2].clone()  # duplicate samples: ties between patterns
    x[0] = 0  # exact zeros
    loop, fast = looped_and_vectorised(model, x, repeats=4, init="gaussian", mode=mode, seed=n)
    assert fast.scores == loop.scores and fast.neurons == loop.neurons
    assert list(fast.scores) == definition_per_copy(model, x, 4, mode=mode, seed=n)


def test_default_init_copy_for_copy():
    model = bn_cnn()
    x = torch.randn(10, 3, 7, 7)
    loop, fast = looped_and_vectorised(model, x, repeats=3, init="default", mode="train")
    assert fast.scores == loop.scores


@pytest.mark.parametrize("padding", ["mask", "reference"])
@pytest.mark.parametrize("act", ["gelu", "relu"])
@pytest.mark.parametrize("n", [5, 37])
def test_tiny_bert_copy_for_copy_and_definition(padding, act, n, tiny_bert):
    model = tiny_bert(act=act)
    batch = text_inputs(n, 7, seed=n, pad=True)
    loop, fast = looped_and_vectorised(model, batch, repeats=3, init="gaussian", mode="eval", padding=padding)
    assert fast.scores == loop.scores and fast.neurons == loop.neurons
    assert list(fast.scores) == definition_per_copy(model, batch, 3, mode="eval", padding=padding)


def test_tiny_bert_train_mode_without_dropout(tiny_bert):
    model = tiny_bert(dropout=0.0)
    batch = text_inputs(9, 6, seed=1, pad=False)
    loop, fast = looped_and_vectorised(model, batch, repeats=3, init="gaussian", mode="train")
    assert fast.scores == loop.scores


def test_chunks_give_the_same_scores(monkeypatch):
    model = darts_net(5)
    x = torch.randn(16, 3, 32, 32)
    whole = swap_score(model, x, repeats=5, init="gaussian", mode="train")
    monkeypatch.setattr(vec, "CHUNK_ELEMENTS", 1)  # one copy per folded forward
    single = swap_score(model, x, repeats=5, init="gaussian", mode="train")
    monkeypatch.setattr(vec, "CHUNK_ELEMENTS", 16 * 3 * 32 * 32 * vec.FIRST_GUESS * 2)  # two, then by neurons
    two = swap_score(model, x, repeats=5, init="gaussian", mode="train")
    assert whole.path == single.path == two.path == "vectorised"
    assert whole.scores == single.scores == two.scores


class Scale(nn.Module):
    """Owns a parameter used directly in forward: no vectorised rule."""

    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(6, 1, 1))

    def forward(self, x):
        return x * self.s


class Noise(nn.Module):
    def forward(self, x):
        return x + 0.1 * torch.randn_like(x)


class FixedBatch(nn.Module):
    """Forward code that assumes the batch size: breaks when the copies are folded into the batch."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x.reshape(self.n, *x.shape[1:])


@pytest.mark.parametrize("extra,why", [(Scale(), "owns parameters"), (Noise(), "random"),
                                       (FixedBatch(8), "folded forward failed"), (nn.Dropout(0.5), "dropout")])
def test_fallback_is_taken_and_reported(extra, why):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), extra, nn.BatchNorm2d(6), nn.ReLU())
    x = torch.randn(8, 3, 5, 5)
    res = swap_score(model, x, repeats=3, init="gaussian", mode="train")
    assert res.path == "loop" and why in res.fallback
    assert res.scores == swap_score(model, x, repeats=3, init="gaussian", mode="train", vectorise=False).scores


def test_bert_with_dropout_in_train_mode_falls_back(tiny_bert):
    model = tiny_bert()
    res = swap_score(model, text_inputs(4, 6, seed=0, pad=False), repeats=2, init="gaussian", mode="train")
    assert res.path == "loop" and "dropout" in res.fallback


def test_path_is_reported_and_vectorise_flag():
    model = bn_cnn()
    x = torch.randn(6, 3, 7, 7)
    assert swap_score(model, x).path == "loop"  # one repeat: nothing to vectorise
    assert swap_score(model, x, repeats=2, init="gaussian").path == "vectorised"
    assert swap_score(model, x, repeats=2, init="gaussian", vectorise=False).path == "loop"
    res = swap_score(model, x, repeats=2, vectorise=True)  # no init: every repeat is the same network
    assert res.path == "loop" and "no init" in res.fallback


def test_model_left_exactly_as_it_was():
    model = darts_net(2).train()
    model.cells[0].ops[0].eval()  # mixed modes must be restored per module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    x = torch.randn(16, 3, 32, 32)
    assert swap_score(model, x, repeats=4, init="gaussian", mode="train").path == "vectorised"
    assert swap_score(model, x, repeats=2, init="gaussian", mode="eval").path == "vectorised"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and before.keys() == after.keys()
    assert modes == [m.training for m in model.modules()]
    assert all("forward" not in m.__dict__ and not m._forward_hooks for m in model.modules())
    # and after a fallback in the middle of a folded forward
    bad = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), FixedBatch(8), nn.BatchNorm2d(6), nn.ReLU())
    state = {k: v.clone() for k, v in bad.state_dict().items()}
    assert swap_score(bad, torch.randn(8, 3, 5, 5), repeats=2, init="gaussian", mode="train").path == "loop"
    assert all(torch.equal(state[k], v) for k, v in bad.state_dict().items())
    assert all("forward" not in m.__dict__ and not m._forward_hooks for m in bad.modules())


class AddInPlace(nn.Module):
    def forward(self, x):
        return x.add_(1.0)  # modifies the (hooked) output of the activation before it


@pytest.mark.parametrize("repeats", [1, 3])
@pytest.mark.parametrize("packer", [None, "staged", "reference"])
def test_outputs_changed_in_place_after_their_hook(repeats, packer):
    """The staged packer sees the in-place change at the end of the forward and redoes it, packing in the hooks."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.GELU(), AddInPlace(), nn.ReLU())
    x = torch.randn(11, 3, 5, 5)
    for vectorise in (None, False):
        res = swap_score(model, x, repeats=repeats, init="gaussian", mode="train", packer=packer, vectorise=vectorise)
        assert list(res.scores) == definition_per_copy(model, x, repeats)


@pytest.mark.parametrize("n", [2, 8, 16, 31, 32, 33, 63, 64, 65, 130])
@pytest.mark.parametrize("nonneg", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_pack_copies_and_per_copy_counts_match_the_definition(n, nonneg, masked, monkeypatch):
    g = torch.Generator().manual_seed(n)
    k, v = 3, 500
    x = torch.randint(-1, 2, (n, k, v), generator=g).float()  # sample-major: x[:, c] is copy c's (N, V)
    x[:, :, 250:] = x[:, :, :250].flip(2)  # duplicate neurons
    x[:, 1] = x[:, 0]  # two equal copies
    if nonneg:
        x = x.clamp(min=0)
    keep = torch.rand(n, v, generator=g) > 0.3 if masked else None
    states = torch.sign(x) * keep.unsqueeze(1) if masked else torch.sign(x)
    truth = [len({tuple(c) for c in states[:, i].t().tolist()}) for i in range(k)]
    codes = pack_copies(x, nonneg, keep)
    assert codes.shape == (k, v, engine.code_words(n))
    col = engine.TorchCollector(n, None, copies=k)
    col.codes.append(codes)
    col.calls = 1
    assert col.count_copies() == truth
    one_word = codes.shape[2] == 1  # the per-copy counts of a GPU run: a table of seen codes, or a row-wise sort
    assert not one_word or counting.distinct_per_row(codes.view(k, v)) == truth
    monkeypatch.setattr(counting, "BINCOUNT_LIMIT", 0)  # the row-wise sort instead of the histogram
    assert col.count_copies() == truth
    assert not one_word or counting.distinct_per_row(codes.view(k, v)) == truth
    if not masked:  # the same codes as the single-copy packer
        assert all(torch.equal(codes[i], pack_signs(x[:, i].contiguous(), nonneg)) for i in range(k))
