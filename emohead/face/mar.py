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
