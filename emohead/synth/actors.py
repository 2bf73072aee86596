"""Synthetic actors: identity (beta_id), appearance, voice, emotional style and motion energy.

Actor 0 is the *target person*, the one the renderer is trained on (the paper trains one NeRF
per person); the others exist for the audio-expression module's many-to-one training (eq. 13).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face.appearance import Appearance, identity_appearance
from ..face.emotion_aus import actor_style
from .speech import VOICES, Prosody


@dataclass(frozen=True)
class Actor:
    """One synthetic person."""

    id: str                  # "actor0", "actor1", ...
    index: int
    beta_id: np.ndarray      # [S] identity parameters
    appearance: Appearance   # skin, hair, iris, lip colours
    voice: str               # key of speech.VOICES
    prosody: Prosody         # neutral voice: base pitch, range, rate, volume
    style: np.ndarray        # [K] per-actor AU gains around 1 (emotional style)
    motion_energy: float     # head-motion amplitude factor


def make_actors(n_actors: int, seed: int, au_names: tuple[str, ...], shape_dims: int, *,
                n_voices: int = 4) -> list[Actor]:
    """``n_actors`` deterministic actors of the world ``seed``."""
    if n_actors < 1:
        raise ValueError(f"synth.n_actors={n_actors}: need at least one actor")
    voices = sorted(VOICES)
    if not 1 <= n_voices <= len(voices):
        raise ValueError(f"synth.n_voices={n_voices}: choose between 1 and {len(voices)}")
    actors = []
    for i in range(n_actors):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, i]))
        beta = (rng.normal(size=shape_dims) * 0.9).astype(np.float32)
        voice = voices[i % n_voices]
        prosody = Prosody(pitch=int(rng.integers(38, 62)), pitch_range=int(rng.integers(40, 60)),
                          rate=int(rng.integers(150, 180)), volume=100)
        actors.append(Actor(
            id=f"actor{i}", index=i, beta_id=beta,
            appearance=identity_appearance(int(rng.integers(2**31))),
            voice=voice, prosody=prosody,
            style=actor_style(int(rng.integers(2**31)), au_names),
            motion_energy=float(rng.uniform(0.7, 1.3)),
        ))
    return actors
