"""MP4 read/write through PyAV (H.264 video, optional AAC audio track).

Frames are uint8 RGB arrays [T, H, W, 3]. Encoding is single-threaded, with explicit timestamps,
fully initialised frame buffers and x264's mbtree off, so the same frames give the same bytes.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..files import atomic_path


def write_video(path: str | Path, frames: np.ndarray, fps: int, *, audio: np.ndarray | None = None,
                sample_rate: int = 16000, crf: int = 12) -> Path:
    """Write ``frames`` [T, H, W, 3] uint8 as H.264 mp4 (atomically), muxing mono ``audio`` [S] if given.

    H and W must be even (yuv420p); ``crf`` 12 is visually lossless.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError(f"{path}: no frames to write")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: frame size {w}x{h} must be even for yuv420p")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.thread_count = 1
            # mbtree=0: x264's macroblock-tree rate control gave run-to-run differences here
            # (seen under pytest, ~1 encode in 5); without it the output is a function of the frames.
            stream.codec_context.options = {"crf": str(crf), "preset": "medium", "threads": "1",
                                            "x264-params": "mbtree=0"}
            a_stream = None
            if audio is not None:
                a_stream = container.add_stream("aac", rate=sample_rate)
                a_stream.layout = "mono"
            for index, frame in enumerate(frames):
                yuv = _yuv_frame(frame)
                yuv.pts, yuv.time_base = index, Fraction(1, fps)
                for packet in stream.encode(yuv):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
            if a_stream is not None:
                _mux_audio(container, a_stream, np.asarray(audio, np.float32), sample_rate)
    return Path(path)


def _yuv_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An encoder-ready yuv420p frame whose every byte is set, row padding included.

    ``VideoFrame.from_ndarray`` leaves the padding at the end of each row uninitialised; filling the
    planes ourselves (and converting colour in NumPy) keeps every input byte of the encoder a
    function of the frames, part of making the same frames encode to the same bytes.
    """
    h, w, _ = rgb.shape
    flat = rgb_to_yuv420p(rgb).ravel()
    sizes = [h * w, (h // 2) * (w // 2), (h // 2) * (w // 2)]
    frame = av.VideoFrame(w, h, "yuv420p")
    start = 0
    for plane, size in zip(frame.planes, sizes):
        data = flat[start:start + size].reshape(plane.height, plane.width)
        start += size
        padded = np.zeros((plane.height, plane.line_size), np.uint8)
        padded[:, :plane.width] = data
        plane.update(padded)
    return frame


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> planar YUV 4:2:0 [H * 3 / 2, W], BT.601 limited range (FFmpeg's default)."""
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape
    planes = [y, _average_2x2(u), _average_2x2(v)]  # chroma at half resolution
    flat = np.concatenate([np.rint(p).ravel() for p in planes])
    return np.clip(flat, 0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


def _average_2x2(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _mux_audio(container, stream, audio: np.ndarray, sample_rate: int) -> None:
    chunk = 1024
    pcm = np.clip(audio.reshape(-1), -1.0, 1.0).astype(np.float32)
    for start in range(0, len(pcm), chunk):
        piece = pcm[start:start + chunk][None, :]
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def read_video(path: str | Path) -> np.ndarray:
    """Decode every video frame of ``path`` as uint8 RGB [T, H, W, 3]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.error.FFmpegError as err:
        raise ValueError(f"{path}: cannot decode video ({err})") from None
    if not frames:
        raise ValueError(f"{path}: contains no video frames")
    return np.stack(frames)


def probe_video(path: str | Path) -> dict:
    """Frame count, fps, size and whether an audio stream is present."""
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        n = sum(1 for _ in container.decode(video=0))
        return {"n_frames": n, "fps": float(v.average_rate), "width": v.width, "height": v.height,
                "has_audio": len(container.streams.audio) > 0}
