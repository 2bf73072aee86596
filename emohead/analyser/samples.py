"""Training data of the face analyser: labelled renders of the synthetic generator.

Every sample is a face drawn the way the corpus draws its clips (``emohead.synth``), with labels
the renderer knows exactly:

* identity: ``beta_id ~ N(0, 0.9^2)`` ([40], as :func:`emohead.synth.actors.make_actors`), a random
  :func:`identity_appearance` (one per render batch) and a random emotional style
  (:func:`emohead.face.emotion_aus.actor_style`);
* expression: AU activations ``a = emotion_au(z, level, style) * s + articulation + blink``
  (s ~ U(0.5, 1.15) covers the corpus's onset and wobble; articulation blends two viseme targets of
  AU25/26/18/24 like :mod:`emohead.synth.visemes`; blinks are AU45), clipped to [0, 1.5] as in
  :func:`emohead.synth.clip.expression_track`, then ``alpha = model.alpha_from_au(a)``;
* pose: yaw/pitch/roll of a few degrees and small translations (:mod:`emohead.synth.motion`),
  torso shifted by ``0.35 t`` as in the corpus;
* labels: 68 landmarks (normalised to the crop, [0, 1]), alpha [10], beta [40], AU activation [K]
  (the generator's, not its 10-d projection), emotion index into ``MEAD_EMOTIONS``.

**The crop.** The corpus films every clip with :func:`default_camera`, so the analyser looks at a
fixed square box: the projection of the mean head (hair included) by the default camera, widened by
``CROP_MARGIN`` about its centre and shifted to stay inside the frame. It is stored as fractions
of the frame side (:func:`crop_box_fraction`), so the same box works at 64, 128 or 512 px; at a
frame size S it becomes whole pixels (:func:`crop_box_pixels`). Training renders draw only that box
(a camera whose principal point is shifted by the box corner, and the matching slice of the
background gradient), which gives the very pixels the full frame would have there, at ~40 % of the
cost; the crop is then resized to ``input_size`` by :func:`resize_crops`, the same call the
analyser applies to real frames.

Seeds: ``np.random.SeedSequence([seed, 0xA7A1, split])`` with split 0 train, 1 validation,
2 evaluation; the corpus uses ``[seed, 1, ...]`` and ``[seed, 2, ...]``, so the streams never meet.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from ..face.appearance import identity_appearance
from ..face.camera import Camera, default_camera
from ..face.morphable import MorphableModel
from ..face.raster import background_image, render_faces

log = logging.getLogger(__name__)

CROP_MARGIN = 1.15
"""Crop side / projected head height (hair to chin) of the mean face."""
SEED_TAG = 0xA7A1
"""Second entropy word of every analyser seed (keeps analyser streams apart from the corpus's)."""
SPLITS = {"train": 0, "val": 1, "eval": 2}

# viseme targets (AU25 lips part, AU26 jaw drop, AU18 pucker, AU24 presser), after synth.visemes
_VISEME_TARGETS = np.array([
    (0.0, 0.0, 0.0, 0.0), (0.35, 0.15, 0.0, 0.0), (0.9, 0.9, 0.0, 0.0), (0.75, 0.6, 0.0, 0.0),
    (0.8, 0.7, 0.0, 0.0), (0.8, 0.75, 0.35, 0.0), (0.75, 0.6, 0.55, 0.0), (0.7, 0.5, 0.0, 0.0),
    (0.55, 0.4, 0.0, 0.0), (0.55, 0.4, 0.3, 0.0), (0.6, 0.25, 0.0, 0.0), (0.5, 0.3, 0.7, 0.0),
    (0.45, 0.25, 0.9, 0.0), (0.6, 0.45, 0.7, 0.0), (0.0, 0.05, 0.0, 1.0), (0.2, 0.1, 0.0, 0.5),
], dtype=np.float32)
_ARTICULATION = ("AU25", "AU26", "AU18", "AU24")


# ---------------------------------------------------------------- crop
@functools.lru_cache(maxsize=1)
def crop_box_fraction(margin: float = CROP_MARGIN) -> tuple[float, float, float]:
    """(x0, y0, side) of the analyser's square crop as fractions of the frame side.

    The box is the default camera's projection of the mean procedural head (all head vertices,
    frontal pose), widened by ``margin`` about its centre and shifted to lie inside the frame.
    """
    from ..face.procedural import build_procedural_model

    model = build_procedural_model()
    size = 1024
    pix, _ = default_camera(size).project(torch.tensor(np.array(model.mean)))
    lo = (pix.min(0).values.numpy() + 0.5) / size
    hi = (pix.max(0).values.numpy() + 0.5) / size
    side = float(min(1.0, (hi - lo).max() * margin))
    centre = (lo + hi) / 2
    x0 = float(np.clip(centre[0] - side / 2, 0.0, 1.0 - side))
    y0 = float(np.clip(centre[1] - side / 2, 0.0, 1.0 - side))
    return (round(x0, 4), round(y0, 4), round(side, 4))


def crop_box_pixels(image_size: int, box: tuple[float, float, float] | None = None) -> tuple[int, int, int]:
    """(x0, y0, side) of the crop in whole pixels of a square ``image_size`` frame (inside the frame).

    box: (x0, y0, side) fractions; None: :func:`crop_box_fraction`.
    """
    s = int(image_size)
    if s < 8:
        raise ValueError(f"image_size={image_size}: frames must be at least 8 px")
    fx, fy, fs = crop_box_fraction() if box is None else box
    side = max(4, min(s, int(round(fs * s))))
    x0 = min(max(0, int(round(fx * s))), s - side)
    y0 = min(max(0, int(round(fy * s))), s - side)
    return x0, y0, side


def crop_camera(image_size: int, device: torch.device | str = "cpu") -> tuple[Camera, tuple[int, int, int]]:
    """The default camera of an ``image_size`` frame restricted to the crop box -> (camera, box).

    Pixel (i, j) of a render with this camera (side x side) is pixel (y0 + i, x0 + j) of the frame.
    """
    cam = default_camera(image_size, device=device)
    x0, y0, side = crop_box_pixels(image_size)
    k = cam.intrinsics.clone()
    k[0, 2] -= x0
    k[1, 2] -= y0
    return Camera(k, cam.world_to_camera.clone()), (x0, y0, side)


def resize_crops(crops: torch.Tensor, input_size: int) -> torch.Tensor:
    """Crops [B, 3, h, w] float -> [B, 3, input_size, input_size] (bilinear, antialiased when shrinking)."""
    if crops.shape[-2:] == (input_size, input_size):
        return crops
    return F.interpolate(crops, size=(input_size, input_size), mode="bilinear", align_corners=False,
                         antialias=True)


def crop_frames(frames: torch.Tensor, input_size: int, box: tuple[float, float, float] | None = None) -> torch.Tensor:
    """Frames [B, 3, S, S] float -> analyser inputs [B, 3, input_size, input_size] (fixed crop + resize)."""
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[2] != frames.shape[3]:
        raise ValueError(f"frames must be [B, 3, S, S] (square, RGB), got {tuple(frames.shape)}")
    x0, y0, side = crop_box_pixels(frames.shape[-1], box)
    return resize_crops(frames[:, :, y0:y0 + side, x0:x0 + side], input_size)


def landmarks_to_crop(landmarks: torch.Tensor | np.ndarray, image_size: int,
                      box: tuple[float, float, float] | None = None) -> np.ndarray:
    """Frame pixels [..., 68, 2] -> crop-normalised [0, 1] coordinates (the crop spans [0, 1]^2)."""
    x0, y0, side = crop_box_pixels(image_size, box)
    lm = np.asarray(landmarks, dtype=np.float32)
    return (lm - np.array([x0, y0], np.float32) + 0.5) / side


def landmarks_from_crop(norm: torch.Tensor, image_size: int,
                        box: tuple[float, float, float] | None = None) -> torch.Tensor:
    """Crop-normalised [..., 2] -> frame pixels [..., 2] (pixel centres at integers, OpenCV)."""
    x0, y0, side = crop_box_pixels(image_size, box)
    off = torch.tensor([x0 - 0.5, y0 - 0.5], dtype=norm.dtype, device=norm.device)
    return norm * side + off


# ---------------------------------------------------------------- labels
@dataclass(frozen=True)
class AnalyserSamples:
    """N labelled analyser inputs (numpy)."""

    images: np.ndarray      # uint8 [N, I, I, 3]: crops resized to input_size
    landmarks: np.ndarray   # float32 [N, 68, 2] in crop-normalised [0, 1] coordinates
    alpha: np.ndarray       # float32 [N, 10]
    beta: np.ndarray        # float32 [N, S]
    au: np.ndarray          # float32 [N, K] generator AU activations
    emotion: np.ndarray     # int64 [N] index into MEAD_EMOTIONS
    level: np.ndarray       # int64 [N] 1-3 (0 for neutral)
    image_size: int         # frame size the crops come from

    def __len__(self) -> int:
        return int(self.images.shape[0])


def sample_labels(model: MorphableModel, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Expression labels for n faces: au [n, K], alpha [n, 10], emotion [n], level [n].

    Emotion uniform over the 8 MEAD emotions, level 1-3, one random actor style per face; speech
    articulation with p = 0.7 (a blend of two viseme targets); a blink (AU45) with p = 0.15.
    """
    from emohead.data.emotions import MEAD_EMOTIONS
    from emohead.face.emotion_aus import actor_style, emotion_au

    names = model.au_names
    index = {a: i for i, a in enumerate(names)}
    k = len(names)
    au = np.zeros((n, k), np.float32)
    emotion = rng.integers(len(MEAD_EMOTIONS), size=n)
    level = rng.integers(1, 4, size=n)
    for i in range(n):
        name = MEAD_EMOTIONS[emotion[i]]
        if name == "neutral":
            level[i] = 0
            continue
        style = actor_style(int(rng.integers(2**31)), names)
        au[i] = emotion_au(name, int(level[i]), names, actor_style=style) * rng.uniform(0.5, 1.15)
    speak = rng.random(n) < 0.7
    pair = rng.integers(len(_VISEME_TARGETS), size=(n, 2))
    w = rng.random((n, 1)).astype(np.float32)
    art = (w * _VISEME_TARGETS[pair[:, 0]] + (1 - w) * _VISEME_TARGETS[pair[:, 1]]) * speak[:, None]
    for j, a in enumerate(_ARTICULATION):
        au[:, index[a]] += art[:, j]
    blink = rng.random(n) < 0.15
    au[:, index["AU45"]] = np.maximum(au[:, index["AU45"]], blink * rng.uniform(0.2, 1.0, n))
    au = np.clip(au, 0.0, 1.5).astype(np.float32)
    alpha = np.asarray(model.alpha_from_au(au), np.float32)
    return {"au": au, "alpha": alpha, "emotion": emotion.astype(np.int64), "level": level.astype(np.int64)}


def sample_poses(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Head poses like the corpus's (synth.motion): R [n, 3, 3], t [n, 3]."""
    pitch = rng.uniform(-8.0, 6.0, n) + rng.normal(0.0, 2.5, n)
    yaw = np.clip(rng.normal(0.0, 4.5, n), -12, 12)
    roll = np.clip(rng.normal(0.0, 2.0, n), -6, 6)
    R = Rotation.from_euler("xyz", np.stack([pitch, yaw, roll], 1), degrees=True).as_matrix().astype(np.float32)
    t = np.clip(rng.normal(0.0, 1.0, (n, 3)), -3, 3) * np.array([0.03, 0.025, 0.03])
    return R, t.astype(np.float32)


def render_samples(model: MorphableModel, n: int, *, image_size: int, input_size: int, seed: int = 0,
                   split: str = "train", batch: int = 16, device: torch.device | str = "cpu",
                   progress: bool = True) -> AnalyserSamples:
    """Render n labelled analyser inputs from frames of ``image_size`` px (see the module docstring)."""
    from tqdm.auto import tqdm

    if n < 1:
        raise ValueError(f"n={n}: need at least one sample")
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose one of {sorted(SPLITS)}")
    if int(input_size) < 16:
        raise ValueError(f"input_size={input_size}: the analyser needs at least 16 px")
    dev = torch.device(device)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SEED_TAG, SPLITS[split]]))
    labels = sample_labels(model, n, rng)
    R, t = sample_poses(n, rng)
    beta = (rng.normal(size=(n, model.n_shape)) * 0.9).astype(np.float32)
    app_seeds = rng.integers(2**31, size=(n + batch - 1) // batch)
    cam, (x0, y0, side) = crop_camera(image_size, dev)
    bg = background_image(image_size, None, 1, dev)[0, y0:y0 + side, x0:x0 + side].contiguous()
    images = np.empty((n, input_size, input_size, 3), np.uint8)
    lms = np.empty((n, 68, 2), np.float32)
    with torch.no_grad():
        for b, s in enumerate(tqdm(range(0, n, batch), desc=f"analyser {split} renders", unit="batch",
                                   disable=not progress)):
            e = min(n, s + batch)
            out = render_faces(model, labels["alpha"][s:e], beta[s:e], R[s:e], t[s:e], cam, side,
                               appearance=identity_appearance(int(app_seeds[b])), background=bg,
                               torso_offset=0.35 * t[s:e], device=dev)
            img = (out.image.clamp(0, 1) * 255 + 0.5).floor() / 255.0            # frames are uint8
            img = resize_crops(img.permute(0, 3, 1, 2), input_size)
            images[s:e] = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            lms[s:e] = (out.landmarks.cpu().numpy() + 0.5) / side
    return AnalyserSamples(images=images, landmarks=lms, alpha=labels["alpha"], beta=beta, au=labels["au"],
                           emotion=labels["emotion"], level=labels["level"], image_size=int(image_size))


__all__ = ["AnalyserSamples", "CROP_MARGIN", "crop_box_fraction", "crop_box_pixels", "crop_camera", "crop_frames",
           "landmarks_from_crop", "landmarks_to_crop", "render_samples", "resize_crops", "sample_labels",
           "sample_poses"]
