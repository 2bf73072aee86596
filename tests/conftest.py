"""Shared fixtures: one smoke reproduction per test session (every notebook through Papermill), and a tiny world
for the NeRF, rendering and evaluation tests (one actor at 32 px, features, hyperplanes, a briefly trained
audio-expression model and an untrained, random face analyser)."""
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


TINY_NERF = {"nerf.iterations": 8, "nerf.refine_start": 4, "nerf.image_size": 32, "nerf.hash_levels": 4,
             "nerf.hash_log2_size": 10, "nerf.max_resolution": 64, "nerf.hidden": 16, "nerf.rays_per_batch": 128,
             "nerf.samples_per_ray": 8, "nerf.checkpoint_every": 3, "nerf.grid_resolution": 8, "nerf.grid_every": 2,
             "nerf.max_frames": 40, "nerf.patch_size": 16}


@pytest.fixture(scope="session")
def render_world(tmp_path_factory):
    """dict: ds, store, planes, profile (smoke + TINY_NERF), a2e (model), a2e_dir, analyser, analyser_path, root."""
    import torch

    from emohead.audio2exp import train_audio2exp
    from emohead.config import load_profile
    from emohead.data import ProcessedDataset
    from emohead.emotion import train_from_dataset
    from emohead.analyser.model import build_analyser, save_analyser
    from emohead.features import FeatureStore, extract_dataset
    from emohead.synth.corpus import generate_corpus

    root = tmp_path_factory.mktemp("render_world")
    profile = load_profile("smoke", {"synth.n_actors": 1, "synth.image_size": 32, "audio2exp.iterations": 4,
                                     "audio2exp.checkpoint_every": 4, "audio2exp.batch_size": 4,
                                     "audio2exp.window": 16, "analyser.input_size": 32, "analyser.width": 4,
                                     **TINY_NERF})
    generate_corpus(profile, root / "data", progress=False)
    ds = ProcessedDataset(root / "data")
    extract_dataset(ds, profile.features, root / "features", progress=False)
    store = FeatureStore(root / "features")
    planes = train_from_dataset(ds, profile.hyperplanes, seed=0)
    planes.save(root / "hyperplanes" / "hyperplanes.npz")
    a2e, _ = train_audio2exp(ds, store, planes, profile.audio2exp, root / "a2e", progress=False)
    torch.manual_seed(0)
    analyser = build_analyser(profile.analyser, image_size=32).eval()
    save_analyser(analyser, root / "analyser" / "analyser.safetensors")
    return {"ds": ds, "store": store, "planes": planes, "profile": profile, "a2e": a2e, "a2e_dir": root / "a2e",
            "analyser": analyser, "analyser_path": root / "analyser" / "analyser.safetensors", "root": root}


@pytest.fixture(scope="session")
def model_dir():
    """The real face models' folder (emohead.tracking.models); tests that need them skip, naming it, when absent."""
    from emohead.tracking import models

    try:
        return models.find_model_dir()
    except models.ModelsMissingError as exc:
        pytest.skip(f"the pretrained face models are absent: {str(exc).splitlines()[0]}")
