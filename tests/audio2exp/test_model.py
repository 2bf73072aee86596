"""The audio-expression module against explicit re-implementations of eq. 1-9 and 13."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emohead.audio2exp import (A2EDataError, Audio2Expression, FeatureInfo, FusedAttn, crossfade_weights,
                               l_reg, l_reg_const, neighbour_fusion, predict, warp_track,
                               window_starts)
from emohead.audio2exp.data import check_feature_widths, pad_context
from emohead.config import Audio2ExpConfig

DIMS = {"audio": 12, "emotion": 6, "text": 8}
EMOTIONS = ["angry", "happy", "neutral"]


def tiny_model(variant: str = "full", n: int = 3, window: int = 10, seed: int = 0, d: int = 16,
               ffn_widths: tuple[int, ...] = (16, 12), tag_anchor: bool = True) -> Audio2Expression:
    torch.manual_seed(seed)
    cfg = Audio2ExpConfig(variant=variant, d=d, dh=d, n_neighbors=n, ffn_widths=ffn_widths, window=window,
                          tag_anchor=tag_anchor)
    normals = torch.nn.functional.normalize(torch.randn(len(EMOTIONS), 10), dim=1)
    model = Audio2Expression(cfg, DIMS, normals, EMOTIONS)
    model.set_anchors(torch.randn(len(EMOTIONS), 10))                   # mu_z: any values, the tests only need them
    model.feature_info = FeatureInfo(dims=DIMS, backends={"audio": "spectral", "emotion": "prosody", "text": "hashed"})
    return model


def random_inputs(batch: int, frames: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(batch, frames, d, generator=g) for s, d in DIMS.items()}


def test_fused_attn_matches_a_per_frame_reimplementation_of_eq_2_to_7():
    torch.manual_seed(0)
    d, dh, W = 6, 4, 5
    attn = FusedAttn(d, dh)
    v, fused, g = (torch.randn(1, W, d) for _ in range(3))
    out, maps = attn(v, fused, g, return_attention=True)
    Wq1, Wk1, Wq2, Wk2 = (m.weight.T for m in (attn.wq1, attn.wk1, attn.wq2, attn.wk2))   # [d, dh]
    Wv1, Wv2, Wv3 = (m.weight.T for m in (attn.wv1, attn.wv2, attn.wv3))                  # [d, d]
    for i in range(W):
        c_ve = torch.stack([fused[0, i] @ Wq1 @ Wk1.T @ fused[0, j] for j in range(W)])   # eq. 2, row i
        c_g = torch.stack([g[0, i] @ Wq2 @ Wk2.T @ g[0, j] for j in range(W)])             # eq. 3, row i
        a_v = torch.exp((c_ve + c_g) / math.sqrt(dh))
        a_v = a_v / a_v.sum()
        a_e = torch.exp(c_ve / math.sqrt(dh))
        a_e = a_e / a_e.sum()
        a_g = torch.exp(c_g / math.sqrt(dh))
        a_g = a_g / a_g.sum()
        h_v = sum(a_v[j] * (v[0, j] @ Wv1) for j in range(W))        # eq. 4-5
        h_e = sum(a_e[j] * (fused[0, j] @ Wv2) for j in range(W))    # eq. 6
        h_g = sum(a_g[j] * (g[0, j] @ Wv3) for j in range(W))        # eq. 7
        torch.testing.assert_close(out[0, i], torch.cat([h_v, h_e, h_g]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(maps["ve+g"][0, i], a_v, atol=1e-6, rtol=1e-5)


def test_neighbour_fusion_sums_frames_i_minus_n_to_i():
    n, W = 3, 7
    v, e = torch.randn(2, n + W, 4), torch.randn(2, n + W, 4)
    fused = neighbour_fusion(v, e, n)
    assert fused.shape == (2, W, 4)
    for i in range(W):
        expected = (v[:, i:i + n + 1] + e[:, i:i + n + 1]).sum(dim=1)   # input frames i..i+n = clip frames i-n..i
        torch.testing.assert_close(fused[:, i], expected, atol=1e-5, rtol=1e-5)


def test_clip_start_is_padded_with_the_silence_feature():
    """F at the first frame = v_0 + e_0 + n (E1 s_v + E2 s_e): n silence frames before the clip."""
    model = tiny_model(n=3)
    sil = {s: np.full(d, 0.5 * (k + 1), np.float32) for k, (s, d) in enumerate(DIMS.items())}
    model.set_statistics({s: (np.zeros(d, np.float32), np.ones(d, np.float32)) for s, d in DIMS.items()}, sil)
    x = random_inputs(1, 6)
    a = torch.from_numpy(pad_context(x["audio"][0].numpy(), model.silence("audio").numpy(), 3))[None]
    e = torch.from_numpy(pad_context(x["emotion"][0].numpy(), model.silence("emotion").numpy(), 3))[None]
    assert torch.equal(a[0, :3], torch.from_numpy(np.tile(sil["audio"], (3, 1))))
    fused = neighbour_fusion(model.e1(a), model.e2(e), 3)
    silence = model.e1(torch.from_numpy(sil["audio"])) + model.e2(torch.from_numpy(sil["emotion"]))
    expected0 = model.e1(x["audio"][0, 0]) + model.e2(x["emotion"][0, 0]) + 3 * silence
    torch.testing.assert_close(fused[0, 0], expected0, atol=1e-5, rtol=1e-5)
    expected1 = model.e1(x["audio"][0, :2]).sum(0) + model.e2(x["emotion"][0, :2]).sum(0) + 2 * silence
    torch.testing.assert_close(fused[0, 1], expected1, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["full", "no_alignment", "no_refinement"])
def test_variants_shapes_and_expression_code(variant):
    model = tiny_model(variant)
    x = random_inputs(2, 3 + 10)
    out = model(x["audio"], x["emotion"], x["text"], return_attention=True)
    assert out.alpha_tilde.shape == (2, 10, 10) and out.tau.shape == (2, 10)
    assert all(a.shape[-2:] == (10, 10) for a in out.attention.values())
    tags = torch.tensor([0, 1])
    code = model.expression_code(out, model.tag_normals(tags), tags.float()[:, None], model.tag_anchors(tags))
    assert code.shape[-1] == (11 if variant == "no_refinement" else 10)
    if variant == "no_refinement":
        assert torch.all(out.tau == 0) and torch.equal(code[1, :, 0], torch.ones(10))
    else:
        mu = model.anchors[tags][:, None] if model.anchored else 0.0          # eq. 9 from the tag's anchor mu_z
        torch.testing.assert_close(code, mu + out.alpha_tilde + out.tau[..., None] * model.normals[tags][:, None])


def test_losses_on_known_values():
    target = torch.tensor([[[3.0, 4.0]]])          # [B=1, W=1, m=2]
    pred = torch.zeros(1, 1, 2)
    assert l_reg(target, pred).item() == pytest.approx(5.0)               # ||(3, 4)||_2
    partner = torch.tensor([[[0.0, 2.0]]])
    value = l_reg_const(target, pred, partner, torch.tensor([True]), rho=0.5)
    assert value.item() == pytest.approx(5.0 + 0.5 * 2.0)                 # eq. 13
    # a window without a partner only has the first term
    target2 = torch.cat([target, torch.tensor([[[0.0, 1.0]]])])
    pred2 = torch.zeros(2, 1, 2)
    partner2 = torch.cat([partner, torch.full((1, 1, 2), 100.0)])
    value2 = l_reg_const(target2, pred2, partner2, torch.tensor([True, False]), rho=1.0)
    assert value2.item() == pytest.approx((5.0 + 1.0) / 2 + 2.0)


@pytest.mark.parametrize("variant", ["full", "no_alignment"])
def test_a_tiny_batch_overfits_to_near_zero(variant):
    """Random per-frame targets: only reachable if per-frame information survives the attention."""
    model = tiny_model(variant, seed=3, d=32, ffn_widths=(64, 32))   # the last hidden width must be >= m
    x = random_inputs(4, 3 + 10, seed=5)
    tags = torch.tensor([0, 1, 2, 0])
    target = torch.randn(4, 10, 10, generator=torch.Generator().manual_seed(6)) * 0.5
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        out = model(x["audio"], x["emotion"], x["text"])
        loss = l_reg(target, out.refined(model.tag_normals(tags)))
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 1.0
    assert loss.item() < 0.05 * first


def test_features_of_the_wrong_width_name_the_backend():
    model = tiny_model()
    got = FeatureInfo(dims={**DIMS, "audio": 768}, backends={"audio": "hubert", "emotion": "prosody", "text": "hashed"})
    with pytest.raises(A2EDataError, match=r"audio features are 768-d \(made by the 'hubert' backend\).*'spectral'"):
        check_feature_widths(model.feature_info, got, "features/")
    with pytest.raises(ValueError, match="audio features are 5-d"):
        predict(model, SimpleNamespace(audio=np.zeros((20, 5)), emotion=np.zeros((20, 6)), text=np.zeros((20, 8))))


def test_sliding_windows_cover_the_clip_and_do_not_depend_on_chunking():
    assert window_starts(10, 16, 4) == [0]
    starts = window_starts(100, 16, 4)
    assert starts[0] == 0 and starts[-1] == 84 and all(b - a <= 12 for a, b in zip(starts, starts[1:]))
    w = crossfade_weights(16, 4)
    assert w.min() > 0 and w.max() == 1
    model = tiny_model(window=10)
    rng = np.random.default_rng(0)
    feats = SimpleNamespace(**{s: rng.normal(size=(57, d)).astype(np.float32) for s, d in DIMS.items()})
    a = predict(model, feats, max_windows=1)
    b = predict(model, feats, max_windows=64)
    np.testing.assert_allclose(a.alpha_tilde, b.alpha_tilde, atol=1e-5)
    assert a.alpha_tilde.shape == (57, 10) and a.tau.shape == (57,)
    # frames far from any overlap equal the single window's own output
    x = {s: torch.from_numpy(pad_context(getattr(feats, s)[:10], model.silence(s).numpy(), 3))[None] for s in DIMS}
    first = model(x["audio"], x["emotion"], x["text"]).alpha_tilde[0].detach().numpy()
    np.testing.assert_allclose(a.alpha_tilde[:5], first[:5], atol=1e-5)


@pytest.mark.parametrize("tag_anchor", [False, True])
def test_any_tag_and_a_switch_schedule_refine_the_same_prediction(tag_anchor):
    model = tiny_model(tag_anchor=tag_anchor)
    rng = np.random.default_rng(1)
    feats = SimpleNamespace(**{s: rng.normal(size=(30, d)).astype(np.float32) for s, d in DIMS.items()})
    pred = predict(model, feats)
    w, mu = model.normals.numpy(), model.anchors.numpy()
    z = EMOTIONS[1]
    direction, anchor = model.refinement(z)
    np.testing.assert_allclose(direction, w[1])
    assert (anchor is None) == (not tag_anchor)
    happy = model.expression_code(pred, np.tile(direction, (30, 1)), anchors=anchor)
    expected = pred.tau[:, None] * w[1] + (mu[1] if tag_anchor else 0.0)        # eq. 9 (+ mu_z)
    np.testing.assert_allclose(happy - pred.alpha_tilde, expected, atol=1e-5)
    weights = (np.arange(30) >= 15).astype(np.float32)                            # switch at frame 15
    schedule, anchors = model.refinement(EMOTIONS[0], z, weights)
    assert schedule.shape == (30, 10) and (anchors is None or anchors.shape == (30, 10))
    switched = model.expression_code(pred, schedule, anchors=anchors)
    np.testing.assert_allclose(switched[20:], happy[20:], atol=1e-5)
    np.testing.assert_allclose(switched[:15], pred.refined(*model.refinement(EMOTIONS[0]))[:15], atol=1e-5)
    with pytest.raises(ValueError, match="normals"):
        model.expression_code(pred)
    if tag_anchor:
        with pytest.raises(ValueError, match="anchor"):
            model.expression_code(pred, schedule)
    with pytest.raises(KeyError, match="unknown emotion 'joy'"):
        model.refinement("joy")


def test_intensity_moves_the_anchor_from_neutral_and_literal_ignores_anchors():
    model = tiny_model()
    mu = model.anchors.numpy()
    neutral = mu[EMOTIONS.index("neutral")]
    for s in (0.0, 0.5, 2.0):
        _, anchor = model.refinement("happy", intensity=s)
        np.testing.assert_allclose(anchor, neutral + s * (mu[EMOTIONS.index("happy")] - neutral), atol=1e-6)
    for variant in ("literal", "no_refinement"):
        assert not tiny_model(variant).anchored and tiny_model(variant).refinement("happy")[1] is None
    out = model(**random_inputs(2, 3 + 10))
    tags = torch.tensor([1, 2])
    np.testing.assert_allclose((out.refined(model.tag_normals(tags), model.tag_anchors(tags))
                                - out.refined(model.tag_normals(tags))).detach().numpy(),
                               np.broadcast_to(mu[[1, 2]][:, None, :], (2, 10, 10)), atol=1e-6)


def test_warp_track_follows_word_times():
    words_a = [{"word": "hello", "start": 0.2, "end": 0.6}, {"word": "world", "start": 0.6, "end": 1.0}]
    words_b = [{"word": "Hello", "start": 0.4, "end": 1.2}, {"word": "world", "start": 1.2, "end": 2.0}]
    fps = 25
    track_a = np.arange(30, dtype=np.float32)[:, None] / fps            # value = time in clip A
    warped = warp_track(track_a, words_a, words_b, n_dst=55, fps=fps)   # onto B's grid
    # B's frame at 1.2 s (start of "world") reads A at 0.6 s; B's 0.8 s (middle of "hello") reads A at 0.4 s
    assert warped[30, 0] == pytest.approx(0.6, abs=1e-4)
    assert warped[20, 0] == pytest.approx(0.4, abs=1e-4)
    assert np.all(np.diff(warped[:, 0]) >= -1e-6)
    same = warp_track(track_a, words_a, words_a, n_dst=30, fps=fps)
    np.testing.assert_allclose(same, track_a, atol=1e-5)
