"""Temporal smoothing of face boxes and crops, and filling frames without a face.

Tracking is offline (the whole clip is known), so the smoother is a centred moving average: it does not lag, and
its ends are padded by odd reflection (x[-k] = 2 x[0] - x[k]) so a face moving at constant speed stays exactly on
its path up to the first and last frame. Frames without a face are filled by linear interpolation between the
nearest frames with one (held constant before the first and after the last).
"""
from __future__ import annotations

import numpy as np


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0: x [T, ...] -> float64 [T, ...]; ``window`` frames (odd; even is
    rounded up; <= 1 returns x unchanged)."""
    x = np.asarray(x, np.float64)
    T = len(x)
    half = max(int(window), 1) // 2
    half = min(half, T - 1) if T > 1 else 0
    if half == 0:
        return x.copy()
    head = 2.0 * x[:1] - x[half:0:-1]
    tail = 2.0 * x[-1:] - x[-2:-half - 2:-1]
    padded = np.concatenate([head, x, tail])
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), padded]), axis=0)
    return (c[2 * half + 1:] - c[:-2 * half - 1]) / (2 * half + 1)


def smooth_boxes(boxes: np.ndarray, window: int = 5) -> np.ndarray:
    """boxes [T, 4] (x0, y0, x1, y1) -> smoothed [T, 4] float32 (the centre and size averaged over ``window``)."""
    b = np.asarray(boxes, np.float64)
    centre, size = (b[:, :2] + b[:, 2:]) / 2.0, b[:, 2:] - b[:, :2]
    centre, size = moving_average(centre, window), moving_average(size, window)
    return np.concatenate([centre - size / 2.0, centre + size / 2.0], 1).astype(np.float32)


def interpolate_missing(values: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values [T, ...] and found [T] bool -> (values with the frames where found is False replaced by linear
    interpolation over frames, float64 [T, ...]; the missing flag [T] bool = ~found).

    Raises ValueError when no frame is found (nothing to interpolate from).
    """
    v = np.asarray(values, np.float64)
    found = np.asarray(found, bool)
    if found.shape != (len(v),):
        raise ValueError(f"found must be [T] = [{len(v)}], got {found.shape}")
    if not found.any():
        raise ValueError("no frame has a value to interpolate from")
    out = v.copy()
    missing = ~found
    if missing.any():
        t, known = np.arange(len(v)), np.flatnonzero(found)
        flat = v.reshape(len(v), -1)
        filled = np.stack([np.interp(t[missing], known, flat[known, j]) for j in range(flat.shape[1])], -1)
        out.reshape(len(v), -1)[missing] = filled
    return out, missing
