"""Fixtures of the emohead.prepare tests: tiny fake MEAD and CREMA-D trees written with real encoders."""
from __future__ import annotations

import pytest

from .prepare_fakes import fake_cremad, fake_mead


@pytest.fixture(scope="module")
def mead_tree(tmp_path_factory):
    """(raw folder, {clip id: (emotion, level)})"""
    raw = tmp_path_factory.mktemp("mead") / "raw"
    return raw, fake_mead(raw)


@pytest.fixture(scope="module")
def cremad_tree(tmp_path_factory):
    """(raw folder, {clip id: (emotion, level, speaker)})"""
    raw = tmp_path_factory.mktemp("cremad") / "raw"
    return raw, fake_cremad(raw)
