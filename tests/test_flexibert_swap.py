"""SWAP-Score on FlexiBERT members: default inputs, neuron count, bounds and determinism."""
from __future__ import annotations

import math
import random

import pytest
import torch

from swaplm import swap_score
from swaplm.spaces.flexibert import FlexiBertSpace

N, L = 8, 32


@pytest.fixture(scope="module")
def batch():
    return FlexiBertSpace().inputs(n=N, max_length=L)


def test_default_inputs_are_packed_wordpiece_blocks(batch):
    assert batch["input_ids"].shape == (N, L) and batch["attention_mask"].shape == (N, L)
    assert bool((batch["attention_mask"] == 1).all())  # packed corpus blocks: no padding
    assert int(batch["input_ids"].max()) < 30522 and int(batch["input_ids"][0, 0]) == 101  # [CLS]


@pytest.mark.parametrize("build", ["reference", "faithful"])
@pytest.mark.parametrize("draw", range(3))
def test_random_members_score_finite_bounded_and_deterministic(batch, build, draw):
    space = FlexiBertSpace(build=build)
    arch = space.sample(random.Random(100 + draw))
    torch.manual_seed(draw)
    model = space.build(arch)
    res = swap_score(model, batch, mode="train", padding="reference", seed=0)
    again = swap_score(model, batch, mode="train", padding="reference", seed=0)
    widths = sum(sum(model.config.feed_forward_widths(i)) for i in range(len(arch.layers)))
    assert res.neurons == L * widths  # one neuron per position x channel of every GELU call
    if build == "reference":
        assert res.neurons == L * 1024 * space.sum_feed_forward(arch)
    assert math.isfinite(res.score) and 0 < res.score <= res.neurons
    assert res.score == again.score  # same seed, same dropout masks
    assert model.training  # mode restored (built models start in train mode)


def test_eval_mode_score_ignores_the_seed(batch):
    space = FlexiBertSpace()
    torch.manual_seed(0)
    model = space.build(space.sample(random.Random(7)))
    a = swap_score(model, batch, mode="eval", padding="reference", seed=0).score
    b = swap_score(model, batch, mode="eval", padding="reference", seed=1).score
    assert a == b


@pytest.fixture(scope="module")
def padded_pair():
    """24 SST-2 sentences padded to the longest (<= 32 tokens), and the same with random tokens at padded slots."""
    from swaplm.data import text_batch

    enc = dict(text_batch("builtin:sst2", n=24, max_length=32))
    real = enc["attention_mask"].bool()
    assert not bool(real.all())
    noise = torch.randint(1000, 2000, real.shape, generator=torch.Generator().manual_seed(0))
    return enc, dict(enc, input_ids=torch.where(real, enc["input_ids"], noise))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_masked_score_of_faithful_build_ignores_pad_content(padded_pair, mode):
    enc, noisy = padded_pair
    for build in ("faithful", "reference"):
        space = FlexiBertSpace(build=build)
        torch.manual_seed(0)
        model = space.build(space.sample(random.Random(200)))
        a = swap_score(model, enc, mode=mode, padding="mask", seed=0)
        b = swap_score(model, noisy, mode=mode, padding="mask", seed=0)
        assert a.score < a.neurons  # not saturated, so equality below means something
        if build == "faithful":
            assert a.score == b.score
        else:
            assert a.score != b.score  # the reference build lets pad tokens reach real positions
