"""Register swaplm's Hugging Face model types (``flexibert``) with ``AutoConfig`` / ``AutoModel`` as soon as
transformers' auto classes are imported, without importing transformers when swaplm is imported.

``import swaplm`` calls :func:`install`: if ``transformers.models.auto`` is already loaded the registration runs
at once; otherwise a meta-path finder waits for that module and runs it right after the module has executed.
So a directory written by ``swaplm search flexibert`` loads with ``AutoConfig.from_pretrained`` +
``AutoModel.from_config`` after a plain ``import swaplm``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import sys

_TARGET = "transformers.models.auto"


def _register() -> None:
    importlib.import_module("swaplm.spaces.flexibert.modeling")  # registers on import


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # find the real spec with the other finders, then wrap its loader
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    _register()
                except Exception:  # a broken optional model must never break importing transformers
                    pass

        spec.loader = _Loader()
        return spec


def install() -> None:
    if _TARGET in sys.modules:
        try:
            _register()
        except Exception:
            pass
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
