"""swap_reg's size prior: each shipped space carries the prior chosen on its tuning split, the factor is
meaningful (not 0, not constant) on that space's models, and nowhere is a prior made up."""
import math

import pytest
import torch
import torch.nn as nn

from swaplm.bench import run_bench
from swaplm.errors import SwapError
from swaplm.proxies import ProxyContext, get_proxy
from swaplm.spaces import get_space
from swaplm.swap import Regularise

# (space options, prior chosen on the tuning split: reports/darts_cifar10.md, reports/flexibert_glue.md)
PRIORS = {
    "darts": ({}, Regularise(2.0, 10.0, unit="k")),
    "flexibert-reference": ({"build": "reference"}, Regularise(2.0, 256.0, unit="M")),
    "flexibert-faithful": ({"build": "faithful"}, Regularise(0.5, 1024.0, unit="M")),
}


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_space_protocol_prior_is_meaningful_on_its_models(name):
    options, prior = PRIORS[name]
    space = get_space(name.split("-")[0], **options)
    assert space.protocol.regularise == prior
    kw = dict(repeats=2) if name == "darts" else dict(n=8, inputs_options={"max_length": 16})
    result = run_bench(space, proxies=("swap", "swap_reg", "params"), limit=8, cache_dir=None, progress=False, **kw)
    reg, swap, params = (result.values(p) for p in ("swap_reg", "swap", "params"))
    factors = [r / s for r, s in zip(reg, swap)]
    assert all(f > 0.01 for f in factors), factors  # the prior does not wipe the score out
    assert len(set(reg)) == len(reg)  # a ranking, not a constant column
    assert factors == pytest.approx([prior.factor(int(p)) for p in params], rel=1e-12)
    rho = result.correlations()["swap_reg"][result.tasks[0]]["spearman"]
    assert math.isfinite(rho)


def test_swap_reg_without_a_prior_is_an_error_not_zero():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    proxy = get_proxy("swap_reg")
    with pytest.raises(SwapError, match="size prior"):
        proxy.compute(model, x, ProxyContext())
    with pytest.raises(SwapError, match="size prior"):
        proxy.derive({"swap": 5.0, "params": 40.0}, ProxyContext())
    ctx = ProxyContext(regularise=Regularise(40, 100, unit="1"))
    assert proxy.compute(model, x, ctx) == get_proxy("swap").compute(model, x, ctx) * math.exp(-0.0)
