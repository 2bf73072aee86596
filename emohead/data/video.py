"""MP4 read/write through PyAV (H.264 video, optional AAC audio track).

Frames are uint8 RGB arrays [T, H, W, 3]. Encoding is single-threaded by default, with explicit timestamps,
fully initialised frame buffers and x264's mbtree off, so the same frames give the same bytes.
:class:`VideoWriter` takes frames batch by batch and encodes them on a background thread (a renderer feeds it
without waiting for x264); :func:`write_video` writes a whole array through it.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..files import atomic_path


def write_video(path: str | Path, frames: np.ndarray, fps: int, *, audio: np.ndarray | None = None,
                sample_rate: int = 16000, crf: int = 12, threads: int = 1) -> Path:
    """Write ``frames`` [T, H, W, 3] uint8 as H.264 mp4 (atomically), muxing mono ``audio`` [S] if given.

    H and W must be even (yuv420p); ``crf`` 12 is visually lossless. ``threads``: x264 threads (1: the same
    frames give the same bytes everywhere; a fixed other count repeats on its own, 0 lets x264 choose).
    Frames that arrive batch by batch (a renderer): :class:`VideoWriter`.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError(f"{path}: no frames to write")
    with VideoWriter(path, fps, audio=audio, sample_rate=sample_rate, crf=crf, threads=threads) as writer:
        writer.write(frames)
    return Path(path)


_DONE = object()


class _Aborted(Exception):
    pass


class VideoWriter:
    """An mp4 (H.264, optional AAC track) written from uint8 RGB batches by a background thread.

    ``write`` hands frames over and returns at once (it waits only while ``max_queued`` frames are still waiting
    for the encoder): the caller (a renderer) goes on with the next batch while the frames are converted to YUV
    (``convert_threads`` threads; NumPy releases the GIL) and encoded (PyAV releases it too). ``close`` (or leaving
    the ``with`` block) finishes the file atomically; leaving it on an exception discards it. The bytes are those
    of :func:`write_video` for the same frames and settings. ``blocked_seconds``: how long ``write`` waited for the
    encoder (0 when the renderer was never held up); ``encode_seconds``: the encoder thread's time in x264.
    """

    def __init__(self, path: str | Path, fps: int, *, audio: np.ndarray | None = None, sample_rate: int = 16000,
                 crf: int = 12, threads: int = 1, max_queued: int = 256, convert_threads: int = 2):
        if int(threads) < 0:
            raise ValueError(f"{path}: encoder threads must be >= 0 (0 = x264 chooses), got {threads}")
        self.path, self.fps, self.crf, self.threads = Path(path), int(fps), int(crf), int(threads)
        self.audio = None if audio is None else np.asarray(audio, np.float32)
        self.sample_rate = int(sample_rate)
        self.frames = 0
        self.blocked_seconds = 0.0
        self.encode_seconds = 0.0
        self._size: tuple[int, int] | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(max_queued)))
        self._pool = ThreadPoolExecutor(convert_threads, thread_name_prefix="yuv") if convert_threads > 0 else None
        self._error: BaseException | None = None
        self._abort = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"video writer {self.path.name}", daemon=True)
        self._thread.start()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: np.ndarray) -> None:
        """Queue uint8 RGB frames [B, H, W, 3] (or one [H, W, 3]); every frame the same even size."""
        if self._closed:
            raise ValueError(f"{self.path}: the video writer is closed")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{self.path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
        h, w = frames.shape[1:3]
        if self._size is None:
            if h % 2 or w % 2:
                raise ValueError(f"{self.path}: frame size {w}x{h} must be even for yuv420p")
            self._size = (h, w)
        elif (h, w) != self._size:
            raise ValueError(f"{self.path}: frame size {w}x{h} differs from the first frames' "
                             f"{self._size[1]}x{self._size[0]}")
        for frame in frames:
            self._put(self._pool.submit(rgb_to_yuv420p, frame) if self._pool is not None else frame)
            self.frames += 1

    def close(self) -> Path:
        """Encode what is queued, mux the audio and move the file into place; raises what went wrong in the thread."""
        if not self._closed:
            self._closed = True
            self._finish()
        if self._error is not None:
            raise self._error
        if self.frames == 0:
            raise ValueError(f"{self.path}: no frames to write")
        return self.path

    def abort(self) -> None:
        """Stop without writing the file (a temporary file is removed)."""
        if not self._closed:
            self._closed = True
            self._abort = True
            self._finish()

    def _finish(self) -> None:
        if self._thread.is_alive():
            try:
                self._put(_DONE)
            except BaseException:          # the thread failed meanwhile: its error is kept in self._error
                pass
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _put(self, item) -> None:
        t0 = time.perf_counter()
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.path}: the video writer's thread has stopped")
            try:
                self._queue.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        self.blocked_seconds += time.perf_counter() - t0

    def _run(self) -> None:
        try:
            item = self._queue.get()
            if item is _DONE:
                return
            h, w = self._size
            with atomic_path(self.path) as tmp:
                with av.open(str(tmp), mode="w", format="mp4") as container:
                    stream = container.add_stream("libx264", rate=self.fps)
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                    stream.codec_context.thread_count = self.threads
                    # mbtree=0: x264's macroblock-tree rate control gave run-to-run differences here
                    # (seen under pytest, ~1 encode in 5); without it the output is a function of the frames.
                    stream.codec_context.options = {"crf": str(self.crf), "preset": "medium",
                                                    "threads": str(self.threads), "x264-params": "mbtree=0"}
                    a_stream = None
                    if self.audio is not None:
                        a_stream = container.add_stream("aac", rate=self.sample_rate)
                        a_stream.layout = "mono"
                    index = 0
                    while item is not _DONE:
                        if self._abort:
                            raise _Aborted()
                        yuv = item.result() if isinstance(item, Future) else rgb_to_yuv420p(item)
                        t0 = time.perf_counter()
                        frame = _planes_frame(yuv, h, w)
                        frame.pts, frame.time_base = index, Fraction(1, self.fps)
                        for packet in stream.encode(frame):
                            container.mux(packet)
                        self.encode_seconds += time.perf_counter() - t0
                        index += 1
                        item = self._queue.get()
                    if self._abort:
                        raise _Aborted()
                    for packet in stream.encode():
                        container.mux(packet)
                    if a_stream is not None:
                        _mux_audio(container, a_stream, self.audio, self.sample_rate)
        except _Aborted:
            pass
        except BaseException as err:       # handed to the caller by write() / close()
            self._error = err
            while True:                    # let a writer blocked on a full queue see it
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break


def _yuv_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An encoder-ready yuv420p frame whose every byte is set, row padding included.

    ``VideoFrame.from_ndarray`` leaves the padding at the end of each row uninitialised; filling the
    planes ourselves (and converting colour in NumPy) keeps every input byte of the encoder a
    function of the frames, part of making the same frames encode to the same bytes.
    """
    h, w, _ = rgb.shape
    return _planes_frame(rgb_to_yuv420p(rgb), h, w)


def _planes_frame(yuv: np.ndarray, h: int, w: int) -> av.VideoFrame:
    """A yuv420p frame from planar YUV [H * 3 / 2, W] (``rgb_to_yuv420p``), padding bytes zeroed."""
    flat = yuv.ravel()
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
