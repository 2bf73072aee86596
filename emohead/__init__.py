"""EmoHead reproduction: audio + emotion tag -> 3DMM expression -> rendered talking head.

Sub-packages are imported lazily so ``import emohead as eh`` stays fast; ``eh.config``,
``eh.data``, ``eh.face``, ``eh.synth``, ``eh.viz`` ... load on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "config", "data", "face", "synth", "viz", "features", "emotion", "audio2exp",
    "render", "eval", "widgets", "files", "reproduce", "cli", "notebook", "extract", "overview", "distributed",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'emohead' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES))
