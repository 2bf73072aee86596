"""Emotional prosody: how each emotion and intensity level moves espeak's pitch, range, rate, loudness.

Directions follow the vocal-emotion literature (e.g. Banse & Scherer 1996): happy, fear and
surprise raise pitch; anger raises loudness and range; sadness lowers pitch, range, rate and
loudness. Level 1..3 (or 4 for CREMA-D) scales the deviation from the actor's neutral voice.
"""
from __future__ import annotations

from dataclasses import replace

from .speech import Prosody

#: per emotion: (pitch offset, range offset, rate factor, volume factor) at full intensity
EMOTION_PROSODY: dict[str, tuple[float, float, float, float]] = {
    "neutral": (0.0, 0.0, 1.00, 1.00),
    "happy": (+14.0, +25.0, 1.10, 1.10),
    "surprised": (+20.0, +35.0, 1.00, 1.10),
    "fear": (+18.0, -10.0, 1.22, 0.90),
    "angry": (+6.0, +30.0, 1.15, 1.45),
    "disgusted": (-8.0, +5.0, 0.86, 1.00),
    "contempt": (-6.0, -5.0, 0.90, 0.95),
    "sad": (-12.0, -28.0, 0.78, 0.75),
}
# CREMA-D spellings of the same emotions
EMOTION_PROSODY.update({"anger": EMOTION_PROSODY["angry"], "disgust": EMOTION_PROSODY["disgusted"]})

LEVEL_FRACTION: dict[int, float] = {1: 0.45, 2: 0.75, 3: 1.0, 4: 1.15}


def emotional_prosody(emotion: str, level: int, base: Prosody = Prosody()) -> Prosody:
    """The actor's ``base`` prosody shifted toward ``emotion`` by ``level`` (1 weakest)."""
    if emotion not in EMOTION_PROSODY:
        raise ValueError(f"unknown emotion {emotion!r}; valid: {sorted(EMOTION_PROSODY)}")
    if level not in LEVEL_FRACTION:
        raise ValueError(f"level {level}: unknown intensity level; valid: {sorted(LEVEL_FRACTION)}")
    dp, dr, fr, fv = EMOTION_PROSODY[emotion]
    k = LEVEL_FRACTION[level] if emotion != "neutral" else 0.0
    return replace(base,
                   pitch=_clamp(base.pitch + k * dp, 0, 100),
                   pitch_range=_clamp(base.pitch_range + k * dr, 0, 100),
                   rate=_clamp(base.rate * (1 + k * (fr - 1)), 80, 450),
                   volume=_clamp(base.volume * (1 + k * (fv - 1)), 0, 200))


def _clamp(value: float, lo: int, hi: int) -> int:
    return int(round(min(max(value, lo), hi)))
