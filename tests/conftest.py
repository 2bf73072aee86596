"""Shared fixtures: one smoke reproduction per test session (every notebook through Papermill)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def smoke_reproduction(tmp_path_factory):
    """Run `reproduce` with the smoke profile once; tests read its metrics. Returns (out_dir, results)."""
    from emohead.reproduce import reproduce

    out = tmp_path_factory.mktemp("smoke_reproduction")
    results = reproduce("smoke", out, notebooks_dir=NOTEBOOKS)
    return out, {r.name: r for r in results}
