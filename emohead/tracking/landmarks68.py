"""The 68 iBUG / dlib landmarks taken from the 468-point MediaPipe mesh, and the mouth aspect ratio.

:data:`MESH_TO_68` is the widely used one-vertex-per-landmark map, as in LatentSync 1.5 (ByteDance, Apache-2.0,
``LM68_FROM_MP478``) and many others. 0-based iBUG order, the subject's right side first (image left on a
frontal face):

* 0-16 jaw, from the right temple over the chin (8 = mesh 152) to the left temple;
* 17-21 right brow, 22-26 left brow (outer -> inner, then inner -> outer);
* 27-30 nose bridge (168, 197, 5, 4 = tip), 31-35 lower nose, right to left (2 = under the tip);
* 36-41 right eye (36 = outer corner 33, 39 = inner corner 133), 42-47 left eye (42 = inner 362, 45 = outer 263);
* 48-59 outer lips (48 = right corner 61, 51 = top 0, 54 = left corner 291, 57 = bottom 17);
* 60-67 inner lips (60 = 78, 61-63 = 82, 13, 312 upper, 64 = 308, 65-67 = 317, 14, 87 lower).

The mesh has no silhouette-following jaw: points 0-16 are fixed face-oval vertices, so on a turned head they do
not slide to the visible contour as iBUG's jaw does. Everything else matches the iBUG definitions closely:
tests/tracking checks every point against 3DDFA_V2's own 68-landmark head (``Tddfa.head_landmarks``) on the
astronaut photo -- eyes and mouth within 3 % of the eye distance on average, nose 4 %, brows 7 %, jaw 8 %.

:func:`mouth_aspect_ratio` is the repository's definition (``emohead/face/mar.py``), re-derived here rather than
imported: importing ``emohead.face.mar`` runs ``emohead.face``'s ``__init__``, which imports torch, scipy and the
analyser (~2 s). tests/tracking checks that both give the same numbers.
"""
from __future__ import annotations

import numpy as np

MESH_TO_68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,   # 0-16 jaw
    71, 63, 105, 66, 107,                                                                # 17-21 right brow
    336, 296, 334, 293, 301,                                                             # 22-26 left brow
    168, 197, 5, 4,                                                                      # 27-30 nose bridge
    75, 97, 2, 326, 305,                                                                 # 31-35 lower nose
    33, 160, 158, 133, 153, 144,                                                         # 36-41 right eye
    362, 385, 387, 263, 373, 380,                                                        # 42-47 left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                                 # 48-59 outer lips
    78, 82, 13, 312, 308, 317, 14, 87,                                                   # 60-67 inner lips
], dtype=np.int64)

GROUPS = {"jaw": slice(0, 17), "right_brow": slice(17, 22), "left_brow": slice(22, 27), "nose": slice(27, 36),
          "right_eye": slice(36, 42), "left_eye": slice(42, 48), "mouth": slice(48, 68),
          "inner_lips": slice(60, 68)}

_UPPER = (61, 62, 63)
_LOWER = (67, 66, 65)


def landmarks68_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """mesh [..., 468, D] -> [..., 68, 2] (the x, y of the mapped vertices)."""
    mesh = np.asarray(mesh)
    if mesh.shape[-2] != 468:
        raise ValueError(f"mesh must be [..., 468, D], got {mesh.shape}")
    return mesh[..., MESH_TO_68, :2].astype(np.float32)


def mouth_aspect_ratio(landmarks: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Inner-lip MAR of landmarks [..., 68, 2] -> [...] float32 (as ``emohead.face.mar``)::

        MAR = mean(|p61 - p67|, |p62 - p66|, |p63 - p65|) / |p60 - p64|
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim < 2 or lm.shape[-2:] != (68, 2):
        raise ValueError(f"landmarks must be [..., 68, 2], got {lm.shape}")
    gaps = np.linalg.norm(lm[..., list(_UPPER), :] - lm[..., list(_LOWER), :], axis=-1).mean(-1)
    width = np.linalg.norm(lm[..., 60, :] - lm[..., 64, :], axis=-1)
    return (gaps / np.maximum(width, eps)).astype(np.float32)
