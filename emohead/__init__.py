"""EmoHead reproduction: audio + emotion tag -> 3DMM expression -> rendered talking head.

Sub-packages load lazily, so ``import emohead as eh`` stays fast; ``eh.pipeline``, ``eh.render``,
``eh.eval`` ... load on first use. The layers and the data flow: docs/architecture.md.
"""
from emohead._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {})
