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


def run_cli(argv, capsys, monkeypatch, columns: int | None = None):
    """(exit code, stdout, stderr) of ``swaplm ARGV`` through the real entry point; ``columns`` sets the terminal
    width rich tables are drawn at."""
    from swaplm.cli import main

    capsys.readouterr()  # drop what the test itself printed while preparing
    if columns is not None:
        monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr("sys.argv", ["swaplm", *argv])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    cap = capsys.readouterr()
    return code, cap.out, cap.err
