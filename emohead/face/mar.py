"""Mouth aspect ratio (MAR) from iBUG-68 landmarks.

Inner-lip MAR (0-based landmark ids)::

    MAR = mean(|p61 - p67|, |p62 - p66|, |p63 - p65|) / |p60 - p64|

the mean of the three vertical inner-lip gaps over the inner corner distance. About 0 with the
lips closed, rising as the mouth opens (EmoHead balances emotion samples by MAR, Sec. III-B).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

_UPPER = (61, 62, 63)
_LOWER = (67, 66, 65)


def mouth_aspect_ratio(landmarks: Any, eps: float = 1e-8) -> Any:
    """landmarks [..., 68, 2] (numpy or torch) -> MAR [...] of the same type."""
    shape = tuple(landmarks.shape)
    if len(shape) < 2 or shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be [..., 68, 2], got {shape}")
    if isinstance(landmarks, torch.Tensor):
        up, lo = landmarks[..., list(_UPPER), :], landmarks[..., list(_LOWER), :]
        gaps = (up - lo).norm(dim=-1).mean(-1)
        width = (landmarks[..., 60, :] - landmarks[..., 64, :]).norm(dim=-1)
        return gaps / width.clamp(min=eps)
    lm = np.asarray(landmarks, dtype=np.float64)
    gaps = np.linalg.norm(lm[..., list(_UPPER), :] - lm[..., list(_LOWER), :], axis=-1).mean(-1)
    width = np.linalg.norm(lm[..., 60, :] - lm[..., 64, :], axis=-1)
    return (gaps / np.maximum(width, eps)).astype(np.float32)


def mouth_crops(frames: np.ndarray, landmarks: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """One fixed square box around the mouth of all T frames: frames [T, S, S, 3], landmarks [T, 68, 2] in the frames'
    pixels -> crops [T, P, P, 3]. The box is centred on the mean of the mouth landmarks (48-67) and its side is the
    widest mouth of the T frames times (1 + 2 margin), so that crops of consecutive frames can be compared."""
    frames, lm = np.asarray(frames), np.asarray(landmarks, np.float64)
    if frames.ndim != 4 or lm.shape != (len(frames), 68, 2):
        raise ValueError(f"need frames [T, S, S, 3] and landmarks [T, 68, 2]; got {frames.shape} and {lm.shape}")
    mouth = lm[:, 48:68]
    cx, cy = mouth[..., 0].mean(), mouth[..., 1].mean()
    side = int(np.ceil((mouth[..., 0].max(1) - mouth[..., 0].min(1)).max() * (1 + 2 * margin)))
    size = frames.shape[1]
    side = max(2, min(side, size))
    x0 = int(np.clip(round(cx - side / 2), 0, size - side))
    y0 = int(np.clip(round(cy - side / 2), 0, size - side))
    return frames[:, y0:y0 + side, x0:x0 + side]
