"""How the synthetic world shows an emotion: FACS action-unit prototypes per emotion and level.

An emotion at an intensity level is an AU activation vector ``a = LEVEL_SCALE[level] * style * p``
([K], in the order of a model's ``au_names``), where ``p`` is the emotion's prototype (below,
after the EMFACS-style prototypes used in the literature) and ``style`` ([K]) are per-actor
multiplicative gains around 1 (:func:`actor_style`), so speakers differ in how they show emotion.

Prototypes: happy AU6+12, sad AU1+4+15, angry AU4+5+7+23, surprised AU1+2+5+26,
fear AU1+2+4+5+20+26, disgusted AU9+15+16, contempt AU12R+14R (unilateral), neutral none.

Levels are MEAD's 1-3 (CREMA-D's labels map onto them, see :mod:`emohead.data.emotions`); level 4 is
accepted as an extra-strong level for experiments beyond MEAD's range. CREMA-D emotion names map to
the MEAD prototypes by :func:`~emohead.data.emotions.canonical_emotion`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.emotions import canonical_emotion


PROTOTYPES: dict[str, dict[str, float]] = {
    "happy": {"AU6": 0.9, "AU12": 1.0},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0},
    "angry": {"AU4": 1.0, "AU5": 0.6, "AU7": 0.8, "AU23": 0.9},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU26": 0.8},
    "fear": {"AU1": 0.9, "AU2": 0.6, "AU4": 0.5, "AU5": 1.0, "AU20": 0.9, "AU26": 0.45},
    "disgusted": {"AU9": 1.0, "AU15": 0.6, "AU16": 0.7},
    "contempt": {"AU12R": 1.0, "AU14R": 0.9},
    "neutral": {},
}
"""AU intensities of each emotion at level 3 (before actor style)."""

LEVEL_SCALE: dict[int, float] = {1: 0.45, 2: 0.72, 3: 1.0, 4: 1.2}
"""Multiplier of the prototype per intensity level (MEAD 1-3; 4 = extra strong)."""


def actor_style(actor_seed: int, au_names: Sequence[str]) -> np.ndarray:
    """Per-actor multiplicative AU gains: [K] float32, log-normal around 1 (sigma 0.2), in [0.6, 1.5]."""
    rng = np.random.default_rng([int(actor_seed), 0x5EED])
    gains = np.exp(rng.normal(0.0, 0.2, size=len(au_names)))
    return np.clip(gains, 0.6, 1.5).astype(np.float32)


def emotion_au(emotion: str, level: int, au_names: Sequence[str], *,
               actor_style: np.ndarray | None = None) -> np.ndarray:
    """AU activation of an emotion at an intensity level: [K] float32 in ``au_names`` order.

    emotion: MEAD or CREMA-D name; level: 1-3 (MEAD), 4 extra strong; actor_style: [K] gains or None.
    """
    name = canonical_emotion(emotion)
    if level not in LEVEL_SCALE:
        raise ValueError(f"unknown intensity level {level!r}; valid: {sorted(LEVEL_SCALE)}")
    names = list(au_names)
    out = np.zeros(len(names), dtype=np.float32)
    for au, value in PROTOTYPES[name].items():
        if au not in names:
            raise ValueError(f"emotion {name!r} needs action unit {au!r}, missing from au_names {names}")
        out[names.index(au)] = value * LEVEL_SCALE[level]
    if actor_style is not None:
        style = np.asarray(actor_style, dtype=np.float32)
        if style.shape != out.shape:
            raise ValueError(f"actor_style must have shape {out.shape}, got {style.shape}")
        out = out * style
    return out
