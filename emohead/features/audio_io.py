"""Audio input checks shared by every backend: mono float32 at the target rate, aligned to T frames.

Handling of awkward input (each has a test in tests/features/test_inputs.py):

- empty audio, or NaN/inf samples -> ``ValueError`` naming the clip (``where``);
- stereo / multi-channel ``[S, C]`` -> averaged to mono ``[S]``;
- a sample rate other than the target -> resampled with ``scipy.signal.resample_poly`` and a warning;
- all-silent audio (peak below ``SILENCE_PEAK``) -> a warning; features are still computed
  (the prosody backend then reports voicing 0 and F0 0 on every frame);
- ``n_frames`` disagreeing with the audio duration by more than one frame -> ``ValueError``.
"""
from __future__ import annotations

import logging
from math import gcd

import numpy as np

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-4
"""Peak amplitude below which a clip counts as all-silent (about -80 dBFS; ours)."""


def prepare_audio(audio: np.ndarray, sample_rate: int, target_rate: int = 16000, *,
                  where: str = "audio") -> np.ndarray:
    """Validate and normalise audio -> float32 mono [S'] at ``target_rate``.

    ``audio`` is [S] or [S, C] (channels last, as soundfile reads it).
    """
    x = np.asarray(audio)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{where}: audio must be numeric, got dtype {x.dtype}")
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise ValueError(f"{where}: audio has no channels (shape {x.shape})")
        x = x.astype(np.float64).mean(axis=1)  # downmix [S, C] -> [S]
    elif x.ndim != 1:
        raise ValueError(f"{where}: audio must be [S] or [S, C], got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{where}: audio is empty (0 samples)")
    if x.dtype.kind in "iu":  # integer PCM -> [-1, 1]
        x = x / float(np.iinfo(np.asarray(audio).dtype).max)
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: audio array contains {int(bad.sum())} NaN/inf sample(s), "
                         f"the first at index {first}")
    if sample_rate <= 0:
        raise ValueError(f"{where}: sample_rate must be positive, got {sample_rate}")
    if sample_rate != target_rate:
        from scipy.signal import resample_poly

        log.warning("%s: sample rate %d Hz, resampling to %d Hz", where, sample_rate, target_rate)
        g = gcd(int(sample_rate), int(target_rate))
        x = resample_poly(x, target_rate // g, sample_rate // g)
    if np.abs(x).max() < SILENCE_PEAK:
        log.warning("%s: audio is silent (peak < %g); features are computed anyway "
                    "(prosody voicing and F0 will be 0)", where, SILENCE_PEAK)
    return x.astype(np.float32)


def check_frames(n_samples: int, sample_rate: int, n_frames: int, fps: int, *, where: str = "audio") -> None:
    """Raise if ``n_frames`` at ``fps`` and the audio length disagree by more than one frame."""
    if n_frames <= 0:
        raise ValueError(f"{where}: n_frames must be positive, got {n_frames}")
    audio_frames = n_samples / sample_rate * fps
    if abs(audio_frames - n_frames) > 1.0:
        raise ValueError(f"{where}: n_frames={n_frames} at {fps} fps is {n_frames / fps:.3f} s, but the audio "
                         f"lasts {n_samples / sample_rate:.3f} s ({audio_frames:.1f} frames); they must agree "
                         f"within one frame")


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad or trim [S] to exactly ``n_samples`` (used to make audio cover all T frames)."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))
