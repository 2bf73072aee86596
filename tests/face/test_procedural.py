"""The procedural morphable model: shapes, determinism, AU <-> alpha algebra, whitening, entanglement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emohead.face import AU_NAMES, PARSING_LABELS, build_procedural_model, sample_expression_aus
from emohead.face.procedural_mesh import build_geometry
from emohead.data.emotions import MEAD_EMOTIONS
from emohead.face.emotion_aus import emotion_au


@pytest.fixture(scope="module")
def model():
    return build_procedural_model(0)


def test_shapes_and_dtypes(model):
    n, f = model.n_vertices, model.n_triangles
    assert model.mean.shape == (n, 3) and model.mean.dtype == np.float32
    assert model.shape_basis.shape == (n, 3, 40) and model.shape_basis.dtype == np.float32
    assert model.expression_basis.shape == (n, 3, 10)
    assert model.triangles.shape == (f, 3) and model.triangles.dtype == np.int64
    assert model.colors.shape == (n, 3) and 0.0 <= model.colors.min() and model.colors.max() <= 1.0
    assert model.landmark_ids.shape == (68,) and model.landmark_ids.dtype == np.int64
    assert model.vertex_labels.shape == (n,) and model.vertex_labels.dtype == np.uint8
    assert model.triangle_labels.shape == (f,) and model.triangle_labels.dtype == np.uint8
    assert model.au_names == AU_NAMES and model.au_basis.shape == (n, 3, len(AU_NAMES))
    assert model.expression_to_au.shape == (len(AU_NAMES), 10)
    assert 3000 <= f <= 10000
    assert np.abs(model.mean).max() <= 1.2


def test_indices_valid(model):
    assert model.triangles.min() == 0 and model.triangles.max() < model.n_vertices
    assert model.landmark_ids.min() >= 0 and model.landmark_ids.max() < model.n_vertices
    assert len(np.unique(model.landmark_ids)) >= 66          # 48/60 and 54/64 may share a corner
    assert set(np.unique(model.triangle_labels)) >= {PARSING_LABELS[k] for k in ("skin", "brows", "eyes", "lips", "mouth", "hair")}


def test_landmark_layout(model):
    lm = model.mean[model.landmark_ids]
    assert lm[36, 0] < lm[39, 0] < 0 < lm[42, 0] < lm[45, 0]      # subject's right eye at x < 0
    assert lm[8, 1] < lm[57, 1] < lm[51, 1] < lm[33, 1] < lm[27, 1] < lm[19, 1]   # chin .. brow, y up
    np.testing.assert_allclose(lm[:, 0], -lm[[16 - i for i in range(17)] + list(range(26, 16, -1))
                                              + list(range(27, 31)) + list(range(35, 30, -1))
                                              + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                                              + list(range(54, 47, -1)) + list(range(59, 54, -1))
                                              + [64, 63, 62, 61, 60, 67, 66, 65], 0], atol=0.04)


def test_triangles_face_outward(model):
    v = model.mean[model.triangles]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    head = model.triangle_labels != PARSING_LABELS["eyes"]
    outward = np.sum(n * (v.mean(1) - np.array([0.0, 0.0, -0.05])), axis=1) > 0
    assert outward[head].mean() > 0.95


def test_deterministic():
    build_procedural_model.cache_clear()
    a = build_procedural_model(0)
    build_procedural_model.cache_clear()
    b = build_procedural_model(0)
    for name in ("mean", "shape_basis", "expression_basis", "triangles", "colors", "landmark_ids", "expression_to_au"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert build_procedural_model(0) is build_procedural_model(0)             # cached
    c = build_procedural_model(1)
    assert not np.allclose(c.shape_basis, a.shape_basis)


def test_arrays_read_only(model):
    with pytest.raises(ValueError):
        model.mean[0, 0] = 1.0


def test_expression_basis_is_au_mix(model):
    rec = np.einsum("nck,kd->ncd", model.au_basis.astype(np.float64), model.expression_to_au.astype(np.float64))
    np.testing.assert_allclose(model.expression_basis, rec, atol=1e-5)


def test_alpha_au_roundtrip(model):
    a = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    np.testing.assert_allclose(model.alpha_from_au(model.au_from_alpha(a)), a, atol=1e-4)
    at = torch.as_tensor(a)
    torch.testing.assert_close(model.alpha_from_au(model.au_from_alpha(at)), at, atol=1e-4, rtol=0)


def test_alpha_from_au_is_least_squares(model):
    au = emotion_au("happy", 3, model.au_names)
    alpha = model.alpha_from_au(au)
    target = model.au_basis.reshape(-1, model.n_au) @ au
    e = model.expression_basis.reshape(-1, 10)
    best = np.linalg.lstsq(e.astype(np.float64), target.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(alpha, best, atol=1e-3)


def test_whitening(model):
    aus = sample_expression_aus(3000, model.au_names, seed=123)          # a fresh draw of the distribution
    std = model.alpha_from_au(aus).std(0)
    assert np.all((std > 0.85) & (std < 1.15)), std


def test_entanglement(model):
    emos = [e for e in MEAD_EMOTIONS if e != "neutral"]
    a = np.stack([model.alpha_from_au(emotion_au(e, 3, model.au_names)) for e in emos])   # [7, 10]
    loaded = (np.abs(a) > 0.5).sum(0)           # per dim: emotions with a non-negligible loading
    assert loaded.max() >= 3
    assert (loaded >= 2).sum() >= 5             # entangled widely, not one dim per emotion


def test_vertices_numpy_and_torch(model):
    rng = np.random.default_rng(1)
    alpha = rng.normal(size=(2, 10)).astype(np.float32)
    beta = rng.normal(size=(2, 40)).astype(np.float32)
    vn = model.vertices(alpha, beta)
    vt = model.vertices(torch.as_tensor(alpha), torch.as_tensor(beta))
    assert isinstance(vt, torch.Tensor) and vt.shape == (2, model.n_vertices, 3)
    np.testing.assert_allclose(vn, vt.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.vertices(np.zeros(10)), model.mean)
    with pytest.raises(ValueError, match="alpha"):
        model.vertices(np.zeros(9))
    with pytest.raises(ValueError, match="beta"):
        model.vertices(np.zeros(10), np.zeros(3))


def test_identity_shapes_differ_plausibly(model):
    beta = np.random.default_rng(2).normal(size=40).astype(np.float32)
    d = np.linalg.norm(model.vertices(np.zeros(10), beta) - model.mean, axis=1)
    assert 0.01 < d.mean() < 0.12 and d.max() < 0.35


def test_slits(model):
    """Mouth rows coincide at rest (lips closed); eye rows are apart (eyes open); AU45 closes them."""
    lm = model.mean[model.landmark_ids]
    assert np.allclose(lm[[61, 62, 63]], lm[[67, 66, 65]], atol=1e-6)
    assert np.all(lm[[37, 38, 43, 44], 1] - lm[[41, 40, 47, 46], 1] > 0.04)
    k = model.au_names.index("AU45")
    closed = model.au_vertices(np.eye(model.n_au)[k])[model.landmark_ids]
    assert np.all(np.abs(closed[[37, 38, 43, 44], 1] - closed[[41, 40, 47, 46], 1]) < 0.015)


def test_regions_consistent():
    b, parts = build_geometry()
    assert b.pos.shape[0] == len(b.X) == len(b.part)
    assert sum(len(t) for t in parts.values()) == build_procedural_model(0).n_triangles
