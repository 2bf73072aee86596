"""BlazeFace short-range face detection (MediaPipe ``face_detection_short_range.tflite``).

Follows MediaPipe's ``face_detection_short_range`` graph (mediapipe/modules/face_detection/):

* input: the whole image letterboxed into 128 x 128 (aspect kept, padding split evenly), RGB scaled to [-1, 1];
* SSD anchors (``SsdAnchorsCalculator``): 4 layers, strides 8, 16, 16, 16, fixed anchor size 1, offset 0.5, two
  anchors per layer per cell (aspect 1 + the interpolated scale). Layers of one stride share a grid, so the
  stride-8 grid (16 x 16) has 2 anchors a cell and the stride-16 grid (8 x 8) has 6: 512 + 384 = 896;
* decoding (``TensorsToDetectionsCalculator``): per anchor 16 numbers -- box centre x, y, width, height, then 6
  keypoints (x, y) -- each divided by 128 and added to the anchor centre (sizes not added); score =
  sigmoid(clip(logit, -100, 100)), kept above ``min_score`` (0.5);
* weighted non-maximum suppression (``NonMaxSuppressionCalculator``, IoU 0.3, WEIGHTED): each kept detection is
  the score-weighted mean of the boxes and keypoints it suppresses, with the top score.

The 6 keypoints, in MediaPipe's order: 0 right eye, 1 left eye (the subject's; on a frontal face keypoint 0 is at
image left), 2 nose tip, 3 mouth centre, 4 right ear tragion, 5 left ear tragion.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import models
from .crops import full_image_rect, sample_rect
from .litert import LiteModel

INPUT_SIZE = 128
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear", "left_ear")


def ssd_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = (8, 16, 16, 16),
                anchors_per_layer: int = 2) -> np.ndarray:
    """Anchor centres [896, 2] (x, y in [0, 1]) in the model's output order (grid row, column, anchor)."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = math.ceil(input_size / strides[i])
        per_cell = anchors_per_layer * (j - i)
        yy, xx = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xx.ravel(), yy.ravel()], -1)
        out.append(np.repeat(cells, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """box [4], boxes [N, 4] (x0, y0, x1, y1) -> IoU [N]."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = 0.3
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED suppression. boxes [N, 4], keypoints [N, K, 2], scores [N] -> the kept, best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    keep_b, keep_k, keep_s = [], [], []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (box_iou(boxes[i], boxes) > iou)
        group[i] = True
        w = scores[group][:, None]
        keep_b.append((boxes[group] * w).sum(0) / w.sum())
        keep_k.append((keypoints[group] * w[..., None]).sum(0) / w.sum())
        keep_s.append(scores[i])
        alive &= ~group
    k = keypoints.shape[1]
    return (np.array(keep_b, np.float32).reshape(-1, 4), np.array(keep_k, np.float32).reshape(-1, k, 2),
            np.array(keep_s, np.float32))


@dataclass
class Detections:
    """boxes [N, 4] (x0, y0, x1, y1 image px), scores [N], keypoints [N, 6, 2] (image px); best first."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


class FaceDetector:
    """BlazeFace short range: ``FaceDetector()(image_rgb [H, W, 3] uint8) -> Detections``."""

    def __init__(self, path: str | os.PathLike | None = None, *, min_score: float = 0.5, nms_iou: float = 0.3,
                 num_threads: int | None = None):
        self.model = LiteModel(path or models.model_path(models.DETECTOR), num_threads=num_threads)
        self.anchors = ssd_anchors()
        self.min_score, self.nms_iou = float(min_score), float(nms_iou)

    def __call__(self, image: np.ndarray) -> Detections:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be [H, W, 3] RGB, got {image.shape}")
        rect = full_image_rect(*image.shape[:2], keep_aspect=True)
        x = sample_rect(image, rect, INPUT_SIZE) / 127.5 - 1.0
        out = self.model(x[None])
        raw = out["regressors"][0].astype(np.float64)              # [896, 16]
        logits = out["classificators"][0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))
        keep = scores >= self.min_score
        raw, scores, anc = raw[keep], scores[keep], self.anchors[keep]
        centre = raw[:, 0:2] / INPUT_SIZE + anc
        half = raw[:, 2:4] / INPUT_SIZE / 2.0
        boxes = np.concatenate([centre - half, centre + half], 1)
        kps = raw[:, 4:16].reshape(-1, 6, 2) / INPUT_SIZE + anc[:, None]
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.nms_iou)
        # normalised letterbox coordinates -> image px
        kps = rect.crop_to_image(kps, 1).astype(np.float32)
        corners = rect.crop_to_image(boxes.reshape(-1, 2, 2), 1).reshape(-1, 4).astype(np.float32)
        return Detections(corners, scores, kps)
