"""Crop, camera and pose, parsing masks and the split rule of emohead.prepare."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from emohead.face.camera import rotation_from_euler
from emohead.face.morphable import PARSING_LABELS
from emohead.prepare.camera import (canonical_landmarks, head_pose, prepare_camera, project, solve_translation,
                                    synthetic_framing)
from emohead.prepare.crop import CropBox, landmark_boxes, speaker_crop
from emohead.prepare.parsing import parsing_labels
from emohead.prepare.split import assign_splits


def test_crop_maps_points_with_the_pixels():
    """A bright pixel at source (x, y) lands where CropBox.points says, after crop and resize."""
    img = np.zeros((200, 300, 3), np.uint8)
    img[119:122, 149:152] = 255                                       # a 3x3 dot centred on (150, 120)
    box = CropBox(x0=100, y0=60, side=120, size=60)
    out = box.image(img).astype(float)[..., 0]
    yy, xx = np.mgrid[0:60, 0:60]
    centre = np.array([(out * xx).sum(), (out * yy).sum()]) / out.sum()
    assert np.allclose(centre, box.points(np.array([[150.0, 120.0]]))[0], atol=0.15)
    assert box.frames(np.zeros((3, 200, 300), np.float32)).shape == (3, 60, 60)
    with pytest.raises(ValueError, match="leaves the frame"):
        CropBox(250, 0, 120, 60).image(img)


def test_speaker_crop_frames_the_face_like_the_synthetic_world(caplog):
    fx0, fy0, fx1, fy1 = synthetic_framing()
    assert 0.3 < fx1 - fx0 < 0.5 and 0.3 < fy1 - fy0 < 0.45 and fy0 < 0.3     # face in the upper part
    boxes = np.array([[400, 200, 560, 346]] * 5, float) + np.arange(5)[:, None]
    crop = speaker_crop(boxes, (1080, 1920), 512)
    lm_box = crop.points(np.array([[400 + 2, 200 + 2], [560 + 2, 346 + 2]], float))
    frac = (lm_box + 0.5).ravel() / 512
    assert np.allclose(frac, [fx0, fy0, fx1, fy1], atol=0.03)
    with caplog.at_level(logging.WARNING):
        small = speaker_crop(boxes, (300, 400), 512)                   # the frame is too small: shrunk and moved
    assert small.side == 300 and small.y0 == 0 and "needs" in caplog.text
    assert landmark_boxes(np.zeros((2, 68, 2))).shape == (2, 4)


def test_head_pose_recovers_translation_and_projects_onto_the_landmarks():
    R = rotation_from_euler(np.array([10.0, -5, 0, 20]), np.array([5.0, 0, -8, 3]), np.array([0.0, 3, 2, -4]))
    t = np.array([[0.1, 0.2, 0.5], [-0.3, 0, -1.0], [0, 0, 0], [0.2, -0.1, 0.3]])
    K, w2c = prepare_camera(256)
    assert K[0, 0] == pytest.approx(2.7 * 256) and K[0, 2] == pytest.approx(127.5)
    lm = project(canonical_landmarks(), R.astype(float), t, K, w2c)
    assert np.allclose(solve_translation(R, lm, K, w2c), t, atol=1e-6)
    R2, t2, err = head_pose(R, lm.astype(np.float32), 256, smooth=0)
    assert np.allclose(t2, t, atol=1e-4) and err.max() < 1e-3
    assert np.allclose(np.einsum("tij,tkj->tik", R2, R2), np.eye(3), atol=1e-5)
    noisy = lm + np.random.default_rng(0).normal(0, 0.5, lm.shape)
    _, t3, err3 = head_pose(R, noisy.astype(np.float32), 256, smooth=0)
    assert np.abs(t3 - t).max() < 0.05 and err3.mean() < 1.0


def test_parsing_labels():
    H = W = 100
    lm = canonical_landmarks()[:, :2] * np.array([30.0, -30.0]) + np.array([50.0, 45.0])
    ang = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    mesh = np.concatenate([lm, np.stack([50 + 22 * np.cos(ang), 40 + 30 * np.sin(ang)], -1)])
    person = np.zeros((H, W), np.float32)
    person[5:75, 20:80] = 1.0                                         # head and hair
    person[75:, 5:95] = 1.0                                           # shoulders
    lab = parsing_labels(mesh, lm, person)
    L = PARSING_LABELS
    assert lab[0, 0] == L["background"] and lab[95, 10] == L["torso"]
    assert lab[6, 50] == L["hair"]                                    # above the face, a person pixel
    assert lab[40, 50] in (L["skin"], L["eyes"]) and (lab == L["eyes"]).any()
    assert (lab == L["lips"]).any() and lab[90, 50] == L["torso"]


def test_split_rule():
    clips = [(f"c{i}", f"s{i % 12}") for i in range(48)]
    split = assign_splits(clips)
    test_sentences = {s for c, s in clips if split[c] == "test"}
    assert test_sentences == {"s5", "s11"}                            # every 6th in natural order
    assert assign_splits([("a", "s1"), ("b", "s2")]) == {"a": "train", "b": "test"}
    assert assign_splits([("a", "x"), ("b", "x"), ("c", "x")]) == {"a": "train", "b": "train", "c": "test"}
    assert assign_splits([("a", "x")]) == {"a": "train"}
