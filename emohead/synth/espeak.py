"""The espeak-ng engine through ctypes: one per process, initialised on first use, every call under one lock.

The shared library and its data come from the ``espeakng_loader`` wheel. espeak-ng keeps global state, so
:func:`engine` builds it once and callers hold :data:`ENGINE_LOCK` while using it. :mod:`.speech` turns its
output (audio and word / phoneme events) into timed words and phonemes.
"""
from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .speech import Prosody

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ ctypes binding of speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_espeakINITIALIZE_PHONEME_EVENTS = 0x0001
_espeakINITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_espeakCHARS_UTF8 = 1

# espeak_EVENT_TYPE
_EV_LIST_TERMINATED = 0
EV_WORD = 1
_EV_SENTENCE = 2
_EV_MARK = 3
_EV_PLAY = 4
_EV_END = 5
_EV_MSG_TERMINATED = 6
EV_PHONEME = 7
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
class RawEvent:
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
    """The process-wide espeak-ng instance. Use only while holding :data:`ENGINE_LOCK`.

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
        self._events: list[RawEvent] = []
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
                    if ev.type == EV_PHONEME:
                        raw = bytes(ev.id.string)  # c_char array: stops at the first NUL
                        symbol = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
                    self._events.append(
                        RawEvent(
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

    def synth(self, text: str, voice_name: str, prosody: Prosody) -> tuple[np.ndarray, list[RawEvent]]:
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


ENGINE_LOCK = threading.Lock()
_ENGINE_INSTANCE: _Engine | None = None


def engine() -> _Engine:
    """The initialised engine (call with :data:`ENGINE_LOCK` held)."""
    global _ENGINE_INSTANCE
    if _ENGINE_INSTANCE is None:
        _ENGINE_INSTANCE = _Engine()
    return _ENGINE_INSTANCE


def espeak_sample_rate() -> int:
    """espeak's native output rate in Hz (22050 for the bundled data)."""
    with ENGINE_LOCK:
        return engine().sample_rate
