"""Per-identity appearance: skin tone, hair, brows, iris, lip tint and shirt colour.

The procedural model's vertex colours are built with base tones (``procedural_mesh.BASE_*``);
:func:`apply_appearance` rescales each material's colours by ``new_tone / base_tone``, so the
shading-friendly variation inside a material is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emohead.face import procedural_mesh as P
from emohead.face.morphable import MorphableModel

_SKIN = np.array([[0.95, 0.80, 0.70], [0.90, 0.72, 0.60], [0.86, 0.67, 0.55], [0.78, 0.58, 0.45],
                  [0.66, 0.47, 0.35], [0.52, 0.36, 0.27], [0.40, 0.28, 0.21]])
_HAIR = np.array([[0.08, 0.06, 0.05], [0.22, 0.14, 0.09], [0.38, 0.25, 0.14], [0.70, 0.56, 0.34],
                  [0.50, 0.22, 0.10], [0.55, 0.54, 0.52]])
_IRIS = np.array([[0.36, 0.22, 0.12], [0.22, 0.35, 0.55], [0.30, 0.42, 0.25], [0.45, 0.33, 0.18],
                  [0.18, 0.12, 0.08]])
_SHIRT = np.array([[0.20, 0.28, 0.45], [0.55, 0.15, 0.15], [0.25, 0.40, 0.30], [0.85, 0.85, 0.82],
                   [0.15, 0.15, 0.17], [0.60, 0.50, 0.30], [0.40, 0.30, 0.50]])


@dataclass(frozen=True)
class Appearance:
    """RGB tones in [0, 1], each a length-3 tuple."""

    skin: tuple[float, float, float] = tuple(P.BASE_SKIN)
    hair: tuple[float, float, float] = tuple(P.BASE_HAIR)
    brows: tuple[float, float, float] = tuple(P.BASE_BROW)
    iris: tuple[float, float, float] = tuple(P.BASE_IRIS)
    lips: tuple[float, float, float] = tuple(P.BASE_LIPS)
    shirt: tuple[float, float, float] = (0.20, 0.28, 0.45)


def identity_appearance(seed: int) -> Appearance:
    """A deterministic random appearance for identity ``seed``."""
    rng = np.random.default_rng([int(seed), 0xC0102])
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.96, 1.04, 3)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.9, 1.1)
    brows = np.minimum(hair * 0.9, skin * 0.45) if hair.mean() > 0.3 else hair * 1.05
    iris = _IRIS[rng.integers(len(_IRIS))]
    lips = np.clip(skin * np.array([0.92, 0.55, 0.58]) * rng.uniform(0.9, 1.05), 0, 1)
    shirt = _SHIRT[rng.integers(len(_SHIRT))]
    t = lambda a: tuple(float(x) for x in np.clip(a, 0.0, 1.0))  # noqa: E731
    return Appearance(skin=t(skin), hair=t(hair), brows=t(brows), iris=t(iris), lips=t(lips), shirt=t(shirt))


def apply_appearance(model: MorphableModel, appearance: Appearance | None) -> np.ndarray:
    """Vertex colours [N, 3] float32 of ``model`` recoloured by ``appearance`` (None: model.colors)."""
    if appearance is None or model.vertex_materials is None:
        return np.asarray(model.colors, dtype=np.float32)
    m = model.vertex_materials
    col = np.array(model.colors, dtype=np.float64)
    mats = P.MATERIALS
    base = {"skin": P.BASE_SKIN, "hair": P.BASE_HAIR, "brows": P.BASE_BROW, "lips": P.BASE_LIPS,
            "iris": P.BASE_IRIS}
    new = {"skin": appearance.skin, "hair": appearance.hair, "brows": appearance.brows,
           "lips": appearance.lips, "iris": appearance.iris}
    for key in base:
        sel = m == mats[key]
        col[sel] *= np.asarray(new[key]) / base[key]
    sel = m == mats["lash"]
    col[sel] *= np.asarray(appearance.skin) / P.BASE_SKIN
    return np.clip(col, 0.0, 1.0).astype(np.float32)
