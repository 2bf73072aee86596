"""3DDFA_V2 on real faces: the pose of a frontal portrait, mirror symmetry, expression of a sensible size."""
from __future__ import annotations

import numpy as np

from emohead.tracking.landmarks68 import landmarks68_from_mesh
from emohead.tracking.tddfa import crop_roi, euler_from_rotation, roi_box_from_bbox, roi_box_from_landmarks

from .conftest import face_mesh_on, lfw_portrait


def _pose(tracker, image):
    dets, res = face_mesh_on(tracker, image)
    return tracker.tddfa.predict(image, landmarks68_from_mesh(res.points)), dets


def test_roi_boxes_follow_3ddfa_v2():
    np.testing.assert_allclose(roi_box_from_bbox(np.array([100.0, 100.0, 200.0, 200.0])),
                               [71.0, 85.0, 229.0, 243.0])          # side int(100 * 1.58), 0.14 * 100 lower
    pts = np.array([[0.0, 0.0], [30.0, 40.0]])                     # bounding square of side 40 around (15, 20)
    np.testing.assert_allclose(roi_box_from_landmarks(pts), [15 - 20 * 2 ** 0.5, 20 - 20 * 2 ** 0.5,
                                                             15 + 20 * 2 ** 0.5, 20 + 20 * 2 ** 0.5])


def test_crop_is_bgr_normalised_and_zero_padded():
    img = np.zeros((300, 400, 3), np.uint8)
    img[..., 0] = 255                                               # pure red (RGB)
    crop = crop_roi(img, np.array([-60.0, 0.0, 240.0, 300.0]))       # 300 px -> 120: the left fifth is outside
    assert crop.shape == (120, 120, 3) and crop.dtype == np.float32
    np.testing.assert_allclose(crop[60, 60], [-127.5 / 128, -127.5 / 128, 127.5 / 128])   # BGR: red is last
    np.testing.assert_allclose(crop[60, 5], [-127.5 / 128] * 3)                            # zeros outside
    ramp = np.repeat(np.linspace(0, 255, 400)[None, :, None], 300, 0).repeat(3, 2).astype(np.uint8)
    plain, smooth = (crop_roi(ramp, np.array([50.0, 0.0, 350.0, 300.0]), antialias=a) for a in (False, True))
    assert np.abs(plain - smooth)[:, 2:-2].max() < 0.02              # anti-aliasing changes a ramp ~nothing


def test_euler_convention_matches_the_repository():
    from emohead.face.camera import rotation_from_euler

    angles = np.array([[20.0, -10.0, 5.0], [-35.0, 15.0, -25.0]])
    np.testing.assert_allclose(euler_from_rotation(rotation_from_euler(*angles.T)), angles, atol=1e-4)


def test_astronaut_is_frontal_and_mirrors(tracker, astronaut):
    res, dets = _pose(tracker, astronaut)
    yaw, pitch, roll = res.euler_deg                       # measured: yaw -1.8, pitch 5.9, roll -2.4 (degrees)
    assert abs(yaw) < 6 and abs(pitch) < 12 and abs(roll) < 6
    np.testing.assert_allclose(res.R @ res.R.T, np.eye(3), atol=1e-5)
    assert abs(np.linalg.det(res.R) - 1) < 1e-5
    x0, y0, x1, y1 = dets.boxes[0]                         # the model origin projects into the face
    assert x0 < res.t[0] < x1 and y0 < res.t[1] < y1
    assert 0.3 * (x1 - x0) < res.scale * 1e5 < 3 * (x1 - x0)   # BFM heads are ~1e5 units wide
    std = (res.alpha - tracker.tddfa.mean[52:]) / tracker.tddfa.std[52:]
    assert np.isfinite(res.alpha).all() and np.abs(std).max() < 4      # measured: at most 1.7 std (the smile)
    assert res.beta.shape == (40,) and np.isfinite(res.beta).all()

    mirrored, _ = _pose(tracker, np.ascontiguousarray(astronaut[:, ::-1]))
    m_yaw, m_pitch, m_roll = mirrored.euler_deg            # measured: yaw +1.0, pitch 5.1, roll +3.0
    assert abs(yaw + m_yaw) < 3 and abs(roll + m_roll) < 3 and abs(pitch - m_pitch) < 3
    box_pose = tracker.tddfa.predict(astronaut, dets.boxes[0]).euler_deg    # the 'box' crop policy agrees
    assert np.abs(box_pose - res.euler_deg).max() < 5                       # (measured -2.2, 8.5, -4.1)


def test_turned_face_gives_opposite_yaw_when_mirrored(tracker, lfw):
    image = lfw_portrait(lfw, 75)                           # LFW #75: a face turned toward image left
    yaw = _pose(tracker, image)[0].euler_deg[0]
    m_yaw = _pose(tracker, np.ascontiguousarray(image[:, ::-1]))[0].euler_deg[0]
    assert yaw < -20 and m_yaw > 20 and abs(yaw + m_yaw) < 8   # measured: -32.9 and +34.2 degrees
