"""The completed FusedAttn (residual branches, F as a mean, offset bias), activation patterns, quality metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emohead.audio2exp import FusedAttn, neighbour_fusion
from emohead.audio2exp import baselines, comparison, metrics
from emohead.audio2exp.data import Track
from emohead.emotion.hyperplanes import EmotionHyperplanes, HyperplaneError, fit_hyperplanes

from .test_model import random_inputs, tiny_model


def test_completed_fused_attn_is_the_literal_one_plus_its_inputs_and_an_offset_bias():
    torch.manual_seed(0)
    d, dh, W, K = 6, 4, 7, 2
    literal, completed = FusedAttn(d, dh), FusedAttn(d, dh, residual=True, max_offset=K)
    completed.load_state_dict({**literal.state_dict(), "offset_bias": torch.zeros(3, 2 * K + 1)})
    v, fused, g = (torch.randn(1, W, d) for _ in range(3))
    # zero bias: the completed output is the literal one plus each branch's input
    torch.testing.assert_close(completed(v, fused, g), literal(v, fused, g) + torch.cat([v, fused, g], -1))
    # a bias b(j - i), clipped at +-K, is added to each branch's logits before the softmax
    with torch.no_grad():
        completed.offset_bias.copy_(torch.randn(3, 2 * K + 1))
    _, maps = completed(v, fused, g, return_attention=True)
    c_g = completed.wq2(g) @ completed.wk2(g).transpose(1, 2) / math.sqrt(dh)
    for i in range(W):
        bias = torch.stack([completed.offset_bias[2, min(max(j - i, -K), K) + K] for j in range(W)])
        torch.testing.assert_close(maps["g"][0, i], torch.softmax(c_g[0, i] + bias, -1))


def test_fusion_as_a_mean_divides_the_sum_by_n_plus_one():
    v, e = torch.randn(2, 4 + 9, 5), torch.randn(2, 4 + 9, 5)
    torch.testing.assert_close(neighbour_fusion(v, e, 4, mean=True), neighbour_fusion(v, e, 4) / 5)


def test_literal_variant_has_no_residual_and_no_bias_and_differs_from_full():
    literal, full = tiny_model("literal"), tiny_model("full")
    assert not literal.mixer.residual and literal.mixer.offset_bias is None
    assert full.mixer.residual and full.mixer.offset_bias is not None
    x = random_inputs(1, 3 + 10)
    assert not torch.allclose(literal(**{"audio": x["audio"], "emotion": x["emotion"], "text": x["text"]}).alpha_tilde,
                              full(x["audio"], x["emotion"], x["text"]).alpha_tilde)
    assert full.normal("happy").shape == (10,)
    with pytest.raises(KeyError, match="unknown emotion 'bored'"):
        full.normal("bored")


def _correlated_emotions(seed: int = 0):
    """Two emotions in 3-D with strongly correlated dims: the class mean offset is (1, 0, 0)."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 0.3]])
    a = rng.multivariate_normal([0, 0, 0], cov, 4000)
    b = rng.multivariate_normal([1, 0, 0], cov, 4000)
    return np.concatenate([a, b]), np.array(["calm"] * 4000 + ["glad"] * 4000)


def test_activation_pattern_points_along_the_mean_offset_where_the_normal_does_not(tmp_path):
    alpha, labels = _correlated_emotions()
    planes = fit_hyperplanes(alpha, labels, balance_mar=False)
    offset = alpha[labels == "glad"].mean(0) - alpha[labels == "calm"].mean(0)
    offset /= np.linalg.norm(offset)
    i = planes.index("glad")
    cos_normal = float(planes.directions("normal")[i] @ offset)
    cos_pattern = float(planes.directions("pattern")[i] @ offset)
    assert cos_pattern > 0.99 and cos_normal < 0.9, (cos_pattern, cos_normal)
    planes.save(tmp_path / "h.npz")
    again = EmotionHyperplanes.load(tmp_path / "h.npz")
    np.testing.assert_allclose(again.patterns, planes.patterns)
    # a file from before patterns existed loads, and asking it for patterns says what to do
    np.savez(tmp_path / "old.npz", normals=planes.normals, coef=planes.coef, intercept=planes.intercept)
    (tmp_path / "old.json").write_text((tmp_path / "h.json").read_text())
    old = EmotionHyperplanes.load(tmp_path / "old.npz")
    np.testing.assert_allclose(old.directions("normal"), planes.normals)
    with pytest.raises(HyperplaneError, match="re-run `emohead fit-hyperplanes`"):
        old.directions("pattern")
    with pytest.raises(HyperplaneError, match="unknown refinement direction"):
        old.directions("filter")


def test_motion_correlation_ignores_clip_offsets_and_sees_motion():
    rng = np.random.default_rng(0)
    true = [rng.normal(size=(30, 4)) + rng.normal(size=4) * 5 for _ in range(3)]
    constant = [np.broadcast_to(t.mean(0), t.shape) for t in true]
    assert metrics.motion_correlation(constant, true) == pytest.approx(0.0, abs=1e-9)
    assert metrics.motion_correlation(true, true) == pytest.approx(1.0)
    shifted = [t + 10.0 for t in true]                 # a wrong clip offset does not change the motion score
    assert metrics.motion_correlation(shifted, true) == pytest.approx(1.0)
    assert metrics.rmse(shifted, true) == pytest.approx(10.0)
    assert metrics.motion_correlation([-t for t in true], true) == pytest.approx(-1.0)


def test_offset_rmse_is_the_clip_mean_part_of_the_rmse():
    rng = np.random.default_rng(1)
    true = [rng.normal(size=(20 + 7 * i, 3)) for i in range(3)]
    constant = [np.broadcast_to(t.mean(0), t.shape) for t in true]
    assert metrics.offset_rmse(constant, true) == pytest.approx(0.0, abs=1e-12)
    assert metrics.offset_rmse([t + 2.0 for t in true], true) == pytest.approx(2.0)   # every dim off by 2
    pred = [t * 0.5 + rng.normal(size=3) for t in true]
    within = metrics.rmse([p - p.mean(0) for p in pred], [t - t.mean(0) for t in true])
    assert metrics.rmse(pred, true) ** 2 == pytest.approx(metrics.offset_rmse(pred, true) ** 2 + within ** 2)


def test_mar_of_alpha_opens_with_the_jaw():
    from emohead.face import build_procedural_model
    from emohead.face.mar import mouth_aspect_ratio

    fm = build_procedural_model()
    rest = np.zeros((1, 10), np.float32)
    lm = fm.vertices(rest)[:, np.asarray(fm.landmark_ids), :2]
    assert metrics.mar_of_alpha(fm, rest)[0] == pytest.approx(float(mouth_aspect_ratio(lm)[0]), abs=1e-6)
    jaw = fm.alpha_from_au(np.eye(len(fm.au_names))[list(fm.au_names).index("AU26")][None] * np.linspace(0, 1, 5)[:, None])
    mar = metrics.mar_of_alpha(fm, jaw)
    assert np.all(np.diff(mar) > 0), mar
    assert metrics.mar_correlation(fm, [jaw], [mar]) == pytest.approx(1.0)


def _track(i: int, rng, w: np.ndarray, emotion: str) -> Track:
    audio = rng.normal(size=(40, 6)).astype(np.float32)
    alpha = (audio @ w).astype(np.float32)
    return Track(id=f"c{i}", speaker="a", emotion=emotion, sentence="s", split="train", audio=audio,
                 emotion_feat=np.zeros((40, 2), np.float32), text=np.zeros((40, 3), np.float32), alpha=alpha,
                 silent=np.zeros(40, bool))


def test_per_frame_mlp_learns_an_audio_mapping_that_the_audio_blind_baselines_cannot():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4))
    train = [_track(i, rng, w, "happy" if i % 2 else "sad") for i in range(20)]
    test = [_track(100 + i, rng, w, "happy" if i % 2 else "sad") for i in range(4)]
    true = [t.alpha for t in test]
    mlp = baselines.per_frame_mlp_predictions(train, test, steps=400, batch=256)
    assert metrics.motion_correlation(mlp, true) > 0.9
    assert metrics.motion_correlation(baselines.emotion_mean_predictions(train, test), true) == pytest.approx(0, abs=1e-6)
    assert metrics.rmse(mlp, true) < metrics.rmse(baselines.mean_expression_predictions(train, test), true)


def test_summary_counts_seeds_that_beat_the_emotion_mean():
    rows = [{"predictor": comparison.EMOTION_MEAN, "seed": None, "rmse": 0.6, "motion_corr": 0.0},
            {"predictor": "full", "seed": 0, "rmse": 0.5, "motion_corr": 0.7},
            {"predictor": "full", "seed": 1, "rmse": 0.7, "motion_corr": 0.5}]
    summary = {e["predictor"]: e for e in comparison.summarise(rows)}
    assert summary["full"]["beats_emotion_mean"] == "1/2"
    assert summary["full"]["rmse"] == pytest.approx(0.6) and summary["full"]["motion_corr_std"] == pytest.approx(0.1414, abs=1e-3)
    table = comparison.markdown(comparison.summarise(rows))
    assert "| full | 2 | 0.600 +- 0.141 |  | 0.600 +- 0.141 |" in table          # no offset RMSE in these rows


def test_per_emotion_correction_removes_a_per_emotion_bias(monkeypatch):
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    normals = {"happy": np.array([1.0, 0, 0], np.float32), "sad": np.array([0, 1.0, 0], np.float32)}
    bias = {"happy": np.array([2.0, 0, 1.0]), "sad": np.array([0, -1.0, 0])}

    def track(emotion):
        return SimpleNamespace(emotion=emotion, alpha=rng.normal(size=(10, 3)).astype(np.float32))

    train = [track(e) for e in ("happy", "sad") * 4]
    test = [track(e) for e in ("happy", "sad")]
    predicted = {id(t): t.alpha - bias[t.emotion] for t in train + test}     # a model off by a per-emotion bias
    model = SimpleNamespace(normal=normals.__getitem__, refines=True)
    monkeypatch.setattr(comparison, "model_predictions", lambda m, tracks: [predicted[id(t)] for t in tracks])
    full = comparison.per_emotion_correction(model, train, test, along_normal=False)
    along = comparison.per_emotion_correction(model, train, test, along_normal=True)
    for t, f, a in zip(test, full, along):
        np.testing.assert_allclose(f, t.alpha, atol=1e-5)                       # the whole bias is removed
        w = normals[t.emotion]
        np.testing.assert_allclose(a - predicted[id(t)], np.outer(np.ones(10), (bias[t.emotion] @ w) * w), atol=1e-5)
