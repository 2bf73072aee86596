"""The embedded text feature g~: a fixed random unit vector per word (a stand-in for LLaMA, Sec. III-A).

A word is lower-cased and stripped of surrounding punctuation; its vector is drawn from
``numpy.random.default_rng(seed)`` with the seed taken from the SHA-256 of ``"word:" + word``, then
normalised to unit length: identical across runs, machines and processes (no Python ``hash``).
Silence has its own fixed unit vector (seeded by ``"<silence>"``). Width ``features.hashed_dim``.
"""
from __future__ import annotations

import hashlib
import string
from functools import lru_cache

import numpy as np

SILENCE_TOKEN = "<silence>"


def normalize_word(word: str) -> str:
    """'Year.' -> 'year'; inner apostrophes and hyphens stay ("don't")."""
    return word.strip().strip(string.punctuation + "\u2018\u2019\u201c\u201d").lower()


@lru_cache(maxsize=65536)
def _unit_vector(key: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    v = (v / np.linalg.norm(v)).astype(np.float32)
    v.setflags(write=False)
    return v


def word_vector(word: str, dim: int) -> np.ndarray:
    """Unit vector float32 [dim] of a word (after :func:`normalize_word`)."""
    return _unit_vector("word:" + normalize_word(word), dim)


class HashedTextEncoder:
    """g~ backend 'hashed': words -> [W, dim] unit vectors; ``silence`` [dim]."""

    name = "hashed"

    def __init__(self, dim: int):
        if dim <= 0:
            raise ValueError(f"features.hashed_dim must be positive, got {dim}")
        self.dim = dim
        self.silence = _unit_vector(SILENCE_TOKEN, dim)

    def encode(self, words: list[str]) -> np.ndarray:
        if not words:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([word_vector(w, self.dim) for w in words])
