"""Where the features of the procedural face sit, and per-vertex region information.

All numbers are in model units (y up, +z toward the viewer, head centred near the origin; about
1 unit = 10 cm). ``+x`` is the viewer's right, i.e. the *subject's left*; "R" action units
(AU12R, AU14R) act on the subject's right side, ``x < 0``.

:class:`MeshRegions` carries what the FACS displacement fields need besides vertex positions:
the rest-surface parameters ``(X, Y)`` (frontal coordinates before feature displacements), which
part of the mesh each vertex belongs to, and on which side of an eye / mouth slit it lies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# eye slits (one grid row, duplicated between the corners)
EYE_Y = 0.12
EYE_X = 0.30
EYE_HALF_WIDTH = 0.15
EYE_OPEN_UP = 0.062       # rest raise of the upper lid row at the eye centre
EYE_OPEN_DOWN = 0.030     # rest drop of the lower lid row
LID_FALLOFF = 0.085       # vertical falloff of lid motions (Gaussian sigma)
EYEBALL_RADIUS = 0.158

# brows
BROW_Y = 0.335
BROW_INNER_X = 0.10
BROW_OUTER_X = 0.50
BROW_HALF_THICKNESS = 0.036

# nose
NOSE_TIP_Y = -0.21
NOSTRIL_Y = -0.27

# mouth slit (rows coincide at rest: lips closed)
MOUTH_Y = -0.50
MOUTH_HALF_WIDTH = 0.235
UPPER_LIP_HEIGHT = 0.060
LOWER_LIP_HEIGHT = 0.075

CHIN_Y = -0.86
HAIRLINE_Y = 0.64

# jaw hinge for AU26 (an axis parallel to x)
JAW_HINGE = (0.0, -0.02, -0.15)   # (unused x, y, z)
JAW_MAX_ANGLE_DEG = 13.0

# mesh parts
PART_HEAD = 0
PART_EYE_RIGHT = 1   # subject's right eye, x < 0
PART_EYE_LEFT = 2
PART_MOUTH = 3
PART_SOCKET = 4     # dark backing behind an eyeball

# slit sides
SIDE_NONE = 0
SIDE_UPPER = 1
SIDE_LOWER = -1


@dataclass(frozen=True)
class MeshRegions:
    """Per-vertex region data of the procedural mesh (N vertices).

    X, Y: [N] frontal rest-surface coordinates (for eyeballs / mouth interior: the head-surface
          point in front of them); theta: [N] azimuth in radians (0 = front);
    part: [N] PART_* id; eye_side / mouth_side: [N] SIDE_* relative to the eye / mouth slit;
    front: [N] in [0, 1], 1 on the face, 0 behind the ears.
    """

    X: np.ndarray
    Y: np.ndarray
    theta: np.ndarray
    part: np.ndarray
    eye_side: np.ndarray
    mouth_side: np.ndarray
    front: np.ndarray


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic Hermite step: 0 for x <= 0, 1 for x >= 1."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def gauss(d: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (np.asarray(d) / sigma) ** 2)


def eye_profile(X: np.ndarray) -> np.ndarray:
    """Almond profile of an eye opening, [N] in [0, 1]: 1 at the eye centre, 0 at the corners."""
    u = (np.abs(X) - EYE_X) / EYE_HALF_WIDTH
    return np.clip(1.0 - u * u, 0.0, None) ** 0.8


def mouth_profile(X: np.ndarray) -> np.ndarray:
    """Lens profile of the mouth opening, [N] in [0, 1]: 1 at the centre, 0 at the corners."""
    u = X / MOUTH_HALF_WIDTH
    return np.clip(1.0 - u * u, 0.0, None) ** 0.7


def brow_centre_y(X: np.ndarray) -> np.ndarray:
    """Height of the brow centre line at frontal x, [N] (a gentle arch)."""
    a = np.abs(X)
    u = (a - 0.30) / 0.22
    return BROW_Y + 0.035 * (1.0 - u * u) - 0.02 * (a < 0.14) * (0.14 - a) / 0.14


def brow_mask(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Soft brow mask in [0, 1] over frontal coordinates."""
    a = np.abs(X)
    across = smoothstep((a - BROW_INNER_X) / 0.04) * (1.0 - smoothstep((a - BROW_OUTER_X + 0.03) / 0.05))
    thick = BROW_HALF_THICKNESS * (1.0 - 0.35 * smoothstep((a - 0.3) / 0.2))
    vert = 1.0 - smoothstep((np.abs(Y - brow_centre_y(X)) - thick + 0.012) / 0.024)
    return across * vert
