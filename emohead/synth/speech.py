"""Real speech synthesis with espeak-ng (through ctypes), with word and phoneme timings.

The shared library and its data come from the ``espeakng_loader`` wheel. espeak-ng keeps
global state, so the library is initialised once per process (lazily, on the first call)
and every call into it is serialised by a module lock.

Example::

    utt = synthesize("Hello world", voice="female_us")
    utt.audio            # float32 [S] at 16 kHz
    utt.words            # (Word("Hello", 0.0, 0.33), Word("world", 0.33, 0.81))
"""
from __future__ import annotations

import bisect
import ctypes
import logging
import math
import numbers
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
# ctypes binding of speak_lib.h
# ----------------------------------------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_espeakINITIALIZE_PHONEME_EVENTS = 0x0001
_espeakINITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_espeakCHARS_UTF8 = 1

# espeak_EVENT_TYPE
_EV_LIST_TERMINATED = 0
_EV_WORD = 1
_EV_SENTENCE = 2
_EV_MARK = 3
_EV_PLAY = 4
_EV_END = 5
_EV_MSG_TERMINATED = 6
_EV_PHONEME = 7
_EV_SAMPLERATE = 8

# espeak_PARAMETER
_espeakRATE = 1
_espeakVOLUME = 2
_espeakPITCH = 3
_espeakRANGE = 4
_espeakWORDGAP = 7

_EE_OK = 0

# C statics of libespeak-ng (wavegen.c) that carry over between utterances; restored to
# their post-initialisation values before each synthesis (see _Engine).
_CARRIED_STATICS = (
    "Flutter_ix", "cycle_count", "amplitude2", "h_switch_sign", "maxh", "maxh2", "agc",
    "wavephase", "echo_buf", "echo_head", "echo_tail",
)
_RAND_SEED = 1


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (40 bytes on x86-64: ``id`` at offset 32 after the pointer)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class _RawEvent:
    type: int
    text_position: int  # 1-based character index into the input text
    length: int
    audio_position: int  # ms
    sample: int  # sample index at the native rate
    symbol: str  # phoneme mnemonic for phoneme events, else ""


def _elf_symbols(path: str, names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """``{name: (st_value, st_size)}`` for symbols of an x86-64 ELF shared library.

    Reads both ``.symtab`` (local statics such as ``Flutter_ix.5965``; matched by prefix up to
    the compiler's ``.NNNN`` suffix) and ``.dynsym``. Returns the names it finds exactly once
    (maybe none).
    """
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    e_shoff = int.from_bytes(data[0x28:0x30], "little")
    e_shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    e_shnum = int.from_bytes(data[0x3C:0x3E], "little")
    sh = np.dtype([
        ("name", "<u4"), ("type", "<u4"), ("flags", "<u8"), ("addr", "<u8"), ("offset", "<u8"),
        ("size", "<u8"), ("link", "<u4"), ("info", "<u4"), ("addralign", "<u8"), ("entsize", "<u8"),
    ])
    sym = np.dtype([
        ("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"), ("size", "<u8"),
    ])
    if e_shentsize != sh.itemsize or e_shoff + e_shnum * sh.itemsize > len(data):
        return {}
    sections = np.frombuffer(data, dtype=sh, count=e_shnum, offset=e_shoff)
    wanted = {n.encode() for n in names}
    found: dict[str, set[tuple[int, int]]] = {}
    for sec in sections:
        if int(sec["type"]) not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strtab = sections[int(sec["link"])]
        s0, s1 = int(strtab["offset"]), int(strtab["offset"] + strtab["size"])
        strings = data[s0:s1]
        syms = np.frombuffer(data, dtype=sym, count=int(sec["size"]) // sym.itemsize, offset=int(sec["offset"]))
        for entry in syms:
            i = int(entry["name"])
            raw = strings[i:strings.find(b"\0", i)]
            base = raw.split(b".", 1)[0]
            if base in wanted and int(entry["value"]) != 0:
                found.setdefault(base.decode(), set()).add((int(entry["value"]), int(entry["size"])))
    # a name defined by several translation units is ambiguous: leave it out
    return {name: next(iter(v)) for name, v in found.items() if len(v) == 1}


class _Engine:
    """The process-wide espeak-ng instance. Use only while holding :data:`_LOCK`.

    espeak-ng keeps wave-generator state in C statics that are never reset between
    utterances (the voice "flutter" phase ``Flutter_ix``, the glottal phase, AGC, the echo
    buffer, ...), so the same request would give different samples depending on what was
    spoken before. For determinism the engine locates those statics through the library's
    ELF symbol table, snapshots them right after ``espeak_Initialize`` and restores them
    (and reseeds espeak's noise generator) before every synthesis: each call then produces
    exactly what the first call of a fresh process produces.
    """

    def __init__(self) -> None:
        import espeakng_loader

        self.lib_path = espeakng_loader.get_library_path()
        self.data_path = espeakng_loader.get_data_path()
        lib = ctypes.CDLL(self.lib_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique_identifier
            ctypes.c_void_p,  # user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        self.lib = lib

        options = _espeakINITIALIZE_PHONEME_EVENTS | _espeakINITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode("utf-8"), options
        )
        if rate <= 0:
            raise RuntimeError(
                f"espeak_Initialize failed (returned {rate}) with data path {self.data_path!r}"
            )
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[_RawEvent] = []
        self._callback_error: BaseException | None = None
        # Keep a reference: ctypes callbacks must outlive their use by C.
        self._callback = _SynthCallback(self._on_synth)
        lib.espeak_SetSynthCallback(self._callback)
        self._snapshot = self._snapshot_static_state()
        self._set_rand_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_rand_seed is not None:
            self._set_rand_seed.argtypes = [ctypes.c_long]
            self._set_rand_seed.restype = None
        log.debug("espeak-ng initialised from %s (native rate %d Hz)", self.lib_path, rate)

    def _on_synth(self, wav, numsamples, events) -> int:  # noqa: ANN001 (ctypes types)
        try:
            if numsamples > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
            if events:
                i = 0
                while True:
                    ev = events[i]
                    if ev.type == _EV_LIST_TERMINATED:
                        break
                    symbol = ""
                    if ev.type == _EV_PHONEME:
                        raw = bytes(ev.id.string)  # c_char array: stops at the first NUL
                        symbol = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
                    self._events.append(
                        _RawEvent(
                            int(ev.type),
                            int(ev.text_position),
                            int(ev.length),
                            int(ev.audio_position),
                            int(ev.sample),
                            symbol,
                        )
                    )
                    i += 1
        except BaseException as exc:  # never let an exception cross into C
            self._callback_error = exc
            return 1  # abort synthesis
        return 0

    def _snapshot_static_state(self) -> list[tuple[int, bytes]] | None:
        """``[(address, bytes)]`` of the carried-over statics, as they are right after init."""
        syms = _elf_symbols(self.lib_path, _CARRIED_STATICS + ("espeak_Initialize",))
        missing = [n for n in _CARRIED_STATICS + ("espeak_Initialize",) if n not in syms]
        if missing:
            log.warning(
                "espeak-ng statics %s not found in %s: synthesis may depend on earlier calls "
                "(not bit-exact deterministic)", missing, self.lib_path,
            )
            return None
        runtime = ctypes.cast(self.lib.espeak_Initialize, ctypes.c_void_p).value
        base = int(runtime) - syms["espeak_Initialize"][0]
        snapshot = []
        for name in _CARRIED_STATICS:
            value, size = syms[name]
            snapshot.append((base + value, ctypes.string_at(base + value, size)))
        return snapshot

    def reset_state(self) -> None:
        """Restore the statics that otherwise carry over between utterances; reseed noise."""
        if self._snapshot is not None:
            for address, raw in self._snapshot:
                ctypes.memmove(address, raw, len(raw))
        if self._set_rand_seed is not None:
            self._set_rand_seed(_RAND_SEED)

    def check_voice(self, name: str) -> None:
        """Raise ``RuntimeError`` if the variant part of ``name`` is missing from the data."""
        if "+" in name:
            variant = name.split("+", 1)[1]
            if not (Path(self.data_path) / "voices" / "!v" / variant).is_file():
                raise RuntimeError(f"espeak voice variant {variant!r} not found in {self.data_path}")

    def synth(self, text: str, voice_name: str, prosody: Prosody) -> tuple[np.ndarray, list[_RawEvent]]:
        """Run espeak; returns int16 ``[N]`` native-rate audio and the raw events."""
        lib = self.lib
        self.check_voice(voice_name)
        err = lib.espeak_SetVoiceByName(voice_name.encode("utf-8"))
        if err != _EE_OK:
            raise RuntimeError(f"espeak_SetVoiceByName({voice_name!r}) failed with error {err}")
        # Set every parameter on every call so that results never depend on earlier calls.
        for param, value in (
            (_espeakRATE, prosody.rate),
            (_espeakVOLUME, prosody.volume),
            (_espeakPITCH, prosody.pitch),
            (_espeakRANGE, prosody.pitch_range),
            (_espeakWORDGAP, 0),
        ):
            err = lib.espeak_SetParameter(param, int(value), 0)
            if err != _EE_OK:
                raise RuntimeError(f"espeak_SetParameter({param}, {value}) failed with error {err}")

        self._chunks = []
        self._events = []
        self._callback_error = None
        self.reset_state()
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)  # NUL-terminated
        err = lib.espeak_Synth(
            buf, len(data) + 1, 0, _POS_CHARACTER, 0, _espeakCHARS_UTF8, None, None
        )
        lib.espeak_Synchronize()
        chunks, events, cb_err = self._chunks, self._events, self._callback_error
        self._chunks, self._events, self._callback_error = [], [], None
        if cb_err is not None:
            raise RuntimeError("error while collecting espeak output") from cb_err
        if err != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with error {err}")
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return audio.astype(np.int16, copy=False), events


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    """The initialised engine (call with :data:`_LOCK` held)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def espeak_sample_rate() -> int:
    """espeak's native output rate in Hz (22050 for the bundled data)."""
    with _LOCK:
        return _engine().sample_rate


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

    with _LOCK:
        engine = _engine()
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

    def sec(ev: _RawEvent) -> float:
        return min(max(ev.sample / native_rate, 0.0), speech_dur)

    # --- phonemes (zero-length entries dropped; end = next phoneme start)
    ph_events = [ev for ev in events if ev.type == _EV_PHONEME and ev.symbol]
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
        (ev.text_position - 1, sec(ev)) for ev in events if ev.type == _EV_WORD
    ]
    words = _build_words(_tokenize(text), word_events, speech_end)
    words = [Word(w.text, w.start + offset, w.end + offset) for w in words]

    log.debug(
        "synthesised %d words / %d phonemes, %.3f s (voice %s, %s)",
        len(words), len(phonemes), audio.shape[0] / sample_rate, voice_name, prosody,
    )
    return Utterance(audio=audio, sample_rate=sample_rate, words=tuple(words), phonemes=tuple(phonemes))
