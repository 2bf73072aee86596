"""One synthetic clip: speech -> visemes + emotion + blinks -> alpha -> rendered frames + ground truth.

Per frame i (25 fps) the generator builds an action-unit activation
``a_i = emotion(z, level) * envelope_i + articulation_i + blink_i`` and projects it onto the
10-d expression space, ``alpha_i = model.alpha_from_au(a_i)`` (what a 3DMM fit of the face
would return). The face is rendered from ``alpha_i``, so alpha is exact ground truth for the frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ..data.writer import words_dict
from ..face.camera import Camera
from ..face.mar import mouth_aspect_ratio
from ..face.morphable import MorphableModel
from ..face.raster import render_faces
from .actors import Actor
from ..face.emotion_aus import emotion_au
from .motion import blink_curve, head_motion
from .prosody import emotional_prosody
from .speech import synthesize
from .visemes import articulation_curves


@dataclass(frozen=True)
class ClipData:
    """Everything the dataset writer needs for one clip."""

    audio: np.ndarray              # float32 [S] at sample_rate, S = T * sample_rate / fps
    frames: np.ndarray             # uint8 [T, H, W, 3]
    arrays: dict[str, np.ndarray]  # per-frame ground truth (emohead.data.CLIP_ARRAYS + au, world_to_camera)
    words: dict[str, Any]          # transcript with word and phoneme times

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def expression_track(model: MorphableModel, actor: Actor, emotion: str, level: int,
                     articulation: dict[str, np.ndarray], n_frames: int, fps: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """AU activations [T, K] and their expression parameters alpha [T, 10] for one clip."""
    names = model.au_names
    index = {n: i for i, n in enumerate(names)}
    target = emotion_au(emotion, level, names, actor_style=actor.style)           # [K]
    # the emotion sets in over ~0.3 s and breathes a little (+-8 %) over the clip
    t = np.arange(n_frames) / fps
    onset = 0.55 + 0.45 * np.clip(t / 0.3, 0.0, 1.0)
    noise = gaussian_filter1d(rng.normal(size=n_frames), 0.5 * fps, mode="reflect")
    wobble = 1.0 + 0.08 * noise / (noise.std() + 1e-8)
    au = target[None, :] * (onset * wobble)[:, None]                                # [T, K]
    for name, curve in articulation.items():
        au[:, index[name]] += curve
    au[:, index["AU45"]] = np.maximum(au[:, index["AU45"]], blink_curve(n_frames, fps, rng))
    au = np.clip(au, 0.0, 1.5).astype(np.float32)
    alpha = np.asarray(model.alpha_from_au(au), dtype=np.float32)                  # [T, 10]
    return au, alpha


def frames_per_batch(image_size: int, device: str | torch.device) -> int:
    """Frames rendered together: bounded by pixel count so memory stays flat."""
    budget = 2**22 if str(device).startswith("cuda") else 2**18
    return max(1, budget // (image_size * image_size))


def render_track(model: MorphableModel, actor: Actor, alpha: np.ndarray, R: np.ndarray, t: np.ndarray,
                 camera: Camera, image_size: int, *, background: np.ndarray | None = None,
                 device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Render frames for alpha [T,10], R [T,3,3], t [T,3]: image uint8, parsing, landmarks, MAR."""
    n = len(alpha)
    step = frames_per_batch(image_size, device)
    images, parsing, landmarks = [], [], []
    for s in range(0, n, step):
        e = min(n, s + step)
        out = render_faces(model, alpha[s:e], actor.beta_id, R[s:e], t[s:e], camera, image_size,
                           appearance=actor.appearance, background=background,
                           torso_offset=0.35 * t[s:e], device=device)
        images.append((out.image.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy())
        parsing.append(out.parsing.cpu().numpy().astype(np.uint8))
        landmarks.append(out.landmarks.cpu().numpy().astype(np.float32))
    lms = np.concatenate(landmarks)
    return {"frames": np.concatenate(images), "parsing": np.concatenate(parsing), "landmarks": lms,
            "mar": np.asarray(mouth_aspect_ratio(lms), dtype=np.float32)}


def synthesize_clip(model: MorphableModel, actor: Actor, text: str, emotion: str, level: int, *,
                    camera: Camera, image_size: int, fps: int = 25, sample_rate: int = 16000,
                    lead_silence: float = 0.2, tail_silence: float = 0.2, seed: int | np.random.SeedSequence = 0,
                    background: np.ndarray | None = None, device: str | torch.device = "cpu") -> ClipData:
    """Speak ``text`` as ``actor`` with ``emotion`` at ``level`` and render it with full ground truth."""
    if not text or not text.strip():
        raise ValueError("synthesize_clip: the sentence is empty")
    rng = np.random.default_rng(seed)
    utt = synthesize(text, actor.voice, emotional_prosody(emotion, level, actor.prosody),
                     sample_rate=sample_rate, lead_silence=lead_silence, tail_silence=tail_silence)
    n_frames = max(1, math.ceil(utt.duration * fps))
    n_samples = n_frames * sample_rate // fps
    audio = np.zeros(n_samples, np.float32)
    audio[:min(n_samples, len(utt.audio))] = utt.audio[:n_samples]

    articulation = articulation_curves(utt.phonemes, n_frames, fps)
    au, alpha = expression_track(model, actor, emotion, level, articulation, n_frames, fps, rng)
    R, t = head_motion(n_frames, fps, rng, emotion=emotion, energy=actor.motion_energy,
                       speech_activity=articulation["AU25"])
    rendered = render_track(model, actor, alpha, R, t, camera, image_size, background=background, device=device)
    arrays = {
        "alpha": alpha, "pose_R": R, "pose_t": t,
        "landmarks": rendered["landmarks"], "mar": rendered["mar"], "parsing": rendered["parsing"],
        "intrinsics": camera.intrinsics.detach().cpu().numpy().astype(np.float32),
        "world_to_camera": camera.world_to_camera.detach().cpu().numpy().astype(np.float32),
        "au": au,  # the generator's action-unit activations; the face shows their 10-d projection
    }
    return ClipData(audio=audio, frames=rendered["frames"], arrays=arrays,
                    words=words_dict(text, utt.words, utt.phonemes))
