"""The procedural morphable face: a head mesh with eyes, brows, lips and mouth interior, built in code.

The mesh (geometry, parts, colours): :mod:`.procedural_mesh`.

Identity basis (S = 40)
    A few interpretable smooth fields (face width, face length, jaw width, nose length, nose width,
    eye spacing, lip thickness, brow height, chin, cheeks, forehead) then random smooth RBF fields,
    orthonormalised in vertex space (in that order) and scaled with decreasing sigmas, so that
    beta ~ N(0, I) gives plausible, clearly different faces.

Expression basis (10 dims, entangled like 3DDFA's): :mod:`.expression_space`.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

from emohead.face import layout as L
from emohead.face.facs import AU_NAMES, build_au_basis
from emohead.face.layout import MeshRegions, gauss, smoothstep
from emohead.face.expression_space import expression_from_aus, sample_expression_aus
from emohead.face.morphable import MorphableModel
from emohead.face.procedural_mesh import MATERIALS, N_SHAPE, PART_ORDER, MeshBuilder, build_geometry, colours_and_labels

log = logging.getLogger(__name__)
# ============================================================== landmarks
def _landmarks(b: MeshBuilder) -> np.ndarray:
    """iBUG-68 vertex ids (0 = subject's right jaw, x < 0; see morphable.py for the order)."""
    head = np.arange(b.n_head)
    hx, hy, hth = b.X[head], b.Y[head], b.theta[head]
    front = np.cos(hth) > 0.2

    def nearest(x: float, y: float, pool: np.ndarray | None = None) -> int:
        ids = head[front] if pool is None else pool
        d = (b.X[ids] - x) ** 2 + (b.Y[ids] - y) ** 2
        return int(ids[np.argmin(d)])

    def at_row(row: int, x: float, lower: bool = False) -> int:
        cols = b.index[row]
        c = int(np.argmin(np.abs(b.X[cols] - x)))
        v = int(cols[c])
        return b.lower_copy.get(v, v) if lower else v

    ids: list[int] = []
    # jaw 0-16 along the contour, by azimuth and height
    for k in range(17):
        t = (k - 8) / 8.0
        th_t = np.deg2rad(66.0) * t
        y_t = -0.90 + 0.84 * np.abs(t) ** 1.7
        d = ((hth - th_t) / 0.05) ** 2 + ((hy - y_t) / 0.03) ** 2
        ids.append(int(head[np.argmin(d)]))
    # brows 17-21 (right, outer -> inner), 22-26 (left, inner -> outer)
    bx = [0.47, 0.38, 0.29, 0.20, 0.12]
    for x in bx:
        ids.append(nearest(-x, float(L.brow_centre_y(np.array(x)))))
    for x in bx[::-1]:
        ids.append(nearest(x, float(L.brow_centre_y(np.array(x)))))
    # nose 27-30 bridge, 31-35 base
    for y in (0.14, 0.02, -0.09, L.NOSE_TIP_Y):
        ids.append(nearest(0.0, y))
    for x in (-0.085, -0.045, 0.0, 0.045, 0.085):
        ids.append(nearest(x, L.NOSTRIL_Y - 0.025 + 0.01 * (abs(x) > 0.06)))
    # eyes 36-41 (right), 42-47 (left)
    re, lw = b.r_eye, L.EYE_HALF_WIDTH
    for sign in (-1, 1):
        cols = b.eye_cols["right" if sign < 0 else "left"]
        xs = b.X[b.index[re, cols]]
        c_in = cols[np.argmin(np.abs(xs))] - sign          # corner columns (outside the slit)
        c_out = cols[np.argmax(np.abs(xs))] + sign
        inner, outer = int(b.index[re, c_in]), int(b.index[re, c_out])
        x1 = sign * (L.EYE_X - lw / 3)
        x2 = sign * (L.EYE_X + lw / 3)
        if sign < 0:   # 36 outer, 37 38 upper, 39 inner, 40 41 lower
            ids += [outer, at_row(re, x2), at_row(re, x1), inner, at_row(re, x1, True), at_row(re, x2, True)]
        else:          # 42 inner, 43 44 upper, 45 outer, 46 47 lower
            ids += [inner, at_row(re, x1), at_row(re, x2), outer, at_row(re, x2, True), at_row(re, x1, True)]
    # outer lips 48-59
    rm = b.r_mouth
    cols = b.mouth_cols
    xs = b.X[b.index[rm, cols]]
    c_r = cols[np.argmin(xs)] - 1          # corner columns (shared)
    c_l = cols[np.argmax(xs)] + 1
    corner_r, corner_l = int(b.index[rm, c_r]), int(b.index[rm, c_l])
    ids.append(corner_r)
    for x in (-0.15, -0.065, 0.0, 0.065, 0.15):
        u = abs(x) / L.MOUTH_HALF_WIDTH
        top = L.MOUTH_Y + L.UPPER_LIP_HEIGHT * (1 - u ** 2) ** 0.5 * (1 - 0.18 * np.exp(-0.5 * (x / 0.025) ** 2)) \
            + 0.012 * np.exp(-0.5 * ((abs(x) - 0.05) / 0.03) ** 2)
        ids.append(nearest(x, top))
    ids.append(corner_l)
    for x in (0.15, 0.065, 0.0, -0.065, -0.15):
        u = abs(x) / L.MOUTH_HALF_WIDTH
        ids.append(nearest(x, L.MOUTH_Y - L.LOWER_LIP_HEIGHT * (1 - u ** 2) ** 0.6))
    # inner lips 60-67
    c_r_in, c_l_in = int(b.index[rm, c_r]), int(b.index[rm, c_l])
    ids.append(c_r_in)
    for x in (-0.09, 0.0, 0.09):
        ids.append(at_row(rm, x))
    ids.append(c_l_in)
    for x in (0.09, 0.0, -0.09):
        ids.append(at_row(rm, x, True))
    return np.array(ids, dtype=np.int64)


# ============================================================== identity basis
def _identity_fields(b: MeshBuilder, pos: np.ndarray, seed: int) -> np.ndarray:
    """Raw identity displacement fields [N, 3, S] before orthonormalisation."""
    X, Y = b.X, b.Y
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    front = smoothstep((np.cos(b.theta) + 0.1) / 0.5)
    face = front * (1.0 - smoothstep((Y - 0.7) / 0.3))
    fields = []

    def f(dx=0.0, dy=0.0, dz=0.0):
        d = np.zeros_like(pos)
        d[:, 0], d[:, 1], d[:, 2] = dx, dy, dz
        fields.append(d)

    eyes = gauss(np.hypot(np.abs(X) - L.EYE_X, Y - L.EYE_Y), 0.12) * front
    nose = gauss(X, 0.09) * gauss(Y - L.NOSE_TIP_Y - 0.05, 0.16) * front
    lips = (1 - smoothstep((np.abs(X) - L.MOUTH_HALF_WIDTH) / 0.08)) * gauss(Y - L.MOUTH_Y, 0.08) * front
    brows = gauss(Y - L.BROW_Y, 0.10) * (1 - smoothstep((np.abs(X) - 0.5) / 0.1)) * front
    f(dx=x)                                                        # face width
    f(dy=y * (1 - smoothstep((y + 0.1) / 0.4)))                    # face (lower) length
    f(dx=x * smoothstep((-0.15 - Y) / 0.6))                        # jaw width
    f(dy=-nose * 0.5, dz=nose * (1 + 3 * (z - 0.9).clip(0)))        # nose length / protrusion
    f(dx=X * nose * 2.0)                                           # nose width
    f(dx=np.sign(X) * eyes)                                        # eye spacing
    f(dy=(Y - L.MOUTH_Y) * lips * 3.0, dz=lips * 0.3)              # lip thickness
    f(dy=brows)                                                    # brow height
    f(dz=gauss(np.hypot(X, Y + 0.82), 0.14) * front, dy=-0.5 * gauss(np.hypot(X, Y + 0.85), 0.14) * front)  # chin
    f(dx=np.sign(X) * gauss(np.hypot(np.abs(X) - 0.45, Y + 0.15), 0.18) * front)   # cheek fullness
    f(dz=(Y > 0.3) * (Y - 0.3) * face)                             # forehead slope
    rng = np.random.default_rng([seed, 4242])
    pool = np.nonzero((b.part == L.PART_HEAD) & (np.cos(b.theta) > 0.3) & (np.abs(Y) < 0.9))[0]
    flip = np.array([-1.0, 1.0, 1.0])
    while len(fields) < N_SHAPE:                                   # random smooth, mirror-symmetric fields
        d = np.zeros_like(pos)
        for _ in range(3):
            c = pos[rng.choice(pool)]
            sigma = rng.uniform(0.2, 0.45)
            vec = rng.normal(size=3) * np.array([1.0, 1.0, 0.7])
            for cc, vv in ((c, vec), (c * flip, vec * flip)):
                w = np.exp(-0.5 * np.sum((pos - cc) ** 2, axis=1) / sigma ** 2)
                d += w[:, None] * vv
        fields.append(d)
    return np.stack(fields, axis=-1)


def _identity_basis(b: MeshBuilder, pos: np.ndarray, seed: int) -> np.ndarray:
    raw = _identity_fields(b, pos, seed)                     # [N, 3, S]
    n = raw.shape[0]
    q, rr = np.linalg.qr(raw.reshape(n * 3, N_SHAPE))
    q = q * np.sign(np.diag(rr))[None, :]                   # keep each field's sign
    q = q.reshape(n, 3, N_SHAPE)
    # scale: per-field max displacement, decreasing (interpretable fields are the larger ones)
    named = np.array([0.05, 0.05, 0.05, 0.04, 0.03, 0.025, 0.012, 0.03, 0.035, 0.03, 0.03])
    target = np.concatenate([named, 0.028 * 0.96 ** np.arange(N_SHAPE - len(named))])
    mx = np.linalg.norm(q, axis=1).max(axis=0)
    return (q * (target / mx)[None, None, :]).astype(np.float32)


# ============================================================== the model
@functools.lru_cache(maxsize=8)
def build_procedural_model(seed: int = 0) -> MorphableModel:
    """The procedural morphable face (deterministic in ``seed``; cached).

    seed selects the random identity fields and the expression-mixing rotation; the mean face,
    topology, AU library and landmarks are the same for every seed.
    """
    b, parts = build_geometry()
    regions = b.regions()
    pos = b.pos.astype(np.float64)
    triangles = np.concatenate([parts[k] for k in PART_ORDER])
    colors, vlab, tlab, mats = colours_and_labels(b, parts)
    landmarks = _landmarks(b)
    au_basis = build_au_basis(pos, regions, AU_NAMES)
    shape_basis = _identity_basis(b, pos, seed)
    samples = sample_expression_aus(4000, AU_NAMES, seed)
    expr_to_au, lam = expression_from_aus(au_basis, samples, seed)
    expression_basis = np.einsum("nck,kd->ncd", au_basis.astype(np.float64), expr_to_au.astype(np.float64))
    log.debug("procedural model: %d vertices, %d triangles, expression eigvals %s",
              len(pos), len(triangles), np.round(lam, 4))
    model = MorphableModel(
        mean=pos.astype(np.float32), shape_basis=shape_basis,
        expression_basis=expression_basis.astype(np.float32), triangles=triangles.astype(np.int64),
        colors=colors, landmark_ids=landmarks, vertex_labels=vlab, triangle_labels=tlab,
        au_names=AU_NAMES, au_basis=au_basis, expression_to_au=expr_to_au, vertex_materials=mats,
        name=f"procedural(seed={seed})",
    )
    return model


def mesh_regions() -> MeshRegions:
    """Region data (frontal coordinates, parts, slit sides) of the procedural mesh's vertices."""
    b, _ = build_geometry()
    return b.regions()


__all__ = ["build_procedural_model", "sample_expression_aus", "expression_from_aus", "MATERIALS",
           "mesh_regions", "N_SHAPE"]
