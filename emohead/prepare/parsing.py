"""Parsing masks of real frames with the labels of ``emohead.face.morphable.PARSING_LABELS``.

Per frame, from the face mesh (468 points) and 68 landmarks in the prepared frame's pixels and the person
probability (selfie segmentation) resized to it:

* face (``skin``): the filled convex hull of the mesh (:func:`emohead.tracking.tracker.head_mask`);
  inside it ``eyes`` (polygons of iBUG 36-41, 42-47), ``lips`` (outer lip 48-59 minus the inner 60-67) and
  ``mouth`` (inner lip 60-67). Brows stay ``skin`` (no area in the 68-point scheme);
* ``hair``: person pixels outside the face hull, above the chin (the hull's lowest point) and near the face:
  within 1.2 face widths of its centre down to the eyes, narrowing linearly to 0.6 face widths at the chin (hair,
  ears, the top of the head, but not a collar or shoulder beside the jaw). It is a head label, so the NeRF
  renders it;
* ``torso``: every other person pixel (neck, shoulders, long hair below the chin);
* ``background``: the rest.

Only the split head / torso / background matters downstream (the NeRF renders the head labels, the compositor
takes the torso from the driving frames, and ``emohead.render.frames.estimate_background`` takes the per-pixel
median of background pixels), so the finer face labels are a convenience for plots.
"""
from __future__ import annotations

import numpy as np

PERSON_THRESHOLD = 0.5
HAIR_HALF_WIDTH = 1.2
"""Hair/ears may reach this many face widths left and right of the face centre, down to the eyes (ours)."""
HAIR_HALF_WIDTH_AT_CHIN = 0.6
"""... narrowing to this many at the chin (ours)."""


def _poly(points: np.ndarray, height: int, width: int) -> np.ndarray:
    from skimage.draw import polygon

    mask = np.zeros((height, width), bool)
    rr, cc = polygon(points[:, 1], points[:, 0], shape=(height, width))
    mask[rr, cc] = True
    return mask


def parsing_labels(mesh: np.ndarray, landmarks: np.ndarray, person: np.ndarray) -> np.ndarray:
    """One frame: mesh [468, 2+], landmarks [68, 2] (px), person probability [H, W] -> labels uint8 [H, W]."""
    from ..face.morphable import PARSING_LABELS
    from ..tracking.tracker import head_mask

    H, W = person.shape
    lab = np.full((H, W), PARSING_LABELS["background"], np.uint8)
    is_person = np.asarray(person) > PERSON_THRESHOLD
    face = head_mask(mesh, H, W)
    lab[is_person] = PARSING_LABELS["torso"]
    pts = np.asarray(mesh, np.float64)[:, :2]
    chin = pts[:, 1].max()
    cx = 0.5 * (pts[:, 0].min() + pts[:, 0].max())
    fw = pts[:, 0].max() - pts[:, 0].min()
    rows = np.arange(H)[:, None]
    cols = np.arange(W)[None, :]
    eyes = float(np.asarray(landmarks, np.float64)[36:48, 1].mean())
    down = np.clip((rows - eyes) / max(chin - eyes, 1.0), 0.0, 1.0)
    half = fw * (HAIR_HALF_WIDTH - (HAIR_HALF_WIDTH - HAIR_HALF_WIDTH_AT_CHIN) * down)
    near = (rows < chin) & (np.abs(cols - cx) < half)
    lab[is_person & near & ~face] = PARSING_LABELS["hair"]
    lab[face] = PARSING_LABELS["skin"]
    lm = np.asarray(landmarks, np.float64)
    for ids in (range(36, 42), range(42, 48)):
        lab[_poly(lm[list(ids)], H, W) & face] = PARSING_LABELS["eyes"]
    outer, inner = _poly(lm[48:60], H, W), _poly(lm[60:68], H, W)
    lab[outer & ~inner & face] = PARSING_LABELS["lips"]
    lab[inner & face] = PARSING_LABELS["mouth"]
    return lab


def clip_parsing(mesh: np.ndarray, landmarks: np.ndarray, person: np.ndarray) -> np.ndarray:
    """T frames: mesh [T, 468, 2+], landmarks [T, 68, 2], person [T, H, W] -> labels uint8 [T, H, W]."""
    return np.stack([parsing_labels(m, lm, p) for m, lm, p in zip(mesh, landmarks, person)])
