"""Fixtures shared by the test files."""
import pytest
import torch
from transformers import BertConfig, BertModel


def make_tiny_bert(seed: int = 0, act: str = "gelu", *, hidden: int = 16, intermediate: int = 24, layers: int = 2,
                   vocab: int = 100, positions: int = 64, dropout: float = 0.1, eval: bool = False) -> BertModel:
    """A small randomly initialised BertModel (2 heads), drawn under ``seed``; in train mode unless ``eval``."""
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=intermediate, hidden_act=act, max_position_embeddings=positions,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = BertModel(cfg)
    return model.eval() if eval else model


@pytest.fixture
def tiny_bert():
    """The :func:`make_tiny_bert` factory."""
    return make_tiny_bert
