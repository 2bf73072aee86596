"""Neck and shoulders: a static world-space mesh below the head (parsing label ``torso``).

A lathe surface with elliptic cross-sections (front half only): a neck that starts inside the
head, sloping shoulders and a chest that runs below the image. The neck is skin-coloured and the
rest is the shirt, with a V collar.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from emohead.face.morphable import PARSING_LABELS

# (y, half-width, half-depth, z centre)
_TORSO = np.array([
    [-0.45, 0.34, 0.32, -0.16],
    [-0.95, 0.35, 0.32, -0.16],
    [-1.30, 0.38, 0.34, -0.16],
    [-1.48, 0.52, 0.40, -0.18],
    [-1.62, 1.05, 0.52, -0.22],
    [-1.80, 1.45, 0.60, -0.24],
    [-2.10, 1.70, 0.66, -0.24],
    [-2.60, 1.84, 0.70, -0.24],
    [-4.20, 1.90, 0.70, -0.24],
])
NECK_BOTTOM_Y = -1.42


@functools.lru_cache(maxsize=2)
def torso_mesh(n_rows: int = 26, n_cols: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V, 3] in world coordinates, triangles [T, 3] CCW from outside)."""
    t = np.linspace(0.0, 1.0, n_rows) ** 1.3
    y = np.interp(t, np.linspace(0, 1, len(_TORSO)), _TORSO[:, 0])
    a = np.interp(y, _TORSO[::-1, 0], _TORSO[::-1, 1])
    c = np.interp(y, _TORSO[::-1, 0], _TORSO[::-1, 2])
    zc = np.interp(y, _TORSO[::-1, 0], _TORSO[::-1, 3])
    psi = np.deg2rad(np.linspace(-105.0, 105.0, n_cols))
    Y, PSI = np.meshgrid(y, psi, indexing="ij")
    A = a[:, None]
    x = A * np.sin(PSI)
    z = zc[:, None] + c[:, None] * np.sign(np.cos(PSI)) * np.abs(np.cos(PSI)) ** 0.8
    v = np.stack([x, Y, z], -1).reshape(-1, 3)
    idx = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    ia, ib, id_, ie = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.concatenate([np.stack([ia, id_, ie], -1).reshape(-1, 3), np.stack([ia, ie, ib], -1).reshape(-1, 3)])
    return v.astype(np.float32), tris.astype(np.int64)


def torso_colors(points: torch.Tensor, skin: torch.Tensor, shirt: torch.Tensor) -> torch.Tensor:
    """Colours [P, 3] at torso-local points [P, 3] (evaluated per pixel, so the collar is crisp):
    the neck in ``skin`` (slightly shaded), the shirt below a V collar."""
    x, y = points[:, 0], points[:, 1]
    collar = NECK_BOTTOM_Y - 0.32 * (1.0 - x.abs() / 0.26).clamp(min=0.0)
    w = ((collar - y) / 0.012).clamp(0.0, 1.0)
    fold = 1.0 + 0.04 * torch.sin(x * 7.0) * (y < -1.7)
    band = 1.0 - 0.25 * (((collar - y) > 0) & ((collar - y) < 0.05)).to(points.dtype)   # collar hem
    return skin * 0.9 * (1 - w[:, None]) + shirt * (fold * band)[:, None] * w[:, None]


TORSO_LABEL = PARSING_LABELS["torso"]
