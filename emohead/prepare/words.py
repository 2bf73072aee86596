"""Word timings of a clip (words.json): FunASR, given timings, a plain transcript aligned to the audio, or none.

In order of preference, per clip:

1. ``asr``: a FunASR model with timestamps (``--asr-path``; :class:`emohead.features.transcript.FunasrTranscriber`);
2. timings that came with the source (a ``--transcript`` .json of {word, start, end});
3. the clip's known text (CREMA-D's sentences, a ``--transcript`` .txt) aligned to the audio by
   :func:`align_transcript`: the text is spoken by espeak-ng (``emohead.synth.speech``, which knows each
   word's time), and dynamic time warping of MFCCs maps the synthetic timeline onto the real one (the method
   of the ``aeneas`` aligner); word boundaries land within about 0.1 s on clean speech;
4. nothing: an empty word list. Every stage accepts it (all frames are then "silence" for the text feature g~,
   and cross-identity pairs fall back to a proportional time stretch), but the text branch learns nothing.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MEL_RATE = 100                     # log-mel frames per second (emohead.features.spectral)
N_MFCC = 13
FULL_DTW_FRAMES = 3000             # both sequences up to this long: unconstrained DTW at 100 Hz (30 s)
BAND_SECONDS = 20.0                # longer audio: 25 Hz features, a band of +-max(20 s, 8 %) around the diagonal
BAND_FRACTION = 0.08


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Per-utterance normalised MFCCs 1-13 [K, 13] at 100 Hz (DCT of emohead's 80-band log-mel)."""
    from scipy.fft import dct

    from ..features.spectral import log_mel

    c = dct(log_mel(np.asarray(audio, np.float64), sample_rate), type=2, norm="ortho", axis=1)[:, 1:1 + N_MFCC]
    return (c - c.mean(0)) / (c.std(0) + 1e-8)


def dtw_path(a: np.ndarray, b: np.ndarray, band: int | None = None) -> np.ndarray:
    """Monotone alignment of feature sequences a [N, D] and b [M, D]: path [L, 2] of (i, j), from (0, 0) to (N-1, M-1).

    Euclidean frame cost, steps (1, 0), (0, 1), (1, 1). ``band``: only cells within ``band`` columns of the
    diagonal i * (M - 1) / (N - 1) (Sakoe-Chiba), memory N x (2 band + 1); None: the full N x M matrix.
    Each row is solved at once: D[i, j] = min(a_j, c_ij + D[i, j-1]) with a_j = c_ij + min(D[i-1, j-1], D[i-1, j])
    is S_j + cummin(a - S)_j, S the row's prefix sums of c.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("dtw_path: empty sequence")
    slope = (m - 1) / max(n - 1, 1)
    w = m if band is None else max(int(band), int(np.ceil(slope)) + 1)
    lo = np.clip(np.floor(np.arange(n) * slope - w).astype(np.int64), 0, m - 1)
    hi = np.clip(np.ceil(np.arange(n) * slope + w).astype(np.int64) + 1, 1, m)
    lo[0], hi[-1] = 0, m
    rows: list[np.ndarray] = []
    prev, plo, phi = None, 0, 0
    for i in range(n):
        cols = slice(lo[i], hi[i])
        c = np.sqrt(((b[cols] - a[i]) ** 2).sum(axis=1))                     # [W]
        if prev is None:
            up = np.full(len(c), np.inf)
            up[0] = 0.0
        else:
            j = np.arange(lo[i], hi[i])
            def at(jj: np.ndarray) -> np.ndarray:
                ok = (jj >= plo) & (jj < phi)
                return np.where(ok, prev[np.clip(jj - plo, 0, len(prev) - 1)], np.inf)
            up = np.minimum(at(j), at(j - 1))
        acc = c + up                                                             # a_j
        s = np.cumsum(c)
        with np.errstate(invalid="ignore"):
            row = s + np.minimum.accumulate(acc - s)
        rows.append(row.astype(np.float32))
        prev, plo, phi = row, lo[i], hi[i]
    # backtrack from the end
    i, j = n - 1, m - 1
    path = [(i, j)]
    inf = np.float32(np.inf)

    def d(ii: int, jj: int) -> np.float32:
        if ii < 0 or jj < lo[ii] or jj >= hi[ii]:
            return inf
        return rows[ii][jj - lo[ii]]

    while i > 0 or j > 0:
        steps = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
        i, j = min(steps, key=lambda s: (d(*s), s != steps[0]))
        path.append((i, j))
    return np.asarray(path[::-1], dtype=np.int64)


def align_transcript(audio: np.ndarray, text: str, *, sample_rate: int = SAMPLE_RATE,
                     where: str = "transcript") -> list[dict[str, Any]]:
    """Word timings [{word, start, end}] (seconds) of ``text`` spoken in ``audio`` [S], by TTS + DTW (module doc)."""
    from ..synth.speech import synthesize

    text = " ".join(str(text).split())
    if not text:
        return []
    duration = len(audio) / sample_rate
    try:
        utt = synthesize(text, sample_rate=sample_rate, lead_silence=0.3, tail_silence=0.3)
    except (RuntimeError, ValueError) as err:
        log.warning("%s: cannot speak the transcript with espeak-ng (%s); no word timings", where, err)
        return []
    a, b = mfcc(utt.audio, sample_rate), mfcc(audio, sample_rate)
    rate = float(MEL_RATE)
    if max(len(a), len(b)) > FULL_DTW_FRAMES:          # long audio: 25 Hz features, banded
        a, b = _pool(a, 4), _pool(b, 4)
        rate = MEL_RATE / 4
        band = int(max(BAND_SECONDS * rate, BAND_FRACTION * len(b)))
    else:
        band = None
    path = dtw_path(a, b, band)
    first = np.full(len(a), -1, np.int64)
    last = np.full(len(a), -1, np.int64)
    for i, j in path:
        if first[i] < 0:
            first[i] = j
        last[i] = j
    words = []
    prev_end = 0.0
    for w in utt.words:
        i0 = min(int(round(w.start * rate)), len(a) - 1)
        i1 = min(max(int(round(w.end * rate)) - 1, i0), len(a) - 1)
        start = max(first[i0] / rate, prev_end)
        end = min(max((last[i1] + 1) / rate, start), duration)
        start = min(start, end)
        words.append({"word": w.text, "start": round(start, 4), "end": round(end, 4)})
        prev_end = end
    return words


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    n = len(x) // k
    if n == 0:
        return x
    return x[:n * k].reshape(n, k, -1).mean(axis=1)


def words_json(words: Sequence[dict[str, Any]], duration: float, text: str | None = None) -> dict[str, Any]:
    """The words.json content: words clipped to [0, duration], in order; no phonemes (real data has none)."""
    out = []
    prev = 0.0
    for w in sorted(words, key=lambda w: float(w["start"])):
        start = min(max(float(w["start"]), prev, 0.0), duration)
        end = min(max(float(w["end"]), start), duration)
        word = str(w["word"]).strip()
        if word:
            out.append({"word": word, "start": round(start, 4), "end": round(end, 4)})
            prev = start
    return {"text": text if text is not None else " ".join(w["word"] for w in out), "words": out, "phonemes": []}


def clip_words(audio: np.ndarray, *, text: str | None = None, words: Sequence[dict[str, Any]] | None = None,
               asr: Callable[..., list[dict[str, Any]]] | None = None, sample_rate: int = SAMPLE_RATE,
               where: str = "clip") -> tuple[dict[str, Any], str]:
    """(words.json dict, method) for one clip's audio [S]; method is 'asr', 'given', 'aligned' or 'none'."""
    duration = len(audio) / sample_rate
    if asr is not None:
        found = asr(np.asarray(audio, np.float32), None, where=where)
        return words_json(found, duration), "asr"
    if words is not None:
        return words_json(words, duration, text), "given"
    if text:
        return words_json(align_transcript(audio, text, sample_rate=sample_rate, where=where), duration, text), \
            "aligned"
    return words_json([], duration, ""), "none"
