"""swap_score must equal the plain definition on random inputs (SPEC §1-2)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import swaplm
from swaplm import Regularise, SwapError, swap_score
from swaplm import activations as acts
from swaplm.engine.counting import _count_hashed, _hash_rows
from swaplm.swap import count_distinct, pack_signs


# ----------------------------------------------------------------------------- the plain definition
def naive_swap(model, inputs, padding="mask", seed=0):
    """Distinct rows of sign(outputs) arranged neurons × samples, pooled over all hooked calls (python sets)."""
    outs = []
    handles = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().clone()))
               for _, m in acts.select(model)]
    torch.manual_seed(seed)
    with torch.no_grad():
        model(inputs) if isinstance(inputs, torch.Tensor) else model(**inputs)
    for h in handles:
        h.remove()
    mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
    patterns, neurons = set(), 0
    for o in outs:
        s = torch.sign(o)
        if padding == "mask" and mask is not None and o.dim() >= 3 and o.shape[1] == mask.shape[1]:
            s = s * mask.view(*mask.shape, *([1] * (o.dim() - 2))).to(s.dtype)
        rows = s.reshape(o.shape[0], -1).t()
        neurons += rows.shape[0]
        patterns.update(tuple(int(v) for v in r) for r in rows.tolist())
    return len(patterns), neurons


def tiny_cnn(seed, act=nn.ReLU):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), act(), nn.Conv2d(6, 6, 3, stride=2),
                         act(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10)).eval()


def text_inputs(n, length, seed, pad=True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    if pad:  # random right-padding, at least 2 real tokens
        lengths = torch.randint(2, length + 1, (n,), generator=g)
        mask = (torch.arange(length)[None] < lengths[:, None]).long()
        ids = ids * mask
    return {"input_ids": ids, "attention_mask": mask}


NS = [2, 16, 63, 64, 65, 128]


@pytest.mark.parametrize("n", NS)
def test_cnn_relu_matches_definition(n):
    model = tiny_cnn(n)
    x = torch.randn(n, 3, 6, 6, generator=torch.Generator().manual_seed(n))
    res = swap_score(model, x)
    expected, neurons = naive_swap(model, x)
    assert res.score == expected and res.neurons == neurons
    assert res.samples == n and res.saturation == pytest.approx(expected / neurons)


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "silu", "quick_gelu", "relu"])
@pytest.mark.parametrize("n", NS)
def test_transformer_matches_definition(act, n, tiny_bert):
    model = tiny_bert(n, act, eval=True)
    batch = text_inputs(n, 6, seed=n, pad=False)
    res = swap_score(model, batch)
    assert (res.score, res.neurons) == naive_swap(model, batch)


@pytest.mark.parametrize("padding", ["reference", "mask"])
@pytest.mark.parametrize("n", [3, 64, 65])
def test_padded_batches(padding, n, tiny_bert):
    model = tiny_bert(7, eval=True)
    batch = text_inputs(n, 9, seed=n, pad=True)
    assert (batch["attention_mask"] == 0).any()
    res = swap_score(model, batch, padding=padding)
    assert (res.score, res.neurons) == naive_swap(model, batch, padding=padding)


def test_mask_ignores_whatever_sits_at_padded_positions(tiny_bert):
    """padding="mask": padded positions carry state 0, so what the batch holds there cannot change the score;
    padding="reference" counts them, so the same change does show there."""
    model = tiny_bert(3, eval=True)
    batch = text_inputs(32, 12, seed=1, pad=True)
    pads = batch["attention_mask"] == 0
    assert 0 < int(pads.sum()) < pads.numel()
    other = dict(batch, input_ids=batch["input_ids"].clone())
    other["input_ids"][pads] = torch.randint(5, 100, (int(pads.sum()),), generator=torch.Generator().manual_seed(9))
    masked, masked_other = (swap_score(model, b, padding="mask") for b in (batch, other))
    ref, ref_other = (swap_score(model, b, padding="reference") for b in (batch, other))
    assert masked.score == masked_other.score
    assert ref.score != ref_other.score  # the change at padded positions is visible to the hooks
    assert masked.neurons == ref.neurons and masked.score != ref.score


class ZeroGelu(nn.Module):
    """Half the units get an exact-zero pre-activation (GELU(0) = 0), duplicated units, one GELU called 3×."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 8)
        with torch.no_grad():
            self.lin.weight[:4] = 0
            self.lin.bias[:4] = 0
            self.lin.weight[6] = self.lin.weight[7]  # duplicated neuron
            self.lin.bias[6] = self.lin.bias[7]
        self.act = nn.GELU()
        self.mix = nn.Linear(8, 8)

    def forward(self, x):
        h = self.act(self.lin(x))
        for _ in range(2):
            h = self.act(self.mix(h))
        return h


@pytest.mark.parametrize("n", [2, 17, 64, 100])
def test_exact_zeros_duplicates_and_repeated_calls(n):
    torch.manual_seed(n)
    model = ZeroGelu()
    x = torch.randn(n, 5)
    x[::3] = 0  # whole zero samples too
    res = swap_score(model, x)
    assert res.calls == 3 and res.modules == 1
    assert (res.score, res.neurons) == naive_swap(model, x)


@pytest.mark.parametrize("n", [5, 16, 64, 65, 130])
def test_count_distinct_with_forced_hash_collisions(n):
    g = torch.Generator().manual_seed(n)
    x = torch.randint(-1, 2, (n, 400), generator=g).float()
    x[:, 200:] = x[:, :200]  # many duplicate neurons
    codes = pack_signs(x)
    truth = len({tuple(c) for c in torch.sign(x).t().tolist()})
    assert count_distinct(codes) == truth
    assert _count_hashed(codes, _hash_rows(codes)) == truth  # the torch hash path (GPU, no numba)
    assert _count_hashed(codes, codes[:, 0] % 3) == truth  # almost everything collides
    assert _count_hashed(codes, torch.zeros_like(codes[:, 0])) == truth


@pytest.mark.parametrize("n,nonneg", [(2, True), (16, True), (22, True), (16, False), (32, True), (32, False)])
def test_histogram_and_sort_counts_agree_with_the_definition(n, nonneg, monkeypatch):
    import swaplm.engine.counting as engine

    g = torch.Generator().manual_seed(n)
    x = torch.randint(-1, 2, (n, 3000), generator=g).float()
    x[:, 1500:] = x[:, :1500].flip(1)  # duplicate neurons
    if nonneg:
        x = x.clamp(min=0)
    truth = len({tuple(c) for c in torch.sign(x).t().tolist()})
    codes = pack_signs(x, nonnegative=nonneg)
    assert codes.shape == (3000, 1)
    assert count_distinct(codes) == truth
    monkeypatch.setenv("SWAPLM_NUMBA", "0")  # the torch counts: the histogram, then the sort
    assert count_distinct(codes) == truth
    monkeypatch.setattr(engine, "BINCOUNT_LIMIT", 0)  # force the sort path
    assert count_distinct(codes) == truth


def test_model_left_exactly_as_it_was():
    model = tiny_cnn(0).train()
    model[1].eval()  # mixed modes must be restored per module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(8, 3, 6, 6)
    swap_score(model, x, mode="train", init="gaussian", repeats=2)
    swap_score(model, x, mode="eval")
    swap_score(model, x, mode="train")  # BN running stats would move in train mode
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and not model[1].training
    assert all(not m._forward_hooks for m in model.modules())


def test_hooks_removed_on_error():
    model = tiny_cnn(1)
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SwapError, match="NaN"):
        swap_score(model, torch.randn(4, 3, 6, 6))
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("n", [5, 16, 33, 70])
def test_train_mode_batchnorm_matches_definition_and_keeps_its_statistics(n):
    """The engine holds BatchNorm's running statistics instead of saving them: the counts are those of a
    forward that does update them (the naive reference, on a copy), and nothing moves, even after an error."""
    import copy

    model = tiny_cnn(3).train()
    reference = copy.deepcopy(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(n, 3, 6, 6)
    res = swap_score(model, x)
    assert (res.raw_score, res.neurons) == naive_swap(reference, x)
    assert not torch.equal(reference[1].running_mean, before["1.running_mean"])  # the reference's did move
    with torch.no_grad():
        model[3].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(SwapError, match="NaN"):
        swap_score(model, x)
    with torch.no_grad():
        model[3].weight[0, 0, 0, 0] = before["3.weight"][0, 0, 0, 0]
    assert model[1].track_running_stats
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_seeded_repeats_are_bit_identical_and_seed_matters():
    model = tiny_cnn(2).train()
    x = torch.randn(16, 3, 8, 8)
    a = swap_score(model, x, init="gaussian", repeats=4, seed=3, mode="train")
    b = swap_score(model, x, init="gaussian", repeats=4, seed=3, mode="train")
    c = swap_score(model, x, init="gaussian", repeats=4, seed=4, mode="train")
    assert a.scores == b.scores and a.score == b.score and len(a.scores) == 4
    assert a.scores != c.scores
    assert len(set(a.scores)) > 1  # each repeat re-initialises


def test_dropout_train_mode_seeded(tiny_bert):
    model = tiny_bert(5, eval=True).train()  # dropout active
    batch = text_inputs(16, 8, seed=0, pad=False)
    r1 = swap_score(model, batch, seed=11, mode="train")
    assert swap_score(model, batch, seed=11, mode="train").score == r1.score
    assert (r1.score, r1.neurons) == naive_swap(model.train(), batch, seed=11)


def test_regularise_units_and_convention():
    model = tiny_cnn(3)
    p = swaplm.count_params(model)
    x = torch.randn(8, 3, 6, 6)
    raw = swap_score(model, x).score
    for unit, div in [("1", 1), ("k", 1e3), ("M", 1e6)]:
        reg = Regularise(mu=0.5, sigma=1.5, unit=unit)
        res = swap_score(model, x, regularise=reg)
        assert res.raw_score == raw
        assert res.score == pytest.approx(raw * math.exp(-((p / div - 0.5) ** 2) / 1.5))
    two = Regularise(mu=0.5, sigma=1.5, convention="2sigma2").factor(p)
    assert two == pytest.approx(math.exp(-((p / 1e3 - 0.5) ** 2) / (2 * 1.5 ** 2)))
    with pytest.raises(SwapError):
        Regularise(1, 1, unit="G")


class FunctionalOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return F.relu(self.lin(x))


def test_errors():
    with pytest.raises(SwapError, match="no hookable activation.*Linear"):
        swap_score(FunctionalOnly(), torch.randn(4, 4))
    with pytest.raises(SwapError, match="at least 2"):
        swap_score(tiny_cnn(0), torch.randn(1, 3, 6, 6))
    with pytest.raises(SwapError, match="repeats"):
        swap_score(tiny_cnn(0), torch.randn(4, 3, 6, 6), repeats=0)
    with pytest.raises(SwapError, match="init"):
        swap_score(tiny_cnn(0), torch.randn(4, 3, 6, 6), init="xavier")


def test_user_activation_patterns_and_registry():
    model = FunctionalOnly()
    model.act = nn.Tanh()  # not in the registry
    model.forward = lambda x: model.act(model.lin(x))
    x = torch.randn(10, 4)
    res = swap_score(model, x, activations=["act"])
    assert res.modules == 1 and res.neurons == 4

    class MyAct(nn.Module):
        def forward(self, x):
            return x.clamp(min=0)

    acts.register(MyAct, nonnegative=True)
    try:
        m2 = nn.Sequential(nn.Linear(4, 6), MyAct())
        assert swap_score(m2, x).neurons == 6
    finally:
        acts._extra.remove(MyAct)
        acts._extra_nonneg.remove(MyAct)


def test_default_init_rerun_changes_weights_but_restores(tiny_bert):
    model = tiny_bert(9, eval=True)
    batch = text_inputs(8, 5, seed=0, pad=False)
    w = model.encoder.layer[0].intermediate.dense.weight.clone()
    a = swap_score(model, batch, init="default", repeats=2, seed=1)
    assert torch.equal(w, model.encoder.layer[0].intermediate.dense.weight)
    assert a.scores == swap_score(model, batch, init="default", repeats=2, seed=1).scores


def _counting_engine_runs(monkeypatch) -> list:
    import swaplm.proxies.swap as proxy_swap

    runs, engine = [], proxy_swap.swap_score
    monkeypatch.setattr(proxy_swap, "swap_score", lambda *a, **k: runs.append(1) or engine(*a, **k))
    return runs


def test_swap_reg_proxy_reuses_swap_run_and_matches_engine(monkeypatch):
    from swaplm.proxies import ProxyContext, get_proxy

    model = tiny_cnn(4).train()
    x = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(4))
    reg = Regularise(mu=0.3, sigma=0.1)  # Θ = 0.58k parameters: factor ≈ 0.46
    ctx = ProxyContext(seed=1, repeats=3, init="gaussian", mode="train", regularise=reg)
    runs = _counting_engine_runs(monkeypatch)
    swap = get_proxy("swap").compute(model, x, ctx)
    reg_value = get_proxy("swap_reg").compute(model, x, ctx)
    assert len(runs) == 1  # swap_reg used swap's run
    direct = swap_score(model, x, seed=1, repeats=3, init="gaussian", mode="train", regularise=reg)
    assert swap == direct.raw_score and reg_value == pytest.approx(direct.score)
    assert 0.05 < direct.reg_factor < 0.9  # the prior matters here, so reg_value checks the factor too


def test_swap_memo_is_not_used_after_any_change(monkeypatch):
    """The memo answers only for the same model, batch and settings with unchanged weights: an in-place weight
    change, another batch or other settings each run the engine again and give the fresh answer."""
    from swaplm.proxies import ProxyContext, get_proxy

    model = tiny_cnn(4).train()
    x = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(4))
    ctx = ProxyContext(seed=1, mode="train")  # weights as they are: a weight change changes the score
    swap = get_proxy("swap")
    runs = _counting_engine_runs(monkeypatch)
    first = swap.compute(model, x, ctx)
    assert swap.compute(model, x, ctx) == first and len(runs) == 1  # memo hit
    with torch.no_grad():
        model[0].weight.add_(torch.randn(model[0].weight.shape, generator=torch.Generator().manual_seed(1)))
    changed = swap.compute(model, x, ctx)
    assert len(runs) == 2 and changed != first and changed == swap_score(model, x, seed=1, mode="train").score
    y = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(5))
    assert swap.compute(model, y, ctx) == swap_score(model, y, seed=1, mode="train").score and len(runs) == 3
    other = ProxyContext(seed=2, repeats=2, init="gaussian", mode="train")
    assert swap.compute(model, y, other) == swap_score(model, y, seed=2, repeats=2, init="gaussian",
                                                       mode="train").score and len(runs) == 4


@pytest.mark.parametrize("single", [True, False])
def test_small_outputs_packed_single_threaded_give_the_same_codes(monkeypatch, single):
    import swaplm.engine.packers as sw
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.GELU())
    x = torch.randn(19, 3, 8, 8)
    threads = torch.get_num_threads()
    monkeypatch.setattr(sw, "SMALL_SINGLE_THREAD", not single)
    other = swap_score(model, x, packer="staged").score
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(sw, "SMALL_SINGLE_THREAD", single)
        assert swap_score(model, x, packer="staged").score == other == swap_score(model, x).score
        assert torch.get_num_threads() == 2  # the thread count is put back
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- packers (swaplm.engine.packers)
PACKERS = ["reference", "staged", "numba", "seen-table"]


def _packer_applies(packer, nonneg, n):
    from swaplm.engine import fastpack

    if packer in ("numba", "seen-table") and not fastpack.available():
        return False
    return packer != "seen-table" or (nonneg and n <= 22)  # bit tables of 2^N bits per copy, within 2 MB


def tied_cnn(act, seed):
    """Random CNN with exact zeros (zeroed filters), duplicated filters and a 1×1 conv: ties everywhere."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), act(), nn.Conv2d(6, 5, 1), act())
    with torch.no_grad():
        model[0].weight[0] = 0
        model[0].bias[0] = 0
        model[0].weight[1] = model[0].weight[2]
        model[0].bias[1] = model[0].bias[2]
    return model


@pytest.mark.parametrize("packer", PACKERS)
@pytest.mark.parametrize("act", [nn.ReLU, nn.GELU])
@pytest.mark.parametrize("n", [5, 16, 31, 33, 70])
def test_every_packer_equals_the_reference_collector_and_the_definition(packer, act, n):
    if not _packer_applies(packer, act is nn.ReLU, n):
        pytest.skip("packer does not apply")
    model = tied_cnn(act, n)
    x = torch.randn(n, 3, 5, 5, generator=torch.Generator().manual_seed(n))
    x[1::4] = x[::4][: x[1::4].shape[0]]  # repeated samples
    for mode in ("train", "eval"):
        res = swap_score(model, x, packer=packer, mode=mode)
        ref = swap_score(model, x, packer="reference", mode=mode)
        assert res.packer == packer and ref.packer == "reference"
        assert (res.score, res.neurons, res.calls) == (ref.score, ref.neurons, ref.calls)
        assert (res.score, res.neurons) == naive_swap(model.train(mode == "train"), x)
    loop = swap_score(model, x, packer=packer, repeats=3, init="gaussian", mode="train", vectorise=False)
    folded = swap_score(model, x, packer=packer, repeats=3, init="gaussian", mode="train")
    ref = swap_score(model, x, packer="reference", repeats=3, init="gaussian", mode="train")
    assert folded.path == "vectorised" and loop.path == "loop"
    assert loop.scores == folded.scores == ref.scores


@pytest.mark.parametrize("packer", PACKERS)
@pytest.mark.parametrize("act", ["relu", "gelu"])
@pytest.mark.parametrize("n", [7, 21, 70])
def test_every_packer_with_padding(packer, act, n, tiny_bert):
    if not _packer_applies(packer, act == "relu", n):
        pytest.skip("packer does not apply")
    model = tiny_bert(n, act, eval=True)
    batch = text_inputs(n, 9, seed=n, pad=True)
    for padding in ("mask", "reference"):
        res = swap_score(model, batch, padding=padding, packer=packer)
        assert res.packer == packer
        assert (res.score, res.neurons) == naive_swap(model, batch, padding=padding)
        reps = swap_score(model, batch, padding=padding, packer=packer, repeats=2, init="gaussian")
        assert reps.path == "vectorised"
        assert reps.scores == swap_score(model, batch, padding=padding, packer="reference", repeats=2,
                                         init="gaussian").scores


def test_packer_is_chosen_once_and_reported(monkeypatch):
    from swaplm.engine import fastpack

    x = torch.randn(16, 3, 5, 5)
    relu, gelu = tied_cnn(nn.ReLU, 0), tied_cnn(nn.GELU, 0)
    if fastpack.available():
        assert swap_score(relu, x).packer == "seen-table"  # ReLU-like and N <= 32: codes marked in bit tables
        assert swap_score(relu, torch.randn(40, 3, 5, 5)).packer == "numba"
        assert swap_score(gelu, x).packer == "numba"
        assert swap_score(tied_cnn(nn.ReLU, 0).double(), x.double()).packer == "seen-table"
    assert swap_score(tied_cnn(nn.ReLU, 0).bfloat16(), x.bfloat16()).packer == "staged"  # the kernels read f32/f64
    with pytest.raises(SwapError, match="does not apply"):
        swap_score(gelu, x, packer="seen-table")
    with pytest.raises(SwapError, match="unknown packer"):
        swap_score(gelu, x, packer="fast")
    monkeypatch.setenv("SWAPLM_NUMBA", "0")
    assert swap_score(relu, x).packer == swap_score(gelu, x).packer == "staged"
    assert swap_score(relu, x).to_dict()["packer"] == "staged"
    with pytest.raises(SwapError, match="does not apply"):
        swap_score(relu, x, packer="numba")


def test_an_init_declares_whether_it_resets_norm_statistics(monkeypatch):
    """BatchNorm statistics are held during a score only for an init that declares it leaves them alone: an
    undeclared init that resets them gets them reset (eval mode reads them), and they are put back after."""
    import copy

    import swaplm.init as inits

    def resetting(model):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()

    model = tied_cnn(nn.GELU, 1).eval()
    with torch.no_grad():
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.2, 3.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(12, 3, 5, 5)
    reset = copy.deepcopy(model)
    resetting(reset)
    monkeypatch.setitem(inits.INITS, "resetting", resetting)
    assert swap_score(model, x, init="resetting").score == naive_swap(reset, x)[0] != naive_swap(model, x)[0]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    inits.declare(resetting, resets_norm_stats=False)  # a false declaration: the statistics are held
    assert swap_score(model, x, init="resetting").score == naive_swap(model, x)[0]
    assert inits.gaussian_init.resets_norm_stats is False and inits.default_init.resets_norm_stats is True
