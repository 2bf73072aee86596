"""The z-buffer rasterizer and the face renderer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emohead.face import (FACE_LABELS, PARSING_LABELS, build_procedural_model, default_camera, mouth_aspect_ratio,
                          rasterize, render_faces, rotation_from_euler)
from emohead.face.emotion_aus import emotion_au

SIZE = 96


@pytest.fixture(scope="module")
def model():
    return build_procedural_model(0)


def _brute_force(pix: np.ndarray, z: np.ndarray, tris: np.ndarray, h: int, w: int):
    """Reference: loop over pixels and triangles (float64), nearest perspective-correct depth wins."""
    tid = np.full((h, w), -1)
    depth = np.full((h, w), np.inf)
    edge = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            for f, (a, b, c) in enumerate(tris):
                (x0, y0), (x1, y1), (x2, y2) = pix[a], pix[b], pix[c]
                area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
                if area >= 0:                                   # back-facing (image y down)
                    continue
                w1 = ((j - x0) * (y2 - y0) - (x2 - x0) * (i - y0)) / area
                w2 = ((x1 - x0) * (i - y0) - (j - x0) * (y1 - y0)) / area
                w0 = 1 - w1 - w2
                if min(w0, w1, w2) < -1e-9:
                    continue
                if min(w0, w1, w2) < 1e-3:
                    edge[i, j] = True
                zz = 1.0 / (w0 / z[a] + w1 / z[b] + w2 / z[c])
                if zz < depth[i, j]:
                    depth[i, j], tid[i, j] = zz, f
    return tid, depth, edge


def test_rasterize_matches_brute_force():
    # two overlapping triangles at different depths, one tilted in depth, plus a back-facing one
    pix = np.array([[1.3, 1.2], [14.6, 2.1], [3.2, 13.7],
                    [4.1, 3.3], [15.2, 9.8], [2.2, 15.1],
                    [0.5, 0.5], [10.0, 12.0], [12.0, 0.5]], dtype=np.float64)
    z = np.array([5.0, 5.0, 5.0, 4.0, 7.0, 6.0, 1.0, 1.0, 1.0])
    tris = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    for k, want_front in enumerate((True, True, False)):
        (x0, y0), (x1, y1), (x2, y2) = pix[tris[k]]
        front = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0) < 0     # CCW seen by the viewer, y-down image
        if front != want_front:
            tris[k] = tris[k, [0, 2, 1]]
    ref_t, ref_z, edge = _brute_force(pix, z, tris, 16, 17)
    fr = rasterize(torch.as_tensor(pix, dtype=torch.float32)[None], torch.as_tensor(z, dtype=torch.float32)[None],
                   torch.as_tensor(tris), 16, 17)
    got_t = fr.triangle_ids[0].numpy()
    ok = ~edge
    assert (got_t[ok] == ref_t[ok]).all()
    assert set(np.unique(ref_t)) == {-1, 0, 1}                # the back-facing triangle is culled
    cov = ok & (ref_t >= 0)
    np.testing.assert_allclose(fr.depth[0].numpy()[cov], ref_z[cov], rtol=1e-5)
    assert np.isinf(fr.depth[0].numpy()[ok & (ref_t < 0)]).all()
    b = fr.barycentrics[0].numpy()[got_t >= 0]
    np.testing.assert_allclose(b.sum(-1), 1.0, atol=1e-5)


def test_rasterize_shared_edge_has_no_holes():
    pix = torch.tensor([[[0.3, 0.3], [0.3, 20.7], [20.7, 20.7], [20.7, 0.3]]])
    z = torch.ones(1, 4)
    tris = torch.tensor([[0, 1, 2], [0, 2, 3]])           # a square split along its diagonal, facing the viewer
    fr = rasterize(pix, z, tris, 22, 22)
    t = fr.triangle_ids[0]
    assert (t[1:21, 1:21] >= 0).all()
    assert (t[0] == -1).all() and (t[:, 21] == -1).all()


def _render(model, au, *, yaw=0.0, size=SIZE, batch=None, exact=False):
    au = np.atleast_2d(np.asarray(au, np.float32))
    b = len(au)
    R = np.repeat(rotation_from_euler(yaw)[None], b, 0)
    verts = model.au_vertices(au) if exact else None
    return render_faces(model, model.alpha_from_au(au), None, R, np.zeros((b, 3)), default_camera(size), size,
                        vertices=verts)


def test_render_outputs(model):
    out = _render(model, np.zeros(model.n_au))
    assert out.image.shape == (1, SIZE, SIZE, 3) and out.image.dtype == torch.float32
    assert 0.0 <= float(out.image.min()) and float(out.image.max()) <= 1.0
    assert out.depth.shape == (1, SIZE, SIZE) and out.parsing.dtype == torch.uint8
    assert out.landmarks.shape == (1, 68, 2)
    labels = set(np.unique(out.parsing.numpy()).tolist())
    assert labels >= {PARSING_LABELS[k] for k in ("background", "torso", "skin", "brows", "eyes", "lips", "hair")}
    bg = out.parsing[0] == 0
    assert torch.isinf(out.depth[0][bg]).all() and torch.isfinite(out.depth[0][~bg]).all()
    # head in the upper part of the image, shoulders below
    rows = np.nonzero((out.parsing[0].numpy() == PARSING_LABELS["hair"]).any(1))[0]
    assert rows.min() < 0.15 * SIZE
    assert (out.parsing[0, -1].numpy() == PARSING_LABELS["torso"]).mean() > 0.5


def test_landmarks_on_face(model):
    out = _render(model, np.zeros(model.n_au))
    lm = out.landmarks[0].numpy()
    lab = out.parsing[0].numpy()[np.round(lm[:, 1]).astype(int), np.round(lm[:, 0]).astype(int)]
    assert np.isin(lab, FACE_LABELS).all(), lab
    assert lm[36, 0] < lm[45, 0] and lm[27, 1] < lm[33, 1] < lm[62, 1] < lm[8, 1]


def test_no_holes_when_turned(model):
    for yaw in (-25.0, 25.0):
        p = _render(model, np.zeros(model.n_au), yaw=yaw, size=128).parsing[0].numpy()
        for r in range(p.shape[0]):
            nz = np.nonzero(p[r])[0]
            if len(nz):
                assert (p[r, nz[0]:nz[-1]] != 0).all(), (yaw, r)


def test_batch_equals_per_frame_and_deterministic(model):
    rng = np.random.default_rng(0)
    alpha = rng.normal(size=(3, 10)).astype(np.float32) * 0.7
    beta = rng.normal(size=40).astype(np.float32)
    R = rotation_from_euler([-10.0, 0.0, 12.0], [5.0, 0.0, -4.0], [0.0, 3.0, 0.0])
    t = np.array([[0.02, 0.0, 0.0], [0.0, 0.03, 0.0], [0.0, 0.0, 0.1]], np.float32)
    cam = default_camera(64)
    full = render_faces(model, alpha, beta, R, t, cam, 64)
    again = render_faces(model, alpha, beta, R, t, cam, 64)
    assert torch.equal(full.image, again.image) and torch.equal(full.parsing, again.parsing)
    for i in range(3):
        one = render_faces(model, alpha[i:i + 1], beta, R[i:i + 1], t[i:i + 1], cam, 64)
        torch.testing.assert_close(one.image[0], full.image[0 + i], atol=1e-5, rtol=0)
        assert (one.parsing[0] != full.parsing[i]).float().mean() < 1e-3
        torch.testing.assert_close(one.landmarks[0], full.landmarks[i])


def test_mar_rises_with_jaw(model):
    k = model.n_au
    aus = np.zeros((4, k), np.float32)
    aus[:, model.au_names.index("AU26")] = [0.0, 0.3, 0.6, 1.0]
    mar = mouth_aspect_ratio(_render(model, aus).landmarks)
    assert float(mar[0]) < 0.02
    assert torch.all(mar[1:] > mar[:-1]) and float(mar[-1]) > 0.3
    assert (_render(model, aus[-1]).parsing == PARSING_LABELS["mouth"]).sum() > 20


def _region_box(lm: np.ndarray, ids, pad: int, size: int) -> tuple[slice, slice]:
    p = lm[list(ids)]
    x0, y0 = np.floor(p.min(0)).astype(int) - pad
    x1, y1 = np.ceil(p.max(0)).astype(int) + pad
    return slice(max(y0, 0), min(y1, size)), slice(max(x0, 0), min(x1, size))


@pytest.mark.parametrize("what,region", [
    ("AU1", "brows"), ("AU2", "brows"), ("AU4", "brows"), ("AU12", "mouth"), ("AU15", "mouth"),
    ("AU5", "eyes"), ("AU45", "eyes"),
    ("happy", "mouth"), ("sad", "brows"), ("sad", "mouth"), ("angry", "brows"), ("surprised", "brows"),
    ("surprised", "mouth"), ("fear", "eyes"), ("disgusted", "mouth"), ("contempt", "mouth"),
])
def test_expression_changes_its_region(model, what, region):
    size = 128
    neutral = _render(model, np.zeros(model.n_au), size=size)
    if what.startswith("AU"):
        au = np.eye(model.n_au, dtype=np.float32)[model.au_names.index(what)]
        out = _render(model, au, size=size, exact=True)
    else:
        out = _render(model, emotion_au(what, 3, model.au_names), size=size)   # through the 10-d alpha
    lm = neutral.landmarks[0].numpy()
    ids = {"brows": range(17, 27), "mouth": range(48, 68), "eyes": range(36, 48)}[region]
    ys, xs = _region_box(lm, ids, 4, size)
    diff = (out.image[0] - neutral.image[0]).abs().sum(-1).numpy()
    changed = diff[ys, xs] > 0.1
    assert changed.sum() >= 8, (what, region, int(changed.sum()))
