"""Search spaces shipped with swaplm (installed as ``swaplm.spaces``).

Adding a space is one new package plus one line in ``SPACES`` (name -> "module:factory").
"""
from __future__ import annotations

import importlib

from .base import Record, ScoringProtocol, Space

SPACES: dict[str, str] = {
    "darts": "swaplm.spaces.darts_cnn:DartsSpace",
    "flexibert": "swaplm.spaces.flexibert:FlexiBertSpace",
    "nb101": "swaplm.spaces.nb101:NB101Space",
    "nb201": "swaplm.spaces.nb201:NB201Space",
    "nb301": "swaplm.spaces.nb301:NB301Space",
}
ALIASES = {"darts_cnn": "darts", "darts-cnn": "darts", "nas-bench-bert": "flexibert", "nas-bench-101": "nb101",
           "nasbench101": "nb101", "nas-bench-201": "nb201", "nasbench201": "nb201", "nb-201": "nb201"}


def available() -> list[str]:
    return sorted(SPACES)


def get_space(name: str, **options) -> Space:
    """Instantiate a registered space by name (e.g. ``"darts"``); options go to its constructor."""
    from swaplm.errors import SwapError

    key = ALIASES.get(name.lower(), name.lower())
    if key not in SPACES:
        raise SwapError(f"unknown search space {name!r}; available: {', '.join(available())}")
    module, _, attr = SPACES[key].partition(":")
    return getattr(importlib.import_module(module), attr)(**options)


__all__ = ["Record", "ScoringProtocol", "Space", "SPACES", "available", "get_space"]
