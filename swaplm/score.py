"""``swaplm score``: the SWAP-Score (and any other proxies) of one model on one batch, through the runner's scorer.

>>> result = score_model("builtin:bert-tiny", init="random", n=16)
>>> result.swap.score, result.values
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import SwapError

INITS = ("pretrained", "random", "gaussian", "default")


@dataclass
class ScoreResult:
    """One model's score: ``swap`` the engine's full :class:`swaplm.SwapResult`; ``values`` / ``failed`` every
    other requested proxy's value or failure reason; ``settings`` what it was computed with."""

    model: str
    swap: Any
    values: dict[str, float | None]
    failed: dict[str, str]
    settings: dict[str, Any]
    versions: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The engine's result, the settings, the versions, and ``proxies``: ``{name: value}`` (``{"failed":
        reason}`` for a failed one)."""
        extra = {p: ({"failed": self.failed[p]} if p in self.failed else v) for p, v in self.values.items()}
        return {**self.swap.to_dict(), "model": self.model, **self.settings, "versions": self.versions,
                "proxies": extra}

    def rows(self) -> dict[str, Any]:
        """What the terminal table shows."""
        r = self.swap
        rows = {"model": self.model, "data": self.settings["data"], "SWAP score": r.score, "neurons": r.neurons,
                "samples": r.samples, "saturation": r.saturation, "repeats": r.repeats, "hooked calls": r.calls,
                "parameters": r.params, "device": self.settings["device"], "seconds": r.seconds}
        for p, v in self.values.items():
            rows[p] = f"failed: {self.failed[p]}" if p in self.failed else v
        return rows


def score_model(model: str, *, proxies: Sequence[str] | str = (), data: str | None = "auto", n: int | None = None,
                max_length: int | None = None, repeats: int = 1, init: str = "pretrained", mode: str | None = "eval",
                padding: str = "mask", seed: int = 0, regularise: Any = None, text_column: str | None = None,
                device: str = "auto", dtype: str = "float32", device_map: str | None = None,
                offload_folder: str | None = None, trust_remote_code: bool = False) -> ScoreResult:
    """Score ``model`` (hub id, directory, ``builtin:`` name) on one batch made from ``data``.

    ``n`` samples and ``max_length`` tokens per text sample (None: 128 each). ``init``: ``pretrained``
    weights, ``random`` (from the config, seeded by ``seed``), or ``gaussian`` / ``default``
    re-initialisation before each repeat. ``proxies``: extra proxies beside SWAP (``swap_reg``
    needs ``regularise``). ``mode``: "train", "eval" or None (as loaded). Every setting is checked before the
    model is loaded; the proxies run through :class:`swaplm.runner.Scorer` (seeded, TF32 off, the model
    restored between proxies), and ``swap_reg`` is derived from the same engine run as ``swap``."""
    from . import data as data_mod
    from . import models
    from .proxies import get_proxy
    from .runner import Scorer, Settings
    from .runner.identity import versions
    from .runner.settings import resolve_device

    n, max_length = (128 if v is None else v for v in (n, max_length))
    if init not in INITS:
        raise SwapError(f"unknown init {init!r}; choose {', '.join(INITS)}")
    reinit = {"gaussian": "gaussian", "default": "default"}.get(init)
    if init == "random" and repeats > 1:
        reinit = "default"
    settings = Settings(n=n, repeats=repeats, init=reinit, mode=mode, padding=padding, seed=seed,
                        device=resolve_device(device), regularise=regularise, dtype=dtype)
    if max_length < 2:
        raise SwapError(f"--max-length must be >= 2, got {max_length}")
    chosen, shown = _proxies(proxies, regularise)
    net, tokenizer, info = models.load(model, init="pretrained" if init == "pretrained" else "random",
                                       device=settings.device, trust_remote_code=trust_remote_code,
                                       seed=seed if init == "random" else None, dtype=dtype,
                                       device_map=device_map, offload_folder=offload_folder)
    kind = info.get("modality", "text")
    positions = getattr(getattr(net, "config", None), "max_position_embeddings", None)
    if kind == "text" and isinstance(positions, int) and max_length > positions:
        raise SwapError(f"--max-length {max_length} is above the {positions} positions of {model!r}: "
                        f"pass --max-length {positions} or less")
    image_size = info.get("image_size")
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    source = data_mod.resolve_source(data, kind)  # auto: the shipped sample for the model's modality
    batch = data_mod.make_batch(source, model_kind=kind, tokenizer=tokenizer, n=n, max_length=max_length,
                                seed=seed, text_column=text_column, image_size=image_size)
    kept: dict[str, Any] = {}
    scorer = Scorer(None, [_kept_swap(kept), *(get_proxy(p) for p in chosen[1:])], settings, batch=batch,
                    build=lambda _: net, name="score", placed=True)
    ev = scorer.finish(scorer.score(model, model))
    if "swap" not in kept:
        raise SwapError(ev.failed["swap"].split(": ", 1)[-1])
    record = {"data": source, "batch_size": n, "max_length": max_length, "init": init,
              "mode": "as-is" if mode is None else mode, "padding": padding, "seed": seed,
              "device": settings.device, "dtype": dtype, "device_map": info.get("device_map"), "tf32": False,
              "regularise": None if regularise is None else {"mu": regularise.mu, "sigma": regularise.sigma,
                                                             "unit": regularise.unit}}
    return ScoreResult(model, kept["swap"], {p: ev.values[p] for p in shown},
                       {p: ev.failed[p] for p in shown if p in ev.failed}, record, versions())


def _proxies(proxies: Sequence[str] | str, regularise: Any) -> tuple[list[str], list[str]]:
    """(proxies to compute, swap first; extra proxies to show). A proxy that reads the size prior needs one; it
    brings ``params`` along, so that it is derived from the one engine run of ``swap``."""
    from .proxies import get_proxy

    if isinstance(proxies, str):
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    shown = [p for p in dict.fromkeys(proxies) if p != "swap"]
    for p in shown:
        if get_proxy(p).uses_regularise and regularise is None:
            # no prior fits every model: a prior far from the model's size makes the factor 0
            raise SwapError(f"--proxies {p} needs a size prior for this model: pass --reg-mu and --reg-sigma "
                            "(Θ in --reg-unit parameters: 1, k or M)")
    extra = ["params"] if any(get_proxy(p).requires for p in shown) else []
    return list(dict.fromkeys(["swap", *shown, *extra])), shown


def _kept_swap(kept: dict):
    """The registered ``swap`` proxy, keeping the engine's full result in ``kept["swap"]``."""
    from .proxies import get_proxy
    from .swap import swap_score

    def swap_detailed(model, batch, ctx) -> float:
        kept["swap"] = swap_score(model, batch, repeats=ctx.repeats, init=ctx.init, seed=ctx.seed, mode=ctx.mode,
                                  padding=ctx.padding)
        return kept["swap"].raw_score

    return dataclasses.replace(get_proxy("swap"), fn=swap_detailed)


__all__ = ["score_model", "ScoreResult", "INITS"]
