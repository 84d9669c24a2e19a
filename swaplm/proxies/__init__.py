"""Zero-cost proxies in one registry (SPEC §4).

Adding a proxy is one file in this folder defining ``PROXY = Proxy(...)`` plus one line in ``_MODULES``.
"""
from __future__ import annotations

import importlib

from .base import Proxy, ProxyContext

_MODULES = [
    "swap", "params",
    "nwot", "synflow", "saliency", "jacov", "zen", "l2_norm", "flops", "transformer",
    "swap_variants",
    "mlm_loss", "spectrum",  # label-free checkpoint companions (swaplm rank)
    "w_pca", "meco", "dss", "zico", "lpzero",  # transformer proxies from the literature (anchors §1)
]
_REGISTRY: dict[str, Proxy] = {}


def _load() -> dict[str, Proxy]:
    if not _REGISTRY:
        for mod in _MODULES:
            m = importlib.import_module(f"{__name__}.{mod}")
            for p in m.PROXIES if hasattr(m, "PROXIES") else [m.PROXY]:
                _REGISTRY[p.name] = p
    return _REGISTRY


def available(family: str | None = None) -> list[str]:
    """Names of all registered proxies, in registry order; with ``family`` ("cnn" or "transformer") only those
    that apply to it."""
    return [name for name, p in _load().items() if family is None or family in p.families]


def get_proxy(name: str) -> Proxy:
    from swaplm.errors import SwapError

    reg = _load()
    if name not in reg:
        raise SwapError(f"unknown proxy {name!r}; available: {', '.join(reg)}")
    return reg[name]


def register(proxy: Proxy) -> Proxy:
    """Register a user proxy at run time."""
    _load()[proxy.name] = proxy
    return proxy


__all__ = ["Proxy", "ProxyContext", "available", "get_proxy", "register"]
