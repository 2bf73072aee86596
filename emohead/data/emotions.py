"""The emotion vocabulary of the datasets, shared by data preparation, training and evaluation.

MEAD (Wang et al. 2020) has 8 emotions at 3 intensity levels (1 weak, 2 medium, 3 strong). CREMA-D
(Cao et al. 2014) has 6, coded ANG DIS FEA HAP NEU SAD in its file names, at four labels mapped onto
MEAD's scale by :data:`CREMA_LEVELS` (LO -> 1, MD -> 2, HI -> 3, XX "unspecified" -> 2). CREMA-D names
map onto MEAD's by :data:`CREMA_TO_MEAD`; :func:`canonical_emotion` gives the MEAD name of either.
How the synthetic world *shows* an emotion (its action units) lives in :mod:`emohead.face.emotion_aus`.
"""
from __future__ import annotations

MEAD_EMOTIONS: tuple[str, ...] = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
CREMA_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "neutral", "sad")
CREMA_CODES: dict[str, str] = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral",
                               "SAD": "sad"}
"""CREMA-D's three-letter emotion codes (file names) -> its emotion names."""
CREMA_TO_MEAD: dict[str, str] = {
    "anger": "angry", "disgust": "disgusted", "fear": "fear", "happy": "happy", "neutral": "neutral", "sad": "sad",
}
CREMA_LEVELS: dict[str, int] = {"LO": 1, "MD": 2, "HI": 3, "XX": 2}


def canonical_emotion(emotion: str) -> str:
    """MEAD name of an emotion given by its MEAD or CREMA-D name (case-insensitive)."""
    e = str(emotion).strip().lower()
    if e in MEAD_EMOTIONS:
        return e
    if e in CREMA_TO_MEAD:
        return CREMA_TO_MEAD[e]
    raise ValueError(f"unknown emotion {emotion!r}; valid: {sorted(set(MEAD_EMOTIONS) | set(CREMA_EMOTIONS))}")
