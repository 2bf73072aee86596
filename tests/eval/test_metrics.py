"""PSNR, SSIM, M/F-LMD, AUE, ER: properties, a reference implementation, and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from emohead.eval import EvalError, au_error, emotion_recognition, face_lmd, landmark_distance, mouth_lmd, psnr, ssim
from emohead.eval.metrics import MOUTH, PSNR_CAP_DB


def _frames(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    # smooth-ish images (a blurred random field) so SSIM is not dominated by noise
    base = rng.random((n, size // 4, size // 4, 3))
    return (np.kron(base, np.ones((1, 4, 4, 1))) * 255).astype(np.uint8)


def test_identical_frames_psnr_inf_handled_and_ssim_one():
    a = _frames()
    p = psnr(a, a)
    assert p.name == "PSNR" and p.unit == "dB"
    assert np.isinf(p.per_item).all() and p.extra["n_exact"] == 3
    assert p.value == PSNR_CAP_DB                              # capped mean, finite
    s = ssim(a, a)
    assert s.name == "SSIM" and np.allclose(s.per_item, 1.0) and s.value == pytest.approx(1.0)


def test_psnr_matches_definition_and_float_input():
    a = _frames()
    b = a.copy()
    b[0, :, :, 0] = np.clip(b[0, :, :, 0].astype(int) + 10, 0, 255)
    p = psnr(b, a)
    mse = ((b[0].astype(float) - a[0]) / 255) ** 2
    assert p.per_item[0] == pytest.approx(10 * np.log10(1 / mse.mean()), rel=1e-6)
    assert np.isinf(p.per_item[1:]).all()
    assert p.value == pytest.approx((p.per_item[0] + 2 * PSNR_CAP_DB) / 3)
    assert psnr(b / 255.0, a / 255.0).per_item[0] == pytest.approx(p.per_item[0])


def test_ssim_agrees_with_skimage():
    # same window, constants and data range; the two still differ by up to ~0.01 on 128 px frames
    # (measured: 0.001-0.011), more on tiny frames where the 5-px border is a large share
    a, b = _frames(seed=1, size=128), _frames(seed=2, size=128)
    b = ((a.astype(float) * 0.6 + b * 0.4)).astype(np.uint8)
    ours = ssim(b, a).per_item
    ref = [structural_similarity(b[i] / 255.0, a[i] / 255.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=-1) for i in range(len(a))]
    np.testing.assert_allclose(ours, ref, atol=0.015)
    assert 0.1 < ours.mean() < 0.99


def test_frame_metrics_reject_bad_inputs():
    a = _frames()
    with pytest.raises(EvalError, match="differ in shape"):
        psnr(a, a[:2])
    with pytest.raises(EvalError, match=r"\[0, 1\]"):
        ssim(a.astype(np.float32), a.astype(np.float32))      # float frames holding 0-255
    with pytest.raises(EvalError, match=r"\[N, H, W, 3\]"):
        psnr(a[..., 0], a[..., 0])


def _landmarks(n=4, seed=0):
    return np.random.default_rng(seed).uniform(10, 50, (n, 68, 2))


def test_lmd_zero_mean_displacement_of_k_pixels_gives_k():
    """Centring removes each set's mean; a displacement of length k whose mean over the set is zero
    (half the points +k in x, half -k) survives centring unchanged, so the distance is exactly k."""
    real = _landmarks()
    k = 2.5
    moved = real.copy()
    mouth = np.array(MOUTH)
    moved[:, mouth[:10], 0] += k
    moved[:, mouth[10:], 0] -= k
    m = mouth_lmd(moved, real)
    assert m.name == "M-LMD" and m.value == pytest.approx(k, abs=1e-9)
    np.testing.assert_allclose(m.per_item, k, atol=1e-9)
    face = real.copy()
    face[:, :34, 1] += k
    face[:, 34:, 1] -= k
    assert face_lmd(face, real).value == pytest.approx(k, abs=1e-9)


def test_lmd_ignores_translation_but_not_scale():
    real = _landmarks()
    shifted = real + np.array([7.0, -3.0])                     # head translation: removed by centring
    assert mouth_lmd(shifted, real).value == pytest.approx(0, abs=1e-9)
    assert face_lmd(shifted, real).value == pytest.approx(0, abs=1e-9)
    c = real[:, MOUTH].mean(1, keepdims=True)
    scaled = real.copy()
    scaled[:, MOUTH] = c + 1.2 * (real[:, MOUTH] - c)          # mouth opened 20 %: 0.2 x mean radius
    expected = 0.2 * np.linalg.norm(real[:, MOUTH] - c, axis=-1).mean()
    assert mouth_lmd(scaled, real).value == pytest.approx(expected, rel=1e-9)
    with pytest.raises(EvalError, match="differ in shape"):
        landmark_distance(real, real[:2])


def test_aue_zero_for_identical_and_mae_with_names():
    rng = np.random.default_rng(0)
    a = rng.random((5, 20))
    r = au_error(a, a)
    assert r.name == "AUE" and r.value == 0.0
    b = a + 0.5
    assert au_error(b, a).value == pytest.approx(0.5)
    # names: compare only the AUs both have, in matching order
    res = au_error(a[:, [2, 0]], a[:, [0, 1]] + [0.0, 9.0], pred_names=["AU4", "AU1"], real_names=["AU1", "AU2"])
    assert res.extra["aus"] == ["AU1"] and res.value == pytest.approx(0.0)
    with pytest.raises(EvalError, match="shape"):
        au_error(a, a[:, :3])


def test_er_frame_and_clip_accuracy():
    from emohead.data.emotions import MEAD_EMOTIONS

    eye = np.eye(8)
    happy, sad = MEAD_EMOTIONS.index("happy"), MEAD_EMOTIONS.index("sad")
    clip1 = eye[[happy, happy, sad]]                            # 2/3 frames right, clip right
    clip2 = eye[[happy, happy, happy, sad]]                     # target sad: 1/4 right, clip wrong
    r = emotion_recognition([clip1, clip2], ["happy", "sad"])
    assert r.name == "ER" and r.unit == "%"
    assert r.value == pytest.approx(100 * 3 / 7)
    assert r.extra["clip_accuracy"] == pytest.approx(50.0)
    assert emotion_recognition([clip1], ["happy"], clip_rule="majority").extra["clip_accuracy"] == 100.0
    # CREMA-D spelling maps to MEAD's
    assert emotion_recognition([eye[[MEAD_EMOTIONS.index("angry")]]], ["anger"]).value == 100.0
    with pytest.raises(EvalError, match="not one of"):
        emotion_recognition([clip1], ["bored"])
    with pytest.raises(EvalError, match="one target per clip"):
        emotion_recognition([clip1, clip2], ["happy"])
