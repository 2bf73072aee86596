"""A tiny world for the mixer tests, laid out like a notebook run folder (RUN_DIR) so that notebook 06 opened on
it reuses every stage: one actor at 32 px, features, hyperplanes and a briefly trained audio-expression model."""
from __future__ import annotations

import pytest

# notebook 06 started with these OVERRIDES on the smoke profile finds every artifact below already made
TINY_OVERRIDES = {"synth.n_actors": 1, "synth.image_size": 32, "audio2exp.iterations": 4,
                  "audio2exp.checkpoint_every": 4, "audio2exp.batch_size": 4, "audio2exp.window": 16}


@pytest.fixture(scope="session")
def widget_world(tmp_path_factory):
    """dict: run_dir, overrides, profile, ds, store, planes, a2e, clip (a test clip of the target actor)."""
    import emohead as eh

    from emohead.widgets.preview import intra_op_threads

    run_dir = tmp_path_factory.mktemp("widget_world") / "run"
    profile = eh.config.load_profile("smoke", {**TINY_OVERRIDES, "seed": 0})
    with intra_op_threads(1):      # tiny tensors: one thread is faster, and much faster on a busy machine
        ds = eh.data.ProcessedDataset(eh.synth.ensure_corpus(profile, run_dir / "data", progress=False))
        store = eh.features.extract_dataset(ds, profile.features, run_dir / "features", progress=False)
        planes = eh.emotion.ensure_hyperplanes(ds, profile.hyperplanes, run_dir / "hyperplanes" / "hyperplanes.npz",
                                               seed=profile.seed)
        a2e, _ = eh.audio2exp.train_audio2exp(ds, store, planes, profile.audio2exp, run_dir / "audio2exp" / "full",
                                              seed=profile.seed, progress=False)
    speaker = ds.extra.get("target_speaker", ds.speakers[0])
    clip = ds.clips(split="test", speaker=speaker)[0]
    return {"run_dir": run_dir, "overrides": dict(TINY_OVERRIDES), "profile": profile, "ds": ds, "store": store,
            "planes": planes, "a2e": a2e, "clip": clip}


@pytest.fixture(scope="session")
def mesh_preview_64(widget_world):
    from emohead.widgets import mesh_preview

    return mesh_preview(widget_world["profile"].synth, 64)


@pytest.fixture()
def mixer(widget_world, mesh_preview_64, tmp_path):
    """A fresh mixer over the test clip with the 64 px mesh renderer; export goes to tmp_path."""
    from emohead.widgets import EmotionMixer

    w = widget_world
    return EmotionMixer.from_clip(w["a2e"], w["ds"], w["store"], w["clip"].id, mesh_preview_64,
                                  emotion_a="neutral", emotion_b="happy", export_path=str(tmp_path / "mix.mp4"))
