"""Test helpers for emohead.prepare: media writers (mp4, flv, m4a, wav), fake MEAD / CREMA-D trees, a fake tracker.

The fake tracker returns a plausible FaceTrack without any model: the procedural face's landmarks projected into
the frame (moving a little), a mesh made of them plus an oval around the face, a person mask (head oval + torso),
3DDFA-like pose, alpha and beta. It counts its calls per clip and can fail on chosen clips.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from emohead.tracking.tracker import FaceTrack
import soundfile as sf

from emohead.data.video import write_video

FRAME_HW = (120, 160)


# ---------------------------------------------------------------------------------------------------------------
# media writers
# ---------------------------------------------------------------------------------------------------------------
def frames_pattern(n: int, hw: tuple[int, int] = FRAME_HW, seed: int = 0) -> np.ndarray:
    """uint8 [n, H, W, 3]: a smooth background, a face-coloured oval and a torso, moving slightly; frame k has
    its index as the grey level k * 9 of the top-left 8 x 8 block (:func:`frame_ids` reads it back)."""
    H, W = hw
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.zeros((n, H, W, 3), np.uint8)
    for k in range(n):
        img = np.stack([40 + 60 * xx / W, 80 + 40 * yy / H, np.full_like(xx, 120.0)], -1)
        cx, cy = W / 2 + 2 * np.sin(k / 3), H * 0.42
        head = ((xx - cx) / (0.14 * W)) ** 2 + ((yy - cy) / (0.2 * H)) ** 2 < 1
        torso = (yy > H * 0.68) & (np.abs(xx - W / 2) < 0.3 * W)
        img[head] = (200, 160, 130)
        img[torso] = (50, 60, 160)
        img[:8, :8] = (k * 9) % 256
        out[k] = img.astype(np.uint8)
    return out


def frame_ids(frames: np.ndarray) -> np.ndarray:
    """[T] the index each frame of :func:`frames_pattern` was made with (read from its marker block)."""
    return np.rint(frames[:, 2:6, 2:6].astype(np.float64).mean(axis=(1, 2, 3)) / 9).astype(int)


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25, audio: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, frames, fps, audio=audio)


def write_flv(path: Path, frames: np.ndarray, fps: int = 30) -> Path:
    """FLV with the flv1 (Sorenson H.263) codec, as CREMA-D's VideoFlash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="flv") as c:
        s = c.add_stream("flv", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_m4a(path: Path, audio: np.ndarray, sample_rate: int = 48000, channels: int = 2) -> Path:
    """AAC in an MP4 audio container (MEAD's .m4a); ``audio`` [S] mono at 16 kHz, resampled, copied to channels."""
    from scipy.signal import resample_poly

    path.parent.mkdir(parents=True, exist_ok=True)
    x = resample_poly(np.asarray(audio, np.float64), sample_rate // 1000, 16).astype(np.float32)
    pcm = np.ascontiguousarray(np.repeat(x[None], channels, axis=0))
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w", format="ipod") as c:
        s = c.add_stream("aac", rate=sample_rate)
        s.layout = layout
        for i in range(0, pcm.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + 1024]), format="fltp", layout=layout)
            f.sample_rate, f.pts = sample_rate, i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(audio, np.float32), sample_rate, subtype="PCM_16")
    return path


def speech(text: str, voice: str = "female_us") -> np.ndarray:
    """Real synthesised speech [S] at 16 kHz (espeak-ng through emohead.synth.speech)."""
    from emohead.synth.speech import synthesize

    return synthesize(text, voice, lead_silence=0.1, tail_silence=0.1).audio


def tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# fake dataset trees
# ---------------------------------------------------------------------------------------------------------------
def fake_mead(raw: Path) -> dict[str, tuple[str, int]]:
    """A tiny MEAD tree for actor M003: 4 good clips (angry 1/3, neutral 1, happy 2), an unknown emotion folder
    and a clip without audio. Returns {expected clip id: (emotion, level)}."""
    good = {("angry", 1, "001"): 0.5, ("angry", 3, "002"): 0.6, ("neutral", 1, "001"): 0.5, ("happy", 2, "003"): 0.5}
    expected = {}
    for (emo, lv, stem), sec in good.items():
        n = int(sec * 30)
        write_mp4(raw / "M003" / "video" / "front" / emo / f"level_{lv}" / f"{stem}.mp4", frames_pattern(n), fps=30)
        write_m4a(raw / "M003" / "audio" / emo / f"level_{lv}" / f"{stem}.m4a", tone(sec))
        expected[f"M003_{emo}_{lv}_{stem}"] = (emo, lv)
    write_mp4(raw / "M003" / "video" / "front" / "bored" / "level_1" / "001.mp4", frames_pattern(10), fps=30)
    write_m4a(raw / "M003" / "audio" / "bored" / "level_1" / "001.m4a", tone(0.4))
    write_mp4(raw / "M003" / "video" / "front" / "sad" / "level_2" / "004.mp4", frames_pattern(10), fps=30)
    return expected


def fake_cremad(raw: Path) -> dict[str, tuple[str, int, str]]:
    """A tiny CREMA-D tree: 3 good clips with real speech of their sentence, one unknown emotion code (XYZ), one
    flv without its wav. Returns {clip id: (emotion, level, speaker)}."""
    from emohead.prepare.sources import CREMAD_SENTENCES

    good = {"1001_DFA_ANG_XX": ("anger", 2, "1001"), "1001_IEO_NEU_LO": ("neutral", 1, "1001"),
            "1002_DFA_HAP_HI": ("happy", 3, "1002")}
    for stem in good:
        audio = speech(CREMAD_SENTENCES[stem.split("_")[1]])
        write_flv(raw / "VideoFlash" / f"{stem}.flv", frames_pattern(int(len(audio) / 16000 * 30) + 1), fps=30)
        write_wav(raw / "AudioWAV" / f"{stem}.wav", audio)
    write_flv(raw / "VideoFlash" / "1001_TIE_XYZ_XX.flv", frames_pattern(10), fps=30)
    write_wav(raw / "AudioWAV" / "1001_TIE_XYZ_XX.wav", tone(0.4))
    write_flv(raw / "VideoFlash" / "1001_IWW_SAD_MD.flv", frames_pattern(10), fps=30)
    return good


# ---------------------------------------------------------------------------------------------------------------
# a fake tracker
# ---------------------------------------------------------------------------------------------------------------
class FakeTracker:
    """``track(frames, name=...)`` -> a real :class:`emohead.tracking.FaceTrack` (module docstring). ``fail``: {clip name: exception to raise}."""

    def __init__(self, fail: dict[str, BaseException] | None = None, face_height: float = 0.25):
        self.calls: list[str] = []
        self.fail = dict(fail or {})
        self.face_height = face_height

    def track(self, frames: np.ndarray, *, name: str = "clip") -> FaceTrack:
        from emohead.prepare.camera import canonical_landmarks

        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]
        T, H, W = frames.shape[:3]
        base = canonical_landmarks()[:, :2] * np.array([1.0, -1.0])              # y down
        base = (base - base.min(0)) / np.ptp(base[:, 1]) * (self.face_height * H)
        base += np.array([W / 2, H * 0.42]) - base.mean(0)
        k = np.arange(T)[:, None, None]
        shift = np.concatenate([2 * np.sin(k / 3), 0 * k], axis=-1)
        lm = (base[None] + shift).astype(np.float32)                                # [T, 68, 2]
        c = lm.mean(1)                                                               # [T, 2]
        ang = np.linspace(0, 2 * np.pi, 400, endpoint=False)
        w, h = np.ptp(base[:, 0]) / 2, np.ptp(base[:, 1]) * 0.65
        oval = np.stack([np.cos(ang) * w, np.sin(ang) * h - 0.25 * h], -1)
        mesh2 = np.concatenate([lm, c[:, None] + oval[None]], axis=1)
        mesh = np.concatenate([mesh2, np.zeros((T, 468, 1))], -1).astype(np.float32)
        yy, xx = np.mgrid[0:H, 0:W]
        person = np.zeros((T, H, W), np.float32)
        for i in range(T):
            head = ((xx - c[i, 0]) / (1.3 * w)) ** 2 + ((yy - c[i, 1] + 0.2 * h) / (1.4 * h)) ** 2 < 1
            person[i] = (head | ((yy > c[i, 1] + 1.3 * h) & (np.abs(xx - c[i, 0]) < 2.5 * w))).astype(np.float32)
        from emohead.face.camera import rotation_from_euler
        R = rotation_from_euler(3 * np.sin(np.arange(T) / 4), 2 * np.cos(np.arange(T) / 5), np.zeros(T))
        boxes = np.concatenate([lm.min(1), lm.max(1)], axis=1).astype(np.float32)
        from emohead.face.mar import mouth_aspect_ratio
        return FaceTrack(boxes=boxes, found=np.ones(T, bool), mesh=mesh, landmarks=lm,
                         mar=np.asarray(mouth_aspect_ratio(lm), np.float32), pose_R=R.astype(np.float32),
                         pose_t=np.zeros((T, 3), np.float32), scale=np.ones(T, np.float32),
                         alpha=(0.3 * np.sin(np.arange(T)[:, None] / 3 + np.arange(10))).astype(np.float32),
                         beta=(np.arange(40) / 40 + 0.01 * np.sin(np.arange(T))[:, None]).astype(np.float32),
                         person=person)
