"""Big-model paths: a model spread over devices with accelerate (CPU + disk offload) scores like the plain
model; bfloat16 runs; a model that cannot be dispatched is one line."""
import copy
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

pytest.importorskip("accelerate")

from conftest import make_tiny_bert
from swaplm import swap_score
from swaplm.errors import SwapError
from swaplm.models import dispatch


def _bert():
    return make_tiny_bert(hidden=32, intermediate=64, layers=3, vocab=120, eval=True)


def _batch(n=20, length=12):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 120, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[::3, 8:] = 0  # some padding: masks must follow the outputs
    return {"input_ids": ids, "attention_mask": mask}


def test_offloaded_model_scores_like_the_plain_model(tmp_path):
    model, batch = _bert(), _batch()
    plain = swap_score(model, batch)
    device_map = {"embeddings": "cpu", "encoder.layer.0": "cpu", "encoder.layer.1": "disk",
                  "encoder.layer.2": "disk", "pooler": "cpu"}
    spread = dispatch(copy.deepcopy(model), device_map, str(tmp_path / "offload"))
    assert any(p.device.type == "meta" for p in spread.encoder.layer[1].parameters())  # really offloaded
    assert any((tmp_path / "offload").iterdir())
    res = swap_score(spread, batch)
    assert (res.score, res.neurons, res.calls) == (plain.score, plain.neurons, plain.calls)
    assert swap_score(spread, batch, padding="reference").score == swap_score(model, batch, padding="reference").score
    # the input side offloaded too: the batch goes where the first weights live, accelerate's hooks do the rest
    first_off = dispatch(copy.deepcopy(model), {"embeddings": "disk", "encoder": "cpu", "pooler": "disk"},
                         str(tmp_path / "offload2"))
    assert swap_score(first_off, batch).score == plain.score


def test_auto_device_map_on_cpu_and_an_undispatchable_model():
    model = _bert()
    spread = dispatch(copy.deepcopy(model), "auto")
    assert set(map(str, spread.hf_device_map.values())) == {"cpu"}
    assert swap_score(spread, _batch()).score == swap_score(model, _batch()).score
    with pytest.raises(SwapError, match="cannot be dispatched"):
        dispatch(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), "auto")
    with pytest.raises(SwapError, match="does not have"):
        dispatch(copy.deepcopy(model), {"encoder.layer.9": "cpu"})


def _score(*extra):
    out = subprocess.run([sys.executable, "-m", "swaplm", "score", "builtin:bert-tiny", "--init", "random",
                          "--batch-size", "16", "--max-length", "32", "--json", *extra],
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    return out


def test_cli_dtype_and_device_map():
    f32, bf16, auto = _score(), _score("--dtype", "bfloat16"), _score("--device-map", "auto")
    for out in (f32, bf16, auto):
        assert out.returncode == 0, out.stderr[-2000:]
    a, b, c = (json.loads(o.stdout) for o in (f32, bf16, auto))
    assert (a["dtype"], b["dtype"]) == ("float32", "bfloat16") and a["tf32"] is False
    assert c["score"] == a["score"] and c["device_map"] == {"": "cpu"}
    assert b["neurons"] == a["neurons"] and abs(b["score"] - a["score"]) / a["score"] < 0.05  # close, not equal
    bad = _score("--device-map", "everywhere")
    assert bad.returncode == 1 and "--device-map must be 'auto'" in bad.stderr and "Traceback" not in bad.stderr
