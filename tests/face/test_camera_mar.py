"""Camera conventions, head-pose rotations and the mouth aspect ratio."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emohead.face import build_procedural_model, default_camera, mouth_aspect_ratio, rotation_from_euler


def test_project_and_rays_agree():
    cam = default_camera(64)
    o, d = cam.pixel_rays(64, 64)
    pts = o + 10.0 * d
    pix, depth = cam.project(pts)
    jj, ii = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="xy")
    torch.testing.assert_close(pix, torch.stack([jj, ii], -1), atol=2e-3, rtol=0)
    assert (depth > 0).all()
    torch.testing.assert_close(cam.position, torch.tensor([0.0, -0.65, 10.5]), atol=1e-5, rtol=0)


def test_default_framing():
    cam = default_camera(128)
    pix, _ = cam.project(torch.tensor([[0.0, 1.15, 0.0], [0.0, -1.0, 0.9], [1.0, 0.0, 0.0]]))
    crown, chin, right = pix
    assert 0 < crown[1] < 0.12 * 128 and 0.5 * 128 < chin[1] < 0.68 * 128      # y down, head in the upper part
    assert right[0] > 64                                                     # world +x is image right
    with pytest.raises(ValueError, match="image_size"):
        default_camera(0)


def test_rotation_from_euler():
    R = rotation_from_euler([0.0, 20.0, -15.0], [0.0, 10.0, 5.0], [0.0, -5.0, 30.0])
    assert R.shape == (3, 3, 3)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-6)
    fwd = np.array([0.0, 0.0, 1.0])
    assert (rotation_from_euler(20.0) @ fwd)[0] > 0.3                  # yaw > 0: face turns to +x
    assert (rotation_from_euler(0.0, 20.0) @ fwd)[1] < -0.3            # pitch > 0: face tilts down


def test_mar_formula_numpy_and_torch():
    lm = np.zeros((2, 68, 2), np.float32)
    lm[:, 60] = [0.0, 0.0]
    lm[:, 64] = [4.0, 0.0]
    for u, l in ((61, 67), (62, 66), (63, 65)):
        lm[0, u] = [1.0, -1.0]
        lm[0, l] = [1.0, 1.0]                 # gap 2 each -> MAR 0.5
    mar = mouth_aspect_ratio(lm)
    np.testing.assert_allclose(mar, [0.5, 0.0], atol=1e-6)
    torch.testing.assert_close(mouth_aspect_ratio(torch.as_tensor(lm)), torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="68"):
        mouth_aspect_ratio(np.zeros((5, 2)))


def test_mar_of_model_mean_is_zero():
    m = build_procedural_model(0)
    assert float(mouth_aspect_ratio(m.mean[m.landmark_ids][:, :2])) < 1e-6


def test_mouth_crops_use_one_box_around_the_mouth():
    from emohead.face.mar import mouth_crops

    T, S = 3, 64
    frames = np.zeros((T, S, S, 3), np.uint8)
    lm = np.zeros((T, 68, 2), np.float32)
    lm[:, :, 0], lm[:, :, 1] = 10, 10                      # the rest of the face, far from the mouth
    lm[:, 48:68, 0] = np.linspace(30, 40, 20)              # a mouth 10 px wide around (35, 45)
    lm[:, 48:68, 1] = 45
    lm[2, 48, 0] = 28                                      # frame 2's mouth is the widest: 12 px
    frames[:, 45, 35] = 255                                # the mouth centre pixel
    crops = mouth_crops(frames, lm, margin=0.5)
    assert crops.shape == (T, 24, 24, 3)                   # 12 px * (1 + 2 * 0.5), the same box for every frame
    assert (crops.reshape(T, -1).max(1) == 255).all()      # the mouth is inside each crop
    assert mouth_crops(frames, lm, margin=10).shape[1] == S  # never larger than the frame
    with pytest.raises(ValueError, match="landmarks"):
        mouth_crops(frames, lm[:2])
