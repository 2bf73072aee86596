"""The camera and head poses of prepared clips, in the synthetic world's conventions (so the NeRF runs unchanged).

Camera: every prepared clip stores ``intrinsics`` and ``world_to_camera`` of
:func:`emohead.face.camera.default_camera` for its frame size -- the synthetic world's camera (focal length 2.7 x
the image side, ~21 deg field of view, OpenCV axes; world: y up, +z toward the camera, 1 unit ~ 10 cm). The real
focal length is unknown; a fixed, long one is what AD-NeRF does too (1200 px for 450 px frames, 2.67 x).

Head pose (R, t): ``x_world = R x_model + t`` in the axes of the morphable models (x the subject's left, y up,
+z toward the viewer) -- the synthetic ground truth's convention.

* R is the tracker's 3DDFA_V2 rotation, already in these axes (:class:`emohead.tracking.tracker.FaceTrack`),
  smoothed over time (Gaussian, ``smooth`` frames, on rotation vectors about the clip's mean rotation);
* t is solved per frame, given R, so that the procedural face's inner landmarks (brows, nose, eyes: iBUG 17-47,
  rigid under expression) project through the camera onto the tracked ones in the crop, in the least-squares
  sense (perspective equations made linear by multiplying out the depth, reweighted twice by 1 / depth), then
  smoothed the same way. The procedural face's proportions are not the person's, so a residual remains; it is
  returned per frame (``reprojection_px``) and recorded in the manifest.

The NeRF's head box is the procedural head's bounds (``emohead.render.frames.head_box``), so the real head sits in
it at the procedural head's scale.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

RIGID_LANDMARKS = np.arange(17, 48)
"""iBUG-68 points used to place the head: brows, nose, eyes (the jaw and the lips move with expression)."""


@lru_cache(maxsize=1)
def canonical_landmarks() -> np.ndarray:
    """[68, 3] float64: the procedural face's landmarks at rest (mean identity, zero expression), model units."""
    from ..face.procedural import build_procedural_model

    model = build_procedural_model()
    return np.asarray(model.mean, np.float64)[np.asarray(model.landmark_ids)]


def prepare_camera(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(intrinsics [3, 3], world_to_camera [4, 4]) float32 of a ``size`` x ``size`` prepared frame."""
    from ..face.camera import default_camera

    cam = default_camera(int(size))
    return (cam.intrinsics.numpy().astype(np.float32), cam.world_to_camera.numpy().astype(np.float32))


def project(points: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray, w2c: np.ndarray) -> np.ndarray:
    """Model points [N, 3] under poses R [T, 3, 3], t [T, 3] -> pixels [T, N, 2]."""
    world = np.einsum("tij,nj->tni", R, points) + t[:, None, :]
    cam = world @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam @ np.asarray(K, np.float64).T
    return uv[..., :2] / uv[..., 2:3]


@lru_cache(maxsize=1)
def synthetic_framing() -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the resting procedural face's 68-landmark box in a default-camera frame, as fractions of
    the frame side: where a face sits in a synthetic frame."""
    size = 1000
    K, w2c = prepare_camera(size)
    px = project(canonical_landmarks(), np.eye(3)[None], np.zeros((1, 3)), K, w2c)[0]
    return tuple(float(v) for v in np.concatenate([px.min(0) + 0.5, px.max(0) + 0.5]) / size)


def smooth_rotations(R: np.ndarray, sigma: float) -> np.ndarray:
    """[T, 3, 3] rotations smoothed in time (Gaussian of ``sigma`` frames on rotation vectors about their mean)."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.spatial.transform import Rotation

    if sigma <= 0 or len(R) < 2:
        return np.asarray(R, np.float64)
    rot = Rotation.from_matrix(np.asarray(R, np.float64))
    mean = rot.mean()
    rel = (mean.inv() * rot).as_rotvec()
    rel = gaussian_filter1d(rel, sigma, axis=0, mode="nearest")
    return (mean * Rotation.from_rotvec(rel)).as_matrix()


def solve_translation(R: np.ndarray, landmarks: np.ndarray, K: np.ndarray, w2c: np.ndarray,
                      points: np.ndarray | None = None, ids: np.ndarray = RIGID_LANDMARKS) -> np.ndarray:
    """t [T, 3] placing ``points`` (default: :func:`canonical_landmarks`) rotated by R [T, 3, 3] onto ``landmarks``
    [T, 68, 2] (pixels) through the camera, least squares per frame."""
    X = (canonical_landmarks() if points is None else np.asarray(points, np.float64))[ids]      # [N, 3]
    uv = np.asarray(landmarks, np.float64)[:, ids]                                                # [T, N, 2]
    M, m0 = np.asarray(w2c, np.float64)[:3, :3], np.asarray(w2c, np.float64)[:3, 3]
    K = np.asarray(K, np.float64)
    f = np.array([K[0, 0], K[1, 1]])
    c = np.array([K[0, 2], K[1, 2]])
    T = len(uv)
    P = np.einsum("ij,tjk,nk->tni", M, np.asarray(R, np.float64), X) + m0                       # camera points at t = 0
    out = np.zeros((T, 3))
    for k in range(T):
        d = uv[k] - c                                                                              # [N, 2]
        w = np.ones(len(X))
        tau = np.zeros(3)
        for _ in range(3):
            # f (P_x + tau_x) = d_x (P_z + tau_z)  ->  f tau_x - d_x tau_z = d_x P_z - f P_x  (same for y)
            A = np.zeros((2 * len(X), 3))
            A[0::2, 0], A[0::2, 2] = f[0], -d[:, 0]
            A[1::2, 1], A[1::2, 2] = f[1], -d[:, 1]
            b = np.empty(2 * len(X))
            b[0::2] = d[:, 0] * P[k, :, 2] - f[0] * P[k, :, 0]
            b[1::2] = d[:, 1] * P[k, :, 2] - f[1] * P[k, :, 1]
            ww = np.repeat(w, 2)
            tau = np.linalg.lstsq(A * ww[:, None], b * ww, rcond=None)[0]
            depth = P[k, :, 2] + tau[2]
            w = 1.0 / np.maximum(depth, 1e-3) * np.median(depth)
        out[k] = np.linalg.solve(M, tau)                                                           # t = M^-1 tau
    return out


def head_pose(R: np.ndarray, landmarks: np.ndarray, size: int, *, smooth: float = 1.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R [T, 3, 3], t [T, 3], reprojection_px [T]) of a clip from tracker rotations R [T, 3, 3] and landmarks
    [T, 68, 2] in the prepared frames' pixels (module docstring). float32, float32, float32."""
    from scipy.ndimage import gaussian_filter1d

    K, w2c = prepare_camera(size)
    Rs = smooth_rotations(R, smooth)
    t = solve_translation(Rs, landmarks, K, w2c)
    if smooth > 0 and len(t) > 1:
        t = gaussian_filter1d(t, smooth, axis=0, mode="nearest")
    proj = project(canonical_landmarks()[RIGID_LANDMARKS], Rs, t, K, w2c)
    err = np.linalg.norm(proj - np.asarray(landmarks, np.float64)[:, RIGID_LANDMARKS], axis=-1).mean(axis=1)
    return Rs.astype(np.float32), t.astype(np.float32), err.astype(np.float32)
