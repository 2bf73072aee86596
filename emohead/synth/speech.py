"""Real speech synthesis with espeak-ng, with word and phoneme timings (the engine itself: :mod:`.espeak`).

Example::

    utt = synthesize("Hello world", voice="female_us")
    utt.audio            # float32 [S] at 16 kHz
    utt.words            # (Word("Hello", 0.0, 0.33), Word("world", 0.33, 0.81))
"""
from __future__ import annotations

import bisect
import logging
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from . import espeak
from .espeak import espeak_sample_rate

__all__ = [
    "Word",
    "Phoneme",
    "Prosody",
    "Utterance",
    "VOICES",
    "DEFAULT_VOICE",
    "PROSODY_RANGES",
    "PAUSE_SYMBOLS",
    "is_pause",
    "synthesize",
    "espeak_sample_rate",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------
# Public data types
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """One word of the input text and its time span in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Phoneme:
    """One espeak phoneme (mnemonic, may carry stress marks such as ``'`` or ``,``)."""

    symbol: str
    start: float
    end: float


#: Valid (inclusive) ranges of the espeak parameters held by :class:`Prosody`.
PROSODY_RANGES: dict[str, tuple[int, int]] = {
    "pitch": (0, 100),
    "pitch_range": (0, 100),
    "rate": (80, 450),
    "volume": (0, 200),
}


@dataclass(frozen=True)
class Prosody:
    """espeak prosody parameters.

    Real-valued inputs are rounded to the nearest integer; values outside
    :data:`PROSODY_RANGES` raise ``ValueError`` naming the field.
    """

    pitch: int = 50  # espeak base pitch 0-100
    pitch_range: int = 50  # 0-100
    rate: int = 170  # words per minute, 80-450
    volume: int = 100  # 0-200

    def __post_init__(self) -> None:
        for name, (lo, hi) in PROSODY_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"Prosody.{name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"Prosody.{name} must be finite, got {value!r}")
            ivalue = int(round(float(value)))
            if not lo <= ivalue <= hi:
                raise ValueError(f"Prosody.{name}={value!r} is out of range [{lo}, {hi}]")
            object.__setattr__(self, name, ivalue)


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech with its word and phoneme alignment.

    ``audio`` is float32 ``[S]``, mono, in ``[-1, 1]`` at ``sample_rate``; all times are in
    seconds from the first sample (leading silence included).
    """

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    words: tuple[Word, ...]
    phonemes: tuple[Phoneme, ...]

    @property
    def duration(self) -> float:
        """Length of ``audio`` in seconds."""
        return float(self.audio.shape[0]) / float(self.sample_rate)


#: Named voices -> espeak voice names ("language+variant"). Variants live in
#: ``espeak-ng-data/voices/!v``.
VOICES: dict[str, str] = {
    "male_us": "en-us+m3",
    "female_us": "en-us+f3",
    "male_uk": "en+m1",
    "female_uk": "en+f2",
    "male_us_deep": "en-us+m7",
    "female_us_bright": "en-us+f4",
}
DEFAULT_VOICE = "male_us"

#: espeak pause "phonemes" (after stripping stress marks).
PAUSE_SYMBOLS = frozenset({"_", "_:", "_!", "_;", "_^_", "_X1", "||", "|"})


def is_pause(symbol: str) -> bool:
    """True for espeak pause/silence mnemonics such as ``"_"`` and ``"_:"``."""
    s = symbol.strip().lstrip("',%=")
    return s == "" or s in PAUSE_SYMBOLS or s.startswith("_")



# ----------------------------------------------------------------------------------------
# Alignment helpers
# ----------------------------------------------------------------------------------------
def _strip_punct(token: str) -> str:
    """Remove leading/trailing punctuation and symbols ("world!" -> "world", "'tis" kept)."""

    def is_p(ch: str) -> bool:
        return unicodedata.category(ch)[0] in "PS"

    i, j = 0, len(token)
    while i < j and is_p(token[i]):
        i += 1
    while j > i and is_p(token[j - 1]):
        j -= 1
    return token[i:j]


def _tokenize(text: str) -> list[tuple[str, int, int]]:
    """Whitespace tokens with punctuation stripped: ``(word, char_start, char_end)``."""
    out = []
    for m in re.finditer(r"\S+", text):
        word = _strip_punct(m.group(0))
        if word:
            out.append((word, m.start(), m.end()))
    return out


def _word_starts(tokens: list[tuple[str, int, int]], word_events: list[tuple[int, float]]) -> list[float | None]:
    """Start time of each token from ``(char_index, time)`` word events (None if no event)."""
    starts: list[float | None] = [None] * len(tokens)
    tok_starts = [t[1] for t in tokens]
    for char_idx, t in word_events:
        k = bisect.bisect_right(tok_starts, char_idx) - 1
        if k < 0:
            k = 0
        if starts[k] is None or t < starts[k]:
            starts[k] = t
    return starts


def _build_words(
    tokens: list[tuple[str, int, int]],
    word_events: list[tuple[int, float]],
    speech_end: float,
) -> list[Word]:
    """Words with times; tokens espeak merged into a neighbour (e.g. "of the") share its span."""
    if not tokens:
        return []
    starts = _word_starts(tokens, word_events)
    if all(s is None for s in starts):
        starts[0] = 0.0
    # Make the first evented token the anchor for leading tokens without events.
    first = next(i for i, s in enumerate(starts) if s is not None)
    if first > 0:
        starts[0], starts[first] = starts[first], None
    # Groups: an evented token followed by the event-less tokens after it.
    groups: list[list[int]] = []
    for i, s in enumerate(starts):
        if s is not None or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    times = [0.0] * len(tokens)
    for gi, group in enumerate(groups):
        g_start = float(starts[group[0]])  # type: ignore[arg-type]
        g_end = float(starts[groups[gi + 1][0]]) if gi + 1 < len(groups) else max(speech_end, g_start)
        g_end = max(g_end, g_start)
        lengths = np.array([len(tokens[i][0]) for i in group], dtype=np.float64)
        edges = g_start + (g_end - g_start) * np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
        for j, i in enumerate(group):
            times[i] = float(edges[j])
    words = []
    for i, (word, _, _) in enumerate(tokens):
        end = times[i + 1] if i + 1 < len(tokens) else max(speech_end, times[i])
        words.append(Word(word, times[i], end))
    return words


def _check_voice_key(voice: str) -> str:
    if not isinstance(voice, str) or voice not in VOICES:
        raise ValueError(f"unknown voice {voice!r}; valid voices: {sorted(VOICES)}")
    return VOICES[voice]


def _check_seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------
def synthesize(
    text: str,
    voice: str = DEFAULT_VOICE,
    prosody: Prosody = Prosody(),
    *,
    sample_rate: int = 16000,
    lead_silence: float = 0.0,
    tail_silence: float = 0.0,
) -> Utterance:
    """Speak ``text`` with espeak-ng.

    Returns an :class:`Utterance` with float32 audio ``[S]`` at ``sample_rate`` (mono, in
    ``[-1, 1]``), ``lead_silence``/``tail_silence`` seconds of zeros around the speech, and
    word/phoneme time spans in seconds (shifted by the leading silence). Word ``i`` ends where
    word ``i+1`` starts; the last word ends where espeak's trailing pause begins.
    Deterministic: identical arguments give identical bytes.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if "\0" in text:
        raise ValueError("text must not contain NUL characters")
    if not text.strip():
        raise ValueError("text is empty or whitespace only")
    voice_name = _check_voice_key(voice)
    if not isinstance(prosody, Prosody):
        raise ValueError(f"prosody must be a Prosody, got {type(prosody).__name__}")
    prosody = Prosody(prosody.pitch, prosody.pitch_range, prosody.rate, prosody.volume)  # re-validate
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    lead_silence = _check_seconds("lead_silence", lead_silence)
    tail_silence = _check_seconds("tail_silence", tail_silence)

    with espeak.ENGINE_LOCK:
        engine = espeak.engine()
        native, events = engine.synth(text, voice_name, prosody)
        native_rate = engine.sample_rate
    if native.size == 0 or not np.any(native):
        raise RuntimeError(f"espeak produced no audio for text {text!r} with voice {voice_name!r}")

    # --- audio: int16 @ native -> float32 @ sample_rate
    x = native.astype(np.float64) / 32768.0
    if sample_rate != native_rate:
        from scipy.signal import resample_poly  # lazy: scipy.signal is slow to import

        g = math.gcd(sample_rate, native_rate)
        x = resample_poly(x, sample_rate // g, native_rate // g)
    speech = np.clip(x, -1.0, 1.0).astype(np.float32)
    speech_dur = speech.shape[0] / sample_rate
    n_lead = int(round(lead_silence * sample_rate))
    n_tail = int(round(tail_silence * sample_rate))
    audio = np.concatenate(
        [np.zeros(n_lead, np.float32), speech, np.zeros(n_tail, np.float32)]
    )
    offset = n_lead / sample_rate

    def sec(ev: espeak.RawEvent) -> float:
        return min(max(ev.sample / native_rate, 0.0), speech_dur)

    # --- phonemes (zero-length entries dropped; end = next phoneme start)
    ph_events = [ev for ev in events if ev.type == espeak.EV_PHONEME and ev.symbol]
    ph_times = [sec(ev) for ev in ph_events]
    phonemes: list[Phoneme] = []
    for i, ev in enumerate(ph_events):
        start = ph_times[i]
        end = ph_times[i + 1] if i + 1 < len(ph_events) else speech_dur
        end = max(end, start)
        if end > start:
            phonemes.append(Phoneme(ev.symbol, start + offset, end + offset))

    # --- end of speech: start of espeak's trailing pause, if any
    speech_end = speech_dur
    last_voiced = max((i for i, p in enumerate(phonemes) if not is_pause(p.symbol)), default=None)
    if last_voiced is not None:
        speech_end = phonemes[last_voiced].end - offset

    # --- words
    word_events = [
        (ev.text_position - 1, sec(ev)) for ev in events if ev.type == espeak.EV_WORD
    ]
    words = _build_words(_tokenize(text), word_events, speech_end)
    words = [Word(w.text, w.start + offset, w.end + offset) for w in words]

    log.debug(
        "synthesised %d words / %d phonemes, %.3f s (voice %s, %s)",
        len(words), len(phonemes), audio.shape[0] / sample_rate, voice_name, prosody,
    )
    return Utterance(audio=audio, sample_rate=sample_rate, words=tuple(words), phonemes=tuple(phonemes))
