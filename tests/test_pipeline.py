"""From audio + emotion control to mp4 with sound: codes, driving tracks, videos, and the CLI."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emohead.audio2exp import predict
from emohead.cli import main
from emohead.data import probe_video, read_video
from emohead.pipeline import (EmotionControl, driving_track, expression_codes, render_talking_head, save_video,
                              view_sweep)
from emohead.render import train_nerf
from emohead.render.model import NerfModelError


@pytest.fixture(scope="module")
def tiny_nerf(render_world, tmp_path_factory):
    cfg = dataclasses.replace(render_world["profile"].nerf, iterations=30, refine_start=30, lr=2e-2)
    nerf, _ = train_nerf(render_world["ds"], cfg, tmp_path_factory.mktemp("nerf") / "nerf", progress=False)
    return nerf


def test_expression_codes_follow_the_control(render_world):
    a2e, ds, store = render_world["a2e"], render_world["ds"], render_world["store"]
    clip = ds.clips(split="test")[0]
    pred = predict(a2e, store.get(clip.id))
    w, mu = a2e.normals.numpy(), a2e.anchors.numpy()
    assert a2e.anchored and np.abs(mu).max() > 0.1                     # the trained model's mu_z: emotion means
    idx = {e: a2e.emotions.index(e) for e in ("sad", "happy", "neutral")}
    sad = expression_codes(a2e, pred, EmotionControl("sad"), ds.fps)
    assert np.allclose(sad, mu[idx["sad"]] + pred.alpha_tilde + pred.tau[:, None] * w[idx["sad"]], atol=1e-5)  # eq. 9
    blend = expression_codes(a2e, pred, EmotionControl("sad", to="happy", weight=0.25), ds.fps)
    mix, mix_mu = (0.75 * x[idx["sad"]] + 0.25 * x[idx["happy"]] for x in (w, mu))
    assert np.allclose(blend, mix_mu + pred.alpha_tilde + pred.tau[:, None] * mix, atol=1e-5)
    switch = expression_codes(a2e, pred, EmotionControl("sad", to="happy", switch_at=0.4, ramp=0.2), ds.fps)
    happy = expression_codes(a2e, pred, EmotionControl("happy"), ds.fps)
    assert np.allclose(switch[:10], sad[:10]) and np.allclose(switch[-3:], happy[-3:])
    # intensity s: tau scaled by s, the anchor moved s of the way from the neutral one (s = 0: neutral face)
    neutral_face = mu[idx["neutral"]] + pred.alpha_tilde
    double = expression_codes(a2e, pred, EmotionControl("sad", tau_scale=2.0), ds.fps)
    assert np.allclose(double - neutral_face, 2 * (sad - neutral_face), atol=1e-4)
    zero = expression_codes(a2e, pred, EmotionControl("sad", tau_scale=0.0), ds.fps)
    assert np.allclose(zero, neutral_face, atol=1e-5)
    with pytest.raises(KeyError, match="unknown emotion 'joy'"):
        expression_codes(a2e, pred, EmotionControl("joy"), ds.fps)
    with pytest.raises(ValueError, match="blend weight"):
        expression_codes(a2e, pred, EmotionControl("sad", to="happy", weight=1.5), ds.fps)


def test_driving_track_ping_pongs_to_any_length(render_world):
    ds = render_world["ds"]
    clip = ds.clips(split="test")[0]
    track = driving_track(ds, clip.id, 32)
    n = len(track)
    long = track.fit(3 * n)
    assert len(long) == 3 * n and long.frames.shape[1:] == (32, 32, 3)
    assert np.array_equal(long.R[n], track.R[n - 2]) and np.array_equal(long.R[2 * n - 2], track.R[0])
    steps = np.abs(np.diff(long.t, axis=0)).max()
    assert steps <= np.abs(np.diff(track.t, axis=0)).max() + 1e-6          # no jump at the seams


def test_switch_video_has_audio_and_changes_emotion(render_world, tiny_nerf, tmp_path):
    a2e, ds, store = render_world["a2e"], render_world["ds"], render_world["store"]
    clip = ds.clips(split="test")[0]
    feats = store.get(clip.id)
    track = driving_track(ds, clip.id, tiny_nerf.image_size)
    sad = render_talking_head(a2e, tiny_nerf, feats, EmotionControl("sad"), track, fps=ds.fps, progress=False)
    switch = render_talking_head(a2e, tiny_nerf, feats, EmotionControl("sad", to="happy", switch_at=0.5),
                                 track, fps=ds.fps, progress=False)
    assert sad.shape == (clip.n_frames, 32, 32, 3)
    assert np.array_equal(sad[:5], switch[:5])                       # before the switch: the same frames
    assert not np.array_equal(sad[-5:], switch[-5:])                 # after it: another emotion
    path = save_video(tmp_path / "switch.mp4", switch, ds.fps, ds.audio(clip), ds.sample_rate)
    info = probe_video(path)
    assert info["n_frames"] == clip.n_frames and info["has_audio"] and info["width"] == 32
    assert np.abs(read_video(path).astype(int) - switch.astype(int)).mean() < 6      # near-lossless H.264
    views = view_sweep(50, 30.0)
    assert views[0] == 0 and views.max() == pytest.approx(30.0, abs=0.5) and views.min() == pytest.approx(-30.0, abs=0.5)


def test_streamed_video_equals_rendering_then_saving(render_world, tiny_nerf, tmp_path):
    """render_video streams batches into the encoder thread; the mp4 is the one of render_talking_head + save_video,
    also for audio longer than the video and a driving clip shorter than the audio (played back and forth)."""
    from emohead.pipeline import render_video

    a2e, ds, store = render_world["a2e"], render_world["ds"], render_world["store"]
    clip = ds.clips(split="test")[0]
    feats = store.get(clip.id)
    track = driving_track(ds, clip.id, tiny_nerf.image_size).take(np.arange(7))       # 7 frames of the clip
    control = EmotionControl("sad", to="happy", switch_at=0.3)
    audio = np.concatenate([ds.audio(clip), np.zeros(4000, np.float32)])
    frames = render_talking_head(a2e, tiny_nerf, feats, control, track, fps=ds.fps, progress=False)
    whole = save_video(tmp_path / "whole.mp4", frames, ds.fps, audio, ds.sample_rate)
    stats = {}
    streamed = render_video(tmp_path / "streamed.mp4", a2e, tiny_nerf, feats, control, track, fps=ds.fps,
                            audio=audio, sample_rate=ds.sample_rate, progress=False, batch=3, stats=stats)
    assert streamed.read_bytes() == whole.read_bytes()
    assert stats["frames"] == len(frames) == clip.n_frames and stats["seconds"] >= stats["render_seconds"] > 0


def test_a_nerf_for_other_codes_is_refused(render_world, tiny_nerf):
    a2e = render_world["a2e"]
    other = dataclasses.replace(tiny_nerf, code_kind="tag_alpha")
    clip = render_world["ds"].clips(split="test")[0]
    with pytest.raises(NerfModelError, match="no_refinement|'alpha' codes"):
        render_talking_head(a2e, other, render_world["store"].get(clip.id), EmotionControl("sad"),
                            driving_track(render_world["ds"], clip.id, 32), fps=25, progress=False)


def test_cli_train_nerf_and_render(render_world, tmp_path, capsys):
    root = render_world["root"]
    common = ["--profile", "smoke", "--set", "synth.n_actors=1"] + [
        f"--set={k}={v}" for k, v in (("nerf.iterations", 6), ("nerf.refine_start", 3), ("nerf.image_size", 32),
                                      ("nerf.hash_levels", 4), ("nerf.hash_log2_size", 10),
                                      ("nerf.max_resolution", 64), ("nerf.hidden", 16), ("nerf.rays_per_batch", 64),
                                      ("nerf.samples_per_ray", 8), ("nerf.grid_resolution", 8),
                                      ("nerf.max_frames", 20), ("nerf.patch_size", 16))]
    data = str(root / "data")
    assert main(["train-nerf", "--data", data, "--a2e", str(root / "a2e"), "--out", str(tmp_path / "nerf"),
                 *common]) == 0
    assert "PSNR" in capsys.readouterr().out
    clip = render_world["ds"].clips(split="test")[0].id
    assert main(["render", "--data", data, "--a2e", str(root / "a2e"), "--nerf", str(tmp_path / "nerf"),
                 "--out", str(tmp_path / "videos"), "--clip", clip, "--emotion", "fear", "--to", "happy",
                 "--sweep", "--yaw-sweep", "20", *common]) == 0
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and "fear" in videos[0].name and probe_video(videos[0])["has_audio"]
    # any audio file with any tag, driven by a test clip's poses
    import json

    import soundfile as sf

    rec = render_world["ds"].clip(clip)
    sf.write(tmp_path / "speech.wav", render_world["ds"].audio(rec), render_world["ds"].sample_rate)
    (tmp_path / "speech.json").write_text(json.dumps(render_world["ds"].words(rec)))
    assert main(["render", "--data", data, "--a2e", str(root / "a2e"), "--nerf", str(tmp_path / "nerf"),
                 "--out", str(tmp_path / "any"), "--audio", str(tmp_path / "speech.wav"), "--words",
                 str(tmp_path / "speech.json"), "--emotion", "contempt", *common]) == 0
    info = probe_video(tmp_path / "any" / "speech_contempt.mp4")
    assert info["has_audio"] and abs(info["n_frames"] - rec.n_frames) <= 1
    assert main(["render", "--data", data, "--a2e", str(root / "a2e"), "--nerf", str(tmp_path / "nerf"),
                 "--out", str(tmp_path / "any"), "--audio", str(tmp_path / "speech.wav"), *common]) == 2
    assert "--words" in capsys.readouterr().err                     # the dataset transcript backend needs them
    # bad inputs: exit status 2 and a message naming the argument
    assert main(["render", "--data", data, "--a2e", str(tmp_path / "none"), "--nerf", str(tmp_path / "nerf"),
                 "--out", str(tmp_path / "v2"), *common]) == 2
    assert "--a2e" in capsys.readouterr().err
    assert main(["render", "--data", data, "--a2e", str(root / "a2e"), "--nerf", str(tmp_path / "nerf"),
                 "--out", str(tmp_path / "v2"), "--weight", "0.5", *common]) == 2
    assert "--to" in capsys.readouterr().err
    assert main(["train-nerf", "--data", data, "--a2e", str(root / "a2e"), "--out", str(tmp_path / "n2"),
                 "--analyser", str(tmp_path / "missing.safetensors"), *common]) == 2
    assert "--analyser" in capsys.readouterr().err
    # bad audio, transcripts and controls: exit 2 naming the file or setting, and no video written
    words = render_world["ds"].words(rec)
    late = {**words, "words": [*words["words"], {"word": "late", "start": 99.0, "end": 99.5}]}
    (tmp_path / "late.json").write_text(json.dumps(late))
    (tmp_path / "broken.json").write_text('{"words": [')
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really a wave file")
    speech = ["--audio", str(tmp_path / "speech.wav"), "--words", str(tmp_path / "speech.json")]
    for extra, expected in (
            (["--audio", str(tmp_path / "speech.wav"), "--words", str(tmp_path / "late.json")], "late.json"),
            (["--audio", str(tmp_path / "speech.wav"), "--words", str(tmp_path / "broken.json")], "broken.json"),
            (["--audio", str(tmp_path / "noise.wav"), "--words", str(tmp_path / "speech.json")], "noise.wav"),
            ([*speech, "--to", "happy", "--switch-at", "99"], "--switch-at 99"),
            ([*speech, "--to", "happy", "--switch-at", "-5"], "--switch-at -5"),
            ([*speech, "--tau-scale", "-3"], "--tau-scale -3"),
            ([*speech, "--emotion", "joy"], "unknown emotion 'joy'")):
        assert main(["render", "--data", data, "--a2e", str(root / "a2e"), "--nerf", str(tmp_path / "nerf"),
                     "--out", str(tmp_path / "bad"), *extra, *common]) == 2, extra
        assert expected in capsys.readouterr().err, extra
    assert not list((tmp_path / "bad").glob("*.mp4"))
