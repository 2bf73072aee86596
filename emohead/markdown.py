"""Markdown tables from rows of dicts: the one formatter of tables in notebooks, reports and the CLI."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


def markdown_text(rows: list[Mapping[str, Any]], columns: list[str] | None = None, *, digits: int = 3,
                  title: str | None = None) -> str:
    """A Markdown table of ``rows`` (dicts); floats rounded to ``digits``, missing cells shown as '-'."""
    columns = list(columns or (rows[0].keys() if rows else []))

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.{digits}f}" if math.isfinite(float(v)) else str(float(v))
        return str(v)

    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
