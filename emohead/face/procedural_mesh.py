"""The procedural face's mesh: geometry, feature fields, parts, colours and labels (built in code, no data files).

Geometry
    A grid (rows crown -> under the chin, columns azimuth -125..125 deg) wrapped on a lathe surface
    with super-elliptic cross-sections, plus displacement fields for the nose (bridge, tip,
    nostrils), brow ridge, eye sockets, cheekbones, lips and chin, and a hair volume. Eyes and mouth
    are *slits*: one grid row is duplicated between the corners; the triangles above use the upper
    copy and those below the lower copy. The upper eyelid row rests raised (eyes open) and AU45
    lowers it; the mouth rows coincide at rest (lips closed) and AU25 / AU26 open them. Behind each
    eye sits an eyeball cap (sclera, iris, pupil by vertex colour); behind the mouth a copy of the
    lip-region grid, pushed back, is the mouth interior (dark red, teeth bands, tongue).

The morphable model built on this mesh (landmarks, identity and expression bases): :mod:`.procedural`.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator, PchipInterpolator
from scipy.optimize import brentq

from emohead.face import layout as L
from emohead.face.layout import MeshRegions, gauss, smoothstep
from emohead.face.morphable import PARSING_LABELS

N_SHAPE = 40
PART_ORDER = ("head", "eye_right", "eye_left", "socket_right", "socket_left", "mouth")
N_COLUMNS = 57
THETA_MAX_DEG = 125.0
SUPERELLIPSE_N = 2.4

# rows of the mouth interior, relative to MOUTH_Y (pairs of close rows make sharp colour edges)
MOUTH_INTERIOR_ROWS = (0.10, 0.062, 0.040, 0.038, -0.008, -0.010, -0.020, -0.028, -0.030,
                       -0.056, -0.058, -0.10, -0.17)
TEETH_UPPER = (-0.009, 0.039)
TEETH_LOWER = (-0.057, -0.029)

# materials (finer than parsing labels; used to recolour identities)
MATERIALS: dict[str, int] = {
    "skin": 0, "brows": 1, "hair": 2, "lips": 3, "sclera": 4, "iris": 5, "pupil": 6,
    "mouth": 7, "teeth": 8, "tongue": 9, "lash": 10,
}

BASE_SKIN = np.array([0.86, 0.67, 0.55])
BASE_HAIR = np.array([0.22, 0.14, 0.09])
BASE_BROW = np.array([0.20, 0.13, 0.09])
BASE_LIPS = np.array([0.76, 0.36, 0.38])
BASE_IRIS = np.array([0.36, 0.22, 0.12])

# profile keypoints, crown -> under the chin: (y, rx, rz, z offset)
_PROFILE = np.array([
    [1.13, 0.00, 0.00, -0.10],
    [1.07, 0.36, 0.38, -0.10],
    [0.93, 0.62, 0.68, -0.09],
    [0.72, 0.76, 0.86, -0.07],
    [0.46, 0.81, 0.93, -0.05],
    [0.16, 0.82, 0.95, -0.04],
    [-0.14, 0.80, 0.93, -0.02],
    [-0.40, 0.73, 0.88, 0.01],
    [-0.62, 0.62, 0.81, 0.04],
    [-0.80, 0.48, 0.72, 0.07],
    [-0.93, 0.32, 0.60, 0.09],
    [-1.00, 0.18, 0.42, 0.08],
    [-1.03, 0.05, 0.20, 0.05],
])


# ============================================================== surface
class _Profile:
    """Lathe profile as a function of arc parameter s in [0, 1] (crown -> under the chin)."""

    def __init__(self) -> None:
        kp = _PROFILE
        zf = kp[:, 2] + kp[:, 3]
        seg = np.sqrt(np.diff(kp[:, 0]) ** 2 + np.diff(zf) ** 2 + np.diff(kp[:, 1]) ** 2)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        self.length = float(s[-1])
        self.s_kp = s / s[-1]
        self.f = PchipInterpolator(self.s_kp, kp, axis=0)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        """[..] -> [.., 4] (y, rx, rz, zoff)."""
        return self.f(np.clip(s, 0.0, 1.0))

    def s_at_y(self, y: float) -> float:
        return float(brentq(lambda s: float(self(np.array(s))[0]) - y, 0.0, 1.0))


def _row_params(prof: _Profile) -> tuple[np.ndarray, int, int]:
    """Row s values (denser at eyes and mouth) with exact rows at EYE_Y and MOUTH_Y."""
    s = np.linspace(0.0, 1.0, 4001)
    y = prof(s)[:, 0]
    spacing = np.full_like(y, 0.040)
    spacing = np.where(y > 0.62, 0.12, spacing)
    spacing = np.where(y < -0.93, 0.08, spacing)
    near = np.maximum(gauss(y - L.EYE_Y, 0.09), gauss(y - L.MOUTH_Y, 0.11))
    spacing = spacing * (1.0 - 0.40 * near)
    ds = np.gradient(s) * prof.length
    n = np.concatenate([[0.0], np.cumsum(0.5 * (ds[1:] + ds[:-1]) / (0.5 * (spacing[1:] + spacing[:-1])))])
    s_eye, s_mouth = prof.s_at_y(L.EYE_Y), prof.s_at_y(L.MOUTH_Y)
    rows = []
    idx = []
    for a, b in ((0.0, s_eye), (s_eye, s_mouth), (s_mouth, 1.0)):
        na, nb = np.interp(a, s, n), np.interp(b, s, n)
        count = max(2, int(round(nb - na)))
        levels = np.linspace(na, nb, count + 1)
        seg = np.interp(levels, n, s)
        seg[0], seg[-1] = a, b
        if rows:
            seg = seg[1:]
        rows.extend(seg.tolist())
        idx.append(len(rows) - 1)
    return np.array(rows), idx[0], idx[1]


def _column_thetas() -> np.ndarray:
    u = np.linspace(-1.0, 1.0, N_COLUMNS)
    a = 0.42
    return np.deg2rad(THETA_MAX_DEG) * (a * u + (1.0 - a) * u ** 5)


def _spow(v: np.ndarray, e: float) -> np.ndarray:
    return np.sign(v) * np.abs(v) ** e


def _surface(prof: _Profile, s: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Rest surface points for broadcast (s, theta): [..., 3]."""
    yr = prof(s)
    e = 2.0 / SUPERELLIPSE_N
    x = yr[..., 1] * _spow(np.sin(theta), e)
    z = yr[..., 3] + yr[..., 2] * _spow(np.cos(theta), e)
    return np.stack([x, yr[..., 0], z], axis=-1)


# ============================================================== feature fields
def hairline_y(X: np.ndarray) -> np.ndarray:
    """Height of the front hairline at frontal x (a little lower at the temples)."""
    return L.HAIRLINE_Y - 0.07 * np.clip(np.abs(X) / 0.55, 0.0, 1.0) ** 2


HAIR_SIDE_DEG = 70.0


def hair_mask(X: np.ndarray, Y: np.ndarray, theta: np.ndarray, soft: float = 0.03) -> np.ndarray:
    """Soft hair mask in [0, 1]: above the front hairline, and beyond HAIR_SIDE_DEG of azimuth down
    to ear level at the sides and to the nape at the back (edges follow grid rows and columns)."""
    deg = np.abs(np.rad2deg(theta))
    front = smoothstep((Y - hairline_y(X) + 0.5 * soft) / soft)
    bottom = np.interp(deg, [HAIR_SIDE_DEG, 96, 112, 130], [0.02, -0.05, -0.55, -0.72])
    side = smoothstep((deg - HAIR_SIDE_DEG + 2.0 * soft / 0.03) / (4.0 * soft / 0.03)) \
        * smoothstep((Y - bottom + 0.5 * soft) / soft)
    return np.maximum(front, side)


def lip_mask(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Soft lip mask in [0, 1] (upper lip with a cupid's bow, fuller lower lip)."""
    u = np.clip(np.abs(X) / (L.MOUTH_HALF_WIDTH + 0.01), 0.0, 1.0)
    top = L.MOUTH_Y + L.UPPER_LIP_HEIGHT * (1.0 - u ** 2) ** 0.5 * (1.0 - 0.18 * gauss(X, 0.025)) \
        + 0.012 * gauss(np.abs(X) - 0.05, 0.03)
    bot = L.MOUTH_Y - L.LOWER_LIP_HEIGHT * (1.0 - u ** 2) ** 0.6
    m_top = 1.0 - smoothstep((Y - top + 0.006) / 0.012)
    m_bot = smoothstep((Y - bot + 0.006) / 0.012)
    within = 1.0 - smoothstep((np.abs(X) - L.MOUTH_HALF_WIDTH) / 0.015)
    return m_top * m_bot * within


def _feature_dz(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Relief of the face along +z: nose, brow ridge, sockets, cheeks, lips, chin. [N]."""
    ax = np.abs(X)
    # nose: a ridge from the brows to the tip, a rounded tip, nostril wings
    t = np.clip((0.22 - Y) / (0.22 - L.NOSE_TIP_Y), 0.0, 1.0)            # 0 at the root, 1 at the tip
    ridge_h = 0.035 + 0.15 * t ** 1.3
    ridge_w = 0.050 + 0.022 * t
    ridge = ridge_h * np.exp(-(X / ridge_w) ** 2) * smoothstep((Y - L.NOSE_TIP_Y + 0.07) / 0.07) \
        * (1.0 - smoothstep((Y - 0.24) / 0.1))
    tip = 0.05 * gauss(X, 0.048) * gauss(Y - L.NOSE_TIP_Y, 0.042)
    wings = 0.068 * gauss(np.hypot((ax - 0.082) / 1.0, (Y - L.NOSTRIL_Y + 0.005) * 1.3), 0.036)
    columella = 0.06 * gauss(X, 0.03) * gauss(Y - (L.NOSTRIL_Y - 0.005), 0.022)
    nose = np.maximum(np.maximum(ridge, tip + ridge * 0.9), np.maximum(wings, columella))
    # brow ridge, eye sockets, cheekbones
    brow = 0.05 * gauss(Y - 0.35, 0.07) * (1.0 - smoothstep((ax - 0.42) / 0.15))
    socket = -0.075 * np.exp(-0.5 * (((ax - L.EYE_X) / 0.14) ** 2 + ((Y - L.EYE_Y + 0.01) / 0.10) ** 2))
    cheek = 0.045 * np.exp(-0.5 * (((ax - 0.40) / 0.12) ** 2 + ((Y + 0.10) / 0.11) ** 2))
    # lips
    lipx = 1.0 - smoothstep((ax - L.MOUTH_HALF_WIDTH + 0.06) / 0.10)
    lips = lipx * (0.045 * gauss(Y - (L.MOUTH_Y + 0.03), 0.032) + 0.05 * gauss(Y - (L.MOUTH_Y - 0.04), 0.034)
                   - 0.012 * gauss(Y - L.MOUTH_Y, 0.010))
    philtrum = 0.012 * gauss(Y - (L.MOUTH_Y + 0.14), 0.05) * gauss(X, 0.06)
    # chin and the groove above it
    chin = 0.045 * np.exp(-0.5 * ((X / 0.13) ** 2 + ((Y + 0.83) / 0.07) ** 2))
    groove = -0.02 * gauss(Y + 0.66, 0.03) * gauss(X, 0.12)
    nasolabial = -0.012 * gauss(np.abs(ax - (0.16 + 0.18 * np.clip((-0.28 - Y) / 0.22, 0, 1))), 0.02) \
        * smoothstep((Y + 0.52) / 0.06) * (1.0 - smoothstep((Y + 0.28) / 0.05))
    return nose + brow + socket + cheek + lips + philtrum + chin + groove + nasolabial


def _eye_open_dy(r: MeshRegions) -> np.ndarray:
    """Rest displacement that opens the eye slits (upper lid up, lower lid down). [N]."""
    head = r.part == L.PART_HEAD
    up = (r.eye_side == L.SIDE_UPPER) | ((r.eye_side == L.SIDE_NONE) & (r.Y > L.EYE_Y))
    lo = (r.eye_side == L.SIDE_LOWER) | ((r.eye_side == L.SIDE_NONE) & (r.Y < L.EYE_Y))
    prof = L.eye_profile(r.X)
    return head * prof * (L.EYE_OPEN_UP * up * gauss(r.Y - L.EYE_Y, L.LID_FALLOFF)
                          - L.EYE_OPEN_DOWN * lo * gauss(r.Y - L.EYE_Y, 0.055))


# ============================================================== mesh assembly
def _grid_triangles(rows: int, cols: int, index: np.ndarray) -> np.ndarray:
    """CCW (seen from outside) triangles of a rows x cols grid whose vertex ids are index[r, c]."""
    a = index[:-1, :-1]
    b = index[:-1, 1:]
    d = index[1:, :-1]
    e = index[1:, 1:]
    return np.concatenate([np.stack([a, d, e], -1).reshape(-1, 3), np.stack([a, e, b], -1).reshape(-1, 3)])


def _eyeball(centre: np.ndarray, radius: float, n_seg: int = 18) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Front cap of a sphere: vertices [V, 3], triangles [T, 3] (local ids), polar angle [V] (deg)."""
    polar = np.array([0, 5, 9.0, 10.0, 15.5, 21.0, 22.0, 32, 48, 66, 86, 108], dtype=np.float64)
    psi = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
    verts = [centre + radius * np.array([0.0, 0.0, 1.0])]
    ang = [0.0]
    for p in polar[1:]:
        pr = np.deg2rad(p)
        ring = np.stack([np.sin(pr) * np.cos(psi), np.sin(pr) * np.sin(psi), np.full_like(psi, np.cos(pr))], -1)
        verts.append(centre + radius * ring)
        ang.extend([p] * n_seg)
    v = np.concatenate([verts[0][None], *verts[1:]])
    tris = []
    for m in range(n_seg):
        tris.append([0, 1 + m, 1 + (m + 1) % n_seg])
    for k in range(len(polar) - 2):
        base_in, base_out = 1 + k * n_seg, 1 + (k + 1) * n_seg
        for m in range(n_seg):
            m1 = (m + 1) % n_seg
            tris.append([base_in + m, base_out + m, base_out + m1])
            tris.append([base_in + m, base_out + m1, base_in + m1])
    return v, np.array(tris, dtype=np.int64), np.array(ang)


class MeshBuilder:
    """Collects the procedural mesh (geometry, regions, colours, labels) step by step."""

    def __init__(self) -> None:
        self.prof = _Profile()
        self.s_rows, self.r_eye, self.r_mouth = _row_params(self.prof)
        self.thetas = _column_thetas()
        R, C = len(self.s_rows), len(self.thetas)
        self.R, self.C = R, C
        S, T = np.meshgrid(self.s_rows, self.thetas, indexing="ij")
        rest = _surface(self.prof, S, T).reshape(-1, 3)
        n = R * C
        index = np.arange(n).reshape(R, C)
        X, Y, theta = rest[:, 0].copy(), rest[:, 1].copy(), T.reshape(-1).copy()
        eye_side = np.zeros(n, np.int8)
        mouth_side = np.zeros(n, np.int8)
        below_index = index.copy()          # ids used by the quads below each row
        extra_src: list[int] = []
        extra_eye_side: list[int] = []
        extra_mouth_side: list[int] = []
        # eye slits
        xe = rest[index[self.r_eye], 0]
        self.eye_cols = {}
        for sign, key in ((-1, "right"), (1, "left")):
            cols = np.nonzero(np.abs(xe - sign * L.EYE_X) < L.EYE_HALF_WIDTH * 0.999)[0]
            self.eye_cols[key] = cols
            for c in cols:
                v = index[self.r_eye, c]
                eye_side[v] = L.SIDE_UPPER
                below_index[self.r_eye, c] = n + len(extra_src)
                extra_src.append(v)
                extra_eye_side.append(L.SIDE_LOWER)
                extra_mouth_side.append(L.SIDE_NONE)
        # mouth slit
        xm = rest[index[self.r_mouth], 0]
        self.mouth_cols = np.nonzero(np.abs(xm) < L.MOUTH_HALF_WIDTH * 0.999)[0]
        for c in self.mouth_cols:
            v = index[self.r_mouth, c]
            mouth_side[v] = L.SIDE_UPPER
            below_index[self.r_mouth, c] = n + len(extra_src)
            extra_src.append(v)
            extra_eye_side.append(L.SIDE_NONE)
            extra_mouth_side.append(L.SIDE_LOWER)
        src = np.array(extra_src, dtype=np.int64)
        self.lower_copy = dict(zip(src.tolist(), range(n, n + len(src))))
        # quads: rows r (top) use index, rows r+1 (bottom) use index; a quad between r and r+1 takes
        # its top vertices from below_index[r] (lower copies where row r is a slit row)
        top = below_index[:-1]
        bot = index[1:]
        quad_index = np.stack([top, bot], axis=1)   # [R-1, 2, C]
        tris = []
        for r in range(R - 1):
            tris.append(_grid_triangles(2, C, quad_index[r]))
        self.head_tris = np.concatenate(tris)
        self.pos = np.concatenate([rest, rest[src]])
        self.X = np.concatenate([X, X[src]])
        self.Y = np.concatenate([Y, Y[src]])
        self.theta = np.concatenate([theta, theta[src]])
        self.eye_side = np.concatenate([eye_side, np.array(extra_eye_side, np.int8)])
        self.mouth_side = np.concatenate([mouth_side, np.array(extra_mouth_side, np.int8)])
        self.part = np.zeros(len(self.pos), np.int8)
        self.index = index
        self.n_head = len(self.pos)

    def regions(self) -> MeshRegions:
        front = smoothstep((np.cos(self.theta) + 0.1) / 0.5)
        return MeshRegions(X=self.X, Y=self.Y, theta=self.theta, part=self.part,
                           eye_side=self.eye_side, mouth_side=self.mouth_side, front=front)

    def shape_head(self) -> None:
        """Apply the feature relief, hair volume and the rest eye opening to the head surface."""
        front = smoothstep((np.cos(self.theta) - 0.05) / 0.35)
        dz = _feature_dz(self.X, self.Y) * front
        self.pos[:, 2] += dz
        hm = hair_mask(self.X, self.Y, self.theta)
        centre = np.array([0.0, 0.05, -0.05])
        radial = self.pos - centre
        radial /= np.linalg.norm(radial, axis=1, keepdims=True) + 1e-9
        shift = np.sign(self.theta) * np.deg2rad(20.0 / 3.0)      # volume starts at the colour edge
        vol = hair_mask(self.X, self.Y - 0.05, self.theta - shift, soft=0.10) * (0.03 + 0.03 * smoothstep((self.Y - 0.3) / 0.4))
        self.pos += radial * vol[:, None]
        self.pos[:, 1] += _eye_open_dy(self.regions())
        self.hair = hm

    def add_part(self, verts: np.ndarray, tris: np.ndarray, part: int, X: np.ndarray, Y: np.ndarray,
                 theta: np.ndarray) -> np.ndarray:
        start = len(self.pos)
        self.pos = np.concatenate([self.pos, verts])
        self.X = np.concatenate([self.X, X])
        self.Y = np.concatenate([self.Y, Y])
        self.theta = np.concatenate([self.theta, theta])
        self.part = np.concatenate([self.part, np.full(len(verts), part, np.int8)])
        self.eye_side = np.concatenate([self.eye_side, np.zeros(len(verts), np.int8)])
        self.mouth_side = np.concatenate([self.mouth_side, np.zeros(len(verts), np.int8)])
        return tris + start


def _skin_z_at(b: MeshBuilder, x: float, y: float) -> float:
    """z of the (shaped) head surface nearest to frontal point (x, y)."""
    head = slice(0, b.n_head)
    d = (b.X[head] - x) ** 2 + (b.Y[head] - y) ** 2 + 10.0 * (np.cos(b.theta[head]) < 0)
    return float(b.pos[head][np.argmin(d), 2])


def build_geometry() -> tuple[MeshBuilder, dict[str, np.ndarray]]:
    b = MeshBuilder()
    b.shape_head()
    parts: dict[str, np.ndarray] = {"head": b.head_tris}
    # eyeballs
    eyeball_polar = []
    for part, sign, key in ((L.PART_EYE_RIGHT, -1, "eye_right"), (L.PART_EYE_LEFT, 1, "eye_left")):
        cx, cy = sign * L.EYE_X, L.EYE_Y + 0.005
        zskin = _skin_z_at(b, cx, cy)
        centre = np.array([cx, cy, zskin - 0.012 - L.EYEBALL_RADIUS])
        v, t, polar = _eyeball(centre, L.EYEBALL_RADIUS)
        parts[key] = b.add_part(v, t, part, v[:, 0], v[:, 1], np.zeros(len(v)))
        eyeball_polar.append(polar)
    b.eyeball_polar = np.concatenate(eyeball_polar)
    # eye sockets: dark patches behind each eyeball, so oblique rays through a slit never miss
    near = np.arange(b.n_head)[(np.cos(b.theta[:b.n_head]) > 0.0) & (np.abs(b.Y[:b.n_head] - L.EYE_Y) < 0.35)]
    skin_z = LinearNDInterpolator(np.stack([b.X[near], b.Y[near]], 1), b.pos[near, 2])
    skin_near = NearestNDInterpolator(np.stack([b.X[near], b.Y[near]], 1), b.pos[near, 2])
    for part, sign, key in ((L.PART_EYE_RIGHT, -1, "socket_right"), (L.PART_EYE_LEFT, 1, "socket_left")):
        gx, gy = np.meshgrid(sign * (L.EYE_X + np.array([-0.29, -0.22, -0.15, -0.08, 0.0, 0.08, 0.16, 0.24, 0.32,
                                                          0.38, 0.43, 0.47, 0.51])),
                             L.EYE_Y + np.linspace(0.17, -0.17, 7))
        # depth behind the skin tapers toward the side of the head, sealing the socket laterally
        depth = (L.EYEBALL_RADIUS + 0.02) * (1.0 - smoothstep((np.abs(gx) - 0.52) / 0.26)) + 0.015
        zs = skin_z(gx, gy)
        zs = np.where(np.isnan(zs), skin_near(gx, gy), zs)       # outside the hull: nearest vertex
        gz = zs - depth
        v = np.stack([gx, gy, gz], -1).reshape(-1, 3)
        local = np.arange(gx.size).reshape(gx.shape)
        tris = _grid_triangles(*gx.shape, local)
        tris = np.concatenate([tris, tris[:, [0, 2, 1]]])   # two-sided: oblique rays may see its back
        parts[key] = b.add_part(v, tris, L.PART_SOCKET, gx.reshape(-1), gy.reshape(-1), np.zeros(gx.size))
    b.n_socket = sum(len(parts[k]) for k in ("socket_right", "socket_left"))
    # mouth interior: its own grid behind the lips (rows placed for sharp teeth edges)
    front = np.arange(b.n_head)[(np.cos(b.theta[:b.n_head]) > 0.3) & (np.abs(b.Y[:b.n_head] - L.MOUTH_Y) < 0.3)]
    interp = LinearNDInterpolator(np.stack([b.X[front], b.Y[front]], 1), b.pos[front, 2])
    xs = np.linspace(-(L.MOUTH_HALF_WIDTH + 0.07), L.MOUTH_HALF_WIDTH + 0.07, 17)
    ys = L.MOUTH_Y + np.array(MOUTH_INTERIOR_ROWS)
    gx, gy = np.meshgrid(xs, ys)
    zs = interp(gx, gy)
    depth = 0.08 + 0.35 * gx ** 2
    v = np.stack([gx * 0.96, gy, zs - depth], -1).reshape(-1, 3)
    local = np.arange(gx.size).reshape(gx.shape)
    tris = _grid_triangles(*gx.shape, local)
    parts["mouth"] = b.add_part(v, tris, L.PART_MOUTH, gx.reshape(-1), gy.reshape(-1), np.zeros(gx.size))
    return b, parts


def colours_and_labels(b: MeshBuilder, parts: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    n = len(b.pos)
    X, Y, th = b.X, b.Y, b.theta
    head = b.part == L.PART_HEAD
    col = np.tile(BASE_SKIN, (n, 1))
    # smooth skin variation: warmer cheeks / nose, darker sockets, slight jaw shading
    cheeks = np.exp(-0.5 * (((np.abs(X) - 0.36) / 0.11) ** 2 + ((Y + 0.2) / 0.1) ** 2))
    nose_tip = gauss(X, 0.05) * gauss(Y - L.NOSE_TIP_Y, 0.05)
    socket = np.exp(-0.5 * (((np.abs(X) - L.EYE_X) / 0.13) ** 2 + ((Y - L.EYE_Y - 0.04) / 0.07) ** 2))
    col = col + (cheeks * 0.8 + nose_tip * 0.5)[:, None] * np.array([0.04, -0.03, -0.03])
    col = col * (1.0 - 0.10 * socket)[:, None]
    rng = np.random.default_rng(1234)
    col = col * (1.0 + 0.015 * rng.standard_normal(n))[:, None]
    # nostrils: small dark spots under the tip
    nostril = gauss(np.hypot(np.abs(X) - 0.045, Y - (L.NOSTRIL_Y - 0.01)), 0.014) * head
    col = col * (1.0 - 0.55 * nostril)[:, None]
    mat = np.zeros(n, np.uint8)
    lab = np.full(n, PARSING_LABELS["skin"], np.uint8)
    # brows
    bm = L.brow_mask(X, Y) * head * (np.cos(th) > 0)
    col = col * (1 - bm[:, None]) + BASE_BROW * bm[:, None]
    mat[bm > 0.5] = MATERIALS["brows"]
    lab[bm > 0.5] = PARSING_LABELS["brows"]
    # lips
    lm = lip_mask(X, Y) * head * (np.cos(th) > 0)
    col = col * (1 - lm[:, None]) + BASE_LIPS * lm[:, None]
    mat[lm > 0.5] = MATERIALS["lips"]
    lab[lm > 0.5] = PARSING_LABELS["lips"]
    # lash line: the lid rows of the eye slit (and the upper lid just above them)
    lid = head & (L.eye_profile(X) > 0) & (np.abs(Y - L.EYE_Y) < 1e-9)
    lash = np.where(lid & (b.eye_side == L.SIDE_UPPER), 1.0, np.where(lid, 0.45, 0.0))
    lashc = np.array([0.16, 0.10, 0.08])
    col = col * (1 - lash[:, None]) + lashc * lash[:, None]
    mat[lash > 0.9] = MATERIALS["lash"]
    # hair
    hm = hair_mask(X, Y, th) * head
    streak = 1.0 + 0.10 * np.sin(th * 23.0 + Y * 3.0) + 0.05 * rng.standard_normal(n)
    col = col * (1 - hm[:, None]) + (BASE_HAIR * streak[:, None]) * hm[:, None]
    mat[hm > 0.5] = MATERIALS["hair"]
    lab[hm > 0.5] = PARSING_LABELS["hair"]
    # eyeballs
    eye = (b.part == L.PART_EYE_RIGHT) | (b.part == L.PART_EYE_LEFT)
    polar = np.zeros(n)
    polar[eye] = b.eyeball_polar
    sclera = np.array([0.93, 0.91, 0.88])
    ring = np.array([0.14, 0.09, 0.06])
    eye_col = np.where((polar <= 9.5)[:, None], np.array([0.03, 0.03, 0.03]),
                       np.where((polar <= 15.5)[:, None], BASE_IRIS,
                                np.where((polar <= 21.5)[:, None], ring, sclera)))
    eye_col = np.where(((polar > 21.5) & (polar > 60))[:, None], sclera * 0.8, eye_col)
    col[eye] = eye_col[eye]
    mat[eye] = np.where(polar[eye] <= 9.5, MATERIALS["pupil"],
                        np.where(polar[eye] <= 21.5, MATERIALS["iris"], MATERIALS["sclera"]))
    lab[eye] = PARSING_LABELS["eyes"]
    sock = b.part == L.PART_SOCKET
    col[sock] = np.array([0.30, 0.16, 0.15])
    mat[sock] = MATERIALS["mouth"]
    lab[sock] = PARSING_LABELS["eyes"]
    # mouth interior: dark red, upper teeth band, lower teeth band, tongue
    mo = b.part == L.PART_MOUTH
    dy = Y - L.MOUTH_Y
    inside_x = np.abs(X) < L.MOUTH_HALF_WIDTH * 0.85
    upper_teeth = mo & (dy > TEETH_UPPER[0]) & (dy < TEETH_UPPER[1]) & inside_x
    lower_teeth = mo & (dy > TEETH_LOWER[0]) & (dy < TEETH_LOWER[1]) & inside_x
    tongue = mo & (dy <= -0.09)
    mcol = np.where(upper_teeth[:, None] | lower_teeth[:, None], np.array([0.93, 0.91, 0.84]),
                    np.where(tongue[:, None], np.array([0.62, 0.25, 0.27]), np.array([0.30, 0.06, 0.07])))
    col[mo] = mcol[mo]
    mat[mo] = np.where(upper_teeth[mo] | lower_teeth[mo], MATERIALS["teeth"],
                       np.where(tongue[mo], MATERIALS["tongue"], MATERIALS["mouth"]))
    lab[mo] = PARSING_LABELS["mouth"]
    col = np.clip(col, 0.0, 1.0)

    # triangle labels: head triangles by the masks at the centroid's frontal coordinates
    tl = []
    t = parts["head"]
    cx, cy, cth = X[t].mean(1), Y[t].mean(1), th[t].mean(1)
    front = np.cos(cth) > 0
    lab_t = np.full(len(t), PARSING_LABELS["skin"], np.uint8)
    lab_t[(L.brow_mask(cx, cy) > 0.5) & front] = PARSING_LABELS["brows"]
    lab_t[(lip_mask(cx, cy) > 0.5) & front] = PARSING_LABELS["lips"]
    lab_t[hair_mask(cx, cy, cth) > 0.5] = PARSING_LABELS["hair"]
    tl.append(lab_t)
    n_eye = sum(len(parts[k]) for k in ("eye_right", "eye_left", "socket_right", "socket_left"))
    tl.append(np.full(n_eye, PARSING_LABELS["eyes"], np.uint8))
    tl.append(np.full(len(parts["mouth"]), PARSING_LABELS["mouth"], np.uint8))
    return col.astype(np.float32), lab, np.concatenate(tl), mat
