"""The stages after `emohead prepare` run on its output unchanged: hyperplanes on the dataset's (3DDFA) alpha, the
audio-expression module on its features, through the real command line, at smoke size."""
from __future__ import annotations

import json

import numpy as np

from emohead.cli import main
from emohead.data import ProcessedDataset
from emohead.features import extract_dataset
from emohead.config import load_profile
from emohead.prepare import mead_sources, prepare_dataset

from .prepare_fakes import FakeTracker


def test_hyperplanes_and_the_audio_expression_module_train_on_a_prepared_dataset(mead_tree, tmp_path, capsys):
    raw, _ = mead_tree
    # every 2nd sentence to test: sentence 002 (angry) is held out, 001 and 003 hold all three emotions for training
    prepare_dataset(mead_sources(raw, ["M003"]), tmp_path / "data", size=64, tracker=FakeTracker(),
                    source_name="mead", test_every=2, progress=False)
    ds = ProcessedDataset(tmp_path / "data")
    emotions = {rec.emotion for rec in ds.clips(split="train")}
    assert len(emotions) >= 2                                   # enough emotions in train for one SVM per emotion
    extract_dataset(ds, load_profile("smoke").features, tmp_path / "features", progress=False)
    smoke = ["--profile", "smoke", "--set", "hyperplanes.balance_mar=false"]
    assert main(["fit-hyperplanes", *smoke, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "planes")]) == 0
    planes = json.loads((tmp_path / "planes" / "hyperplanes.json").read_text())
    assert set(emotions) <= set(planes["emotions"])
    assert main(["train-a2e", *smoke, "--set", "audio2exp.iterations=4", "--set", "audio2exp.window=8",
                 "--data", str(tmp_path / "data"), "--features", str(tmp_path / "features"),
                 "--hyperplanes", str(tmp_path / "planes" / "hyperplanes.npz"), "--out", str(tmp_path / "a2e")]) == 0
    history = json.loads((tmp_path / "a2e" / "history.json").read_text())
    assert np.isfinite(history["final_val"]["rmse"])


def test_an_emotion_left_without_training_clips_is_named(mead_tree, tmp_path, caplog):
    raw, _ = mead_tree                            # the default rule holds sentence 003, happy's only one, out
    prepare_dataset(mead_sources(raw, ["M003"]), tmp_path / "data", size=64, tracker=FakeTracker(),
                    source_name="mead", progress=False)
    assert "['happy'] have no training clip" in caplog.text
