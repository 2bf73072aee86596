"""Decode raw videos and audio with PyAV: RGB frames at 25 fps, audio at 16 kHz mono.

Video: every output frame k (time ``start + k / fps`` on the video's own clock, 0 = its first frame) is the frame
*shown* at that time: the last decoded frame whose timestamp is <= that time. This resamples any frame rate,
variable ones included (phones), without assuming a constant frame interval. A display-rotation tag (portrait
phone videos) is applied. A file that cannot be opened or decoded, or that decodes to clearly less than the
duration its header declares (truncated), raises :class:`MediaError` naming the file.

Audio: the first audio stream, resampled by FFmpeg's resampler to 16 kHz, channels averaged to mono (with a
warning). Audio taken from a file that also holds video is put on the video's clock (0 = the first frame).

Lengths (:func:`match_lengths`): the clip keeps T = min(video frames, whole frames of audio); a video longer than
its audio is trimmed to the audio, a longer audio is trimmed to the video, each with a warning when they differ by
more than one frame (40 ms); the audio is then cut to exactly T * 640 samples.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FPS = 25
SAMPLE_RATE = 16000
TRUNCATION_SLACK = 0.5
"""Seconds a decoded stream may fall short of its declared duration before it counts as truncated (ours)."""


class MediaError(ValueError):
    """A video or audio file that cannot be used (names the file and why)."""


@dataclass(frozen=True)
class MediaInfo:
    """What a file's header says (nothing decoded): seconds, video size (0 without video), audio presence."""

    path: Path
    duration: float
    width: int
    height: int
    fps: float
    has_video: bool
    has_audio: bool


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise MediaError(f"{path}: cannot open as audio/video ({err}); the file is corrupt, truncated or not media") \
            from None


def probe_media(path: str | Path) -> MediaInfo:
    """Duration (container header, else streams), size and streams of a media file."""
    with _open(path) as container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        duration = _declared_duration(container)
        return MediaInfo(path=Path(path), duration=duration or 0.0, width=v.width if v else 0,
                         height=v.height if v else 0,
                         fps=float(v.average_rate) if v is not None and v.average_rate else 0.0,
                         has_video=v is not None, has_audio=a is not None)


def _declared_duration(container) -> float | None:
    if container.duration:                                   # microseconds
        return float(container.duration) / 1e6
    for s in list(container.streams.video) + list(container.streams.audio):
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
    return None


def _stream_start(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def decode_video(path: str | Path, *, fps: int = FPS, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Frames uint8 RGB [T, H, W, 3] at ``fps`` covering [start, end) seconds (end None: the whole video).

    Output frame k is the decoded frame shown at ``start + k / fps`` (the last one with timestamp <= that time).
    The video ends where its last frame's display ends (its timestamp + the median frame interval).
    """
    import av

    path = Path(path)
    frames: list[np.ndarray] = []
    k = 0                                           # next output frame, at time start + k / fps

    def emit_until(limit: float, shown: list) -> None:
        nonlocal k
        while True:
            tau = start + k / fps
            if tau >= limit - 1e-6 or (end is not None and tau >= end - 1e-6):
                return
            frames.append(_rgb(shown))
            k += 1

    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0 = _stream_start(stream)
        declared = _declared_video_duration(container)
        if start > 0:
            container.seek(int((start + t0) / stream.time_base), stream=stream, backward=True)
        prev: list | None = None                    # [av.VideoFrame, its RGB array once converted]
        prev_t = 0.0
        intervals: list[float] = []
        index = 0
        try:
            for frame in container.decode(stream):
                t = (frame.time - t0) if frame.time is not None else index / float(stream.average_rate or fps)
                index += 1
                if prev is not None and t > prev_t:
                    emit_until(t, prev)
                    intervals.append(t - prev_t)
                    if end is not None and start + k / fps >= end - 1e-6:
                        prev = None
                        break
                prev, prev_t = [frame, None], max(t, prev_t) if prev is not None else t
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: cannot decode video after {len(frames)} frames ({err}); the file is corrupt "
                             "or truncated") from None
        if prev is not None:                        # the last frame stays on screen for one frame interval
            dt = float(np.median(intervals)) if intervals else 1.0 / float(stream.average_rate or fps)
            emit_until(prev_t + dt, prev)
            if end is None and start == 0 and declared is not None:
                dur, slack = declared
                if prev_t + dt < dur - slack:
                    raise MediaError(f"{path}: decoded {prev_t + dt:.2f} s of video but the file declares "
                                     f"{dur:.2f} s; it is truncated or damaged")
    if not frames:
        where = "" if start == 0 and end is None else f" between {start:.2f} s and {end} s"
        raise MediaError(f"{path}: contains no video frames{where}")
    return np.stack(frames)


def _declared_video_duration(container) -> tuple[float, float] | None:
    """(declared seconds, allowed shortfall): the video stream's own duration, else the container's (looser)."""
    v = container.streams.video[0]
    if v.duration and v.time_base:
        return float(v.duration * v.time_base), TRUNCATION_SLACK
    if container.duration:
        d = float(container.duration) / 1e6         # may be the audio's: allow more
        return d, max(1.0, 0.1 * d)
    return None


def _rgb(entry: list) -> np.ndarray:
    """The RGB array of a decoded frame (converted once, rotated upright by its display-rotation tag)."""
    if entry[1] is None:
        frame = entry[0]
        img = frame.to_ndarray(format="rgb24")
        k = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
        entry[1] = np.ascontiguousarray(np.rot90(img, k)) if k else img
    return entry[1]


def decode_audio(path: str | Path, *, sample_rate: int = SAMPLE_RATE, start: float = 0.0,
                 end: float | None = None) -> np.ndarray:
    """Audio float32 mono [S] at ``sample_rate`` covering [start, end) seconds of the file's first audio stream.

    Multi-channel audio is averaged to mono (a warning names the file). In a file that also holds video,
    time 0 is the video's first frame (the audio is padded with silence or cut at its head to match).
    """
    import av

    path = Path(path)
    chunks: list[np.ndarray] = []
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        has_video = bool(container.streams.video)
        offset = _stream_start(stream) - _stream_start(container.streams.video[0]) if has_video else 0.0
        declared = _declared_duration(container)
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as err:
            raise MediaError(f"{path}: cannot decode audio ({err}); the file is corrupt or truncated") from None
    if not chunks:
        raise MediaError(f"{path}: contains no audio samples")
    audio = np.concatenate(chunks, axis=1)                     # [C, S]
    if max(audio.shape[0], channels) > 1:
        log.warning("%s: %d audio channels, averaged to mono", path, max(audio.shape[0], channels))
    x = audio.astype(np.float64).mean(axis=0)
    seconds = len(x) / sample_rate
    if not has_video and declared and start == 0 and end is None and seconds < declared - TRUNCATION_SLACK:
        raise MediaError(f"{path}: decoded {seconds:.2f} s of audio but the file declares {declared:.2f} s; "
                         "it is truncated or damaged")
    shift = int(round(offset * sample_rate))
    if shift > 0:
        x = np.concatenate([np.zeros(shift), x])
    elif shift < 0:
        x = x[-shift:]
    a = int(round(start * sample_rate))
    b = None if end is None else int(round(end * sample_rate))
    x = x[a:b]
    if not np.isfinite(x).all():
        raise MediaError(f"{path}: the audio contains NaN or inf samples")
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def match_lengths(n_frames: int, audio: np.ndarray, *, fps: int = FPS, sample_rate: int = SAMPLE_RATE,
                  where: str = "clip") -> tuple[int, np.ndarray]:
    """(T, audio [T * sample_rate / fps]): the common length of a video of ``n_frames`` and its audio.

    A video longer than its audio is trimmed to the audio's whole frames; a longer audio is trimmed to the video.
    Differences above one frame are logged as warnings naming ``where``.
    """
    per_frame = sample_rate / fps
    audio_frames = int(np.floor(len(audio) / per_frame + 1e-6))
    if audio_frames < 1:
        raise MediaError(f"{where}: the audio is shorter than one video frame ({len(audio)} samples)")
    if audio_frames < n_frames - 1:
        log.warning("%s: the audio (%.2f s) is shorter than the video (%.2f s): the video is trimmed to the audio",
                    where, len(audio) / sample_rate, n_frames / fps)
    elif audio_frames > n_frames + 1:
        log.warning("%s: the audio (%.2f s) is longer than the video (%.2f s): the audio is trimmed to the video",
                    where, len(audio) / sample_rate, n_frames / fps)
    t = min(n_frames, audio_frames)
    return t, np.asarray(audio[:int(round(t * per_frame))], np.float32)
