"""``emohead prepare video`` end to end with the real face tracker, on a real photo made to move and speak.

The clip: scikit-image's public-domain ``astronaut`` portrait moved by small similarity transforms (rotation
+-1.7 deg, scale +-2 %, shifts of a few pixels), with real synthesised speech of a sentence as its audio track
and the sentence as its transcript. Skips, naming the folder, when the face models are absent.
"""
from __future__ import annotations


import numpy as np
import pytest

from emohead.data import ProcessedDataset
from emohead.cli import main
from .prepare_fakes import speech, write_mp4

SENTENCES = ("Hello, I am an astronaut.", "The moon is bright tonight.")


def astronaut_clip(n: int, seed: int) -> np.ndarray:
    """[n, 512, 512, 3] uint8: the astronaut portrait under slowly varying small similarity transforms."""
    from skimage.data import astronaut
    from skimage.transform import SimilarityTransform, warp

    img = astronaut()
    phase = np.random.default_rng(seed).uniform(0, 6)
    centre = np.array([256.0, 256.0])
    out = []
    for k in range(n):
        a, s = 0.03 * np.sin(k / 6 + phase), 1 + 0.02 * np.sin(k / 9 + phase)
        shift = np.array([5 * np.sin(k / 7 + phase), 3 * np.cos(k / 5 + phase)])
        tf = (SimilarityTransform(translation=-centre) + SimilarityTransform(scale=s, rotation=a)
              + SimilarityTransform(translation=centre + shift))
        out.append((warp(img, tf.inverse, mode="edge") * 255).round().astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def prepared(model_dir, tmp_path_factory):
    """Two talking astronaut videos with transcripts, prepared by the command line at 128 px."""
    root = tmp_path_factory.mktemp("astronaut")
    argv = ["prepare", "video", "--emotion", "neutral", "--out", str(root / "data"), "--size", "128",
            "--models", str(model_dir), "--no-progress"]
    for i, text in enumerate(SENTENCES):
        audio = speech(text)
        write_mp4(root / f"astro{i}.mp4", astronaut_clip(int(len(audio) / 16000 * 25), i), 25, audio=audio)
        (root / f"astro{i}.txt").write_text(text)
        argv += ["--video", str(root / f"astro{i}.mp4"), "--transcript", str(root / f"astro{i}.txt")]
    assert main(argv) == 0                          # the real `emohead` command line
    return root / "data"


def test_prepare_video_with_the_real_tracker(prepared):
    from emohead.face.morphable import PARSING_LABELS
    from emohead.render.frames import HEAD_LABELS, estimate_background, load_nerf_frames

    ds = ProcessedDataset(prepared)
    assert ds.source == "video" and ds.speakers == ("person",) and len(ds) == 2
    assert {c.split for c in ds.records} == {"train", "test"}
    info = ds.extra["prepare"]
    for rec in ds.records:
        arrays = ds.arrays(rec)                                   # every array validated against the format
        frames = ds.frames(rec)
        assert frames.shape == (rec.n_frames, 128, 128, 3) and len(ds.audio(rec)) == rec.n_frames * 640
        words = ds.words(rec)["words"]                          # the transcript, aligned to the speech
        assert [w["word"] for w in words] == [w.strip(",.") for w in SENTENCES[int(rec.id[-1])].split()]
        assert 0.0 < words[0]["start"] < 0.4 and words[-1]["end"] > rec.n_frames / 25 - 0.4
        assert arrays["found"].all() and info["clips"][rec.id]["found_fraction"] == 1.0
        lm = arrays["landmarks"]
        assert (lm > 0).all() and (lm < 128).all()
        # the face fills the synthetic world's share of the frame, in its upper part
        width = lm[:, :, 0].max(1) - lm[:, :, 0].min(1)
        assert 0.3 < np.median(width) / 128 < 0.5 and lm[:, :, 1].mean() < 0.55 * 128
        # the head pose puts the procedural face onto the tracked landmarks within a few pixels
        assert info["clips"][rec.id]["reprojection_px"] < 4.0
        assert np.abs(arrays["pose_t"]).max() < 2.0                 # near the synthetic head's place (units ~ 10 cm)
        yaw_pitch = np.degrees(np.arcsin(np.clip(arrays["pose_R"][:, [0, 1], 2], -1, 1)))
        assert np.abs(yaw_pitch).max() < 20                       # a frontal portrait
        # parsing: the landmarks lie on head labels; background and torso are present
        p = arrays["parsing"]
        on = p[np.arange(len(p))[:, None], lm[..., 1].round().astype(int), lm[..., 0].round().astype(int)]
        assert np.isin(on, HEAD_LABELS).mean() > 0.95
        assert (p == PARSING_LABELS["background"]).mean() > 0.1 and (p == PARSING_LABELS["torso"]).any()
        assert (p == PARSING_LABELS["hair"]).any()
    # the NeRF's data loader reads it unchanged, with one camera, and finds a background
    frames = load_nerf_frames(ds, "person", "train")
    assert len(frames) == ds.clips(split="train")[0].n_frames
    background = estimate_background(frames.images, frames.parsing)
    assert background.shape == (128, 128, 3) and float(background.std()) > 0.01


@pytest.mark.slow
def test_a_tiny_nerf_and_the_features_run_on_the_prepared_data(prepared, tmp_path):
    from emohead.config import load_profile
    from emohead.features import extract_dataset
    from emohead.render.training import train_nerf

    ds = ProcessedDataset(prepared)
    profile = load_profile("smoke", {"nerf.iterations": 8, "nerf.refine_start": 5, "nerf.image_size": 64,
                                     "nerf.hash_levels": 4, "nerf.hash_log2_size": 10, "nerf.max_resolution": 64,
                                     "nerf.hidden": 16, "nerf.rays_per_batch": 128, "nerf.samples_per_ray": 8,
                                     "nerf.grid_resolution": 8, "nerf.grid_every": 2, "nerf.max_frames": 40})
    store = extract_dataset(ds, profile.features, tmp_path / "features", progress=False)
    assert store is not None
    _, history = train_nerf(ds, profile.nerf, tmp_path / "nerf", progress=False)
    assert np.isfinite(history["final_val"]["psnr"]) and history["test_frames"] > 0
    # the refinement stage (L_cord, L_shape) reads the rendered face with 3DDFA_V2 on recorded people: no analyser
    assert history["coord_backend"] == "tddfa"
    cord, shape = np.array(history["l_cord"], float), np.array(history["l_shape"], float)
    assert np.isfinite(cord[-1]) and np.isfinite(shape[-1]) and shape[-1] > 0


def test_tddfa_coordination_reads_a_real_face_as_3ddfa_does(prepared):
    """On the prepared astronaut frames, TddfaCoordination's beta^_id of a frame's patch (its crop box sampled at
    P x P, resized to 120) is close to the dataset's beta_id (3DDFA_V2's median shape from the full-size video),
    much closer than a blank patch's; E_T of the frames' tag is near their own E_I."""
    import torch

    from emohead.render.frames import frame_landmarks, load_nerf_frames
    from emohead.render.losses import TddfaCoordination
    from emohead.tracking.tddfa import Tddfa

    ds = ProcessedDataset(prepared)
    frames = load_nerf_frames(ds, "person", "train", image_size=128)
    coord = TddfaCoordination.from_frames(Tddfa(), frames.images, frame_landmarks(ds, frames), frames.tags,
                                          len(frames.emotions), patch=96, per_tag=8)
    pix = coord.patch_pixels(0)
    real = frames.images[0].reshape(-1, 3)[pix].float().div(255).view(1, 96, 96, 3).permute(0, 3, 1, 2)
    e_i, beta = coord.analyse(real)
    _, blank_beta = coord.analyse(torch.full_like(real, 0.5))
    truth = frames.beta_id
    err, blank_err = float((beta[0] - truth).norm()), float((blank_beta[0] - truth).norm())
    assert err < 0.5 * blank_err, (err, blank_err)
    sim = float(e_i[0] @ coord.text_embedding(frames.tags[:1])[0])
    assert sim > 0.9, sim


@pytest.mark.slow
def test_prepare_with_worker_processes_gives_the_same_tracks_and_reports_a_bad_clip(prepared, model_dir, tmp_path):
    """--workers 2 tracks the clips in two processes: the same landmarks and 3DDFA_V2 alpha as one process; a video
    without a face among them fails in its worker and is skipped with its reason, the others are prepared."""
    import json

    root = prepared.parent
    audio = speech(SENTENCES[0])
    write_mp4(tmp_path / "faceless.mp4", np.full((int(len(audio) / 16000 * 25), 256, 256, 3), 90, np.uint8), 25,
              audio=audio)
    argv = ["prepare", "video", "--emotion", "neutral", "--out", str(tmp_path / "data"), "--size", "128",
            "--models", str(model_dir), "--no-progress", "--workers", "2"]
    for i in range(len(SENTENCES)):
        argv += ["--video", str(root / f"astro{i}.mp4"), "--transcript", str(root / f"astro{i}.txt")]
    argv += ["--video", str(tmp_path / "faceless.mp4"), "--transcript", str(root / "astro0.txt")]
    assert main(argv) == 0
    one, two = ProcessedDataset(prepared), ProcessedDataset(tmp_path / "data")
    assert [r.id for r in two.records] == [r.id for r in one.records]
    for rec in one.records:
        a, b = one.arrays(rec), two.arrays(rec)
        np.testing.assert_allclose(b["landmarks"], a["landmarks"], atol=1e-3)
        np.testing.assert_allclose(b["alpha"], a["alpha"], atol=1e-3)
    failed = list((tmp_path / "data.work" / "failed").iterdir())
    assert len(failed) == 1 and "faceless" in failed[0].name
    assert "no face in" in json.loads(failed[0].read_text())["error"]


@pytest.mark.slow
def test_tddfa_alpha_of_clips_is_the_same_in_worker_processes(prepared):
    """Notebook 01's cross-check helper: 3DDFA_V2 alpha of a dataset's clips (128 px frames upscaled to 256), the same
    from two worker processes as here, one [T, 10] array per clip."""
    from emohead.tracking import tddfa_alpha_of_clips

    ds = ProcessedDataset(prepared)
    ids = [r.id for r in ds.records]
    here, skipped_here = tddfa_alpha_of_clips(ds, ids, workers=1)
    there, skipped_there = tddfa_alpha_of_clips(ds, ids, workers=2)
    assert skipped_here == skipped_there == {} and list(here) == list(there) == ids
    for c in ids:
        assert here[c].shape == (ds.clip(c).n_frames, 10) and np.isfinite(here[c]).all()
        np.testing.assert_allclose(there[c], here[c], atol=1e-3)
