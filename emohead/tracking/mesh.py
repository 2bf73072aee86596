"""MediaPipe face mesh: 468 3-D landmarks on an image, given where the face is.

Follows MediaPipe's face_landmark graphs (mediapipe/modules/face_landmark/):

* the region of interest is a square :class:`~.crops.Rect`, rotated so the eye line is horizontal, 1.5x the face
  box (``DetectionsToRectsCalculator`` + ``RectTransformationCalculator`` with scale 1.5, ``square_long``):
  :func:`rect_from_detection` builds it from a BlazeFace box and its two eye keypoints (first frame, or after a
  loss), :func:`rect_from_mesh` from a previous mesh (the bounding box of the 468 points, eye line 33 -> 263);
* the rect is sampled into a 192 x 192 RGB crop in [0, 1]; the model returns 1404 = 468 x (x, y, z) in crop
  pixels (z: depth, same units as x, smaller = nearer the camera) and a face-presence logit;
* the points are mapped back to image pixels; z is scaled by the same crop-to-image factor, so it is in image
  px units.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import models
from .crops import Rect, sample_rect
from .litert import LiteModel

INPUT_SIZE = 192
N_POINTS = 468
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263     # the subject's; 33 is at image left on a frontal face


def roi_rect(box: np.ndarray, eye_from: np.ndarray, eye_to: np.ndarray, scale: float = 1.5) -> Rect:
    """Square rect 'scale' x the long side of box [4] (x0, y0, x1, y1), centred on it, rotated so that the line
    eye_from -> eye_to (each [2], image px; the subject's right eye first) is the rect's x axis."""
    x0, y0, x1, y1 = (float(v) for v in box)
    d = np.asarray(eye_to, np.float64) - np.asarray(eye_from, np.float64)
    angle = math.atan2(d[1], d[0])
    side = scale * max(x1 - x0, y1 - y0)
    return Rect((x0 + x1) / 2.0, (y0 + y1) / 2.0, side, side, angle)


def rect_from_detection(box: np.ndarray, keypoints: np.ndarray, scale: float = 1.5) -> Rect:
    """The mesh's ROI from a BlazeFace box [4] and keypoints [6, 2] (MediaPipe: keypoint 0 -> 1, x1.5)."""
    return roi_rect(box, keypoints[0], keypoints[1], scale)


def rect_from_mesh(points: np.ndarray, scale: float = 1.5) -> Rect:
    """The mesh's ROI from a previous mesh [468, 2+] (MediaPipe's tracking ROI: bounding box, eyes 33 -> 263)."""
    p = np.asarray(points)[:, :2]
    box = np.concatenate([p.min(0), p.max(0)])
    return roi_rect(box, p[RIGHT_EYE_OUTER], p[LEFT_EYE_OUTER], scale)


@dataclass
class MeshResult:
    """points [468, 3] (x, y image px; z depth in px units), presence: face probability, rect: the ROI used."""

    points: np.ndarray
    presence: float
    rect: Rect


class FaceMesh:
    """``FaceMesh()(image_rgb [H, W, 3] uint8, rect) -> MeshResult``."""

    def __init__(self, path: str | os.PathLike | None = None, *, num_threads: int | None = None):
        self.model = LiteModel(path or models.model_path(models.FACE_MESH), num_threads=num_threads)
        sizes = {name: int(np.prod(shape)) for name, shape in self.model.output_shapes.items()}
        by_size = {n: name for name, n in sizes.items()}
        if set(by_size) != {N_POINTS * 3, 1}:
            raise ValueError(f"{self.model.path} is not a face-mesh model: outputs {self.model.output_shapes}")
        self._points_name, self._flag_name = by_size[N_POINTS * 3], by_size[1]     # [1,1,1,1404], [1,1,1,1]

    def __call__(self, image: np.ndarray, rect: Rect) -> MeshResult:
        crop = sample_rect(image, rect, INPUT_SIZE) / 255.0
        out = self.model(crop[None])
        raw = out[self._points_name].reshape(N_POINTS, 3).astype(np.float64)
        logit = float(out[self._flag_name].ravel()[0])
        xy = rect.crop_to_image(raw[:, :2], INPUT_SIZE)
        z = raw[:, 2] * (rect.w / INPUT_SIZE)
        points = np.concatenate([xy, z[:, None]], 1).astype(np.float32)
        return MeshResult(points, float(1.0 / (1.0 + math.exp(-np.clip(logit, -60, 60)))), rect)
