"""The embedded audio-emotion feature e~: prosody statistics (a stand-in for emotion2vec, Sec. III-A).

Low-level descriptors (LLDs) every 10 ms from a 40 ms Hann window (centred, like the mel frames):

- ``f0``: pitch in semitones above 55 Hz from the normalised autocorrelation (Boersma's window
  correction; lags for 60-500 Hz; the shortest lag within 10 % of the best peak, against octave-down
  errors; parabolic refinement). Unvoiced frames have no F0.
- ``voicing``: the autocorrelation peak height in [0, 1]; 0 where the frame is 50 dB below the clip's
  loudest frame or below -80 dBFS. A frame is voiced when voicing > ``VOICED``.
- ``energy``: frame energy in dB (10 log10 mean x^2).
- ``tilt``: spectral tilt as the alpha ratio, 10 log10 of 1-5 kHz over 50 Hz-1 kHz energy (eGeMAPS).

Plus their regression deltas over +-2 frames (F0 contour interpolated through unvoiced gaps first):
8 channels. For each video frame, 5 statistics per channel over windows centred on the frame:
mean over the frame's own 40 ms; mean and standard deviation over +-0.1 s and over +-0.5 s.
F0 and delta-F0 statistics use voiced frames only (0 where a window has none). Width 8 x 5 = 40.
All-silent audio gives voicing 0 and F0 0 everywhere, energies at the floor.
"""
from __future__ import annotations

import numpy as np

HOP = 160
"""Analysis hop in samples at 16 kHz: 10 ms (ours)."""
WIN = 640
"""Analysis window in samples at 16 kHz: 40 ms, at least two periods of 60 Hz (ours)."""
F0_MIN, F0_MAX = 60.0, 500.0
"""Pitch search range in Hz (ours)."""
VOICED = 0.45
"""Voicing threshold on the normalised autocorrelation peak (ours; Praat uses 0.45)."""
SILENCE_DB = 50.0
"""Frames this far below the loudest frame count as silence (ours)."""
FLOOR_DB = -80.0
"""Absolute silence floor in dBFS (ours)."""
WINDOWS = (0.1, 0.5)
"""Half-widths in seconds of the two context windows (ours)."""
CHANNELS = ("f0", "voicing", "energy", "tilt", "d_f0", "d_voicing", "d_energy", "d_tilt")
STATS = ("frame_mean", "short_mean", "short_std", "long_mean", "long_std")


def _frames(audio: np.ndarray, hop: int, win: int) -> np.ndarray:
    x = np.pad(np.asarray(audio, dtype=np.float64), (win // 2, win // 2))
    n = len(audio) // hop + 1
    return np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n]   # [K, win], frame k centred at k*hop


def pitch_track(audio: np.ndarray, sample_rate: int = 16000) -> dict[str, np.ndarray]:
    """Per 10 ms frame: f0 (Hz, 0 when unvoiced), voicing [0, 1], energy (dB), tilt (dB). Each [K]."""
    hop, win = HOP * sample_rate // 16000, WIN * sample_rate // 16000
    frames = _frames(audio, hop, win)
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(win + 2)[1:-1]
    xw = frames * window
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)                 # [K] dB

    n_fft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(xw, n=n_fft, axis=1)
    power = spec.real ** 2 + spec.imag ** 2
    r = np.fft.irfft(power, n=n_fft, axis=1)[:, :win]                            # autocorrelation [K, win]
    rw = np.fft.irfft(np.abs(np.fft.rfft(window, n=n_fft)) ** 2, n=n_fft)[:win]  # window autocorrelation
    lo, hi = int(np.floor(sample_rate / F0_MAX)), int(np.ceil(sample_rate / F0_MIN))
    r0 = r[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rn = np.where(r0 > 1e-12, r / r0, 0.0) / (rw / rw[0])[None, :]          # Boersma: r_x / r_w
    seg = rn[:, lo:hi + 2]
    best = seg[:, 1:-1].max(axis=1)
    is_peak = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    cand = is_peak & (seg[:, 1:-1] >= 0.9 * best[:, None])
    k = np.where(cand.any(axis=1), cand.argmax(axis=1), seg[:, 1:-1].argmax(axis=1))
    rows = np.arange(len(seg))
    a, b, c = seg[rows, k], seg[rows, k + 1], seg[rows, k + 2]                  # neighbours of the peak
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    lag = lo + k + np.clip(shift, -0.5, 0.5)
    voicing = np.clip(b, 0.0, 1.0)
    loud = energy > max(energy.max() - SILENCE_DB, FLOOR_DB)
    voicing = np.where(loud, voicing, 0.0)
    f0 = np.where(voicing > VOICED, sample_rate / lag, 0.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    low = power[:, (freqs >= 50) & (freqs < 1000)].sum(axis=1)
    high = power[:, (freqs >= 1000) & (freqs < 5000)].sum(axis=1)
    tilt = 10 * np.log10((high + 1e-10) / (low + 1e-10))
    tilt = np.where(loud, tilt, 0.0)
    return {"f0": f0, "voicing": voicing, "energy": energy, "tilt": tilt}


def deltas(x: np.ndarray, n: int = 2) -> np.ndarray:
    """Regression deltas over +-n frames (edge-padded): sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2)."""
    xp = np.pad(x, (n, n), mode="edge")
    num = sum(k * (xp[n + k:len(xp) - n + k] - xp[n - k:len(xp) - n - k]) for k in range(1, n + 1))
    return num / (2 * sum(k * k for k in range(1, n + 1)))


def _interp_voiced(f0_st: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    if not voiced.any():
        return np.zeros_like(f0_st)
    idx = np.arange(len(f0_st))
    return np.interp(idx, idx[voiced], f0_st[voiced])


def _window_stats(x: np.ndarray, w: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and std of x over [starts, ends) per row (0 where the weight sum is 0)."""
    c0 = np.concatenate([[0.0], np.cumsum(w)])
    c1 = np.concatenate([[0.0], np.cumsum(w * x)])
    c2 = np.concatenate([[0.0], np.cumsum(w * x * x)])
    s0, s1, s2 = c0[ends] - c0[starts], c1[ends] - c1[starts], c2[ends] - c2[starts]
    ok = s0 > 1e-9
    mean = np.where(ok, s1 / np.where(ok, s0, 1), 0.0)
    var = np.where(ok, s2 / np.where(ok, s0, 1) - mean ** 2, 0.0)
    return mean, np.sqrt(np.maximum(var, 0.0))


class ProsodyExtractor:
    """e~ backend 'prosody': audio float32 [S] at 16 kHz -> [T, 40] (8 channels x 5 window statistics)."""

    name = "prosody"
    dim = len(CHANNELS) * len(STATS)

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = sample_rate

    def __call__(self, audio: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
        track = pitch_track(audio, self.sample_rate)
        voiced = track["f0"] > 0
        f0_st = np.where(voiced, 12 * np.log2(np.maximum(track["f0"], 1e-6) / 55.0), 0.0)
        lld = {"f0": f0_st, "voicing": track["voicing"], "energy": track["energy"], "tilt": track["tilt"]}
        contour = _interp_voiced(f0_st, voiced)
        lld["d_f0"] = deltas(contour)
        for name in ("voicing", "energy", "tilt"):
            lld["d_" + name] = deltas(lld[name])

        rate = self.sample_rate / (HOP * self.sample_rate // 16000)     # 100 Hz
        k_total = len(f0_st)
        centre = (np.arange(n_frames) + 0.5) / fps * rate                # video frame centres in LLD frames
        def bounds(half: float) -> tuple[np.ndarray, np.ndarray]:
            s = np.clip(np.floor(centre - half + 0.5).astype(np.int64), 0, k_total)
            e = np.clip(np.floor(centre + half + 0.5).astype(np.int64), 0, k_total)
            return s, np.maximum(e, np.minimum(s + 1, k_total))
        windows = [bounds(rate / fps / 2)] + [bounds(h * rate) for h in WINDOWS]

        out = np.zeros((n_frames, len(CHANNELS), len(STATS)))
        ones = np.ones(k_total)
        for c, name in enumerate(CHANNELS):
            w = voiced.astype(np.float64) if name in ("f0", "d_f0") else ones
            col = 0
            for j, (s, e) in enumerate(windows):
                mean, std = _window_stats(lld[name], w, s, e)
                out[:, c, col] = mean
                col += 1
                if j > 0:
                    out[:, c, col] = std
                    col += 1
        return out.reshape(n_frames, -1).astype(np.float32)


def prosody_columns() -> list[str]:
    """Names of the 40 prosody columns, in order (e.g. 'f0/long_mean')."""
    return [f"{c}/{s}" for c in CHANNELS for s in STATS]
