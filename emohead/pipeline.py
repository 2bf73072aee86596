"""The one inference path: audio + an emotion control -> alpha^ -> frames -> an mp4 with sound (Sec. III, Fig. 2).

    audio (+ words) -> features v~, e~, g~            :func:`read_speech`, :func:`audio_features` (Sec. III-A)
    features -> alpha~ [T, m], tau [T]                   emohead.audio2exp.predict          (eq. 1-8)
    emotion control -> per-frame (w, mu)                 :class:`EmotionControl`, Audio2Expression.refinement (App. B)
    alpha^ = mu + alpha~ + tau w  (or [z; alpha~])      :func:`expression_codes` -> emotion.editing.refine (eq. 9)
    alpha^ + a driving track's head poses -> head NeRF -> over the track's torso and background -> frames
                                                         :func:`render_talking_head` -> HeadNerf.render_frames
    frames + audio -> mp4                                :func:`save_video`; rendering streamed into the mp4
                                                         (device compositing, encoder thread): :func:`render_video`

The CLI's ``render``, the widgets, the evaluation systems and the notebooks all go through this module.

The driving track supplies what audio cannot: head poses and the torso layer. As in AD-NeRF it is a clip of the
same person (its poses and frames), played forward and backward to cover audio of any length.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio2exp.inference import predict
from .emotion.editing import switch_weights
from .render.frames import resize_frames
from .render.model import HeadNerf, NerfModelError
from .render.training import code_kind_for_variant


@dataclass
class DrivingTrack:
    """Head poses and torso layer of T frames: frames uint8 [T, S, S, 3], parsing [T, S, S], R [T, 3, 3], t [T, 3]."""

    frames: np.ndarray
    parsing: np.ndarray
    R: np.ndarray
    t: np.ndarray

    def __len__(self) -> int:
        return len(self.R)

    def take(self, idx: np.ndarray) -> "DrivingTrack":
        return DrivingTrack(self.frames[idx], self.parsing[idx], self.R[idx], self.t[idx])

    def fit(self, n_frames: int) -> "DrivingTrack":
        """The track played forward, backward, forward ... until it has ``n_frames`` frames (no jump at the seams)."""
        return self.take(self.fit_index(n_frames))

    def fit_index(self, n_frames: int) -> np.ndarray:
        """The frame indices [n_frames] of :meth:`fit`."""
        n = len(self)
        period = max(1, 2 * n - 2)
        k = np.arange(n_frames) % period
        return np.where(k < n, k, period - k)


class _Taken:
    """``array[index]`` read slice by slice (a minute of 512 px frames is 1.2 GB; a renderer needs a batch)."""

    def __init__(self, array: np.ndarray, index: np.ndarray):
        self.array, self.index = array, index
        self.shape = (len(index),) + tuple(array.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key):
        return self.array[self.index[key]]


def driving_track(ds: Any, clip_id: str, image_size: int | None = None) -> DrivingTrack:
    """The poses, frames and parsing of a dataset clip (frames resized to ``image_size``)."""
    rec = ds.clip(clip_id)
    arrays = ds.arrays(rec, ["pose_R", "pose_t", "parsing"])
    frames, parsing = ds.frames(rec), arrays["parsing"]
    if image_size:
        frames, parsing = resize_frames(frames, parsing, image_size)
    return DrivingTrack(frames, parsing.astype(np.uint8), arrays["pose_R"].astype(np.float32),
                        arrays["pose_t"].astype(np.float32))


@dataclass(frozen=True)
class EmotionControl:
    """Which normal w refines alpha~ at each frame (eq. 9).

    emotion alone: its tag. With ``to``: a blend (1 - weight) w_emotion + weight w_to, or, with ``switch_at``
    (seconds), w_emotion until then and a linear ramp of ``ramp`` seconds to w_to (App. B (3)). ``tau_scale``
    multiplies the predicted refinement weight tau and, for a model with anchors, moves the anchor that far from the
    neutral one (emotion intensity; 1 = as predicted, 0 = neutral).
    """

    emotion: str
    to: str | None = None
    weight: float = 0.0
    switch_at: float | None = None
    ramp: float = 0.5
    tau_scale: float = 1.0

    def weights(self, n_frames: int, fps: float) -> np.ndarray:
        """Per-frame weight of ``to`` [T] in [0, 1]."""
        if self.to is None:
            return np.zeros(n_frames, np.float32)
        if self.switch_at is not None:
            return switch_weights(n_frames, fps, self.switch_at, self.ramp).astype(np.float32)
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"blend weight must lie in [0, 1], got {self.weight}")
        return np.full(n_frames, self.weight, np.float32)

    def label(self) -> str:
        if self.to is None:
            return self.emotion
        if self.switch_at is not None:
            return f"{self.emotion}->{self.to}@{self.switch_at:g}s"
        return f"{self.emotion}+{self.to}x{self.weight:g}"


def expression_codes(a2e: Any, prediction: Any, control: EmotionControl, fps: float) -> np.ndarray:
    """The renderer's codes [T, m] for an audio-expression prediction under an emotion control.

    Full / no_alignment variants: alpha^ = alpha~ + (tau_scale tau) w (eq. 9), w blended per frame; a model with
    anchors adds mu, blended likewise and moved ``tau_scale`` of the way from the neutral anchor.
    no_refinement: [z; alpha~] with z the (blended) tag index.
    """
    for name in (control.emotion, control.to):
        if name is not None and name not in a2e.emotions:
            raise KeyError(f"unknown emotion {name!r}; the audio-expression model knows {list(a2e.emotions)}")
    n = len(prediction.tau)
    w = control.weights(n, fps)                                              # [T]
    per_frame, anchors = a2e.refinement(control.emotion, control.to, w,      # w and mu blended per frame, [T, m]
                                        intensity=control.tau_scale)
    za = float(a2e.emotions.index(control.emotion))
    zb = float(a2e.emotions.index(control.to)) if control.to is not None else za
    scaled = type(prediction)(alpha_tilde=prediction.alpha_tilde, tau=prediction.tau * control.tau_scale)
    return a2e.expression_code(scaled, per_frame, tag_value=(1.0 - w) * za + w * zb,
                               anchors=anchors).astype(np.float32)


def check_pairing(a2e: Any, nerf: HeadNerf) -> None:
    """The NeRF must read the codes this audio-expression model makes (alpha^ or [z; alpha~])."""
    want = code_kind_for_variant(a2e.cfg.variant)
    if want != nerf.code_kind:
        raise NerfModelError(f"the audio-expression model (variant {a2e.cfg.variant!r}) makes {want!r} codes but the "
                             f"NeRF was trained on {nerf.code_kind!r} codes; train the NeRF with --a2e of that model")


def render_talking_head(a2e: Any, nerf: HeadNerf, features: Any, control: EmotionControl, track: DrivingTrack, *,
                        fps: float, yaw: Sequence[float] | float = 0.0, progress: bool = True) -> np.ndarray:
    """Frames uint8 [T, H, W, 3] of the person speaking ``features``' audio with ``control``'s emotion."""
    check_pairing(a2e, nerf)
    pred = predict(a2e, features)
    codes = expression_codes(a2e, pred, control, fps)
    drive = track.fit(len(codes))
    return nerf.render_frames(codes, drive.R, drive.t, drive.frames, drive.parsing, yaw=yaw, progress=progress,
                              desc=f"rendering {control.label()}")


def read_speech(audio_path: str | Path, words_path: str | Path | None = None) -> tuple[np.ndarray, int, Any]:
    """New speech to drive the head: (audio mono float32 [N], sample rate, words or None).

    audio_path: WAV, FLAC or OGG (several channels are averaged, with a warning); words_path: a JSON transcript with
    word times, checked against the audio's duration. Errors are ValueErrors naming the option and the file.
    """
    import json
    import logging

    import soundfile as sf

    from .data.validate import DatasetError, validate_words

    if not Path(audio_path).is_file():
        raise ValueError(f"--audio {audio_path}: no such file")
    try:
        audio, sr = sf.read(audio_path, dtype="float32", always_2d=True)
    except RuntimeError as err:                                  # soundfile's LibsndfileError
        raise ValueError(f"--audio {audio_path}: cannot read it as audio ({err}); use WAV, FLAC or OGG") from None
    if len(audio) == 0:
        raise ValueError(f"--audio {audio_path}: holds no samples")
    if audio.shape[1] > 1:
        logging.getLogger(__name__).warning("--audio %s: %d channels (stereo); downmixed to mono", audio_path,
                                            audio.shape[1])
    audio = audio.mean(axis=1)
    words = None
    if words_path is not None:
        try:
            words = json.loads(Path(words_path).read_text(encoding="utf-8"))
            validate_words(words, duration=len(audio) / sr, where=f"--words {words_path}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"--words {words_path}: not a readable JSON transcript ({err})") from None
        except DatasetError as err:
            raise ValueError(str(err)) from None
    return audio, int(sr), words


def audio_features(features_cfg: Any, audio: np.ndarray, sample_rate: int, fps: int, words: Any = None, *,
                   device: Any = "cpu", name: str = "audio") -> Any:
    """Features (v~, e~, g~) [T, D] of new audio (mono float [N]) at ``fps``, T = floor(N / sample_rate * fps).

    ``words``: the transcript with times (the dataset backend needs it; FunASR transcribes instead).
    """
    from .features import build_extractors, extract_clip

    n_frames = int(len(audio) / sample_rate * fps)
    return extract_clip(build_extractors(features_cfg, device=device), audio, sample_rate, n_frames, fps, words,
                        clip_id=name)


def _fit_audio(audio: np.ndarray | None, n_frames: int, fps: float, sample_rate: int) -> np.ndarray | None:
    """Mono audio trimmed / zero-padded to ``n_frames`` frames at ``fps``."""
    if audio is None:
        return None
    n = int(round(n_frames * sample_rate / fps))
    audio = np.asarray(audio, np.float32)[:n]
    return np.pad(audio, (0, n - len(audio)))


ENCODER_THREADS = 4
"""x264 threads of the videos the pipeline writes. A fixed count, so the same frames give the same bytes on any
machine (x264 is deterministic for a given thread count). On the H200 a 60 s 512 px clip took 14.4 s with 4 threads,
the renderer never waiting for the encoder, and 26.7 s with 1 (the renderer waited 8.2 s): benchmarks/video_speed.py.
With the fused MLP kernels the renderer outpaces 4 threads (12.5 s, of which the renderer waited 2.0 s); `emohead
render --encoder-threads` takes more."""


def save_video(path: str | Path, frames: np.ndarray, fps: float, audio: np.ndarray | None, sample_rate: int) -> Path:
    """mp4 (H.264, yuv420p) with the audio muxed in, written atomically; audio trimmed / padded to the frames."""
    from .data.video import write_video              # PyAV (large) only when a video is written

    return write_video(path, frames, int(round(fps)), audio=_fit_audio(audio, len(frames), fps, sample_rate),
                       sample_rate=sample_rate, threads=ENCODER_THREADS)


def write_talking_head_video(path: str | Path, nerf: HeadNerf, codes: np.ndarray, track: DrivingTrack, *,
                             fps: float, audio: np.ndarray | None, sample_rate: int,
                             yaw: Sequence[float] | float = 0.0, progress: bool = True, desc: str = "rendering",
                             batch: int | None = None, compositing: str = "device",
                             encoder_threads: int = ENCODER_THREADS, march: dict | None = None,
                             stats: dict | None = None) -> Path:
    """Render ``codes`` [T, m] with the driving track's poses and torso, straight into an mp4 with ``audio``.

    Frames are never all held: each batch is rendered and composited on the NeRF's device, copied to the host once
    and handed to a :class:`~emohead.data.video.VideoWriter`, whose thread converts and encodes it while the device
    renders the next batch. The file equals ``save_video`` of ``render_frames``' output. ``stats`` (a dict) receives
    frames, seconds, render_blocked_seconds (time the renderer waited for the encoder) and encode_seconds.
    """
    import time

    from tqdm.auto import tqdm

    from .data.video import VideoWriter

    t0 = time.perf_counter()
    n = len(codes)
    idx = track.fit_index(n)
    frames, parsing = _Taken(track.frames, idx), _Taken(track.parsing, idx)
    bar = tqdm(total=n, desc=desc, unit="frame", disable=not progress)
    with VideoWriter(path, int(round(fps)), audio=_fit_audio(audio, n, fps, sample_rate), sample_rate=sample_rate,
                     threads=encoder_threads) as writer:
        for chunk in nerf.iter_frames(codes, track.R[idx], track.t[idx], frames, parsing, yaw=yaw, batch=batch,
                                      compositing=compositing, march=march):
            writer.write(chunk)
            bar.update(len(chunk))
        rendered = time.perf_counter() - t0
    bar.close()
    if stats is not None:
        stats.update(frames=n, seconds=time.perf_counter() - t0, render_seconds=rendered,
                     render_blocked_seconds=writer.blocked_seconds, encode_seconds=writer.encode_seconds)
    return Path(path)


def render_video(path: str | Path, a2e: Any, nerf: HeadNerf, features: Any, control: EmotionControl,
                 track: DrivingTrack, *, fps: float, audio: np.ndarray | None, sample_rate: int,
                 yaw: Sequence[float] | float = 0.0, progress: bool = True, **options: Any) -> Path:
    """:func:`render_talking_head` streamed into an mp4 with the audio (:func:`write_talking_head_video`)."""
    check_pairing(a2e, nerf)
    codes = expression_codes(a2e, predict(a2e, features), control, fps)
    return write_talking_head_video(path, nerf, codes, track, fps=fps, audio=audio, sample_rate=sample_rate, yaw=yaw,
                                    progress=progress, desc=f"rendering {control.label()}", **options)


def view_sweep(n_frames: int, max_yaw: float = 30.0) -> np.ndarray:
    """Yaw angles [T] in degrees for a novel-view sweep (Fig. 4): 0 -> +max -> -max -> 0."""
    s = np.linspace(0.0, 1.0, n_frames, dtype=np.float32)
    return (max_yaw * np.sin(2.0 * np.pi * s)).astype(np.float32)
