"""Load 3DDFA-format Basel Face Model files (e.g. 3DDFA_V2's ``bfm_noneck_v3.pkl``).

Expected keys (.npz or MATLAB .mat; a pickle only when the caller trusts it, ``trust_pickle=True``, since
unpickling runs code stored in the file): ``u`` [3N, 1] mean shape, ``w_shp`` [3N, S] identity basis,
``w_exp`` [3N, 10] expression basis, ``tri`` [F, 3] or [3, F] (0- or 1-based) triangles,
``keypoints`` [204] indices into the flattened 3N vector (68 landmark vertices x (x, y, z)).
The 3N layout is interleaved ``[x0, y0, z0, x1, ...]`` and is reshaped to [N, 3].

The result is a :class:`MorphableModel` without an AU library (``au_basis`` None), with grey vertex
colours and every vertex / triangle labelled "skin" (BFM files carry no parsing labels). BFM
coordinates are kept as stored (3DDFA: y up, +z toward the viewer, about 1e5 units per head);
rescale with your pose ``t`` / camera if needed. Triangles are reordered counter-clockwise seen
from outside when the stored winding is the opposite one (judged from the mean shape).
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from emohead.face.morphable import N_EXPRESSION, N_LANDMARKS, PARSING_LABELS, MorphableModel

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("u", "w_shp", "w_exp", "tri", "keypoints")


def _read(path: Path, trust_pickle: bool) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"BFM file {path} does not exist")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".mat":
        from scipy.io import loadmat
        return {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}
    if not trust_pickle:
        raise ValueError(f"BFM file {path}: only .npz and .mat are read; a {path.suffix or 'suffix-less'} file may be a "
                         "pickle, and unpickling runs code stored in it. Convert it once with "
                         "emohead.face.bfm.convert_to_npz(path, out, trust_pickle=True) if you trust where it came from")
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"BFM file {path}: expected a dict, got {type(data).__name__}")
    return data


def _outward_fraction(mean: np.ndarray, tri: np.ndarray) -> float:
    v0, v1, v2 = mean[tri[:, 0]], mean[tri[:, 1]], mean[tri[:, 2]]
    n = np.cross(v1 - v0, v2 - v0)
    c = (v0 + v1 + v2) / 3.0 - mean.mean(0)
    return float(np.mean(np.sum(n * c, axis=1) > 0))


def convert_to_npz(path: str | Path, out: str | Path, *, trust_pickle: bool = False) -> Path:
    """Write a 3DDFA-format BFM (e.g. ``bfm_noneck_v3.pkl``) as an .npz that loads without unpickling."""
    data = _read(Path(path), trust_pickle)
    out = Path(out)
    np.savez(out, **{k: np.asarray(data[k]) for k in REQUIRED_KEYS if k in data})
    return out


def load_bfm_3ddfa(path: str | Path, *, trust_pickle: bool = False) -> MorphableModel:
    """Read a 3DDFA-format BFM (.npz, .mat; a pickle only with ``trust_pickle``) into a :class:`MorphableModel`."""
    path = Path(path)
    data = _read(path, trust_pickle)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"BFM file {path}: missing key(s) {missing}; expected {list(REQUIRED_KEYS)}")
    u = np.asarray(data["u"], dtype=np.float64).reshape(-1)
    if u.size == 0 or u.size % 3:
        raise ValueError(f"BFM file {path}: key 'u' must hold 3N values, got shape {np.shape(data['u'])}")
    n3 = u.size
    n = n3 // 3

    def basis(key: str, cols: int | None) -> np.ndarray:
        a = np.asarray(data[key], dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != n3 or (cols is not None and a.shape[1] != cols):
            want = f"[{n3}, {cols if cols is not None else 'S'}]"
            raise ValueError(f"BFM file {path}: key {key!r} must be {want}, got shape {a.shape}")
        return a

    w_shp = basis("w_shp", None)
    w_exp = basis("w_exp", N_EXPRESSION)
    tri = np.asarray(data["tri"])
    if tri.ndim != 2 or 3 not in tri.shape:
        raise ValueError(f"BFM file {path}: key 'tri' must be [F, 3] or [3, F], got shape {tri.shape}")
    if tri.shape[1] != 3:
        tri = tri.T
    tri = tri.astype(np.int64)
    if tri.size and tri.min() == 1 and tri.max() == n:
        tri = tri - 1                                               # 1-based (MATLAB) indices
    if tri.size == 0 or tri.min() < 0 or tri.max() >= n:
        raise ValueError(f"BFM file {path}: key 'tri' indexes outside [0, {n}) (range {tri.min()}..{tri.max()})")
    kp = np.asarray(data["keypoints"]).reshape(-1).astype(np.int64)
    if kp.size != 3 * N_LANDMARKS:
        raise ValueError(f"BFM file {path}: key 'keypoints' must hold {3 * N_LANDMARKS} indices, got {kp.size}")
    if kp.min() < 0 or kp.max() >= n3:
        raise ValueError(f"BFM file {path}: key 'keypoints' indexes outside [0, {n3})")
    xs = kp[0::3]
    if np.any(xs % 3 != 0) or np.any(kp[1::3] != xs + 1) or np.any(kp[2::3] != xs + 2):
        raise ValueError(f"BFM file {path}: key 'keypoints' must be (3i, 3i+1, 3i+2) triplets")
    mean = u.reshape(n, 3)
    if _outward_fraction(mean, tri) < 0.5:
        tri = tri[:, [0, 2, 1]]
    f = len(tri)
    log.info("loaded BFM %s: %d vertices, %d triangles, %d shape dims", path, n, f, w_shp.shape[1])
    return MorphableModel(
        mean=mean.astype(np.float32),
        shape_basis=w_shp.reshape(n, 3, -1).astype(np.float32),
        expression_basis=w_exp.reshape(n, 3, N_EXPRESSION).astype(np.float32),
        triangles=tri,
        colors=np.full((n, 3), 0.7, dtype=np.float32),
        landmark_ids=(xs // 3).astype(np.int64),
        vertex_labels=np.full(n, PARSING_LABELS["skin"], np.uint8),
        triangle_labels=np.full(f, PARSING_LABELS["skin"], np.uint8),
        name=f"bfm:{path.name}",
    )
