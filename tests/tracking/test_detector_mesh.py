"""BlazeFace, the face mesh and the crops they share, on the astronaut photo."""
from __future__ import annotations

import numpy as np

from emohead.tracking.crops import Rect, sample_rect
from emohead.tracking.detector import ssd_anchors, weighted_nms

from .conftest import face_mesh_on


def test_anchor_layout():
    a = ssd_anchors()
    assert a.shape == (896, 2)
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])          # stride 8: 16 x 16 cells, 2 anchors each
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))   # stride 16: 8 x 8, 6 each
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_merges_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    b, _, s = weighted_nms(boxes, kps, np.array([0.9, 0.6, 0.7]))
    assert len(b) == 2 and s[0] == np.float32(0.9)
    np.testing.assert_allclose(b[0], [0.4, 0, 10.4, 10], atol=1e-5)       # score-weighted mean of the first two


def test_rect_round_trip_and_sampling():
    r = Rect(40.0, 30.0, 50.0, 50.0, 0.3)
    p = np.random.default_rng(0).uniform(0, 64, (10, 2))
    np.testing.assert_allclose(r.image_to_crop(r.crop_to_image(p, 64), 64), p, atol=1e-9)
    img = np.zeros((80, 100, 3), np.uint8)
    img[30, 40] = 255                                        # one bright pixel at the rect centre (x 40, y 30)
    crop = sample_rect(img, Rect(40.0, 30.0, 9.0, 9.0, 0.7), 9)
    assert np.unravel_index(crop[..., 0].argmax(), crop.shape[:2]) == (4, 4)


def test_detector_finds_the_astronaut(tracker, astronaut):
    dets = tracker.detector(astronaut)
    assert len(dets) == 1 and dets.scores[0] > 0.8
    x0, y0, x1, y1 = dets.boxes[0]                           # measured: 177, 80, 272, 175
    assert 160 < x0 < 195 and 65 < y0 < 95 and 255 < x1 < 290 and 160 < y1 < 190
    right_eye, left_eye, nose, mouth = dets.keypoints[0, :4]
    assert right_eye[0] < nose[0] < left_eye[0] and nose[1] < mouth[1]
    assert len(tracker.detector(np.zeros((300, 400, 3), np.uint8))) == 0


def test_mesh_lands_on_the_face(tracker, astronaut):
    _, res = face_mesh_on(tracker, astronaut)
    assert res.points.shape == (468, 3) and res.presence > 0.9
    eye_r, eye_l, nose, chin = res.points[[33, 263, 1, 152], :2]
    assert 185 < eye_r[0] < 205 and 245 < eye_l[0] < 265 and 90 < eye_r[1] < 110     # measured 194, 255, y 100
    assert eye_r[1] < nose[1] < chin[1] and 160 < chin[1] < 185                        # chin measured at 172
    blank = tracker.mesh(np.zeros_like(astronaut), res.rect)
    assert blank.presence < 0.1
