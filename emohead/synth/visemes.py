"""espeak phonemes -> mouth articulation curves (facial action units) at video frame rate.

Four action units drive the mouth of the face model, each in ``[0, 1]``:

* ``AU25`` lips part (most speech sounds > 0; bilabial closure 0),
* ``AU26`` jaw drop (open vowels ~0.9, mid ~0.5, close ~0.25, consonants low),
* ``AU18`` lip pucker / rounding (u, o, w, r-colouring, partly "sh"),
* ``AU24`` lip presser (p, b, m = 1; f, v partly for the lower-lip tuck).

:func:`articulation_curves` samples the per-phoneme targets on a fine time grid and blends
neighbours with a dominance-weighted Gaussian (Cohen-Massaro style coarticulation): every
output is a convex combination of nearby targets weighted by ``dominance x kernel``. Closing
gestures (bilabials) have a high dominance for AU24/AU25 so a /p b m/ still reaches ~closure
after smoothing, while lip rounding spreads into neighbouring consonants.
"""
from __future__ import annotations

import functools
import logging
import math
import numbers
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from emohead.synth.speech import Phoneme, is_pause

__all__ = [
    "ARTICULATION_AUS",
    "phoneme_targets",
    "phoneme_dominance",
    "articulation_curves",
]

log = logging.getLogger(__name__)

ARTICULATION_AUS = ("AU25", "AU26", "AU18", "AU24")

# Targets per phoneme class: (AU25 lips part, AU26 jaw drop, AU18 pucker, AU24 presser).
_T = tuple[float, float, float, float]
_SILENCE: _T = (0.0, 0.0, 0.0, 0.0)
_NEUTRAL_CONSONANT: _T = (0.35, 0.15, 0.0, 0.0)

# Dominance per class, same AU order. Higher wins the blend against its neighbours.
_DOM_PAUSE = (1.5, 1.5, 1.5, 1.5)
_DOM_VOWEL = (1.0, 1.5, 1.5, 1.0)
_DOM_BILABIAL = (4.0, 2.0, 0.5, 6.0)
_DOM_LABIODENTAL = (2.0, 1.0, 0.5, 3.0)
_DOM_ROUNDED_CONS = (1.0, 0.5, 3.0, 1.0)
_DOM_CONSONANT = (0.7, 0.5, 0.3, 0.7)

# espeak English mnemonics (phoneme tables "base1", "en", "en-us") -> (targets, dominance).
_TABLE: dict[str, tuple[_T, tuple[float, ...]]] = {}


def _add(symbols: str, targets: _T, dominance: tuple[float, ...]) -> None:
    for s in symbols.split():
        _TABLE[s] = (targets, dominance)


# --- vowels
_add("a aa A: A@ A# a2 aI aU aI@ aI3 aU@ A~", (0.9, 0.9, 0.0, 0.0), _DOM_VOWEL)  # open
_add("a# a#2", (0.75, 0.6, 0.0, 0.0), _DOM_VOWEL)  # reduced / "a" article
_add("V", (0.8, 0.7, 0.0, 0.0), _DOM_VOWEL)  # strut
_add("0 02 0#", (0.8, 0.75, 0.35, 0.0), _DOM_VOWEL)  # lot (open back rounded)
_add("O: O O@ O2 OI O~", (0.75, 0.6, 0.55, 0.0), _DOM_VOWEL)  # thought (open-mid rounded)
_add("E E# E2 e@", (0.75, 0.6, 0.0, 0.0), _DOM_VOWEL)  # open-mid front
_add("e eI e: e#", (0.7, 0.5, 0.0, 0.0), _DOM_VOWEL)  # mid front
_add("@ @2 @5 @# @- @L", (0.55, 0.4, 0.0, 0.0), _DOM_VOWEL)  # schwa
_add("3 3: IR VR", (0.55, 0.4, 0.3, 0.0), _DOM_VOWEL)  # r-coloured
_add("I I2 I# I2# i i: i@ i@3", (0.6, 0.25, 0.0, 0.0), _DOM_VOWEL)  # close front
_add("U U@", (0.5, 0.3, 0.7, 0.0), _DOM_VOWEL)  # foot
_add("u u: u:#", (0.45, 0.25, 0.9, 0.0), _DOM_VOWEL)  # goose
_add("o o: oU oU# o@", (0.6, 0.45, 0.7, 0.0), _DOM_VOWEL)  # goat
# --- bilabials: closure
_add("p b m m- B", (0.0, 0.05, 0.0, 1.0), _DOM_BILABIAL)
# --- labiodentals: lower lip tucked under the upper teeth
_add("f v v#", (0.2, 0.1, 0.0, 0.5), _DOM_LABIODENTAL)
# --- rounded consonants
_add("w w#", (0.25, 0.1, 0.9, 0.0), _DOM_ROUNDED_CONS)
_add("r r- r/ R R2 R3 r. r\" **", (0.35, 0.15, 0.4, 0.0), _DOM_ROUNDED_CONS)
_add("S Z tS dZ S; Z; tS; dZ;", (0.4, 0.1, 0.5, 0.0), _DOM_ROUNDED_CONS)
# --- other consonants
_add("T D", (0.5, 0.15, 0.0, 0.0), _DOM_CONSONANT)  # dental: tongue between teeth
_add("t d t# t2 d# t[ d[ n n- n. n^ z# z/2", (0.35, 0.1, 0.0, 0.0), _DOM_CONSONANT)
_add("s z s. z. s; z;", (0.35, 0.05, 0.0, 0.0), _DOM_CONSONANT)
_add("l l- l/ l/2 l/3 l^ l. L L/ l#", (0.4, 0.2, 0.0, 0.0), _DOM_CONSONANT)
_add("j ; J J^ C c", (0.4, 0.1, 0.0, 0.0), _DOM_CONSONANT)
_add("k g N N- x X Q q", (0.4, 0.2, 0.0, 0.0), _DOM_CONSONANT)
_add("h ? * #X1", (0.45, 0.25, 0.0, 0.0), _DOM_CONSONANT)

_STRESS_MARKS = "',%="


@functools.lru_cache(maxsize=1024)
def _lookup(symbol: str) -> tuple[_T, tuple[float, ...]]:
    """Targets and dominance for an espeak mnemonic (stress marks and variants tolerated)."""
    if is_pause(symbol):
        return _SILENCE, _DOM_PAUSE
    s = symbol.strip().lstrip(_STRESS_MARKS)
    # exact, then progressively drop trailing variant markers ("I2#" -> "I2" -> "I").
    while s:
        if s in _TABLE:
            return _TABLE[s]
        s = s[:-1]
    log.debug("unknown espeak phoneme %r: using a neutral consonant target", symbol)
    return _NEUTRAL_CONSONANT, _DOM_CONSONANT


def phoneme_targets(symbol: str) -> dict[str, float]:
    """Articulation targets in ``[0, 1]`` for one espeak phoneme mnemonic, keyed by AU.

    Pauses (``"_"``, ``"_:"``, ...) give all zeros; unknown symbols a neutral consonant.
    """
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be a str, got {type(symbol).__name__}")
    targets, _ = _lookup(symbol)
    return dict(zip(ARTICULATION_AUS, targets))


def phoneme_dominance(symbol: str) -> dict[str, float]:
    """Coarticulation dominance (> 0) of one espeak phoneme, keyed by AU."""
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be a str, got {type(symbol).__name__}")
    _, dominance = _lookup(symbol)
    return dict(zip(ARTICULATION_AUS, dominance))


def articulation_curves(
    phonemes: Sequence[Phoneme],
    n_frames: int,
    fps: float = 25.0,
    *,
    smoothing: float = 0.04,
) -> dict[str, np.ndarray]:
    """Per-frame articulation curves, ``{au: float32 [n_frames] in [0, 1]}``.

    Frame ``i`` is at time ``i / fps`` seconds. Each phoneme holds its target over
    ``[start, end)``; time not covered by any phoneme is silence (0). With ``smoothing > 0``
    (coarticulation reach in seconds) targets are blended by a dominance-weighted Gaussian
    kernel with sigma ``smoothing / 2`` (so phonemes within about ``smoothing`` seconds
    blend), evaluated on a fine internal grid so that phonemes shorter than a frame still
    count; with ``smoothing == 0`` the raw target at each frame time is returned.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, numbers.Integral) or n_frames < 0:
        raise ValueError(f"n_frames must be an integer >= 0, got {n_frames!r}")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    if (
        isinstance(smoothing, bool)
        or not isinstance(smoothing, numbers.Real)
        or not math.isfinite(smoothing)
        or smoothing < 0
    ):
        raise ValueError(f"smoothing must be a finite number of seconds >= 0, got {smoothing!r}")
    n_frames, fps, smoothing = int(n_frames), float(fps), float(smoothing)
    n_au = len(ARTICULATION_AUS)
    if n_frames == 0:
        return {au: np.zeros(0, np.float32) for au in ARTICULATION_AUS}

    # Fine grid: k samples per frame, about 2.5 ms apart; frame i sits at fine index i*k.
    k = 1 if smoothing == 0.0 else max(1, int(math.ceil(400.0 / fps)))
    rate = fps * k
    n_fine = n_frames * k
    t = np.arange(n_fine, dtype=np.float64) / rate

    targets = np.zeros((n_fine, n_au), np.float64)
    dominance = np.tile(np.asarray(_DOM_PAUSE, np.float64), (n_fine, 1))
    for p in phonemes:
        if not (math.isfinite(p.start) and math.isfinite(p.end)):
            raise ValueError(f"phoneme {p!r} has a non-finite time")
        if p.end <= p.start:
            continue
        i0 = int(np.searchsorted(t, p.start, side="left"))
        i1 = int(np.searchsorted(t, p.end, side="left"))
        if i1 <= i0:
            if smoothing == 0.0:
                continue  # falls between two frame times
            # shorter than the fine grid spacing: give it the nearest sample
            i0 = min(int(round(0.5 * (p.start + p.end) * rate)), n_fine - 1)
            i1 = i0 + 1
            if i0 < 0 or p.start >= n_fine / rate:
                continue
        tg, dm = _lookup(p.symbol)
        targets[i0:i1] = tg
        dominance[i0:i1] = dm

    if smoothing > 0.0:
        sigma = 0.5 * smoothing * rate  # +-2 sigma = +-smoothing seconds
        num = gaussian_filter1d(targets * dominance, sigma, axis=0, mode="nearest", truncate=4.0)
        den = gaussian_filter1d(dominance, sigma, axis=0, mode="nearest", truncate=4.0)
        blended = num / den
    else:
        blended = targets
    frames = np.clip(blended[::k], 0.0, 1.0).astype(np.float32)
    return {au: np.ascontiguousarray(frames[:, j]) for j, au in enumerate(ARTICULATION_AUS)}
