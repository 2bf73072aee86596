"""Non-verbal motion of a synthetic actor: blinks (AU45) and smooth head motion.

Both are deterministic functions of a NumPy Generator, so the same seed gives the same clip.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

#: Emotion-dependent head posture: (pitch offset deg, motion energy factor). Positive pitch looks up.
HEAD_POSTURE: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 1.0), "happy": (2.0, 1.3), "surprised": (4.0, 1.1), "fear": (-2.0, 1.2),
    "angry": (-3.0, 1.4), "disgusted": (-1.0, 1.0), "contempt": (2.5, 0.8), "sad": (-6.0, 0.6),
    "anger": (-3.0, 1.4), "disgust": (-1.0, 1.0),
}


def blink_curve(n_frames: int, fps: float, rng: np.random.Generator, *, rate_per_min: float = 17.0,
                duration: float = 0.2) -> np.ndarray:
    """AU45 intensity [T] in [0, 1]: blinks at Poisson times, each a smooth close-open of ``duration`` s."""
    if n_frames < 0 or fps <= 0:
        raise ValueError(f"blink_curve: need n_frames >= 0 and fps > 0, got {n_frames}, {fps}")
    t = np.arange(n_frames) / fps
    curve = np.zeros(n_frames, np.float32)
    clock, end = rng.uniform(0.3, 1.5), n_frames / fps
    while clock < end - duration:
        centre = clock + duration / 2
        shape = np.clip(1.0 - np.abs(t - centre) / (duration / 2), 0.0, 1.0) ** 0.7
        curve = np.maximum(curve, shape.astype(np.float32))
        clock += duration + rng.exponential(60.0 / rate_per_min)
    return curve


def head_motion(n_frames: int, fps: float, rng: np.random.Generator, *, emotion: str = "neutral",
                energy: float = 1.0, speech_activity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smooth head pose: rotations R [T, 3, 3] and translations t [T, 3] (model units).

    Yaw/pitch/roll are low-pass filtered noise (a few degrees), nodding a little more while speaking
    (``speech_activity`` [T] in [0, 1]), with an emotion-dependent pitch posture.
    """
    if emotion not in HEAD_POSTURE:
        raise ValueError(f"unknown emotion {emotion!r} for head motion; valid: {sorted(HEAD_POSTURE)}")
    pitch0, factor = HEAD_POSTURE[emotion]
    sigma = 0.35 * fps  # seconds of smoothing -> frames
    def smooth_noise(scale_deg: float) -> np.ndarray:
        raw = rng.normal(size=n_frames + 64)
        sm = gaussian_filter1d(raw, sigma, mode="reflect")[32:32 + n_frames]
        return sm / (sm.std() + 1e-8) * scale_deg if n_frames > 1 else np.zeros(n_frames)

    amp = energy * factor
    yaw = smooth_noise(3.0 * amp)
    pitch = smooth_noise(2.0 * amp) + pitch0
    roll = smooth_noise(1.2 * amp)
    if speech_activity is not None and n_frames:
        act = np.asarray(speech_activity, np.float64)
        if act.shape != (n_frames,):
            raise ValueError(f"speech_activity must have shape ({n_frames},), got {act.shape}")
        pitch = pitch + 1.5 * amp * gaussian_filter1d(act, 2.0) * np.sin(2 * np.pi * 2.2 * np.arange(n_frames) / fps)
    euler = np.stack([pitch, yaw, roll], axis=1)  # degrees about x (nod), y (turn), z (tilt)
    R = Rotation.from_euler("xyz", euler, degrees=True).as_matrix().astype(np.float32) if n_frames else np.zeros((0, 3, 3), np.float32)
    trans = np.stack([smooth_noise(0.02 * amp), smooth_noise(0.015 * amp), smooth_noise(0.02 * amp)], axis=1)
    return R, trans.astype(np.float32).reshape(n_frames, 3)
