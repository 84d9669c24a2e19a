"""The scorer: settings -> one batch, one proxy context and one identity; then one candidate at a time.

A candidate is anything with a stable string key and something ``build`` turns into a model (a space's
architecture, a checkpoint directory). Every proxy of a candidate starts from identical weights: the model is
built under ``seed`` and restored from a snapshot before each proxy.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from swaplm.errors import SwapError, check_samples
from swaplm.modelstate import batch_len, no_tf32, restore, snapshot, to_device

from . import identity as ident
from .settings import Settings

#: exceptions that mark one candidate's proxy as failed instead of stopping the run (programming errors such
#: as TypeError/AttributeError still propagate)
PROXY_FAILURES: tuple[type[BaseException], ...] = (SwapError, RuntimeError, ValueError, ArithmeticError)
#: failures that say nothing about the candidate (the machine ran out of memory): reported, never stored
TRANSIENT: tuple[type[BaseException], ...] = tuple(
    t for t in (MemoryError, getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
    if isinstance(t, type))


@dataclass
class Evaluation:
    """One candidate's results. ``values[p]`` is None when proxy ``p`` failed (reason in ``failed[p]``);
    ``seconds[p]`` its wall time; ``transient`` the proxies whose failure must not be stored."""

    key: str
    values: dict[str, float | None]
    seconds: dict[str, float]
    failed: dict[str, str] = field(default_factory=dict)
    build_seconds: float = 0.0
    computed_at: str | None = None
    versions: dict = field(default_factory=dict)
    cached: bool = False
    transient: set = field(default_factory=set)


#: the ``data`` entry of the identity when the caller gives the batch (its bytes are in ``batch_sha256``)
CALLER_BATCH = "<batch given by caller>"


class Scorer:
    """Scores candidates with ``proxies`` under ``settings``.

    ``space``: a :class:`swaplm.spaces.Space` (gives ``name``, ``build``, ``inputs``, ``labels``, ``num_classes``
    and the code fingerprint) or None, in which case ``batch`` and ``name`` are required (and ``build`` for
    :meth:`score`). ``batch`` overrides the space's inputs; ``labels`` the space's labels. ``fingerprint`` adds
    the digest of extra code that builds candidates. ``placed``: ``build`` returns the model already on its
    device(s) (e.g. spread by a device map), so it is not moved.
    """

    def __init__(self, space: Any, proxies: Sequence[Any], settings: Settings, *, batch: Any = None,
                 labels: Any = None, build: Callable[[Any], torch.nn.Module] | None = None,
                 name: str | None = None, fingerprint: str | None = None, placed: bool = False):
        from swaplm.proxies import Proxy, ProxyContext, get_proxy

        if not proxies:
            raise SwapError("no proxies selected")
        self.proxies = [p if isinstance(p, Proxy) else get_proxy(p) for p in proxies]
        self.names = [p.name for p in self.proxies]
        if len(set(self.names)) != len(self.names):
            raise SwapError(f"proxy listed twice: {', '.join(self.names)}")
        if space is None and (batch is None or name is None):
            raise SwapError("a scorer without a space needs a batch and a name")
        self.space, self.settings, self.placed = space, settings, placed
        self.name = name or space.name
        self.build = build or (space.build if space is not None else None)
        self.device = _device(settings.device)
        self.dtype = getattr(torch, settings.dtype)
        self.batch_given = batch is not None
        if not self.batch_given:
            batch = space.inputs(settings.data, n=settings.n, seed=settings.seed, **settings.inputs_options)
        self.n = check_samples(batch_len(batch))
        if labels is None and not self.batch_given and any(p.needs_labels for p in self.proxies):
            labels = space.labels(settings.data, n=settings.n, seed=settings.seed)
        self.ctx = ProxyContext(seed=settings.seed, repeats=settings.repeats, init=settings.init,
                                mode=settings.mode, padding=settings.padding, regularise=settings.regularise,
                                labels=to_device(labels, self.device),
                                num_classes=space.num_classes if space is not None else None)
        self.versions = ident.versions()
        self.identity = self._identity(batch, fingerprint)
        self.labels_sha256 = ident.digest(labels) if labels is not None else None
        # a proxy whose inputs (e.g. swap_reg <- swap, params) are computed in this run is derived from them
        self.derived = [p for p in self.proxies
                        if p.derive is not None and p.requires and all(r in self.names for r in p.requires)]
        self.run_proxies = [p for p in self.proxies if p not in self.derived]
        self.run_names = [p.name for p in self.run_proxies]
        self.columns = {p.name: self._column(p) for p in self.run_proxies}
        self.batch = _cast(to_device(batch, self.device), self.dtype)

    def _identity(self, batch: Any, fingerprint: str | None) -> dict[str, Any]:
        """What every stored value of this run is filed under (besides the proxy's own identity)."""
        s, space = self.settings, self.space
        if self.batch_given:
            data = CALLER_BATCH
        else:
            data = s.data if not s.inputs_options else {"data": s.data, **s.inputs_options}
        identity = {
            "space": self.name,
            "space_options": ident.jsonable(ident.space_options(space)) if space is not None else None,
            "space_code": ident.space_fingerprint(space) if space is not None else None,
            "build_code": fingerprint,
            "n": self.n, "repeats": s.repeats, "init": s.init, "mode": s.mode,
            "padding": s.padding, "seed": s.seed, "device": self.device.type,
            "data": ident.jsonable(data), "batch_sha256": ident.digest(batch),
            "versions": {k: v for k, v in self.versions.items() if k != "swaplm"},
        }
        if s.dtype != "float32":  # float32 runs keep the identity they always had
            identity["dtype"] = s.dtype
        return identity

    # -- pickling (worker processes): built-in proxies travel by name, run-time ones as objects
    def __getstate__(self):
        from swaplm.proxies import get_proxy

        state = dict(self.__dict__)

        def ref(p):
            builtin = getattr(p.fn, "__module__", "").startswith("swaplm.proxies.") and get_proxy(p.name) is p
            return p.name if builtin else p

        for k in ("proxies", "derived", "run_proxies"):
            state[k] = [ref(p) for p in state[k]]
        return state

    def __setstate__(self, state):
        from swaplm.proxies import get_proxy, register

        def obj(p):
            if isinstance(p, str):
                return get_proxy(p)
            return p if get_proxy_or_none(p.name) is p else register(p)

        def get_proxy_or_none(name):
            try:
                return get_proxy(name)
            except SwapError:
                return None

        for k in ("proxies", "derived", "run_proxies"):
            state[k] = [obj(p) for p in state[k]]
        self.__dict__.update(state)

    # -- identity
    def _column(self, proxy) -> str:
        """Store column of a proxy: its name plus a digest of the run identity, the proxy's identity and code
        fingerprint, and the size prior / labels for proxies that use them."""
        extra = {"proxy": ident.proxy_identity(proxy), "code": ident.proxy_fingerprint(proxy),
                 "version": proxy.version}
        if proxy.uses_regularise:
            extra["regularise"] = ident.jsonable(self.settings.regularise)
        if proxy.needs_labels:
            extra["labels_sha256"] = self.labels_sha256
        return f"{proxy.name}#{ident.sha({**self.identity, **extra})[:12]}"

    def settings_json(self) -> dict[str, Any]:
        """The resolved settings as JSON (for results and reports)."""
        s = self.settings
        return {"space": self.name, "space_options": self.identity["space_options"], "proxies": self.names,
                "n": self.n, "repeats": s.repeats, "init": s.init, "mode": s.mode, "padding": s.padding,
                "seed": s.seed, "device": str(self.device), "regularise": ident.jsonable(s.regularise),
                "data": self.identity["data"], "batch_sha256": self.identity["batch_sha256"],
                "labels_sha256": self.labels_sha256, "swaplm": self.versions.get("swaplm"),
                "versions": self.versions, "tf32": False, "dtype": s.dtype}

    # -- scoring
    def score(self, arch: Any, key: str, names: Sequence[str] | None = None) -> Evaluation:
        """Build ``arch`` and compute the run proxies ``names`` (default all) on identical starting weights."""
        if self.build is None:
            raise SwapError(f"scorer {self.name!r} has no build: score built models with measure()")
        todo = [p for p in self.run_proxies if names is None or p.name in names]
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        seed_all(self.settings.seed)
        t0 = time.perf_counter()
        try:
            model = self.build(arch)
            if not self.placed:
                model = model.to(self.device) if self.dtype is torch.float32 else model.to(self.device, self.dtype)
        except PROXY_FAILURES + TRANSIENT as e:
            reason = f"build failed: {reason_of(e)}"
            return Evaluation(key, {p.name: None for p in todo}, {p.name: 0.0 for p in todo},
                              {p.name: reason for p in todo}, time.perf_counter() - t0, stamp, self.versions,
                              transient={p.name for p in todo} if isinstance(e, TRANSIENT) else set())
        build_seconds = time.perf_counter() - t0
        ev = self._run(model, key, todo, stamp, restore_between=len(todo) > 1)
        ev.build_seconds = build_seconds
        return ev

    def measure(self, model: torch.nn.Module, key: str = "model") -> Evaluation:
        """Every proxy of this scorer on a model that is already built (and placed), derived ones included.
        The proxies leave the model as they found it; the caller keeps the global RNGs if it must."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return self.finish(self._run(model, key, self.run_proxies, stamp, restore_between=False))

    def _run(self, model, key: str, todo: list, stamp: str, *, restore_between: bool) -> Evaluation:
        """The proxies ``todo`` on ``model``, each seeded, timed and in true float32 (no TF32); with
        ``restore_between`` the model's state is put back between them."""
        values: dict[str, float | None] = {}
        seconds: dict[str, float] = {}
        failed: dict[str, str] = {}
        transient: set = set()
        state = snapshot(model) if restore_between else None
        cuda = self.device.type == "cuda"
        for i, proxy in enumerate(todo):
            if i and state is not None:
                restore(model, state, clear_grads=True)
            seed_all(self.settings.seed)
            if cuda:
                torch.cuda.synchronize(self.device)
            t = time.perf_counter()
            try:
                with no_tf32():
                    values[proxy.name] = float(proxy.compute(model, self.batch, self.ctx))
            except PROXY_FAILURES + TRANSIENT as e:
                values[proxy.name], failed[proxy.name] = None, reason_of(e)
                if isinstance(e, TRANSIENT):
                    transient.add(proxy.name)
                if cuda:
                    torch.cuda.empty_cache()
            if cuda:
                torch.cuda.synchronize(self.device)
            seconds[proxy.name] = time.perf_counter() - t
        return Evaluation(key, values, seconds, failed, 0.0, stamp, self.versions, transient=transient)

    def finish(self, ev: Evaluation) -> Evaluation:
        """Fill the derived proxies from the evaluation's other values (their seconds are the sum of their
        inputs': what computing them alone costs) and order the dicts as the proxy list."""
        for p in self.derived:
            missing = [r for r in p.requires if ev.values.get(r) is None]
            if missing:
                ev.values[p.name], ev.failed[p.name] = None, "needs " + ", ".join(missing)
            else:
                try:
                    value = float(p.derive({r: ev.values[r] for r in p.requires}, self.ctx))
                    if not math.isfinite(value):
                        raise SwapError(f"proxy {p.name!r} is not finite ({value})")
                    ev.values[p.name] = value
                except PROXY_FAILURES as e:
                    ev.values[p.name], ev.failed[p.name] = None, reason_of(e)
            ev.seconds[p.name] = sum(ev.seconds.get(r, 0.0) for r in p.requires)
        ev.values = {p: ev.values[p] for p in self.names}
        ev.seconds = {p: ev.seconds[p] for p in self.names}
        ev.failed = {p: ev.failed[p] for p in self.names if p in ev.failed}
        return ev

    # -- the store
    def lookup(self, store, key: str) -> Evaluation | None:
        """The stored run proxies of ``key`` as a (possibly partial) cached evaluation, or None."""
        values, seconds, failed, meta = {}, {}, {}, None
        for name in self.run_names:
            hit = store.get(self.columns[name], key)
            if hit is None:
                continue
            meta = meta or hit
            if "failed" in hit:
                values[name], failed[name] = None, hit["failed"]
            else:
                values[name] = float(hit["value"])
            seconds[name] = float(hit["seconds"])
        if meta is None:
            return None
        return Evaluation(key, values, seconds, failed, meta["build_seconds"], meta.get("computed_at"),
                          meta.get("versions") or {}, cached=True)

    def record(self, store, ev: Evaluation) -> None:
        """Append the newly computed, non-transient values of ``ev`` to ``store``."""
        cols = {}
        for name, value in ev.values.items():
            if name not in self.columns or name in ev.transient:
                continue
            entry = {"failed": ev.failed[name]} if name in ev.failed else {"value": value}
            cols[self.columns[name]] = {**entry, "seconds": ev.seconds[name]}
        store.append(ev.key, cols, build_seconds=ev.build_seconds, computed_at=ev.computed_at,
                     versions=ev.versions)


def _device(name: str) -> torch.device:
    """The device of this process: under ``accelerate launch`` a bare "cuda" is this process's GPU."""
    from .distributed import launched

    device = torch.device(name)
    if launched() and device.type == "cuda" and device.index is None:
        from .distributed import AccelerateExecutor

        return AccelerateExecutor().device
    return device


def _cast(batch: Any, dtype: torch.dtype) -> Any:
    """Floating-point tensors of ``batch`` in ``dtype`` (token ids and masks stay as they are)."""
    if dtype is torch.float32:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(dtype) if batch.is_floating_point() else batch
    return type(batch)({k: _cast(v, dtype) for k, v in batch.items()})


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def reason_of(e: BaseException) -> str:
    """``"Type: first line of the message"``."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


__all__ = ["Scorer", "Evaluation", "CALLER_BATCH", "PROXY_FAILURES", "TRANSIENT", "seed_all", "reason_of"]
