"""The 468 -> 68 map and the mouth aspect ratio."""
from __future__ import annotations

import numpy as np

from emohead.tracking.landmarks68 import GROUPS, MESH_TO_68, landmarks68_from_mesh, mouth_aspect_ratio

from .conftest import face_mesh_on, lfw_portrait


def test_indices_valid():
    assert MESH_TO_68.shape == (68,) and len(set(MESH_TO_68.tolist())) == 68
    assert MESH_TO_68.min() >= 0 and MESH_TO_68.max() < 468


def test_points_in_ibug_order_on_the_astronaut(tracker, astronaut):
    _, res = face_mesh_on(tracker, astronaut)
    lm = landmarks68_from_mesh(res.points)
    x, y = lm[:, 0], lm[:, 1]
    assert x[0] < x[8] < x[16] and y[8] > y[0] and y[8] > y[16]             # jaw: right temple, chin, left temple
    jaw_y = y[GROUPS["jaw"]]
    assert np.all(np.diff(jaw_y[:9]) > 0) and np.all(np.diff(jaw_y[8:]) < 0)   # down to the chin, then up again
    assert np.all(np.diff(x[2:15]) > 0)                                   # and left to right below the temples
    assert x[17:22].max() < x[22:27].min()                                # right brow left of left brow
    assert y[17:27].max() < y[36:48].min()                                # brows above the eyes
    assert y[36:48].max() < y[30] < y[33] < y[48:68].min()                # eyes above nose tip, nose above mouth
    assert x[36] < x[39] < x[42] < x[45]                                  # eye corners left to right
    assert x[48] < x[51] < x[54] and x[60] < x[62] < x[64]                # mouth corners around the philtrum
    assert y[51] < y[62] < y[66] < y[57]                                  # lips top to bottom
    assert abs(x[8] - x[30]) < 10 and abs(x[51] - x[30]) < 10             # chin, lip, nose tip on the midline


def test_map_agrees_with_3ddfa_v2s_own_landmarks(tracker, astronaut):
    """An independent check of every index: 3DDFA_V2's landmark head (trained on iBUG-68) vs the mapped mesh."""
    _, res = face_mesh_on(tracker, astronaut)
    lm = landmarks68_from_mesh(res.points)
    other = tracker.tddfa.head_landmarks(astronaut, lm)
    d = np.linalg.norm(other - lm, axis=1) / np.linalg.norm(lm[36] - lm[45])     # in eye distances (62 px)
    limits = {"jaw": 0.15, "right_brow": 0.12, "left_brow": 0.12, "nose": 0.08, "right_eye": 0.06,
              "left_eye": 0.06, "mouth": 0.06}           # measured: 0.075, 0.065 (brows), 0.04, 0.03 (eyes), 0.028
    for group, limit in limits.items():
        assert d[GROUPS[group]].mean() < limit, (group, d[GROUPS[group]])
    assert d.max() < 0.3                                  # every point near its counterpart: measured max 0.15 (jaw 0)


def test_mar_matches_the_repository_definition():
    from emohead.face.mar import mouth_aspect_ratio as repo_mar

    lm = np.random.default_rng(0).normal(0, 20, (5, 68, 2)).astype(np.float32)
    np.testing.assert_allclose(mouth_aspect_ratio(lm), repo_mar(lm), rtol=1e-5)


def test_mar_closed_vs_open_mouth(tracker, lfw, astronaut):
    closed = mouth_aspect_ratio(landmarks68_from_mesh(face_mesh_on(tracker, lfw_portrait(lfw, 2))[1].points))
    opened = mouth_aspect_ratio(landmarks68_from_mesh(face_mesh_on(tracker, lfw_portrait(lfw, 0))[1].points))
    smile = mouth_aspect_ratio(landmarks68_from_mesh(face_mesh_on(tracker, astronaut)[1].points))
    # measured: LFW #2 (lips closed) 0.020, LFW #0 (mouth open, 'o') 0.33, the astronaut (teeth showing) 0.167
    assert closed < 0.06 and opened > 0.2 and closed < smile < opened
