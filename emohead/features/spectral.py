"""The embedded audio feature v~: log-mel frames with context (a stand-in for HuBERT, Sec. III-A).

80 mel bands (Slaney scale, 0-8 kHz) from a 25 ms Hann window every 10 ms (100 Hz), natural log of
power + 1e-5. Mel frame k is centred at k * 10 ms (centred STFT). Video frame i (40 ms at 25 fps)
owns the mel frames whose centres fall in it (4 of them) and gets ``CONTEXT`` more on each side, so
v~_i stacks ``MEL_FRAMES`` = 4 + 2 * 2 = 8 frames of 80 bands: width 640. Pure numpy.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

N_MELS = 80
"""Mel bands (ours; the usual TTS/ASR choice)."""
HOP = 160
"""STFT hop in samples at 16 kHz: 10 ms, 100 mel frames per second (ours)."""
WIN = 400
"""STFT window in samples at 16 kHz: 25 ms (ours)."""
N_FFT = 512
"""FFT size (ours)."""
CONTEXT = 2
"""Extra mel frames on each side of a video frame's own 4 (ours)."""
MEL_FRAMES = 4 + 2 * CONTEXT
"""Mel frames stacked per video frame: 4 own (40 ms at 25 fps) + context (ours)."""
LOG_FLOOR = 1e-5
"""Added to mel power before the log (ours)."""


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), lin)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int = 16000, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular, area-normalised (Slaney) mel filters [n_mels, n_fft // 2 + 1]."""
    fmax = sample_rate / 2 if fmax is None else fmax
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:] - edges[1:-1])[:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    fb.setflags(write=False)
    return fb


def stft_power(audio: np.ndarray, *, hop: int = HOP, win: int = WIN, n_fft: int = N_FFT) -> np.ndarray:
    """Centred power spectrogram |STFT|^2 [K, n_fft // 2 + 1] with K = S // hop + 1 (frame k centred at k * hop)."""
    x = np.pad(np.asarray(audio, dtype=np.float64), (n_fft // 2, n_fft // 2), mode="constant")
    n = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n]  # [K, n_fft]
    window = np.zeros(n_fft)
    off = (n_fft - win) // 2
    window[off:off + win] = np.hanning(win + 1)[:-1]  # periodic Hann, centred in the FFT frame
    spec = np.fft.rfft(frames * window, axis=1)
    return spec.real ** 2 + spec.imag ** 2


def log_mel(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Log-mel spectrogram [K, 80] at 100 Hz (float64)."""
    power = stft_power(audio)
    return np.log(power @ mel_filterbank(sample_rate).T + LOG_FLOOR)


def stack_context(frames: np.ndarray, *, rate: float, n_frames: int, fps: int, width: int = MEL_FRAMES) -> np.ndarray:
    """Per video frame, ``width`` consecutive frames centred on the video frame's centre, flattened: [T, width * D].

    At 100 Hz and 25 fps with width 8: the frame's own 4 mel frames plus 2 on each side.
    Indices outside the sequence are clamped to its ends (edge padding).
    """
    centres = (np.arange(n_frames) + 0.5) / fps * rate                 # video-frame centres in mel-frame units
    first = np.floor(centres - width / 2.0 + 0.5).astype(np.int64)     # [T]
    idx = np.clip(first[:, None] + np.arange(width)[None, :], 0, len(frames) - 1)  # [T, width]
    return frames[idx].reshape(n_frames, -1)


class SpectralExtractor:
    """v~ backend 'spectral': audio float32 [S] at 16 kHz -> [T, 640] (80 mel bands x 8 mel frames)."""

    name = "spectral"
    dim = N_MELS * MEL_FRAMES

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = sample_rate

    def __call__(self, audio: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
        mel = log_mel(audio, self.sample_rate)                          # [K, 80] at 100 Hz
        rate = self.sample_rate / HOP
        return stack_context(mel, rate=rate, n_frames=n_frames, fps=fps).astype(np.float32)
