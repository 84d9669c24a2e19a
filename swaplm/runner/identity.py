"""Identities of computed values: settings, data digests and fingerprints of the code that computes them.

A stored value is found again only under the identity it was computed with, and that identity changes by itself
whenever the value could change: a setting, the batch bytes, the torch / transformers versions, or the source
of the engine, the proxy's module or the space's modules (no hand-bumped version numbers).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

_SWAPLM = Path(__file__).resolve().parent.parent
#: top-level swaplm modules that never change a computed value (front ends, reporting, bookkeeping); every
#: other module of the package counts as engine code, so a new engine module is covered without a list edit
_NOT_ENGINE = {"__init__.py", "__main__.py", "cli.py", "report.py", "stats.py", "bench.py", "score.py",
               "models.py", "data.py", "integrations.py", "_hf_registry.py", "export.py"}


def sha(obj: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=None)
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def files_digest(paths) -> str:
    """Digest of the contents of ``paths`` (sorted; a missing file counts as its name only)."""
    h = hashlib.sha256()
    for p in sorted({str(Path(p).resolve()) for p in paths}):
        h.update(Path(p).name.encode())
        h.update(_file_digest(p).encode() if Path(p).is_file() else b"missing")
    return h.hexdigest()


def engine_files() -> list[Path]:
    """The engine's source files: every top-level ``swaplm/*.py`` module except the front ends, and every
    module of the ``swaplm/engine`` package."""
    return sorted([*(p for p in _SWAPLM.glob("*.py") if p.name not in _NOT_ENGINE),
                   *(_SWAPLM / "engine").rglob("*.py")])


def module_file(obj: Any) -> str | None:
    """Source file of a function / class / module, or None (built in, or defined interactively)."""
    try:
        return inspect.getsourcefile(obj if inspect.ismodule(obj) else inspect.unwrap(obj))
    except (TypeError, OSError):
        mod = sys.modules.get(getattr(obj, "__module__", "") or "")
        return getattr(mod, "__file__", None)


def proxy_fingerprint(proxy: Any) -> str:
    """Digest of the code behind a proxy: the engine, the proxy's own module, the proxies' base and private
    helper modules (``swaplm/proxies/_*.py``), and for a function without a file its bytecode."""
    files = [*engine_files(), _SWAPLM / "proxies" / "base.py", *sorted((_SWAPLM / "proxies").glob("_*.py"))]
    extra = ""
    for fn in (proxy.fn, proxy.derive):
        if fn is None:
            continue
        path = module_file(fn)
        if path:
            files.append(Path(path))
        else:
            extra += repr(getattr(getattr(fn, "__code__", None), "co_code", repr(fn)))
    return sha([files_digest(files), extra])


def space_fingerprint(space: Any) -> str:
    """Digest of every ``.py`` file of the space's package (its builder, sampler and benchmark loader), of the
    space protocol module, and of every other ``swaplm.spaces`` module or package those files import (NB-301's
    builder is the DARTS space's, so a change there changes NB-301's identities too)."""
    from swaplm.spaces import base

    path = module_file(type(space))
    files = [Path(module_file(base))]
    if path:
        here = Path(path).resolve().parent
        files += sorted(here.glob("*.py")) if (here / "__init__.py").exists() else [Path(path)]
    return files_digest(files + space_dependencies(files, Path(module_file(base)).resolve().parent))


def _imported_space_modules(path: Path) -> set[str]:
    """Names of the ``swaplm.spaces`` members (a module or a package: ``darts_cnn``, ``base``) that the source
    file ``path`` imports, relatively (``from ..darts_cnn.model import Network``) or absolutely."""
    import ast

    inside_package = (path.parent / "__init__.py").exists() and path.parent.name != "spaces"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 0:
                if parts[:2] == ["swaplm", "spaces"]:
                    names.update(parts[2:3] or [a.name for a in node.names])
            elif node.level == (2 if inside_package else 1):
                names.update(parts[:1] or [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["swaplm", "spaces"] and len(parts) > 2:
                    names.add(parts[2])
    return names


def space_dependencies(files: list[Path], root: Path) -> list[Path]:
    """The source files of the ``swaplm.spaces`` modules and packages (under ``root``) that ``files`` import,
    directly or through each other, beyond ``files`` themselves."""
    seen = {Path(f).resolve() for f in files}
    todo, found = list(seen), []
    while todo:
        for name in sorted(_imported_space_modules(todo.pop())):
            member = root / name
            new = sorted(member.glob("*.py")) if (member / "__init__.py").exists() else [root / f"{name}.py"]
            for f in (f.resolve() for f in new if f.is_file()):
                if f not in seen:
                    seen.add(f)
                    found.append(f)
                    todo.append(f)
    return found


def versions() -> dict[str, str]:
    """Versions that can change a computed value: swaplm, torch, transformers (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"torch": torch.__version__}
    for name in ("swaplm", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def proxy_identity(p: Any) -> dict:
    """Name and qualified function of a proxy (the readable part of its identity)."""
    return {"name": p.name, "fn": f"{getattr(p.fn, '__module__', '?')}.{getattr(p.fn, '__qualname__', '?')}"}


def space_options(space: Any) -> dict:
    """What distinguishes this space instance (part of the identity): ``space.identity_options()``."""
    return dict(space.identity_options())


def digest(obj) -> str:
    """sha256 of a tensor / dict of tensors (dtype, shape and bytes), so changed data changes the identity."""
    h = hashlib.sha256()

    def add(name: str, t: Any) -> None:
        h.update(name.encode())
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(t).encode())

    if isinstance(obj, Mapping):
        for k in sorted(obj):
            add(str(k), obj[k])
    else:
        add("", obj)
    return h.hexdigest()


def jsonable(obj: Any) -> Any:
    """Plain JSON form of settings values (dataclasses become dicts with their type name)."""
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **{k: jsonable(v) for k, v in asdict(obj).items()}}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return repr(obj)


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as None, paths as strings and mapping keys as strings (for ``--json``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
