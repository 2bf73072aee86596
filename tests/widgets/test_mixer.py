"""The emotion mixer driven from code: every control changes what is shown, the codes follow eq. 9, and the export
is an mp4 with audio that follows the settings. Renderers: the mesh fallback and a (random) NeRF."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emohead.data import probe_video, read_video
from emohead.pipeline import EmotionControl, expression_codes
from emohead.widgets import EmotionMixer, MeshPreview, NerfPreview, choose_preview


def _changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1) > 8).sum())


def _at_peak(mixer: EmotionMixer) -> EmotionMixer:
    """Show the frame with the largest predicted tau, intensity x3: where the emotion controls act most."""
    return mixer.set(time=float(np.argmax(mixer.prediction.tau)) / mixer.fps, tau=3.0)


def test_mixer_shows_a_frame_of_the_preview_size(mixer):
    img = mixer.image_array
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert mixer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert img.std() > 10                                       # a face, not a blank image
    assert "mesh renderer" in mixer.status.value and mixer.latencies_ms


@pytest.mark.parametrize("control, value", [("blend", 1.0), ("tau", 0.0), ("emotion_b", "surprised"),
                                            ("emotion_a", "sad"), ("yaw", 20.0), ("time", 1.0)])
def test_each_control_changes_the_displayed_image(mixer, control, value):
    _at_peak(mixer)
    if control == "emotion_a":
        mixer.set(blend=0.0)
    if control == "emotion_b":
        mixer.set(blend=1.0)
    before_png, before = mixer.image.value, mixer.image_array.copy()
    n_updates = len(mixer.latencies_ms)
    setattr(getattr(mixer, control), "value", value)           # what a slider / dropdown move does
    assert len(mixer.latencies_ms) == n_updates + 1             # one re-render per move
    assert mixer.image.value != before_png
    assert _changed_pixels(before, mixer.image_array) >= 10, control


def test_codes_follow_eq9_blend_and_switch(mixer, widget_world):
    a2e, pred, fps = widget_world["a2e"], mixer.prediction, mixer.fps
    mixer.set(tau=2.0, blend=0.3)
    s = mixer.settings
    code_a = mixer.codes(s.replace(blend=0.0))
    code_b = mixer.codes(s.replace(blend=1.0))
    np.testing.assert_allclose(mixer.codes(), 0.7 * code_a + 0.3 * code_b, atol=1e-5)      # linear in lambda
    w_a, mu_a = a2e.refinement("neutral")
    mu_a = mu_a if mu_a is not None else 0.0                    # emotion A is neutral: intensity leaves mu as it is
    np.testing.assert_allclose(code_a, mu_a + pred.alpha_tilde + 2.0 * pred.tau[:, None] * w_a, atol=1e-5)  # eq. 9
    np.testing.assert_allclose(mixer.codes(s.replace(tau_scale=0.0, blend=1.0)), mu_a + pred.alpha_tilde, atol=1e-5)
    # switch at t_s with a ramp: emotion A before, B after the ramp, exactly what EmotionControl gives
    t_s = round(mixer.duration / 3, 2)
    mixer.set(switch=True, switch_at=t_s)
    assert mixer.blend.disabled
    codes = mixer.codes()
    t = np.arange(mixer.n_frames) / fps
    before, after = t <= t_s, t >= t_s + mixer.ramp
    assert before.any() and after.any()
    np.testing.assert_allclose(codes[before], code_a[before], atol=1e-6)
    np.testing.assert_allclose(codes[after], code_b[after], atol=1e-6)
    expected = expression_codes(a2e, pred, EmotionControl("neutral", to="happy", switch_at=t_s, tau_scale=2.0), fps)
    np.testing.assert_allclose(codes, expected, atol=1e-6)


def test_switch_changes_only_frames_after_t(mixer):
    _at_peak(mixer)
    t_s = round(mixer.duration / 2, 2)
    mixer.set(switch=True, switch_at=t_s, time=0.0)
    early_switch = mixer.image_array.copy()
    mixer.set(switch=False, blend=0.0)
    assert np.array_equal(mixer.image_array, early_switch)      # before t_s the switch shows emotion A
    mixer.set(time=mixer.duration, blend=1.0)
    late_b = mixer.image_array.copy()
    mixer.set(switch=True)
    assert np.array_equal(mixer.image_array, late_b)            # after the ramp it shows emotion B


def test_play_drives_the_time_slider_and_back(mixer):
    mixer.play.value = 10
    assert mixer.frame_index == 10 and mixer.time.value == pytest.approx(10 / mixer.fps)
    mixer.time.value = 20 / mixer.fps
    assert mixer.play.value == 20
    assert f"frame 21/{mixer.n_frames}" in mixer.status.value
    mixer.switch_here.click()                                   # "t = current time"
    assert mixer.switch_at.value == pytest.approx(20 / mixer.fps)


def test_export_writes_video_with_audio_following_the_settings(mixer, tmp_path):
    _at_peak(mixer)
    path_a = mixer.set(blend=0.0).export(tmp_path / "a.mp4")
    path_b = mixer.set(blend=1.0).export(tmp_path / "b.mp4")
    path_v = mixer.set(yaw=25.0).export(tmp_path / "b_turned.mp4")
    for p in (path_a, path_b, path_v):
        info = probe_video(p)
        assert info["n_frames"] == mixer.n_frames and info["has_audio"] and info["width"] == 64
    va, vb, vv = read_video(path_a), read_video(path_b), read_video(path_v)
    diff_ab = np.abs(va.astype(np.int16) - vb.astype(np.int16)).mean(axis=(1, 2, 3))
    assert diff_ab.max() > 0.3                                  # the emotion shows in the video
    assert np.abs(vb.astype(np.int16) - vv.astype(np.int16)).mean() > 2.0     # and the view
    # the exported frame equals (up to H.264) the frame the mixer showed at the same settings
    i = mixer.frame_index
    assert np.abs(vv[i].astype(np.int16) - mixer.image_array.astype(np.int16)).mean() < 3.0


def test_export_button_writes_to_the_path_box(mixer, tmp_path):
    target = tmp_path / "from_button.mp4"
    mixer.export_path.value = str(target)
    mixer.export_button.click()
    assert target.is_file() and probe_video(target)["has_audio"]
    assert "wrote" in mixer.status.value and not mixer.export_button.disabled


def test_strip_runs_from_a_to_b(mixer):
    _at_peak(mixer)
    strip = mixer.strip([0.0, 0.5, 1.0])
    assert strip.shape == (3, 64, 64, 3)
    assert np.array_equal(strip[0], mixer.set(blend=0.0).image_array)
    assert np.array_equal(strip[2], mixer.set(blend=1.0).image_array)
    assert _changed_pixels(strip[0], strip[2]) > _changed_pixels(strip[0], strip[1]) > 0


def test_latency_measurement_counts_real_moves(mixer):
    r = mixer.measure_latency(6, "yaw")
    assert r["updates"] == 6 and r["renderer"] == "mesh" and r["image_size"] == 64
    assert 0 < r["median_ms"] <= r["max_ms"]
    assert mixer.yaw.value == 0.0                               # put back


def test_bad_names_are_errors(widget_world, mixer, mesh_preview_64):
    w = widget_world
    with pytest.raises(KeyError, match="unknown emotion 'joy'"):
        EmotionMixer.from_clip(w["a2e"], w["ds"], w["store"], w["clip"].id, mesh_preview_64, emotion_a="joy")
    with pytest.raises(KeyError, match="unknown mixer control"):
        mixer.set(brightness=1.0)


def test_mesh_preview_redraws_the_dataset_frames(widget_world):
    """With the clip's true alpha and poses the fallback draws what the synthetic world rendered (same actor)."""
    w = widget_world
    ds, clip = w["ds"], w["clip"]
    arrays = ds.arrays(clip, ["alpha", "pose_R", "pose_t"])
    from emohead.widgets import mesh_preview

    size = ds.frames(clip).shape[1]
    pv = mesh_preview(w["profile"].synth, size)
    idx = np.arange(0, clip.n_frames, 7)
    drawn = pv.render(arrays["alpha"][idx], arrays["pose_R"][idx], arrays["pose_t"][idx])
    real = ds.frames(clip)[idx]
    assert np.abs(drawn.astype(np.int16) - real.astype(np.int16)).mean() < 4.0     # only video compression apart
    other = mesh_preview(dataclasses.replace(w["profile"].synth, seed=7), size)
    assert np.abs(other.render(arrays["alpha"][idx], arrays["pose_R"][idx], arrays["pose_t"][idx]).astype(np.int16)
                  - real.astype(np.int16)).mean() > 4.0          # another world's actor would not match


def _random_nerf(size: int = 32):
    from emohead.face import default_camera
    from emohead.render import ExpressionField, HeadNerf, OccupancyGrid, head_box

    torch.manual_seed(0)
    lo, hi = head_box()
    field = ExpressionField(lo, hi, expr_dim=10, hash_levels=2, hash_features=2, hash_log2_size=8,
                            max_resolution=16, hidden=8, geo_features=4).eval()
    with torch.no_grad():
        field.encoder.embeddings.normal_(0.0, 1.0)
    return HeadNerf(field=field, grid=OccupancyGrid(lo, hi, 4), background=torch.rand(size, size, 3),
                    camera=default_camera(size), emotions=("neutral", "happy"), n_samples=8)


def test_nerf_renderer_is_chosen_when_trained_and_drives_the_mixer(widget_world, tmp_path):
    from emohead.render import save_nerf

    w = widget_world
    synth = w["profile"].synth
    assert isinstance(choose_preview("auto", tmp_path / "no_nerf", synth, 48, a2e=w["a2e"]), MeshPreview)
    save_nerf(_random_nerf(), tmp_path / "nerf")
    preview = choose_preview("auto", tmp_path / "nerf", synth, 48, a2e=w["a2e"])
    assert isinstance(preview, NerfPreview) and preview.image_size == 32
    assert isinstance(choose_preview("mesh", tmp_path / "nerf", synth, 48), MeshPreview)
    with pytest.raises(ValueError, match="renderer mode"):
        choose_preview("raytracer", None, synth, 48)
    mixer = EmotionMixer.from_clip(w["a2e"], w["ds"], w["store"], w["clip"].id, preview)
    assert mixer.image_array.shape == (32, 32, 3)
    assert not preview.interactive and not mixer.yaw.continuous_update    # a CPU NeRF renders on release
    assert EmotionMixer.from_clip(w["a2e"], w["ds"], w["store"], w["clip"].id,
                                  choose_preview("mesh", None, synth, 48)).yaw.continuous_update
    before = mixer.image_array.copy()
    mixer.set(yaw=30.0)
    assert _changed_pixels(before, mixer.image_array) > 0
    frames = mixer.clip_frames()
    assert frames.shape == (mixer.n_frames, 32, 32, 3)
