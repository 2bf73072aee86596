"""Track one face through a clip: boxes, 468-point mesh, 68 landmarks, MAR, 3DDFA_V2 pose and expression, and
the person mask, frame by frame.

Per clip of T frames [T, H, W, 3] uint8 RGB (:meth:`FaceTracker.track`):

1. every frame: BlazeFace (:mod:`.detector`; the face nearest the previous one when there are several), the mesh
   on the detection's ROI (:mod:`.mesh`), the selfie segmentation (:mod:`.segmentation`). A frame has a face when
   BlazeFace finds one *and* the mesh's face-presence probability is >= ``min_presence`` (that second test
   rejects most of BlazeFace's false positives on non-faces). More than ``max_missing_fraction`` of the frames
   without a face raises :class:`NoFaceError` naming them;
2. the mesh ROIs (MediaPipe's tracking ROI: the mesh's bounding box x1.5, rotated by the eye line) are filled over
   the frames without a face (linear interpolation) and smoothed over ``smooth_frames`` frames (:mod:`.smoothing`),
   so the crop does not jitter; the mesh is run again on the smoothed ROI;
3. 3DDFA_V2 (:mod:`.tddfa`) on the crop 3DDFA_V2 derives from landmarks (``parse_roi_box_from_landmark`` of the 68
   points), those roi boxes smoothed the same way;
4. frames without a face get every per-face quantity by linear interpolation (rotations re-orthonormalised) and
   ``found = False``.

The face boxes reported are BlazeFace's, filled and smoothed the same way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import models
from .crops import Rect
from .detector import Detections, FaceDetector, box_iou
from .landmarks68 import landmarks68_from_mesh, mouth_aspect_ratio
from .mesh import FaceMesh, MeshResult, rect_from_detection, rect_from_mesh
from .segmentation import PersonSegmenter
from .smoothing import interpolate_missing, moving_average, smooth_boxes


class NoFaceError(ValueError):
    """Too many frames of a clip have no face. ``name``: the clip; ``frames``: the indices without a face."""

    def __init__(self, name: str, frames: np.ndarray, total: int, limit: float):
        self.name, self.frames, self.total = name, np.asarray(frames, np.int64), int(total)
        shown = ", ".join(str(int(i)) for i in self.frames[:40]) + (" ..." if len(self.frames) > 40 else "")
        super().__init__(f"clip {name!r}: no face in {len(self.frames)} of {total} frames (more than "
                         f"{limit:.0%} allowed): frames {shown}")


@dataclass
class FaceTrack:
    """T frames of one video (image px: x right, y down, pixel centres at integers).

    boxes [T, 4] float32 smoothed BlazeFace box x0, y0, x1, y1; found [T] bool (False: no face, values
    interpolated); mesh [T, 468, 3] float32 (x, y px, z depth in px units, larger = farther); landmarks [T, 68, 2]
    float32 (iBUG order, :mod:`.landmarks68`); mar [T] float32; pose_R [T, 3, 3], pose_t [T, 3], scale [T]: the
    3DDFA_V2 pose in the image frame, ``[u, v, d] = scale * diag(1, -1, -1) @ R @ X + t`` (:mod:`.tddfa`);
    alpha [T, 10] 3DDFA_V2 expression; beta [T, 40] shape; person [T, H, W] float32 person probability.
    """

    boxes: np.ndarray
    found: np.ndarray
    mesh: np.ndarray
    landmarks: np.ndarray
    mar: np.ndarray
    pose_R: np.ndarray
    pose_t: np.ndarray
    scale: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    person: np.ndarray

    def __len__(self) -> int:
        return len(self.found)

    @property
    def euler_deg(self) -> np.ndarray:
        """[T, 3] yaw, pitch, roll (degrees; :func:`.tddfa.euler_from_rotation`)."""
        from .tddfa import euler_from_rotation
        return euler_from_rotation(self.pose_R)


def _orthonormalise(R: np.ndarray) -> np.ndarray:
    """[..., 3, 3] -> the nearest rotations (polar decomposition, det +1)."""
    U, _, Vt = np.linalg.svd(R)
    d = np.sign(np.linalg.det(U @ Vt))
    U[..., :, -1] *= d[..., None]
    return U @ Vt


def _rect_params(rect: Rect) -> np.ndarray:
    return np.array([rect.cx, rect.cy, rect.w, rect.angle])


def _smoothed_rects(params: np.ndarray, found: np.ndarray, window: int) -> list[Rect]:
    """params [T, 4] (cx, cy, side, angle) of the frames with a face -> filled and smoothed square rects."""
    p = params.copy()
    p[found, 3] = np.unwrap(p[found, 3])
    p, _ = interpolate_missing(p, found)
    p = moving_average(p, window)
    return [Rect(cx, cy, s, s, a) for cx, cy, s, a in p]


def _cross2(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def head_mask(mesh: np.ndarray, height: int, width: int) -> np.ndarray:
    """The filled convex hull of a mesh's points [N, 2+] (image px) -> bool [height, width]."""
    from skimage.draw import polygon

    p = np.asarray(mesh, np.float64)[:, :2]
    p = p[np.lexsort((p[:, 1], p[:, 0]))]

    def half(points: np.ndarray) -> list[np.ndarray]:     # Andrew's monotone chain
        out: list[np.ndarray] = []
        for q in points:
            while len(out) >= 2 and _cross2(out[-1] - out[-2], q - out[-2]) <= 0:
                out.pop()
            out.append(q)
        return out

    hull = np.array(half(p)[:-1] + half(p[::-1])[:-1])
    mask = np.zeros((height, width), bool)
    rr, cc = polygon(hull[:, 1], hull[:, 0], shape=(height, width))
    mask[rr, cc] = True
    return mask


class FaceTracker:
    """Runs the face models over clips. ``model_dir``: the model folder (:func:`.models.find_model_dir`);
    ``tddfa_weights``: another 3DDFA_V2 checkpoint (e.g. ``mb1_120x120.pth``); ``smooth_frames``: the crop
    smoothing window; ``max_missing_fraction``: the largest share of frames without a face before
    :class:`NoFaceError`; ``min_presence``: the mesh's face-presence probability a face needs; ``min_score``:
    BlazeFace's; ``num_threads``: LiteRT threads; ``device``: torch device of 3DDFA_V2."""

    def __init__(self, model_dir: str | os.PathLike | None = None, *, tddfa_weights: str | os.PathLike | None = None,
                 smooth_frames: int = 5, max_missing_fraction: float = 0.5, progress: bool = True,
                 min_presence: float = 0.5, min_score: float = 0.5, num_threads: int | None = None,
                 device: str = "cpu"):
        from .tddfa import Tddfa

        need = (models.DETECTOR, models.FACE_MESH, models.SEGMENTATION, models.TDDFA_MEAN_STD)
        folder = models.find_model_dir(model_dir, require=need + (() if tddfa_weights else (models.TDDFA_WEIGHTS,)))
        self.detector = FaceDetector(folder / models.DETECTOR, min_score=min_score, num_threads=num_threads)
        self.mesh = FaceMesh(folder / models.FACE_MESH, num_threads=num_threads)
        self.segmenter = PersonSegmenter(folder / models.SEGMENTATION, num_threads=num_threads)
        self.tddfa = Tddfa(tddfa_weights or folder / models.TDDFA_WEIGHTS, model_dir=folder, device=device)
        self.smooth_frames, self.max_missing_fraction = int(smooth_frames), float(max_missing_fraction)
        self.progress, self.min_presence = progress, float(min_presence)

    @staticmethod
    def _pick(dets: Detections, previous: np.ndarray | None) -> int:
        """The detection to follow: the best-scoring, or the one overlapping the previous face most."""
        if previous is not None and len(dets) > 1:
            iou = box_iou(previous, dets.boxes)
            if iou.max() > 0.3:
                return int(iou.argmax())
        return 0

    def track(self, frames: np.ndarray, *, name: str = "clip") -> FaceTrack:
        """frames [T, H, W, 3] uint8 RGB -> :class:`FaceTrack`. Raises :class:`NoFaceError` (a ValueError)."""
        from tqdm.auto import tqdm

        from .tddfa import crop_roi, roi_box_from_landmarks

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"frames must be [T, H, W, 3] uint8 RGB with T >= 1, got {frames.shape} {frames.dtype}")
        T, H, W = frames.shape[:3]
        bar = tqdm(total=2 * T, desc=f"tracking {name}", unit="step", disable=not self.progress, leave=False)
        boxes = np.zeros((T, 4))
        rects = np.zeros((T, 4))
        found = np.zeros(T, bool)
        first: list[MeshResult | None] = [None] * T
        person = np.zeros((T, H, W), np.float32)
        previous = None
        for i, frame in enumerate(frames):                       # 1. detect, first mesh, segmentation
            person[i] = self.segmenter(frame)
            dets = self.detector(frame)
            if len(dets):
                k = self._pick(dets, previous)
                res = self.mesh(frame, rect_from_detection(dets.boxes[k], dets.keypoints[k]))
                if res.presence >= self.min_presence:
                    found[i], boxes[i], first[i] = True, dets.boxes[k], res
                    rects[i] = _rect_params(rect_from_mesh(res.points))
                    previous = boxes[i]
            bar.update()
        missing = np.flatnonzero(~found)
        if len(missing) > self.max_missing_fraction * T or not found.any():
            bar.close()
            raise NoFaceError(name, missing, T, self.max_missing_fraction)

        smooth = self.smooth_frames
        boxes = smooth_boxes(interpolate_missing(boxes, found)[0], smooth)
        mesh = np.zeros((T, 468, 3), np.float32)
        for i, rect in enumerate(_smoothed_rects(rects, found, smooth)):     # 2. mesh on the smoothed ROI
            if found[i]:
                res = self.mesh(frames[i], rect)
                mesh[i] = res.points if res.presence >= self.min_presence else first[i].points
            bar.update()
        mesh = interpolate_missing(mesh, found)[0].astype(np.float32)
        landmarks = landmarks68_from_mesh(mesh)

        roi = np.stack([roi_box_from_landmarks(lm) for lm in landmarks])   # 3. 3DDFA_V2
        roi = smooth_boxes(roi, smooth).astype(np.float64)
        idx = np.flatnonzero(found)
        results = []
        for chunk in np.array_split(idx, max(1, -(-len(idx) // 64))):   # 64 crops at a time: bounded memory
            crops = np.stack([crop_roi(frames[i], roi[i], antialias=self.tddfa.antialias) for i in chunk])
            results += [self.tddfa.result(p, roi[i]) for p, i in zip(self.tddfa.params(crops), chunk)]
        bar.close()

        def fill(values: list, shape: tuple) -> np.ndarray:            # 4. frames without a face
            out = np.zeros((T,) + shape)
            out[idx] = np.asarray(values, np.float64).reshape((len(idx),) + shape)
            return interpolate_missing(out, found)[0]

        pose_R = _orthonormalise(fill([r.R for r in results], (3, 3))).astype(np.float32)
        return FaceTrack(
            boxes=boxes, found=found, mesh=mesh, landmarks=landmarks, mar=mouth_aspect_ratio(landmarks),
            pose_R=pose_R, pose_t=fill([r.t for r in results], (3,)).astype(np.float32),
            scale=fill([r.scale for r in results], ()).astype(np.float32),
            alpha=fill([r.alpha for r in results], (10,)).astype(np.float32),
            beta=fill([r.beta for r in results], (40,)).astype(np.float32), person=person)
