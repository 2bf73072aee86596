"""The evaluation on a prepared real dataset reads frames with the real trackers, not the synthetic analyser.

The dataset: two talking astronaut clips (the photo moved by small known similarity transforms, with synthesised
speech; :func:`.test_prepare_real.astronaut_clip`) prepared with the real face models at 64 px, one held out for
testing. The evaluator gets no face analyser at all, so every face number below comes from the tracker. Skips,
naming the folder, when the face models are absent.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from emohead.cli import main
from emohead.data import ProcessedDataset
from emohead.eval.faces import EXPRESSION_RMSE, UNAVAILABLE, TrackerFaces, real_faces
from emohead.eval.metrics import face_lmd, mouth_lmd
from emohead.eval.systems import GROUND_TRUTH, FULL, EvaluationResult, Evaluator, _named, load_test_clips

from .prepare_fakes import speech, write_mp4
from .test_prepare_real import astronaut_clip

SENTENCES = ("Hello, I am an astronaut.", "The moon is bright tonight.")
FRAMES = 16
GT_TOLERANCE_PX = 0.5        # measured: M-LMD 0.20 px, F-LMD 0.22 px (the tracker on 64 px crops vs on 512 px frames)
GT_ALPHA_TOLERANCE = 0.3     # measured: 0.16, with the dataset's alpha varying by 1.4 (std)


@pytest.fixture(scope="module")
def real_eval(model_dir, tmp_path_factory):
    """(dataset, test clips cut to FRAMES frames at 64 px, an Evaluator with the real trackers and no analyser)."""
    from emohead.eval.syncnet import SyncNet

    root = tmp_path_factory.mktemp("astronaut_eval")
    argv = ["prepare", "video", "--emotion", "neutral", "--out", str(root / "data"), "--size", "64",
            "--test-every", "2", "--models", str(model_dir), "--no-progress"]
    for i, text in enumerate(SENTENCES):
        audio = speech(text)
        write_mp4(root / f"astro{i}.mp4", astronaut_clip(int(len(audio) / 16000 * 25), i), 25, audio=audio)
        (root / f"astro{i}.txt").write_text(text)
        argv += ["--video", str(root / f"astro{i}.mp4"), "--transcript", str(root / f"astro{i}.txt")]
    assert main(argv) == 0
    ds = ProcessedDataset(root / "data")
    clips = load_test_clips(ds, "person", 64, max_frames=FRAMES)
    torch.manual_seed(0)
    faces = TrackerFaces(model_dir=model_dir)
    judge = Evaluator(None, SyncNet().eval(), clips, ds.fps, ds.sample_rate, "cpu", faces=faces)
    return ds, clips, judge


@pytest.fixture(scope="module")
def ground_truth(real_eval):
    _, clips, judge = real_eval
    return judge.measure([c.frames for c in clips], real_landmarks=True)


def test_the_manifest_decides_which_evaluators_read_the_faces(real_eval):
    ds, _, judge = real_eval
    assert ds.source == "video" and real_faces(ds) and real_faces("mead") and not real_faces("synthetic")
    assert judge.kind == "real" and judge.real_aus == []          # no analyser pass over the real frames


def test_ground_truth_landmarks_come_from_the_tracker_and_match_the_dataset(real_eval, ground_truth):
    _, clips, judge = real_eval
    (clip,) = clips
    assert clip.record.split == "test" and clip.frames.shape == (FRAMES, 64, 64, 3)
    reading = judge.faces.read(clip.frames, name=clip.record.id)  # the tracker itself, on the same frames
    assert reading.found.all()
    assert ground_truth["M-LMD"].value == pytest.approx(mouth_lmd(reading.landmarks, clip.landmarks).value, abs=1e-9)
    assert ground_truth["F-LMD"].value == pytest.approx(face_lmd(reading.landmarks, clip.landmarks).value, abs=1e-9)
    assert 0 < ground_truth["M-LMD"].value < GT_TOLERANCE_PX and 0 < ground_truth["F-LMD"].value < GT_TOLERANCE_PX
    assert ground_truth["M-LMD"].extra["found_fraction"] == 1.0
    assert "MediaPipe" in ground_truth["M-LMD"].extra["landmarks"]
    exp = ground_truth["EXP"]
    assert exp.name == EXPRESSION_RMSE and 0 < exp.value < GT_ALPHA_TOLERANCE < float(clip.alpha.std())
    assert ground_truth["PSNR"].extra["n_exact"] == FRAMES and math.isfinite(ground_truth["Sync"].value)


def test_metrics_without_a_real_evaluator_are_unavailable_with_a_reason(ground_truth):
    for key in ("AUE", "ER", "FD"):
        m = ground_truth[key]
        assert m.extra["available"] is False and m.extra["reason"] == UNAVAILABLE[key] and math.isnan(m.value)
        assert "synthetic renders" in m.extra["reason"]
    named = _named(ground_truth)                                 # what results and the tables get
    assert set(named) == {"SSIM", "PSNR", "M-LMD", "F-LMD", "Sync", EXPRESSION_RMSE}
    assert named["PSNR"] == math.inf


def _mouth_blanked(clip) -> np.ndarray:
    """The clip with a box around its mouth (dataset landmarks 48-67, +-2 px) painted in the frame's mean colour."""
    frames = clip.frames.copy()
    for t, frame in enumerate(frames):
        (x0, y0), (x1, y1) = clip.landmarks[t, 48:68].min(0).astype(int) - 2, clip.landmarks[t, 48:68].max(0).astype(int) + 3
        frame[y0:y1, x0:x1] = frame.reshape(-1, 3).mean(0).astype(np.uint8)
    return frames


def test_a_video_with_its_mouth_blanked_scores_worse(real_eval, ground_truth):
    _, clips, judge = real_eval
    wrong = judge.measure([_mouth_blanked(c) for c in clips])
    # measured: M-LMD 0.82 vs 0.20 px, F-LMD 0.62 vs 0.22 px, EXP-RMSE 0.90 vs 0.16
    assert wrong["M-LMD"].value > 3 * ground_truth["M-LMD"].value
    assert wrong["F-LMD"].value > 2 * ground_truth["F-LMD"].value
    assert wrong["EXP"].value > 3 * ground_truth["EXP"].value


def test_a_video_without_a_face_names_its_clip(real_eval):
    _, clips, judge = real_eval
    blank = judge.measure([np.zeros_like(c.frames) for c in clips])
    for key in ("M-LMD", "F-LMD"):
        assert blank[key].extra["available"] is False and clips[0].record.id in blank[key].extra["reason"]
    assert "M-LMD" not in _named(blank) and math.isfinite(blank["Sync"].value)   # Sync falls back to the dataset's


def test_the_tables_say_the_numbers_are_real_data_read_by_the_trackers(ground_truth):
    from emohead.eval.run_summary import tables_i_iv_markdown

    row = _named(ground_truth)
    result = EvaluationResult({GROUND_TRUTH: row, FULL: row}, {}, {}, ["astro1"], "real")
    t1 = result.table("I")
    ours = [r for r in t1.rows if r.source == "ours (real data)"]
    assert [r.system for r in ours] == [GROUND_TRUTH, FULL] and "MediaPipe" in t1.notes[0]
    cells = {r["System"]: r for r in t1.display_rows() if r["Source"] == "ours (real data)"}
    assert cells[FULL]["AUE ↓"] == "–" and cells[FULL]["ER ↑"] == "–" and cells[FULL]["FID ↓"] == "–"
    text = result.to_markdown()
    assert "ours (synthetic)" not in text and EXPRESSION_RMSE in text
    summary = tables_i_iv_markdown({"results": {GROUND_TRUTH: row}, "clips": ["astro1"],
                                    "dataset": {"source": "video"}})
    assert "ours (real data)" in summary and "ours (synthetic)" not in summary
    assert "ours (synthetic)" in tables_i_iv_markdown({"results": {GROUND_TRUTH: row}, "clips": ["astro1"]})


def test_the_evaluator_check_reads_mouths_with_the_tracker(real_eval):
    from emohead.eval.sanity import evaluator_checks, load_gt_clips, summarize

    ds, _, judge = real_eval
    clips = [dataclasses.replace(c, frames=c.frames[:FRAMES], landmarks=c.landmarks[:FRAMES])
             for c in load_gt_clips(ds, 64)]
    checks = evaluator_checks(None, None, clips, faces=judge.faces)
    assert "er" not in checks and checks["er_unavailable"] == UNAVAILABLE["ER"]
    # measured: ground truth 0.20 px, frozen mouth 0.30 px (the astronaut's mouth barely moves)
    assert checks["mlmd"]["ground_truth"] < GT_TOLERANCE_PX and checks["pass"]["mlmd"]
    summary = summarize(checks)                                   # what notebook 05 stores
    assert summary["er_unavailable"] == UNAVAILABLE["ER"] and summary["pass"] == {"mlmd": True}
