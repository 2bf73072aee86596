"""Decoding raw media: variable frame rate to 25 fps, stereo to mono, damaged files named, lengths matched."""
from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
import pytest

from emohead.prepare.media import MediaError, decode_audio, decode_video, match_lengths, probe_media
from .prepare_fakes import frame_ids, frames_pattern, tone, write_flv, write_m4a, write_mp4, write_wav


def write_vfr(path, times, size=32):
    """An H.264 mp4 whose frame i (a flat grey of level 20 i) has presentation time times[i] (ms clock)."""
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=1000)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            img = np.full((size, size, 3), 20 * i, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_variable_frame_rate_is_resampled_by_timestamp(tmp_path):
    times = [0.0, 0.03, 0.05, 0.11, 0.2, 0.21, 0.3, 0.41]            # irregular: 10-110 ms apart
    write_vfr(tmp_path / "vfr.mp4", times)
    frames = decode_video(tmp_path / "vfr.mp4")
    # output k at k / 25 s shows the last input frame with time <= k / 25; the last one lasts the median interval
    taus = np.arange(len(frames)) / 25
    expected = [max(i for i, t in enumerate(times) if t <= tau + 1e-9) for tau in taus]
    assert len(frames) == 12                                         # 0.41 s + 0.06 s median interval
    assert np.abs(frames[:, 16, 16, 0].astype(int) - 20 * np.array(expected)).max() <= 3
    assert expected == [0, 1, 2, 3, 3, 4, 5, 5, 6, 6, 6, 7]


def test_constant_rates_and_time_ranges(tmp_path):
    f30 = frames_pattern(30, (48, 64))                               # 1 s at 30 fps: frame k marked k * 9
    write_mp4(tmp_path / "v30.mp4", f30, 30)
    out = decode_video(tmp_path / "v30.mp4")
    assert out.shape == (25, 48, 64, 3)
    shown = np.floor(np.arange(25) / 25 * 30 + 1e-9).astype(int)    # 30 fps frame on screen at k / 25
    assert (frame_ids(out) == shown).all()
    part = decode_video(tmp_path / "v30.mp4", start=0.4, end=0.8)
    assert len(part) == 10 and frame_ids(part)[0] == 12
    write_flv(tmp_path / "v.flv", f30, 30)                           # CREMA-D's container and codec
    assert decode_video(tmp_path / "v.flv").shape == (25, 48, 64, 3)
    assert probe_media(tmp_path / "v.flv").has_video


def test_stereo_audio_is_downmixed_with_a_warning(tmp_path, caplog):
    write_m4a(tmp_path / "st.m4a", tone(1.0), sample_rate=44100, channels=2)
    with caplog.at_level(logging.WARNING):
        audio = decode_audio(tmp_path / "st.m4a")
    assert "st.m4a: 2 audio channels, averaged to mono" in caplog.text
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) < 0.05 * 16000                    # AAC adds its encoder delay
    assert 0.25 < np.abs(audio[4000:12000]).max() < 0.35             # the 0.3 tone survives (mean of equal channels)
    write_wav(tmp_path / "m.wav", tone(0.5), 16000)
    assert np.allclose(decode_audio(tmp_path / "m.wav"), tone(0.5), atol=1e-3)


def test_damaged_files_are_named(tmp_path):
    write_mp4(tmp_path / "ok.mp4", frames_pattern(50, (48, 64)), 25, audio=tone(2.0))
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    with pytest.raises(MediaError, match="cut.mp4"):
        decode_video(tmp_path / "cut.mp4")
    write_flv(tmp_path / "ok.flv", frames_pattern(90, (48, 64)), 30)    # streamable: decodes up to the cut
    data = (tmp_path / "ok.flv").read_bytes()
    (tmp_path / "cut.flv").write_bytes(data[:len(data) // 3])
    with pytest.raises(MediaError, match="cut.flv.*truncated"):
        decode_video(tmp_path / "cut.flv")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(MediaError, match="text.mp4"):
        decode_video(tmp_path / "text.mp4")
    with pytest.raises(MediaError, match="no audio stream"):
        decode_audio(tmp_path / "ok.flv")
    with pytest.raises(MediaError, match="no such file"):
        decode_video(tmp_path / "none.mp4")


def test_lengths_are_matched(caplog):
    with caplog.at_level(logging.WARNING):
        n, audio = match_lengths(50, np.zeros(16000, np.float32), where="clip 'x'")   # 2 s video, 1 s audio
    assert n == 25 and len(audio) == 16000
    assert "clip 'x': the audio (1.00 s) is shorter than the video (2.00 s): the video is trimmed" in caplog.text
    n, audio = match_lengths(25, np.zeros(40000, np.float32))
    assert n == 25 and len(audio) == 16000
    n, audio = match_lengths(25, np.zeros(16300, np.float32))                      # within a frame: silent
    assert n == 25 and len(audio) == 16000
    with pytest.raises(MediaError, match="shorter than one video frame"):
        match_lengths(25, np.zeros(100, np.float32))
