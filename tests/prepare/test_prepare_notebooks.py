"""All seven notebooks through the real Papermill path (`emohead reproduce --data-dir`) on a prepared real dataset.

The dataset: four talking astronaut clips (the photo moved by small known transforms, speaking synthesised
sentences) prepared by `emohead prepare video` with the real trackers, tagged neutral, neutral, happy, happy; with
`--test-every 2` each emotion has one training and one test clip, so one hyperplane per emotion can be fitted and
every stage has held-out clips. Budgets are cut to a few iterations: this checks that every cell runs on real data
(or says what it skips), not what the models learn. Skips, naming the folder, when the face models are absent.
"""
from __future__ import annotations

import json
import math

import nbformat
import pytest

from emohead.cli import main
from emohead.data import ProcessedDataset
from emohead.stages import DATASET_FILE

from .prepare_fakes import speech, write_mp4
from .test_prepare_real import astronaut_clip

SENTENCES = ("Hello, I am an astronaut.", "The moon is bright tonight.", "We flew to space today.",
             "Stars shine above us.")
EMOTIONS = ("neutral", "neutral", "happy", "happy")
TINY = {"analyser.n_train": 256, "analyser.n_val": 32, "analyser.epochs": 2, "hyperplanes.balance_mar": "false",
        "audio2exp.iterations": 6, "audio2exp.window": 16, "audio2exp.checkpoint_every": 6,
        "nerf.iterations": 8, "nerf.refine_start": 4, "nerf.checkpoint_every": 8, "nerf.hash_levels": 4,
        "nerf.hash_log2_size": 10, "nerf.rays_per_batch": 128, "nerf.samples_per_ray": 8,
        "nerf.grid_resolution": 8, "nerf.grid_every": 2, "eval.syncnet_steps": 10, "eval.max_frames_per_clip": 16}
BOOKS = ("00_overview", "01_data_and_features", "02_emotion_hyperplanes", "03_audio_expression",
         "04_nerf_rendering", "05_evaluation", "06_emotion_interpolation_demo")


@pytest.fixture(scope="module")
def real_dataset(model_dir, tmp_path_factory):
    """Two emotions, four clips, 64 px, prepared by the command line."""
    root = tmp_path_factory.mktemp("astronaut_emotions")
    argv = ["prepare", "video", "--out", str(root / "data"), "--size", "64", "--test-every", "2",
            "--models", str(model_dir), "--no-progress"]
    for i, (text, emotion) in enumerate(zip(SENTENCES, EMOTIONS)):
        audio = speech(text)
        write_mp4(root / f"astro{i}.mp4", astronaut_clip(int(len(audio) / 16000 * 25), i), 25, audio=audio)
        (root / f"astro{i}.txt").write_text(text)
        argv += ["--video", str(root / f"astro{i}.mp4"), "--transcript", str(root / f"astro{i}.txt"),
                 "--emotion", emotion]
    assert main(argv) == 0
    ds = ProcessedDataset(root / "data")
    assert {(c.emotion, c.split) for c in ds.records} == {(e, s) for e in ("neutral", "happy") for s in ("train", "test")}
    return root / "data"


def _strings(value, where=""):
    """(path, value) of every string leaf, to find NaN / inf spelled as strings by eh.notebook.finish."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


def _numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.mark.slow
def test_every_notebook_runs_on_a_prepared_real_dataset(real_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["reproduce", "--profile", "smoke", "--out", str(out), "--data-dir", str(real_dataset)]
    for key, value in TINY.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    metrics = {}
    for name in BOOKS:
        nb = nbformat.read(str(out / f"{name}.ipynb"), as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        m = json.loads((out / name / "metrics.json").read_text())
        assert m["profile"] == "smoke" and m["dataset"]["path"] == str(real_dataset.resolve())
        assert m["dataset"]["source"] == "video" and sorted(m["dataset"]["emotions"]) == ["happy", "neutral"]
        bad = [(k, v) for k, v in _strings(m) if v.lower() in ("nan", "-inf", "inf")
               and k != ".results.Ground truth.PSNR"]             # the ground truth against itself: inf by design
        assert not bad, f"{name}: non-finite metrics {bad}"
        assert all(math.isfinite(v) for v in _numbers(m))
        done = json.loads((out / name / "done.json").read_text())
        assert done["dataset"]["path"] == str(real_dataset.resolve())
        metrics[name] = m
        text = "".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        if name in ("01_data_and_features", "02_emotion_hyperplanes", "03_audio_expression"):
            assert "skipped on real data" in text, f"{name} does not say what it skips"
    # the real data reached every stage: its clips, its emotions, its one person
    data = metrics["01_data_and_features"]
    assert data["n_clips"] == 4 and data["n_speakers"] == 1 and sorted(data["emotions"]) == ["happy", "neutral"]
    assert metrics["02_emotion_hyperplanes"]["n_emotions"] == 2
    assert metrics["04_nerf_rendering"]["speaker"] == "person"
    assert metrics["05_evaluation"]["clips"] and all(c.startswith("astro") for c in metrics["05_evaluation"]["clips"])
    assert metrics["06_emotion_interpolation_demo"]["clip"].startswith("astro")
    # what needs the synthetic world's generator is left out, not failed
    assert "dims_entangled_with_3plus_emotions" not in data and "tddfa_crosscheck" not in data
    assert "cosine_to_generator" not in metrics["02_emotion_hyperplanes"]
    assert "fig11_accuracy" not in metrics["03_audio_expression"]
    # notebook 04 judged its renders with the real trackers (3DDFA_V2 + the hyperplanes, the mesh's mouth openness)
    nerf = metrics["04_nerf_rendering"]
    assert nerf["interpolation_judge"] == "3DDFA_V2 + hyperplanes" and nerf["mouth_openness_reader"] == "tracker"
    assert set(nerf["interpolation_verdicts"]) <= {"neutral", "happy", "no face read"}
    # the photo's mouth does not move, so only that the tracker read the recorded frames is checked, not the value
    recorded = nerf["mouth_openness_corr"]["recorded (tracker) vs true"]
    assert recorded is not None and -1 <= recorded <= 1
    # notebook 05 read the faces with the real trackers: no analyser numbers, the 3DDFA_V2 expression RMSE instead
    evaluation = metrics["05_evaluation"]
    for system, row in evaluation["results"].items():
        assert not {"AUE", "ER", "FD (analyser)"} & set(row) and "Sync" in row, system
    gt = evaluation["results"]["Ground truth"]
    assert gt["M-LMD"] < 1.0 and gt["F-LMD"] < 1.0 and gt["EXP-RMSE (3DDFA)"] < 0.5
    assert "er" not in evaluation["evaluator_checks"] and "er_unavailable" in evaluation["evaluator_checks"]
    assert "ours (real data)" in (out / "05_evaluation" / "tables.md").read_text()
    # the run folder serves this dataset: data/ links to it, and the synthetic world is refused there, naming both
    assert (out / "run" / "data").resolve() == real_dataset.resolve() and (out / "run" / DATASET_FILE).is_file()
    capsys.readouterr()
    assert main(["reproduce", "--profile", "smoke", "--out", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(real_dataset.resolve()) in err and "synthetic world" in err
    # a rerun with the same dataset and settings resumes: every notebook complete
    assert main([*argv, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("complete") == len(BOOKS)


def test_reproduce_refuses_a_data_dir_that_is_not_a_processed_dataset(tmp_path, capsys):
    (tmp_path / "videos").mkdir()
    assert main(["reproduce", "--profile", "smoke", "--out", str(tmp_path / "run"), "--data-dir",
                 str(tmp_path / "videos"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"--data-dir {tmp_path / 'videos'}: not a processed dataset" in err and "manifest.json" in err


def test_a_run_folder_serves_one_dataset(mead_tree, tmp_path):
    from emohead.prepare import mead_sources, prepare_dataset
    from emohead.stages import DatasetMismatchError, bind_dataset

    from .prepare_fakes import FakeTracker

    raw, _ = mead_tree
    data = prepare_dataset(mead_sources(raw, ["M003"]), tmp_path / "data", size=64, tracker=FakeTracker(),
                           source_name="mead", test_every=2, progress=False).out
    synthetic_run = tmp_path / "synthetic_run"
    (synthetic_run / "features").mkdir(parents=True)             # what a synthetic-world run leaves
    with pytest.raises(DatasetMismatchError, match="made from the synthetic world, but this run asks for the prepared"):
        bind_dataset(synthetic_run, data)
    run = tmp_path / "run"
    identity = bind_dataset(run, data)
    assert (run / "data").resolve() == data.resolve() and identity["kind"] == "prepared"
    assert bind_dataset(run, data) == identity                    # the same dataset again: fine
    with pytest.raises(DatasetMismatchError, match=f"run folder {run} holds stage outputs made from the prepared"):
        bind_dataset(run, None)
    manifest = data / "manifest.json"                             # the same folder prepared again
    manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=3))
    with pytest.raises(DatasetMismatchError, match="its manifest changed since"):
        bind_dataset(run, data)


def test_a_notebook_names_a_data_dir_that_is_not_a_dataset(tmp_path):
    from emohead.config import ConfigError
    from emohead.notebook import start

    with pytest.raises(ConfigError, match=f"DATA_DIR='{tmp_path}' is not a processed dataset"):
        start("smoke", tmp_path / "run", tmp_path / "out", data_dir=str(tmp_path))
    ctx = start("smoke", tmp_path / "run", tmp_path / "out", data_dir="")
    assert ctx.synthetic and ctx.data_dir is None
