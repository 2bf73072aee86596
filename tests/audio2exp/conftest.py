"""A tiny synthetic corpus with features and hyperplanes, shared by the audio-expression tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def a2e_world(tmp_path_factory):
    """(dataset, feature store, hyperplanes, profile, root): 2 actors x 3 sentences x 8 emotions at 32 px."""
    from emohead.config import load_profile
    from emohead.data import ProcessedDataset
    from emohead.emotion import train_from_dataset
    from emohead.features import FeatureStore, extract_dataset
    from emohead.synth.corpus import generate_corpus

    root = tmp_path_factory.mktemp("a2e_world")
    profile = load_profile("smoke", {"synth.image_size": 32, "audio2exp.iterations": 12,
                                     "audio2exp.checkpoint_every": 4, "audio2exp.batch_size": 4,
                                     "audio2exp.window": 16})
    generate_corpus(profile, root / "data", progress=False)
    ds = ProcessedDataset(root / "data")
    extract_dataset(ds, profile.features, root / "features", progress=False)
    planes = train_from_dataset(ds, profile.hyperplanes, seed=0)
    planes.save(root / "hyperplanes" / "hyperplanes.npz")
    return ds, FeatureStore(root / "features"), planes, profile, root
