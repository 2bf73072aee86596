"""FACS action-unit blendshapes for the procedural face.

Each action unit (AU) is a displacement field ``d_k(v) -> [N, 3]`` computed from the neutral vertex
positions and their regions (:class:`~emohead.face.layout.MeshRegions`); intensity 1 is a strong,
clearly visible activation (the effects are exaggerated so that they read at 64-128 px). The
library is linear: a face with AU intensities ``a`` ([K]) is ``mean + au_basis @ a``.

AUs (``AU_NAMES`` order): AU1 inner brow raiser, AU2 outer brow raiser, AU4 brow lowerer,
AU5 upper lid raiser, AU6 cheek raiser, AU7 lid tightener, AU9 nose wrinkler, AU12 lip corner
puller, AU12R (subject's right side only), AU14 dimpler, AU14R, AU15 lip corner depressor,
AU16 lower lip depressor, AU18 lip pucker, AU20 lip stretcher, AU23 lip tightener, AU24 lip presser,
AU25 lips part, AU26 jaw drop (rotation of the lower face about a hinge axis), AU45 blink.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from emohead.face import layout as L
from emohead.face.layout import MeshRegions, gauss, smoothstep

AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU12", "AU12R", "AU14", "AU14R",
    "AU15", "AU16", "AU18", "AU20", "AU23", "AU24", "AU25", "AU26", "AU45",
)

AU_DESCRIPTIONS: dict[str, str] = {
    "AU1": "inner brow raiser", "AU2": "outer brow raiser", "AU4": "brow lowerer",
    "AU5": "upper lid raiser", "AU6": "cheek raiser", "AU7": "lid tightener", "AU9": "nose wrinkler",
    "AU12": "lip corner puller", "AU12R": "lip corner puller (right side)", "AU14": "dimpler",
    "AU14R": "dimpler (right side)", "AU15": "lip corner depressor", "AU16": "lower lip depressor",
    "AU18": "lip pucker", "AU20": "lip stretcher", "AU23": "lip tightener", "AU24": "lip presser",
    "AU25": "lips part", "AU26": "jaw drop", "AU45": "blink",
}

Field = Callable[[np.ndarray, MeshRegions], np.ndarray]


def _zeros(p: np.ndarray) -> np.ndarray:
    return np.zeros_like(p, dtype=np.float64)


def _head(r: MeshRegions) -> np.ndarray:
    """[N] 1 on the skin surface (not eyeballs, not mouth interior), times the front weight."""
    return (r.part == L.PART_HEAD) * r.front


def _upper(side: np.ndarray, Y: np.ndarray, y0: float) -> np.ndarray:
    return (side == L.SIDE_UPPER) | ((side == L.SIDE_NONE) & (Y > y0))


def _lower(side: np.ndarray, Y: np.ndarray, y0: float) -> np.ndarray:
    return (side == L.SIDE_LOWER) | ((side == L.SIDE_NONE) & (Y < y0))


# ---------------------------------------------------------------- regions
def upper_lid_weight(r: MeshRegions) -> np.ndarray:
    """[N] weight of the upper lid (1 at the lid row centre, decaying upward and to the corners)."""
    return _head(r) * _upper(r.eye_side, r.Y, L.EYE_Y) * L.eye_profile(r.X) * gauss(r.Y - L.EYE_Y, L.LID_FALLOFF)


def lower_lid_weight(r: MeshRegions) -> np.ndarray:
    return _head(r) * _lower(r.eye_side, r.Y, L.EYE_Y) * L.eye_profile(r.X) * gauss(r.Y - L.EYE_Y, 0.055)


def _brow_vertical(Y: np.ndarray) -> np.ndarray:
    """Vertical profile of brow motion: 0 at the lid, 1 at the brow, fading over the forehead."""
    below = smoothstep((Y - L.EYE_Y - 0.025) / (L.BROW_Y - L.EYE_Y - 0.025))
    above = np.exp(-((Y - L.BROW_Y) / 0.28) ** 2)
    return np.where(Y < L.BROW_Y, below, above)


def _brow_region(r: MeshRegions) -> np.ndarray:
    return _head(r) * _upper(r.eye_side, r.Y, L.EYE_Y + 0.01) * _brow_vertical(r.Y)


def _corner_weight(r: MeshRegions, sigma: float, side: int = 0) -> np.ndarray:
    """Gaussian weight around the mouth corners; side -1 keeps only the subject's right (x < 0)."""
    rc = np.hypot(np.abs(r.X) - L.MOUTH_HALF_WIDTH, (r.Y - L.MOUTH_Y) * 1.15)
    w = _head(r) * gauss(rc, sigma)
    if side < 0:
        w = w * smoothstep((-r.X + 0.03) / 0.06)
    return w


def _lip_region(r: MeshRegions, width_pad: float = 0.07, height: float = 0.13) -> np.ndarray:
    across = 1.0 - smoothstep((np.abs(r.X) - L.MOUTH_HALF_WIDTH - width_pad + 0.06) / 0.08)
    vert = gauss(r.Y - L.MOUTH_Y, height * 0.6)
    return _head(r) * across * vert


def _mouth_open_profile(X: np.ndarray, pad: float = 0.0) -> np.ndarray:
    u = X / (L.MOUTH_HALF_WIDTH + pad)
    return np.clip(1.0 - u * u, 0.0, None) ** 0.6


def jaw_weight(r: MeshRegions) -> np.ndarray:
    """[N] how much each vertex follows the jaw (AU26): 1 for lower lip, chin and lower teeth."""
    head = r.part == L.PART_HEAD
    lower = _lower(r.mouth_side, r.Y, L.MOUTH_Y) | ((r.mouth_side == L.SIDE_NONE) & (r.Y == L.MOUTH_Y))
    lateral = smoothstep((L.MOUTH_Y + 0.01 - r.Y) / 0.32)
    inner = 1.0 - smoothstep((np.abs(r.X) - (L.MOUTH_HALF_WIDTH - 0.13)) / 0.13)
    w_head = np.where(lower, np.maximum(lateral, inner), 0.0)
    w_head = w_head * smoothstep((np.cos(r.theta) - 0.05) / 0.4)
    w_mouth = smoothstep((L.MOUTH_Y - 0.0105 - r.Y) / 0.018)
    return np.where(head, w_head, np.where(r.part == L.PART_MOUTH, w_mouth, 0.0))


# ---------------------------------------------------------------- the AUs
def au1(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    d[:, 1] = 0.085 * _brow_region(r) * gauss(np.abs(r.X) - 0.12, 0.13)
    return d


def au2(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    d[:, 1] = 0.085 * _brow_region(r) * gauss(np.abs(r.X) - 0.46, 0.13)
    return d


def au4(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _brow_region(r) * (1.0 - smoothstep((np.abs(r.X) - 0.45) / 0.2))
    inner = gauss(np.abs(r.X) - 0.12, 0.12)
    d[:, 1] = -0.07 * w * (0.5 + 0.5 * inner)
    d[:, 0] = -0.055 * np.sign(r.X) * w * inner
    d[:, 2] = 0.012 * w * inner
    return d


def au5(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    d[:, 1] = 0.045 * upper_lid_weight(r) - 0.006 * lower_lid_weight(r)
    return d


def au6(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    cheek = _head(r) * gauss(np.hypot(np.abs(r.X) - 0.34, r.Y + 0.12), 0.12)
    d[:, 1] = 0.045 * cheek + 0.020 * lower_lid_weight(r)
    d[:, 2] = 0.02 * cheek
    crow = _head(r) * gauss(np.hypot(np.abs(r.X) - 0.50, r.Y - L.EYE_Y), 0.07)
    d[:, 0] += -0.02 * np.sign(r.X) * crow
    d[:, 1] += -0.008 * upper_lid_weight(r)
    return d


def au7(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    d[:, 1] = 0.022 * lower_lid_weight(r) - 0.016 * upper_lid_weight(r)
    return d


def au9(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    h = _head(r)
    nose = h * gauss(r.X, 0.10) * gauss(r.Y + 0.08, 0.14)
    wings = h * gauss(np.hypot(np.abs(r.X) - 0.09, r.Y - L.NOSTRIL_Y), 0.06)
    upper_lip = h * _upper(r.mouth_side, r.Y, L.MOUTH_Y) * gauss(r.Y - L.MOUTH_Y, 0.07) \
        * (0.3 + 0.7 * _mouth_open_profile(r.X, 0.05))
    d[:, 1] = 0.025 * nose + 0.035 * wings + 0.040 * upper_lip
    d[:, 0] = 0.012 * np.sign(r.X) * wings
    d[:, 2] = -0.014 * h * gauss(r.Y - 0.02, 0.025) * gauss(r.X, 0.07)   # crease across the bridge
    brow_in = _brow_region(r) * gauss(np.abs(r.X) - 0.12, 0.10)
    d[:, 1] += -0.022 * brow_in + 0.012 * lower_lid_weight(r)
    return d


def _corner_puller(r: MeshRegions, side: int) -> np.ndarray:
    d = np.zeros((r.X.shape[0], 3))
    w = _corner_weight(r, 0.13, side)
    d[:, 1] = 0.08 * w
    d[:, 0] = 0.045 * np.sign(r.X) * w
    d[:, 2] = -0.02 * w
    cheek = _head(r) * gauss(np.hypot(np.abs(r.X) - 0.33, r.Y + 0.30), 0.10)
    if side < 0:
        cheek = cheek * smoothstep((-r.X + 0.03) / 0.06)
    d[:, 2] += 0.025 * cheek
    d[:, 1] += 0.02 * cheek
    return d


def au12(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    return _corner_puller(r, 0)


def au12r(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    return _corner_puller(r, -1)


def _dimpler(r: MeshRegions, side: int) -> np.ndarray:
    d = np.zeros((r.X.shape[0], 3))
    w = _corner_weight(r, 0.09, side)
    d[:, 0] = -0.022 * np.sign(r.X) * w
    d[:, 1] = 0.018 * w
    d[:, 2] = -0.04 * w
    return d


def au14(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    return _dimpler(r, 0)


def au14r(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    return _dimpler(r, -1)


def au15(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _corner_weight(r, 0.13)
    d[:, 1] = -0.07 * w
    d[:, 0] = 0.012 * np.sign(r.X) * w
    chin = _head(r) * gauss(np.hypot(r.X, r.Y + 0.78), 0.12)
    d[:, 2] = 0.012 * chin
    return d


def au16(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _head(r) * _lower(r.mouth_side, r.Y, L.MOUTH_Y) * _mouth_open_profile(r.X, 0.02) ** 0.6 \
        * gauss(r.Y - L.MOUTH_Y, 0.10)
    d[:, 1] = -0.06 * w
    d[:, 2] = 0.012 * w
    return d


def au18(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _lip_region(r, 0.09, 0.15)
    d[:, 0] = -0.36 * r.X * w
    d[:, 2] = 0.06 * w * (1.0 - smoothstep((np.abs(r.X) - 0.05) / 0.25) * 0.5)
    prof = _mouth_open_profile(r.X)
    d[:, 1] = 0.014 * prof * w * _upper(r.mouth_side, r.Y, L.MOUTH_Y) \
        - 0.020 * prof * w * _lower(r.mouth_side, r.Y, L.MOUTH_Y)
    return d


def au20(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _lip_region(r, 0.12, 0.16)
    wc = _corner_weight(r, 0.12)
    d[:, 0] = 0.26 * r.X * w
    d[:, 1] = -0.02 * wc
    d[:, 2] = -0.015 * wc
    return d


def au23(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _lip_region(r, 0.04, 0.11)
    d[:, 1] = -0.40 * (r.Y - L.MOUTH_Y) * w
    d[:, 0] = -0.10 * r.X * w
    d[:, 2] = -0.012 * w
    return d


def au24(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    w = _lip_region(r, 0.05, 0.12)
    prof = _mouth_open_profile(r.X)
    d[:, 1] = -0.30 * (r.Y - L.MOUTH_Y) * w \
        - 0.012 * prof * w * _upper(r.mouth_side, r.Y, L.MOUTH_Y) \
        + 0.016 * prof * w * _lower(r.mouth_side, r.Y, L.MOUTH_Y)
    d[:, 2] = -0.028 * w
    return d


def au25(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    h = _head(r)
    prof = _mouth_open_profile(r.X, 0.005)
    up = h * _upper(r.mouth_side, r.Y, L.MOUTH_Y) * prof * gauss(r.Y - L.MOUTH_Y, 0.07)
    lo = h * _lower(r.mouth_side, r.Y, L.MOUTH_Y) * prof * gauss(r.Y - L.MOUTH_Y, 0.08)
    d[:, 1] = 0.030 * up - 0.036 * lo
    return d


def au26(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    """Jaw drop: w(v) * (R(theta_max) (v - hinge) + hinge - v), R a rotation about the x axis."""
    w = jaw_weight(r)
    ang = np.deg2rad(L.JAW_MAX_ANGLE_DEG)
    c, s = np.cos(ang), np.sin(ang)
    hy, hz = L.JAW_HINGE[1], L.JAW_HINGE[2]
    y, z = p[:, 1] - hy, p[:, 2] - hz
    # positive angle: the chin (y < hinge, z > hinge) moves down and back
    y2 = c * y - s * z
    z2 = s * y + c * z
    d = _zeros(p)
    d[:, 1] = w * (y2 - y)
    d[:, 2] = w * (z2 - z)
    return d


def au45(p: np.ndarray, r: MeshRegions) -> np.ndarray:
    d = _zeros(p)
    d[:, 1] = -(L.EYE_OPEN_UP + 0.80 * L.EYE_OPEN_DOWN) * upper_lid_weight(r) + 0.004 * lower_lid_weight(r)
    d[:, 2] = 0.008 * upper_lid_weight(r)
    return d


AU_FIELDS: dict[str, Field] = {
    "AU1": au1, "AU2": au2, "AU4": au4, "AU5": au5, "AU6": au6, "AU7": au7, "AU9": au9,
    "AU12": au12, "AU12R": au12r, "AU14": au14, "AU14R": au14r, "AU15": au15, "AU16": au16,
    "AU18": au18, "AU20": au20, "AU23": au23, "AU24": au24, "AU25": au25, "AU26": au26, "AU45": au45,
}


def build_au_basis(positions: np.ndarray, regions: MeshRegions,
                   names: tuple[str, ...] = AU_NAMES) -> np.ndarray:
    """Evaluate the AU fields on a neutral mesh: positions [N, 3] -> au_basis [N, 3, K] float32."""
    unknown = [n for n in names if n not in AU_FIELDS]
    if unknown:
        raise ValueError(f"unknown action units {unknown}; valid: {list(AU_FIELDS)}")
    p = np.asarray(positions, dtype=np.float64)
    return np.stack([AU_FIELDS[n](p, regions) for n in names], axis=-1).astype(np.float32)
