"""``swaplm score``: the SWAP-Score (and any other proxies) of one model, or of one architecture of a search space
(``SPACE:ARCH``), on one batch, through the runner's scorer.

>>> result = score_model("builtin:bert-tiny", init="random", n=16)
>>> result.swap.score, result.values
>>> cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
>>> score_arch("nb201", cell, task="imagenet16_120").settings["substitute"]
'cifar100-16x16'
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import SwapError
from .runner.settings import DEFAULT

INITS = ("pretrained", "random", "gaussian", "default")

@dataclass
class ScoreResult:
    """One model's or architecture's score: ``swap`` the engine's full :class:`swaplm.SwapResult`; ``values`` /
    ``failed`` every other requested proxy's value or failure reason; ``settings`` what it was computed with
    (for ``SPACE:ARCH`` also the space, arch key, task, protocol and inputs: see :func:`score_arch`)."""

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
        r, s = self.swap, self.settings
        if "arch" in s:  # an architecture of a space (score_arch's record)
            head = {"space": s["space"], "arch": s["arch"], "task": s["task"], "inputs": s["inputs"],
                    "protocol": protocol_text(s["protocol"])}
            if "connected" in s:
                head["connected"] = "yes" if s["connected"] else "no (no input-to-output path; scored as built)"
        else:
            head = {"model": self.model, "data": s["data"]}
        rows = {**head, "SWAP score": r.score, "neurons": r.neurons, "samples": r.samples,
                "saturation": r.saturation, "repeats": r.repeats, "hooked calls": r.calls, "parameters": r.params,
                "device": s["device"], "seconds": r.seconds}
        for p, v in self.values.items():
            rows[p] = f"failed: {self.failed[p]}" if p in self.failed else v
        return rows


def protocol_text(p: dict[str, Any]) -> str:
    """A scoring protocol (``score_arch``'s ``protocol`` entry) in one line, e.g. ``N 16, 1 repeat, init as
    built, mode train, padding mask, no size prior``."""
    reg = p["regularise"]
    prior = "no size prior" if reg is None else f"size prior μ {reg['mu']:g} σ {reg['sigma']:g} ({reg['unit']})"
    return (f"N {p['n']}, {p['repeats']} repeat{'s' if p['repeats'] != 1 else ''}, init {p['init'] or 'as built'}, "
            f"mode {p['mode'] or 'as-is'}, padding {p['padding']}, {prior}")


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


# -- SPACE:ARCH ----------------------------------------------------------------------------------------------

#: a space name as ``SPACE:ARCH`` spells it (registered names and aliases, e.g. nb201, nas-bench-201, darts_cnn)
_SPACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def arch_target(target: str) -> tuple[str, str] | None:
    """(space name, arch string) when ``target`` is ``SPACE:ARCH``; None for a model (hub id, path, ``builtin:``).
    A hub id holds no ':', so a ``NAME:...`` that is neither ``builtin:`` nor an existing path names a space (an
    unknown one is refused in one line by :func:`score_arch`)."""
    head, sep, rest = target.partition(":")
    if not sep or head == "builtin" or not _SPACE_NAME.fullmatch(head) or os.path.exists(os.path.expanduser(target)):
        return None
    return head, rest


def score_target(target: str, *, task: str | None = None, build: str | None = None, repeats: int | None = None,
                 init: Any = DEFAULT, mode: Any = DEFAULT, padding: str | None = None, regularise: Any = None,
                 text_column: str | None = None, device_map: str | None = None, offload_folder: str | None = None,
                 trust_remote_code: bool = False, **common: Any) -> ScoreResult:
    """What ``swaplm score TARGET`` scores: :func:`score_arch` for ``SPACE:ARCH`` (settings left unset come from
    the space's protocol), else :func:`score_model` (unset: 1 repeat, pretrained, eval, mask, no size prior).
    ``common``: ``proxies``, ``data``, ``n``, ``max_length``, ``seed``, ``device`` and ``dtype`` of both."""
    found = arch_target(target)
    if found is None:
        if task is not None or build is not None:
            raise SwapError("--task and --build are for SPACE:ARCH targets (e.g. nb201:'|...|'), not for a model")
        return score_model(target, repeats=1 if repeats is None else repeats,
                           init="pretrained" if init is DEFAULT else init, mode="eval" if mode is DEFAULT else mode,
                           padding=padding or "mask", regularise=regularise, text_column=text_column,
                           device_map=device_map, offload_folder=offload_folder,
                           trust_remote_code=trust_remote_code, **common)
    given = [o for o, v in (("--text-column", text_column), ("--device-map", device_map),
                            ("--offload-folder", offload_folder), ("--trust-remote-code", trust_remote_code)) if v]
    if given:
        raise SwapError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for models, not for SPACE:ARCH")
    return score_arch(*found, task=task, build=build, repeats=repeats, init=init, mode=mode, padding=padding,
                      regularise=DEFAULT if regularise is None else regularise, **common)


def score_arch(space: str, arch: str, *, proxies: Sequence[str] | str = (), task: str | None = None,
               build: str | None = None, data: str | None = "auto", n: int | None = None,
               max_length: int | None = None, repeats: int | None = None, init: Any = DEFAULT, mode: Any = DEFAULT,
               padding: str | None = None, seed: int = 0, regularise: Any = DEFAULT, device: str = "auto",
               dtype: str = "float32") -> ScoreResult:
    """Score one architecture of the search space ``space`` from its string ``arch`` (an NB-201 arch string, an
    NB-101 spec key, a DARTS genotype, a FlexiBERT key) as the space's benchmark scores its candidates.

    ``task`` (default: the space's headline task) picks the task's inputs, and its build where the space builds
    one network per task (nb201: the classifier width and, for imagenet16_120, the 16x16 substitute images);
    ``build`` picks another build (nb101 ``reduced``, flexibert ``faithful``). Settings left unset (None, or
    :data:`DEFAULT` where None means something) are the space's protocol: ``n``, ``repeats``, ``init``
    (``random`` keeps the built weights, ``gaussian``/``default`` re-initialise per repeat), ``mode``, ``padding``
    and ``regularise`` (swap_reg's size prior). ``data`` "auto" or None: the task's own inputs. A bad space, task,
    arch string or setting is a one-line SwapError before any model is built. The result's ``settings`` hold
    ``space``, ``arch`` (the space's key), ``task``, ``protocol``, ``inputs`` (in words) and ``substitute``."""
    from .proxies import get_proxy
    from .runner import Scorer, resolve
    from .runner.identity import versions
    from .spaces import get_space

    if init == "pretrained":
        raise SwapError("--init pretrained is for trained models: an architecture is scored untrained "
                        "(random keeps the built weights; gaussian or default re-initialise)")
    if init is not DEFAULT and init not in INITS:
        raise SwapError(f"unknown init {init!r}; choose {', '.join(INITS[1:])}")
    chosen_space, column, source = task_space(get_space(space), task, build)
    parsed = parse_arch(chosen_space, arch)
    data = source if data in (None, "auto") else data
    settings = resolve(chosen_space, n=n, repeats=repeats, mode=mode, padding=padding, seed=seed, device=device,
                       init=init if init is DEFAULT else {"random": None}.get(init, init), regularise=regularise,
                       data=data, inputs_options={} if max_length is None else {"max_length": max_length},
                       dtype=dtype)
    chosen, shown = _proxies(proxies, settings.regularise)
    key = chosen_space.key(parsed)
    kept: dict[str, Any] = {}
    scorer = Scorer(chosen_space, [_kept_swap(kept), *(get_proxy(p) for p in chosen[1:])], settings)
    ev = scorer.finish(scorer.score(parsed, key))
    if "swap" not in kept:
        raise SwapError(ev.failed["swap"].split(": ", 1)[-1])
    record = _arch_record(chosen_space, scorer, parsed, key, column, data, max_length)
    return ScoreResult(f"{chosen_space.name}:{key}", kept["swap"], {p: ev.values[p] for p in shown},
                       {p: ev.failed[p] for p in shown if p in ev.failed}, record, versions())


def task_space(space: Any, task: str | None, build: str | None) -> tuple[Any, str, str | None]:
    """(``space`` with the build ``task`` needs, the task's benchmark column, its default data source). Where a
    space's builds are its tasks (nb201: one network per dataset) the task picks the build, a ``build`` alone
    names the task, and a ``build`` other than the task is refused."""
    if task is None and build is not None and build in space.builds and build in space.tasks:
        task = build
    column, source = space.resolve_task(task)
    if column in space.builds:
        if build is not None and build != column:
            raise SwapError(f"the {space.name} space builds one network per task: --task {column} scores the "
                            f"{column} build, not --build {build}")
        build = column
    return space.with_build(build), column, source


def parse_arch(space: Any, text: str) -> Any:
    """The architecture ``text`` names in ``space``, read by the space's own parser: a one-line SwapError for an
    unknown op, a malformed cell or an NB-101 spec that prunes to nothing."""
    return space.parse(text)


def _arch_record(space: Any, scorer: Any, arch: Any, key: str, column: str, data: str | None,
                 max_length: int | None) -> dict[str, Any]:
    """What an architecture was scored with (the result's ``settings``): the space (and its options, e.g. the
    build), the arch key, the task, the protocol used, the inputs and the run's settings."""
    s = scorer.settings_json()
    inputs, substitute = space.input_description(data), space.substitute(data)
    record = {"space": space.name, "space_options": s["space_options"], "arch": key, "task": column,
              "data": data, "inputs": inputs, "substitute": substitute,
              "protocol": {k: s[k] for k in ("n", "repeats", "init", "mode", "padding", "regularise")},
              "batch_size": s["n"], "max_length": max_length, "seed": s["seed"], "device": s["device"],
              "dtype": s["dtype"], "tf32": False, "batch_sha256": s["batch_sha256"]}
    connected = space.connected(arch)
    if connected is not None:  # a cell without an input-to-output path still scores (as built)
        record["connected"] = connected
    return record


__all__ = ["score_model", "score_arch", "score_target", "arch_target", "parse_arch", "ScoreResult", "INITS"]
