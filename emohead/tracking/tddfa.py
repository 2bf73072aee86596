"""3DDFA_V2: the 3DMM regressor the EmoHead paper measures expressions with (62 params from a 120 x 120 crop).

Follows the public repository cleardusk/3DDFA_V2 (MIT):

* the network, MobileNet-V1 of width 0.5 or 1.0, read weights-only: :mod:`.tddfa_net`;
* the crop (``utils/functions.py``): :func:`roi_box_from_bbox` (``parse_roi_box_from_bbox``: a square 1.58x the
  mean box side, centred 0.14 of it below the box centre) or :func:`roi_box_from_landmarks`
  (``parse_roi_box_from_landmark``: the diagonal of the landmarks' bounding square), cut with ``crop_img``
  (the box rounded to whole pixels, zero outside) and resized to 120 x 120 bilinearly (``cv2.resize``
  INTER_LINEAR, pixel centres aligned, no anti-aliasing unless asked), **BGR**, (x - 127.5) / 128 (``TDDFA.py``);
* the output: params = out * std + mean (``param_mean_std_62d_120x120``); 62 = 12 pose (a 3 x 4 matrix
  P = [s R | t] in the crop frame, y up, 1-based) + 40 shape (beta) + 10 expression (alpha) (``_parse_param``);
* back to the image (``utils/tddfa_util.py`` ``similar_transform``): x_img = (x - 1) k + sx, y_img = (120 - y) k + sy,
  z_img = (z - 1) k, with k = roi side / 120.

Pose in the image frame (:class:`TddfaResult`): a model point X (3DDFA/BFM axes: x to the subject's left, y up,
+z toward the viewer -- the axes of :mod:`emohead.face.morphable`) lands at::

    [u, v, d] = scale * F @ R @ X + t,     F = diag(1, -1, -1)

u, v: image px (x right, y down, pixel centres at integers); d: depth away from the viewer, px units (orthographic,
its origin arbitrary). R [3, 3] is a proper rotation in model/world axes, the convention of
:func:`emohead.face.camera.rotation_from_euler` (R = R_y(yaw) R_x(pitch) R_z(roll)); F only flips the world's y-up,
z-toward-viewer axes to the image's. R and scale come from the first two rows of P (as 3DDFA_V2's
``utils/pose.py`` ``P2sRt``), made exactly orthonormal by a polar decomposition; the third row is their cross
product.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import models
from .crops import Rect, sample_rect, warp_affine
from .tddfa_net import TddfaNet, WeightsError, load_tddfa_net

__all__ = ["SIZE", "Tddfa", "TddfaNet", "TddfaResult", "WeightsError", "crop_roi", "euler_from_rotation",
           "load_tddfa_net", "pose_from_params", "roi_box_from_bbox", "roi_box_from_landmarks"]

SIZE = 120
_F = np.diag([1.0, -1.0, -1.0])


def roi_box_from_bbox(box: np.ndarray) -> np.ndarray:
    """3DDFA_V2 ``parse_roi_box_from_bbox``: face box [4] (x0, y0, x1, y1) -> roi box [4] (square)."""
    left, top, right, bottom = (float(v) for v in box[:4])
    old = (right - left + bottom - top) / 2.0
    cx, cy = right - (right - left) / 2.0, bottom - (bottom - top) / 2.0 + old * 0.14
    size = int(old * 1.58)
    return np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])


def roi_box_from_landmarks(pts: np.ndarray) -> np.ndarray:
    """3DDFA_V2 ``parse_roi_box_from_landmark``: landmarks [N, 2] (px) -> roi box [4] (square of side the
    diagonal of their bounding square)."""
    p = np.asarray(pts, np.float64)[:, :2]
    lo, hi = p.min(0), p.max(0)
    centre = (lo + hi) / 2.0
    side = math.sqrt(2.0) * (hi - lo).max()
    return np.concatenate([centre - side / 2, centre + side / 2])


def crop_roi(image_rgb: np.ndarray, roi_box: np.ndarray, *, antialias: bool = False) -> np.ndarray:
    """image [H, W, 3] RGB -> the network's input [120, 120, 3] float32 BGR, (x - 127.5) / 128."""
    sx, sy, ex, ey = (int(round(v)) for v in roi_box)
    kx, ky = (ex - sx) / SIZE, (ey - sy) / SIZE
    img = np.asarray(image_rgb)[..., ::-1]
    if antialias and min(kx, ky) >= 2:
        crop = sample_rect(img, Rect((sx + ex - 1) / 2, (sy + ey - 1) / 2, ex - sx, ey - sy), SIZE)
    else:
        A = np.array([[kx, 0.0, sx + 0.5 * kx - 0.5], [0.0, ky, sy + 0.5 * ky - 0.5]])
        crop = warp_affine(img, A, SIZE, SIZE)
    return (crop - 127.5) / 128.0


def euler_from_rotation(R: np.ndarray) -> np.ndarray:
    """R [..., 3, 3] = R_y(yaw) R_x(pitch) R_z(roll) -> [..., 3] (yaw, pitch, roll) degrees
    (:func:`emohead.face.camera.rotation_from_euler`'s convention: yaw > 0 faces +x, pitch > 0 tilts down)."""
    R = np.asarray(R, np.float64)
    yaw = np.arctan2(R[..., 0, 2], R[..., 2, 2])
    pitch = np.arcsin(np.clip(-R[..., 1, 2], -1.0, 1.0))
    roll = np.arctan2(R[..., 1, 0], R[..., 1, 1])
    return np.degrees(np.stack([yaw, pitch, roll], -1))


@dataclass
class TddfaResult:
    """One face: R [3, 3], t [3] (px), scale (px per model unit), alpha [10], beta [40], params62 [62] (the raw
    un-standardised output, crop frame), roi_box [4] (the crop used). Image-frame pose:
    ``[u, v, d] = scale * diag(1, -1, -1) @ R @ X + t`` (module docstring)."""

    R: np.ndarray
    t: np.ndarray
    scale: float
    alpha: np.ndarray
    beta: np.ndarray
    params62: np.ndarray
    roi_box: np.ndarray = field(default_factory=lambda: np.zeros(4))

    @property
    def euler_deg(self) -> np.ndarray:
        """[3] yaw, pitch, roll in degrees (:func:`euler_from_rotation`)."""
        return euler_from_rotation(self.R)

    def project(self, X: np.ndarray) -> np.ndarray:
        """Model points X [N, 3] -> image [N, 3] (u, v px, d depth)."""
        return self.scale * np.asarray(X, np.float64) @ (_F @ self.R).T + self.t


def pose_from_params(params62: np.ndarray, roi_box: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """3DDFA_V2 params [62] and its roi box [4] -> image-frame (R [3, 3], t [3], scale) (module docstring)."""
    P = np.asarray(params62, np.float64)[:12].reshape(3, 4)
    sx, sy, ex, ey = (float(v) for v in roi_box)
    k = ((ex - sx) + (ey - sy)) / (2.0 * SIZE)
    U, S, Vt = np.linalg.svd(P[:2, :3], full_matrices=False)       # polar decomposition of the two image rows
    rows = U @ Vt
    R = np.concatenate([rows, np.cross(rows[0], rows[1])[None]], 0)
    scale = k * float(S.mean())
    t = np.array([k * (P[0, 3] - 1.0) + sx, k * (SIZE - P[1, 3]) + sy, -k * (P[2, 3] - 1.0)])
    return R.astype(np.float32), t.astype(np.float32), scale


class Tddfa:
    """3DDFA_V2 on images: ``Tddfa().predict(image_rgb, box [4] or landmarks [N, 2]) -> TddfaResult``.

    weights: a ``.pth`` path (default ``<models>/3ddfa_v2/mb05_120x120.pth``); mean_std: the JSON with "mean" and
    "std" (default: ``param_mean_std_62d_120x120.json`` beside the weights, else in ``<models>/3ddfa_v2``).
    """

    def __init__(self, weights: str | os.PathLike | None = None, *, mean_std: str | os.PathLike | None = None,
                 model_dir: str | os.PathLike | None = None, antialias: bool = False, device: str = "cpu",
                 num_threads: int | None = 1):
        weights = Path(weights) if weights is not None else models.model_path(models.TDDFA_WEIGHTS, model_dir)
        if mean_std is None:
            beside = weights.parent / Path(models.TDDFA_MEAN_STD).name
            mean_std = beside if beside.is_file() else models.model_path(models.TDDFA_MEAN_STD, model_dir)
        mean_std = Path(mean_std)
        if not mean_std.is_file():
            raise models.ModelsMissingError(f"3DDFA_V2 param mean/std file {mean_std} does not exist")
        stats = json.loads(mean_std.read_text())
        self.mean = np.asarray(stats["mean"], np.float64)
        self.std = np.asarray(stats["std"], np.float64)
        if self.mean.shape != (62,) or self.std.shape != (62,):
            raise WeightsError(f"{mean_std} must hold 'mean' and 'std' lists of 62 numbers")
        self.net = load_tddfa_net(weights).to(device)
        self.weights, self.device, self.antialias, self.num_threads = weights, device, antialias, num_threads

    @staticmethod
    def roi_box(box_or_landmarks: np.ndarray) -> np.ndarray:
        """A face box [4] (3DDFA_V2's 'box' crop policy) or landmarks [N, 2] ('landmark' policy) -> roi box [4]."""
        a = np.asarray(box_or_landmarks, np.float64)
        if a.shape == (4,):
            return roi_box_from_bbox(a)
        if a.ndim == 2 and a.shape[0] >= 2 and a.shape[1] in (2, 3):
            return roi_box_from_landmarks(a)
        raise ValueError(f"need a face box [4] or landmarks [N, 2], got shape {a.shape}")

    @torch.inference_mode()
    def params(self, crops: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Network inputs [B, 120, 120, 3] (:func:`crop_roi`) -> un-standardised params [B, 62] float64."""
        out = []
        threads = torch.get_num_threads()
        if self.num_threads is not None and self.device == "cpu":
            torch.set_num_threads(self.num_threads)
        try:
            for i in range(0, len(crops), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch_size].transpose(0, 3, 1, 2)))
                out.append(self.net(x.float().to(self.device)).double().cpu().numpy())
        finally:
            torch.set_num_threads(threads)
        return np.concatenate(out) * self.std + self.mean if out else np.zeros((0, 62))

    def result(self, params62: np.ndarray, roi_box: np.ndarray) -> TddfaResult:
        R, t, scale = pose_from_params(params62, roi_box)
        p = np.asarray(params62)
        return TddfaResult(R, t, scale, p[52:62].astype(np.float32), p[12:52].astype(np.float32),
                           p.astype(np.float32), np.asarray(roi_box, np.float32))

    @torch.inference_mode()
    def head_landmarks(self, image_rgb: np.ndarray, box_or_landmarks: np.ndarray) -> np.ndarray:
        """The checkpoints' second head ``fc_lm`` [136] as 68 iBUG landmarks [68, 2] in image px.

        Its layout is not documented by 3DDFA_V2 (whose code drops the head); read off the released checkpoint:
        68 x then 68 y, each in [-1, 1] across the 120 x 120 crop. tests/tracking checks that these points land
        within a few % of the eye distance of the mesh's 68 points, point by point.
        """
        if self.net.fc_lm is None:
            raise WeightsError(f"{self.weights} has no fc_lm landmark head")
        roi = self.roi_box(box_or_landmarks)
        crop = crop_roi(image_rgb, roi, antialias=self.antialias)
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)[None])).to(self.device)
        out = self.net.fc_lm(self.net.features(x))[0].double().cpu().numpy()
        k = np.array([roi[2] - roi[0], roi[3] - roi[1]]) / SIZE
        return (roi[:2] + (np.stack([out[:68], out[68:]], 1) + 1.0) * (SIZE / 2) * k).astype(np.float32)

    def predict(self, image_rgb: np.ndarray, box_or_landmarks: np.ndarray) -> TddfaResult:
        """image [H, W, 3] uint8 RGB and a face box [4] or landmarks [N, 2] (px) -> TddfaResult."""
        roi = self.roi_box(box_or_landmarks)
        crop = crop_roi(image_rgb, roi, antialias=self.antialias)
        return self.result(self.params(crop[None])[0], roi)
