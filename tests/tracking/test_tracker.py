"""The whole tracker on real pixels: a clip of the astronaut photo moved by known similarity transforms, frames
without a face, and the smoothing and mask helpers."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.tracking import NoFaceError
from emohead.tracking.smoothing import interpolate_missing, moving_average, smooth_boxes
from emohead.tracking.tracker import head_mask

FACE_CENTRE = np.array([225.0, 125.0])


def similarity_clip(image: np.ndarray, n: int = 16):
    """n frames of image moved about the face centre: rotation 15 sin(2 pi s) deg, scale 1 + 0.15 sin(pi s),
    shift (30 s, -20 sin(pi s)) px, s = k / (n - 1) -> (frames [n, H, W, 3] uint8, transforms)."""
    from skimage.transform import SimilarityTransform, warp

    tfs = []
    for k in range(n):
        s = k / (n - 1)
        move = SimilarityTransform(scale=1 + 0.15 * np.sin(np.pi * s), rotation=np.deg2rad(15 * np.sin(2 * np.pi * s)))
        tfs.append(SimilarityTransform(translation=-FACE_CENTRE) + move
                   + SimilarityTransform(translation=FACE_CENTRE + [30 * s, -20 * np.sin(np.pi * s)]))
    frames = np.stack([warp(image, t.inverse, preserve_range=True).round().astype(np.uint8) for t in tfs])
    return frames, tfs


@pytest.fixture(scope="module")
def moved(tracker, astronaut):
    frames, tfs = similarity_clip(astronaut)
    return frames, tfs, tracker.track(frames, name="astronaut_moved")


def test_landmarks_follow_known_motion(moved):
    frames, tfs, track = moved
    T = len(frames)
    assert track.found.all()
    assert track.landmarks.shape == (T, 68, 2) and track.mesh.shape == (T, 468, 3) and track.person.shape == (T, 512, 512)
    err = np.array([np.linalg.norm(tf(track.landmarks[0]) - track.landmarks[k], axis=1) for k, tf in enumerate(tfs)])
    # measured (512 px frames, face ~95 px wide, smooth_frames=5): mean per frame <= 0.9 px, 95th pct 1.5, max 2.5
    assert err.mean(1).max() < 2.0, err.mean(1)
    assert err.max() < 5.0
    mesh_err = np.array([np.linalg.norm(tf(track.mesh[0, :, :2]) - track.mesh[k, :, :2], axis=1)
                         for k, tf in enumerate(tfs)])
    assert mesh_err.mean(1).max() < 2.0                                    # measured <= 0.8 px
    # the 3DDFA_V2 pose follows: in-plane rotation (clockwise on screen = negative roll) and scale
    true_roll = -np.rad2deg([tf.rotation for tf in tfs])
    roll = track.euler_deg[:, 2] - track.euler_deg[0, 2]
    assert np.abs(roll - true_roll).max() < 3.0                            # measured 0.6 deg
    yaw_pitch = track.euler_deg[:, :2]                                     # in-plane motion only: these stay put
    assert np.ptp(yaw_pitch, axis=0).max() < 7.0                           # measured ranges: yaw 3.8, pitch 1.7 deg
    np.testing.assert_allclose(track.scale / track.scale[0], [tf.scale for tf in tfs], rtol=0.04)   # measured 1.2 %
    box_centre = (track.boxes[:, :2] + track.boxes[:, 2:]) / 2
    true_centre = np.array([tf(FACE_CENTRE[None])[0] for tf in tfs])
    assert np.abs((box_centre - box_centre[0]) - (true_centre - true_centre[0])).max() < 6.0   # measured 2.1 px
    assert np.all(np.abs(track.mar - track.mar[0]) < 0.05)                # the mouth does not move: measured 0.017
    assert np.isfinite(track.alpha).all() and track.alpha.shape == (T, 10) and track.beta.shape == (T, 40)


def test_frames_without_a_face_are_flagged_and_filled(tracker, astronaut, lfw):
    from skimage.transform import resize

    frames, tfs = similarity_clip(astronaut, 8)
    non_face = (resize(lfw[110], (512, 512)) * 255).round().astype(np.uint8)   # a non-face BlazeFace fires on
    frames[3] = 0                                                              # blank frame
    frames[5] = non_face[..., None]
    track = tracker.track(frames, name="with_gaps")
    np.testing.assert_array_equal(np.flatnonzero(~track.found), [3, 5])
    for k in (3, 5):                                                         # linear between the neighbours
        np.testing.assert_allclose(track.landmarks[k], (track.landmarks[k - 1] + track.landmarks[k + 1]) / 2,
                                   atol=1e-3)
        np.testing.assert_allclose(track.pose_R[k] @ track.pose_R[k].T, np.eye(3), atol=1e-5)
    assert track.person[3].max() < 0.5                                       # nobody in the blank frame

    with pytest.raises(NoFaceError, match=r"'mostly_blank'.*frames 1, 2, 3") as exc:
        tracker.track(np.concatenate([frames[:1], np.zeros((3, 512, 512, 3), np.uint8)]), name="mostly_blank")
    assert list(exc.value.frames) == [1, 2, 3] and isinstance(exc.value, ValueError)


def test_head_mask(moved):
    frames, _, track = moved
    mask = head_mask(track.mesh[0], 512, 512)
    assert mask.dtype == bool and mask[125, 225] and not mask[10, 10] and not mask[400, 225]
    assert 5000 < mask.sum() < 15000                                         # ~95 x 100 px face: measured 8100


def test_smoothing_helpers():
    t = np.arange(12.0)
    line = np.stack([t, 2 * t + 1], -1)
    np.testing.assert_allclose(moving_average(line, 5), line)                # no lag, exact to the ends
    noisy = line + np.random.default_rng(0).normal(0, 1, line.shape)
    assert np.abs(moving_average(noisy, 5) - line).mean() < np.abs(noisy - line).mean()
    boxes = np.stack([t, t, t + 10, t + 20], -1)
    np.testing.assert_allclose(smooth_boxes(boxes, 5), boxes, atol=1e-5)
    found = np.ones(12, bool)
    found[[0, 5, 6, 11]] = False
    filled, missing = interpolate_missing(line ** 2, found)
    np.testing.assert_array_equal(missing, ~found)
    assert filled[0, 0] == 1.0 and filled[11, 0] == 100.0                    # held at the ends
    np.testing.assert_allclose(filled[5:7, 0], [27.0, 38.0])   # linear between frames 4 (16) and 7 (49)
    with pytest.raises(ValueError, match="no frame"):
        interpolate_missing(line, np.zeros(12, bool))
