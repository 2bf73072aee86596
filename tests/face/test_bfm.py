"""Loading 3DDFA-format BFM files (written here as tiny stand-ins)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from payloads import Payload
from scipy.io import savemat

from emohead.face import PARSING_LABELS, load_bfm_3ddfa
from emohead.face.bfm import convert_to_npz


def _tiny_bfm(n: int = 120, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    from scipy.spatial import ConvexHull
    tri = ConvexHull(pts).simplices.astype(np.int64)
    v = pts[tri]
    inward = np.sum(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]) * v.mean(1), axis=1) < 0
    tri[inward] = tri[inward][:, [0, 2, 1]]
    tri = tri[:, [0, 2, 1]]                                     # stored clockwise: the loader must flip it
    ids = rng.choice(n, size=68, replace=False)
    return {
        "u": pts.reshape(-1, 1).astype(np.float32) * 1e4,
        "w_shp": rng.normal(size=(3 * n, 40)).astype(np.float32),
        "w_exp": rng.normal(size=(3 * n, 10)).astype(np.float32),
        "tri": (tri + 1).T,                                     # MATLAB style: 1-based, [3, F]
        "keypoints": np.stack([3 * ids, 3 * ids + 1, 3 * ids + 2], 1).reshape(-1),
        "_ids": ids, "_pts": pts, "_tri": tri,
    }


def _write_pkl(path, d):
    with open(path, "wb") as fh:
        pickle.dump({k: v for k, v in d.items() if not k.startswith("_")}, fh)


def _write_npz(path, d):
    np.savez(path, **{k: v for k, v in d.items() if not k.startswith("_")})


def test_a_pickle_is_never_unpickled_unless_trusted(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "bfm_noneck_v3.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"u": Payload(marker)}, fh)
    with pytest.raises(ValueError, match="only .npz and .mat") as e:
        load_bfm_3ddfa(path)
    assert "bfm_noneck_v3.pkl" in str(e.value) and not marker.exists()


def test_load_trusted_pickle_and_convert_it(tmp_path):
    d = _tiny_bfm()
    path = tmp_path / "bfm_noneck_v3.pkl"
    _write_pkl(path, d)
    converted = convert_to_npz(path, tmp_path / "bfm.npz", trust_pickle=True)
    for m in (load_bfm_3ddfa(path, trust_pickle=True), load_bfm_3ddfa(converted)):
        _check_tiny(m, d)
    savemat(tmp_path / "bfm.mat", {k: v for k, v in d.items() if not k.startswith("_")})
    _check_tiny(load_bfm_3ddfa(tmp_path / "bfm.mat"), d)


def _check_tiny(m, d):
    n = len(d["_pts"])
    assert m.mean.shape == (n, 3) and m.shape_basis.shape == (n, 3, 40) and m.expression_basis.shape == (n, 3, 10)
    np.testing.assert_allclose(m.mean, d["_pts"] * 1e4, rtol=1e-5)           # interleaved x, y, z
    np.testing.assert_allclose(m.expression_basis[5, 1], d["w_exp"][3 * 5 + 1])
    np.testing.assert_array_equal(m.landmark_ids, d["_ids"])
    assert m.triangles.min() == 0 and m.triangles.max() == n - 1
    assert m.au_basis is None and m.au_names == ()
    assert (m.vertex_labels == PARSING_LABELS["skin"]).all() and (m.triangle_labels == PARSING_LABELS["skin"]).all()
    # triangles face outward (the hull is convex around the origin)
    v = m.mean[m.triangles]
    nrm = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (np.sum(nrm * v.mean(1), axis=1) > 0).all()
    with pytest.raises(ValueError, match="action-unit"):
        m.alpha_from_au(np.zeros(3))
    v = m.vertices(np.ones(10), np.zeros(40))
    np.testing.assert_allclose(v, m.mean + m.expression_basis.sum(-1), rtol=1e-4, atol=1e-2)


def test_load_npz_zero_based_f3(tmp_path):
    d = _tiny_bfm(seed=1)
    d["tri"] = d["_tri"]
    path = tmp_path / "bfm.npz"
    np.savez(path, **{k: v for k, v in d.items() if not k.startswith("_")})
    m = load_bfm_3ddfa(path)
    assert m.triangles.shape == d["_tri"].shape and m.triangles.max() == len(d["_pts"]) - 1


def test_missing_key_named(tmp_path):
    d = _tiny_bfm()
    del d["w_exp"]
    path = tmp_path / "bad.npz"
    _write_npz(path, d)
    with pytest.raises(ValueError, match=r"w_exp") as e:
        load_bfm_3ddfa(path)
    assert "bad.npz" in str(e.value)


@pytest.mark.parametrize("key,value", [
    ("w_exp", np.zeros((30, 10))), ("w_shp", np.zeros((360, 40, 1))), ("keypoints", np.arange(10)),
    ("tri", np.full((5, 3), 999)),
])
def test_wrong_shape_named(tmp_path, key, value):
    d = _tiny_bfm()
    d[key] = value
    path = tmp_path / "bad.npz"
    _write_npz(path, d)
    with pytest.raises(ValueError, match=key):
        load_bfm_3ddfa(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_bfm_3ddfa(tmp_path / "nope.pkl")
