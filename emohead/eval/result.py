"""One evaluation number with its name: what every metric of Sec. IV returns.

A :class:`MetricResult` carries the name a table prints ("PSNR", "M-LMD", "FID" or "FD (analyser)", ...),
the headline value, its unit, optional per-item values (per frame or per clip) and metric-specific extras,
so a value computed with a stand-in network can never be printed under the paper's name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class EvalError(ValueError):
    """A bad metric input (shape, dtype, range, file); the message names the argument or file."""


@dataclass(frozen=True)
class MetricResult:
    """A named metric value. ``per_item`` holds the per-frame or per-clip values it summarises (or None)."""

    name: str
    value: float
    unit: str = ""
    per_item: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-item array): name, value, unit and the extras."""
        return {"name": self.name, "value": float(self.value), "unit": self.unit, **self.extra}


__all__ = ["EvalError", "MetricResult"]
