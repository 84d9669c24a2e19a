"""Search spaces shipped with swaplm (installed as ``swaplm.spaces``).

Adding a space is one new package plus one line in ``SPACES`` (name -> "module:factory").
"""
from __future__ import annotations

import importlib

from .base import Record, Space

SPACES: dict[str, str] = {
    "darts": "swaplm.spaces.darts_cnn:DartsSpace",
    "flexibert": "swaplm.spaces.flexibert:FlexiBertSpace",
}
ALIASES = {"darts_cnn": "darts", "darts-cnn": "darts", "nas-bench-bert": "flexibert"}


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


__all__ = ["Record", "Space", "SPACES", "available", "get_space"]
