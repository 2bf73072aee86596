"""Lazy package namespaces: ``emohead.render.HeadNerf`` imports ``emohead.render.model`` on first use.

Every package ``__init__`` lists what it exports and from which submodule, and imports nothing itself,
so importing one module (``emohead.render.hashgrid``) costs that module and what it imports, never its
siblings (PEP 562 module ``__getattr__``). ``tests/test_layering.py`` checks it.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from typing import Any, Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package`` exporting ``{submodule: names}``.

    A name resolves to the attribute of its submodule; any other submodule (``eh.face.mar``) resolves to
    the module itself.
    """
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in owner:
            value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return value

    def __dir__() -> list[str]:
        submodules = {info.name for info in pkgutil.iter_modules(sys.modules[package].__path__)}
        return sorted(set(owner) | submodules - {"__main__"})

    return __getattr__, __dir__, sorted(owner)
