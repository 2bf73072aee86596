"""`emohead extract`: features + analyser + per-clip analysis, cached; CLI errors."""
import json

import numpy as np
import pytest

from emohead.cli import main
from emohead.config import load_profile
from emohead.extract import load_analysis, run_extraction
from emohead.synth.corpus import generate_corpus

TINY = {"synth.emotion_set": "crema", "synth.n_actors": 1, "synth.n_sentences": 2, "synth.image_size": 48,
        "analyser.n_train": 256, "analyser.n_val": 64, "analyser.epochs": 1, "analyser.input_size": 48,
        "analyser.width": 8, "analyser.batch_size": 64}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    profile = load_profile("smoke", TINY)
    generate_corpus(profile, root / "data", progress=False)
    return profile, root


@pytest.mark.slow
def test_extraction_outputs_and_cache(tiny):
    profile, root = tiny
    out = root / "out"
    result = run_extraction(profile, root / "data", out, progress=False)
    assert (out / "features" / "index.json").exists() and result.analyser_path.exists()
    clip_id = "actor0_happy_L1_s00" if (out / "analysis" / "actor0_happy_L1_s00.npz").exists() else \
        sorted(p.stem for p in (out / "analysis").glob("*.npz"))[0]
    a = load_analysis(out / "analysis", clip_id)
    assert a["alpha"].shape[1] == 10 and a["landmarks"].shape[1:] == (68, 2)
    np.testing.assert_allclose(a["emotion_probs"].sum(1), 1.0, atol=1e-4)
    assert set(result.dataset_metrics) >= {"alpha_rmse", "landmark_px", "clip_emotion_accuracy"}
    summary = json.loads((out / "analysis" / "summary.json").read_text())
    assert summary["dataset_test_split"]["clips"] == 6

    stamp = result.analyser_path.stat().st_mtime_ns
    analysis_stamp = (out / "analysis" / f"{clip_id}.npz").stat().st_mtime_ns
    again = run_extraction(profile, root / "data", out, progress=False)
    assert again.analyser_path.stat().st_mtime_ns == stamp, "same config: the analyser is reused"
    assert (out / "analysis" / f"{clip_id}.npz").stat().st_mtime_ns == analysis_stamp, "analysis is cached"


def test_cli_extract_errors(tmp_path, capsys):
    assert main(["extract", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
    assert main(["extract", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--analyser", str(tmp_path / "missing.safetensors")]) == 2
    assert "--analyser" in capsys.readouterr().err
