"""Fixtures for the evaluation tests: one small synthetic corpus (the smoke profile, target actor only)."""
from __future__ import annotations

import pytest

SMOKE_ONE_ACTOR = {"synth.n_actors": 1}
"""The smoke corpus restricted to its target actor: 8 emotions x 3 sentences (16 train, 8 test clips, 64 px)."""


@pytest.fixture(scope="session")
def eval_corpus(tmp_path_factory):
    """ProcessedDataset of the one-actor smoke corpus (about 15 s to synthesise on 2 CPU cores)."""
    from emohead.config import load_profile
    from emohead.data import ProcessedDataset
    from emohead.synth.corpus import generate_corpus

    root = tmp_path_factory.mktemp("eval_corpus") / "data"
    generate_corpus(load_profile("smoke", SMOKE_ONE_ACTOR), root, progress=False)
    return ProcessedDataset(root)


@pytest.fixture(scope="session")
def smoke_corpus(tmp_path_factory):
    """ProcessedDataset of the smoke profile's corpus as it is: 2 actors at 64 px (about 10 s on 2 CPU cores)."""
    from emohead.config import load_profile
    from emohead.data import ProcessedDataset
    from emohead.synth.corpus import generate_corpus

    root = tmp_path_factory.mktemp("smoke_corpus") / "data"
    generate_corpus(load_profile("smoke"), root, progress=False)
    return ProcessedDataset(root)
