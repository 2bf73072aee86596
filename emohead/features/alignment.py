"""Word-to-frame alignment (paper Fig. 9) and parsing of FunASR timestamped results.

Frame i spans [i/fps, (i+1)/fps); it takes the word whose [start, end) interval covers the frame
centre (i + 0.5)/fps. Frames before the first word, in gaps between words and after the last word
are silence (index -1, word ``None``); the paper pads them with silence segments (Sec. III-A).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

SILENCE = -1
"""Word index of a silent frame."""


def normalize_words(words: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None, *,
                    where: str = "transcript") -> list[dict[str, Any]]:
    """Accept a transcript dict ({'words': [...]}) or a list of {word, start, end} (seconds); return the list."""
    if words is None:
        return []
    items = words.get("words") if isinstance(words, Mapping) else words
    if items is None:
        raise ValueError(f"{where}: a transcript mapping needs a 'words' list")
    out = []
    for k, w in enumerate(items):
        try:
            word, start, end = str(w["word"]), float(w["start"]), float(w["end"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{where}: words[{k}] needs 'word', 'start' and 'end' (seconds)") from None
        if not np.isfinite([start, end]).all() or end < start:
            raise ValueError(f"{where}: words[{k}] ({word!r}) has invalid times {start}-{end}")
        out.append({"word": word, "start": start, "end": end})
    return out


def align_words(words: Sequence[Mapping[str, Any]], n_frames: int, fps: int) -> np.ndarray:
    """Fig. 9: index into ``words`` of the word covering each frame's centre, or -1 (silence). int64 [T].

    Where intervals overlap, the later word wins (ASR timestamps can overlap by a few ms).
    """
    idx = np.full(n_frames, SILENCE, dtype=np.int64)
    centres = (np.arange(n_frames) + 0.5) / fps
    for k, w in enumerate(words):
        idx[(centres >= w["start"]) & (centres < w["end"])] = k
    return idx


def frame_words(words: Sequence[Mapping[str, Any]], n_frames: int, fps: int) -> list[str | None]:
    """The word text on each frame (None = silence), from :func:`align_words`."""
    return [None if k < 0 else words[k]["word"] for k in align_words(words, n_frames, fps)]


def words_from_funasr(result: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                      where: str = "funasr result") -> list[dict[str, Any]]:
    """A FunASR ``generate`` result -> [{word, start, end}] in seconds.

    FunASR returns ``[{"key", "text", "timestamp": [[start_ms, end_ms], ...]}]`` with one timestamp per
    token. Tokens are taken from ``"words"`` when present (SenseVoice with ``output_timestamp``), else from
    the space-separated ``text`` (English models: one timestamp per word), else from the characters of
    ``text`` (Chinese models: one per character). Several segments (a list) are concatenated.
    """
    if not isinstance(result, Mapping):
        out: list[dict[str, Any]] = []
        for k, seg in enumerate(result):
            out.extend(words_from_funasr(seg, where=f"{where}[{k}]"))
        return out
    stamps = result.get("timestamp")
    if stamps is None:
        raise ValueError(f"{where}: no 'timestamp' field; the ASR model in features.asr_path must produce "
                         f"timestamps (e.g. a Paraformer with timestamp prediction)")
    text = str(result.get("text", ""))
    if "words" in result:
        tokens = [str(t) for t in result["words"]]
    elif len(text.split()) == len(stamps):
        tokens = text.split()
    elif len(text.replace(" ", "")) == len(stamps):
        tokens = list(text.replace(" ", ""))
    else:
        raise ValueError(f"{where}: {len(stamps)} timestamps but {len(text.split())} words in text {text!r}")
    if len(tokens) != len(stamps):
        raise ValueError(f"{where}: {len(stamps)} timestamps but {len(tokens)} words")
    out = []
    for tok, stamp in zip(tokens, stamps):
        start, end = float(stamp[0]) / 1000.0, float(stamp[1]) / 1000.0  # FunASR times are in ms
        if tok.strip():
            out.append({"word": tok.strip(), "start": start, "end": max(end, start)})
    return out
