"""The face analyser: shapes, a training run that learns, checkpoints, bad inputs, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emohead.config import AnalyserConfig
from emohead.face import build_procedural_model, default_camera, identity_appearance, render_faces
from emohead.analyser.model import (AnalyserError, AnalyserOutput, FaceAnalyser, analyse_frames, build_analyser,
                                   load_analyser, save_analyser, train_analyser)
from emohead.analyser.samples import (crop_box_fraction, crop_box_pixels, crop_camera, landmarks_from_crop,
                                        landmarks_to_crop, render_samples, sample_poses)
from emohead.face.raster import background_image

TINY = AnalyserConfig(input_size=32, n_train=64, n_val=16, epochs=3, batch_size=16, lr=2e-3, width=4)


@pytest.fixture(scope="module")
def face():
    return build_procedural_model()


@pytest.fixture(scope="module")
def tiny_samples(face):
    train = render_samples(face, TINY.n_train, image_size=48, input_size=TINY.input_size, seed=3, split="train",
                           progress=False)
    val = render_samples(face, TINY.n_val, image_size=48, input_size=TINY.input_size, seed=3, split="val",
                         progress=False)
    return train, val


@pytest.fixture(scope="module")
def tiny_model(tiny_samples):
    model, history = train_analyser(TINY, image_size=48, seed=0, progress=False, samples=tiny_samples)
    return model, history


def _corpus_like_frames(face, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Full frames rendered the corpus's way (default camera) -> uint8 [n, size, size, 3], landmarks [n, 68, 2]."""
    rng = np.random.default_rng(11)
    R, t = sample_poses(n, rng)
    alpha = rng.normal(0, 0.5, (n, 10)).astype(np.float32)
    beta = rng.normal(0, 0.9, 40).astype(np.float32)
    out = render_faces(face, alpha, beta, R, t, default_camera(size), size, appearance=identity_appearance(5),
                       torso_offset=0.35 * t)
    return (out.image.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy(), out.landmarks.numpy()


def test_crop_box_inside_frame_and_renders_match(face):
    x0, y0, side = crop_box_fraction()
    assert 0 <= x0 and 0 <= y0 and x0 + side <= 1 and y0 + side <= 1 and 0.4 < side < 0.9
    for s in (64, 128, 512, 37):
        px0, py0, pside = crop_box_pixels(s)
        assert px0 >= 0 and py0 >= 0 and px0 + pside <= s and py0 + pside <= s
    # the crop render is the frame's slice, and landmark normalisation round-trips
    size = 64
    cam, (cx, cy, cs) = crop_camera(size)
    rng = np.random.default_rng(0)
    R, t = sample_poses(2, rng)
    alpha = rng.normal(0, 0.5, (2, 10)).astype(np.float32)
    full = render_faces(face, alpha, None, R, t, default_camera(size), size, torso_offset=0.35 * t)
    bg = background_image(size)[0, cy:cy + cs, cx:cx + cs]
    crop = render_faces(face, alpha, None, R, t, cam, cs, background=bg, torso_offset=0.35 * t)
    assert torch.allclose(full.image[:, cy:cy + cs, cx:cx + cs], crop.image, atol=1e-4)
    norm = landmarks_to_crop(full.landmarks, size)
    assert np.allclose(landmarks_from_crop(torch.as_tensor(norm), size).numpy(), full.landmarks.numpy(), atol=1e-4)


@pytest.mark.parametrize("size", [48, 64, 128])
def test_output_shapes_and_dtypes(size):
    model = build_analyser(dataclasses.replace(TINY, input_size=32), image_size=64)
    frames = np.random.default_rng(0).integers(0, 255, (3, size, size, 3), dtype=np.uint8)
    out = analyse_frames(model, frames, batch_size=2)
    assert isinstance(out, AnalyserOutput)
    assert out.landmarks.shape == (3, 68, 2) and out.alpha.shape == (3, 10) and out.beta.shape == (3, 40)
    assert out.au.shape == (3, 20) and out.emotion_logits.shape == (3, 8) and out.emotion_probs.shape == (3, 8)
    for f in dataclasses.fields(out):
        assert getattr(out, f.name).dtype == np.float32
    assert np.allclose(out.emotion_probs.sum(-1), 1.0, atol=1e-5)
    raw = model(torch.rand(2, 3, size, size))
    assert raw["landmarks"].shape == (2, 68, 2)
    assert analyse_frames(model, frames[:0]).alpha.shape == (0, 10)


def test_tiny_training_decreases_loss(tiny_model):
    model, history = tiny_model
    assert isinstance(model, FaceAnalyser) and not model.training
    assert history["loss"][-1] < history["loss"][0]
    steps = history["step_loss"]
    assert np.mean(steps[-3:]) < np.mean(steps[:3])
    for key in ("landmark_px", "alpha_rmse", "beta_rmse", "au_mae", "emotion_accuracy"):
        assert np.isfinite(history["metrics"][key])


def test_save_load_round_trip(tiny_model, tmp_path):
    model, _ = tiny_model
    path = save_analyser(model, tmp_path / "analyser.safetensors")
    again = load_analyser(path)
    assert again.hparams["train_config"] == dataclasses.asdict(TINY)
    assert again.hparams["image_size"] == 48
    frames = np.random.default_rng(1).integers(0, 255, (4, 48, 48, 3), dtype=np.uint8)
    a, b = analyse_frames(model, frames), analyse_frames(again, frames)
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name))


def test_bad_checkpoints_name_the_file(tmp_path, tiny_model):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(AnalyserError, match="nope.safetensors"):
        load_analyser(missing)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(AnalyserError, match="corrupt.safetensors"):
        load_analyser(corrupt)
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(AnalyserError, match="other.safetensors"):
        load_analyser(other)


def test_bad_frames_raise_clear_errors():
    model = build_analyser(TINY, image_size=64)
    with pytest.raises(AnalyserError, match="uint8"):
        analyse_frames(model, np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(AnalyserError, match=r"\[T, H, W, 3\]"):
        analyse_frames(model, np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(AnalyserError, match="square"):
        analyse_frames(model, np.zeros((2, 64, 48, 3), np.uint8))
    with pytest.raises(AnalyserError, match="float"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(AnalyserError, match="analyser.n_train"):
        train_analyser(dataclasses.replace(TINY, n_train=0), image_size=64, progress=False)


def test_landmarks_within_frame_on_corpus_like_renders(face, tiny_model):
    model, _ = tiny_model
    for size in (48, 96):
        frames, truth = _corpus_like_frames(face, 4, size)
        out = analyse_frames(model, frames)
        assert np.all(out.landmarks >= -0.5) and np.all(out.landmarks <= size - 0.5)
        # a (barely) trained analyser is already nearer the truth than the frame is wide
        assert np.linalg.norm(out.landmarks - truth, axis=-1).mean() < 0.2 * size


def test_training_is_deterministic(tiny_samples):
    cfg = dataclasses.replace(TINY, epochs=1)
    small = tuple(dataclasses.replace(s, **{k: getattr(s, k)[:32] for k in
                                            ("images", "landmarks", "alpha", "beta", "au", "emotion", "level")})
                  for s in tiny_samples)
    # bit-identical with the kernels train_analyser picks (emohead/cpu_kernels.py: never oneDNN's AVX2 backward)
    m1, _ = train_analyser(cfg, image_size=48, seed=5, progress=False, samples=small)
    m2, _ = train_analyser(cfg, image_size=48, seed=5, progress=False, samples=small)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    r1 = render_samples(build_procedural_model(), 4, image_size=48, input_size=32, seed=9, progress=False)
    r2 = render_samples(build_procedural_model(), 4, image_size=48, input_size=32, seed=9, progress=False)
    np.testing.assert_array_equal(r1.images, r2.images)
    np.testing.assert_array_equal(r1.alpha, r2.alpha)
