"""Cross-identity pairs for L_reg_const (eq. 13): the same sentence and emotion spoken by another actor.

Two actors speak the same sentence at different speeds, so the other actor's expression track
alpha^{A_bar} must be put on the frame grid of the clip being trained. We warp time piecewise-linearly
between matching word boundaries (both clips carry word timings), falling back to a proportional
stretch when the word sequences differ (e.g. an ASR transcript with a different word).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def _word_list(words: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    items = words.get("words", []) if isinstance(words, Mapping) else list(words)
    return [w for w in items if str(w.get("word", "")).strip()]


def _norm(word: str) -> str:
    return "".join(ch for ch in str(word).lower() if ch.isalnum())


def time_anchors(src_words: Any, dst_words: Any, src_duration: float, dst_duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Matching times (dst_times [K], src_times [K]), increasing, from 0 to the two durations.

    Anchors are the starts and ends of corresponding words when both transcripts have the same words,
    else only the clip ends (a proportional stretch).
    """
    src, dst = _word_list(src_words), _word_list(dst_words)
    dst_t, src_t = [0.0], [0.0]
    if src and [_norm(w["word"]) for w in src] == [_norm(w["word"]) for w in dst]:
        for a, b in zip(dst, src):
            for key in ("start", "end"):
                da, sb = float(a[key]), float(b[key])
                if da > dst_t[-1] and sb > src_t[-1] and da < dst_duration and sb < src_duration:
                    dst_t.append(da)
                    src_t.append(sb)
    dst_t.append(float(dst_duration))
    src_t.append(float(src_duration))
    return np.asarray(dst_t), np.asarray(src_t)


def warp_track(track: np.ndarray, src_words: Any, dst_words: Any, n_dst: int, fps: float) -> np.ndarray:
    """Resample a per-frame track [T_src, m] of one clip onto the frame grid [n_dst, m] of another.

    Frame i of the destination (time i / fps) maps to a source time through the word anchors; the
    source track is linearly interpolated there.
    """
    track = np.asarray(track, dtype=np.float32)
    n_src = track.shape[0]
    if n_src == 0 or n_dst <= 0:
        raise ValueError(f"cannot warp a track of {n_src} frames onto {n_dst} frames")
    dst_t, src_t = time_anchors(src_words, dst_words, n_src / fps, n_dst / fps)
    src_frame = np.interp(np.arange(n_dst) / fps, dst_t, src_t) * fps          # [n_dst] fractional source frames
    src_frame = np.clip(src_frame, 0.0, n_src - 1)
    lo = np.floor(src_frame).astype(int)
    hi = np.minimum(lo + 1, n_src - 1)
    w = (src_frame - lo)[:, None].astype(np.float32)
    return (1.0 - w) * track[lo] + w * track[hi]
