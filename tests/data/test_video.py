"""The streaming video writer: batches in, the bytes of write_video out; errors and aborts leave no file."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.data import probe_video, write_video
from emohead.data.video import VideoWriter


def _frames(n=9, size=32):
    rng = np.random.default_rng(0)
    frames = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        frames[i, 4 + i:20 + i, 8:24] = (200, 40 + 10 * i, 40)
    frames[:, -6:] = rng.integers(0, 256, (n, 6, size, 3), dtype=np.uint8)
    return frames


def test_batches_encode_to_the_bytes_of_write_video(tmp_path):
    frames = _frames()
    audio = np.random.default_rng(1).standard_normal(16000 * 9 // 25).astype(np.float32) * 0.1
    write_video(tmp_path / "whole.mp4", frames, 25, audio=audio)
    with VideoWriter(tmp_path / "batches.mp4", 25, audio=audio, max_queued=2) as writer:
        for s in range(0, len(frames), 4):
            writer.write(frames[s:s + 4])
        writer.write(np.zeros((0, 32, 32, 3), np.uint8))                    # an empty batch is harmless
    assert (tmp_path / "batches.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()
    assert writer.frames == len(frames) and writer.encode_seconds > 0 and writer.blocked_seconds >= 0
    info = probe_video(tmp_path / "batches.mp4")
    assert info["n_frames"] == len(frames) and info["has_audio"]
    # the conversion inline, one frame at a time: the same bytes again
    with VideoWriter(tmp_path / "inline.mp4", 25, audio=audio, convert_threads=0) as writer:
        for frame in frames:
            writer.write(frame)
    assert (tmp_path / "inline.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()


def test_bad_frames_and_aborts_leave_no_file(tmp_path):
    frames = _frames(3)
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "a.mp4", 25) as writer:
            writer.write(frames.astype(np.float32))
    with pytest.raises(ValueError, match="even"):
        with VideoWriter(tmp_path / "b.mp4", 25) as writer:
            writer.write(frames[:, :31])
    with pytest.raises(ValueError, match="differs from the first"):
        with VideoWriter(tmp_path / "c.mp4", 25) as writer:
            writer.write(frames)
            writer.write(frames[:, :16, :16])
    with pytest.raises(KeyError):                                          # the caller fails mid-way
        with VideoWriter(tmp_path / "d.mp4", 25) as writer:
            writer.write(frames)
            raise KeyError("renderer failed")
    with pytest.raises(ValueError, match="no frames"):
        VideoWriter(tmp_path / "e.mp4", 25).close()
    with pytest.raises(ValueError, match="threads"):
        VideoWriter(tmp_path / "f.mp4", 25, threads=-1)
    assert sorted(p.name for p in tmp_path.iterdir()) == []                # no video, no temporary file


def test_an_encoder_error_reaches_the_caller(tmp_path):
    (tmp_path / "folder.mp4").mkdir()                                       # cannot be replaced by a file
    writer = VideoWriter(tmp_path / "folder.mp4", 25)
    writer.write(_frames(2))
    with pytest.raises(OSError):
        writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["folder.mp4"]


def test_several_encoder_threads_write_a_playable_file(tmp_path):
    frames = _frames(12)
    with VideoWriter(tmp_path / "t2.mp4", 25, threads=2) as writer:
        writer.write(frames)
    assert probe_video(tmp_path / "t2.mp4")["n_frames"] == 12
