"""Tests for emohead.synth.speech: real espeak-ng, no mocks."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emohead.synth.speech import (
    DEFAULT_VOICE,
    VOICES,
    Phoneme,
    Prosody,
    Utterance,
    Word,
    espeak_sample_rate,
    is_pause,
    synthesize,
)

TEXT = "The quick brown fox jumps over the lazy dog."
TEXT_WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]


def estimate_f0(x: np.ndarray, sr: int) -> float:
    """Median F0 (Hz) over voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    frame, hop = int(0.04 * sr), int(0.01 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    f0s = []
    for i in range(0, len(x) - frame, hop):
        f = x[i : i + frame].astype(np.float64)
        f = f - f.mean()
        if np.sqrt(np.mean(f**2)) < 0.02:
            continue
        ac = np.correlate(f, f, "full")[frame - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:  # voiced
            f0s.append(sr / lag)
    assert len(f0s) > 10, "too few voiced frames"
    return float(np.median(f0s))


def md5(a: np.ndarray) -> str:
    return hashlib.md5(a.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def utt() -> Utterance:
    return synthesize(TEXT)


def test_audio_format(utt: Utterance) -> None:
    assert espeak_sample_rate() == 22050
    assert utt.sample_rate == 16000
    assert utt.audio.dtype == np.float32 and utt.audio.ndim == 1
    assert np.all(np.abs(utt.audio) <= 1.0)
    assert np.abs(utt.audio).max() > 0.1  # not silent
    assert np.sqrt(np.mean(utt.audio**2)) > 0.01
    assert utt.duration == pytest.approx(utt.audio.shape[0] / 16000)
    # 9 words at 170 wpm ~ 3.2 s
    assert 2.0 < utt.duration < 5.0


def test_words_are_the_input_words(utt: Utterance) -> None:
    assert all(isinstance(w, Word) for w in utt.words)
    assert [w.text for w in utt.words] == TEXT_WORDS


def test_words_punctuation_numbers_and_merged_words() -> None:
    # espeak emits no word event for "the" in "of the", two for "42"; "café" is non-ASCII.
    text = "Give me a lot of the things, Mr. Smith! I'm 42 café-owners."
    u = synthesize(text)
    assert [w.text for w in u.words] == [
        "Give", "me", "a", "lot", "of", "the", "things", "Mr", "Smith", "I'm", "42", "café-owners",
    ]
    starts = [w.start for w in u.words]
    assert starts == sorted(starts)


@pytest.mark.parametrize("attr", ["words", "phonemes"])
def test_times_ordered_and_inside(utt: Utterance, attr: str) -> None:
    items = getattr(utt, attr)
    assert len(items) > 0
    starts = np.array([x.start for x in items])
    ends = np.array([x.end for x in items])
    assert np.all(np.diff(starts) >= 0)
    assert np.all(np.diff(ends) >= 0)
    assert np.all(ends >= starts)
    assert starts.min() >= 0 and ends.max() <= utt.duration + 1e-9


def test_word_spans_tile_speech(utt: Utterance) -> None:
    for a, b in zip(utt.words, utt.words[1:]):
        assert a.end == b.start
    # the last word ends at the end of the speech (espeak's trailing pause trimmed)
    last_voiced = [p for p in utt.phonemes if not is_pause(p.symbol)][-1]
    assert utt.words[-1].end == pytest.approx(last_voiced.end)
    assert utt.words[-1].end <= utt.duration


def test_phonemes_look_like_espeak(utt: Utterance) -> None:
    assert all(isinstance(p, Phoneme) and p.symbol and p.end > p.start for p in utt.phonemes)
    symbols = {p.symbol.lstrip("',") for p in utt.phonemes}
    assert {"k", "w", "b", "r", "f", "d"} <= symbols  # quick brown fox ... dog


def test_voices_exist_and_differ() -> None:
    import espeakng_loader

    assert len(VOICES) >= 4 and DEFAULT_VOICE in VOICES
    variants = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    for name in VOICES.values():
        assert (variants / name.split("+")[1]).is_file(), name
    audios = {v: synthesize("Hello there.", v).audio for v in VOICES}
    digests = {md5(a) for a in audios.values()}
    assert len(digests) == len(VOICES)
    f0 = {v: estimate_f0(synthesize("Hello there, how are you today?", v).audio, 16000) for v in VOICES}
    assert f0["female_us"] > 1.5 * f0["male_us"]


def test_higher_pitch_raises_f0() -> None:
    text = "She sells sea shells by the sea shore."
    low = estimate_f0(synthesize(text, prosody=Prosody(pitch=20)).audio, 16000)
    mid = estimate_f0(synthesize(text, prosody=Prosody(pitch=50)).audio, 16000)
    high = estimate_f0(synthesize(text, prosody=Prosody(pitch=85)).audio, 16000)
    assert low < mid < high
    assert high > 1.2 * low


def test_higher_rate_is_shorter() -> None:
    slow = synthesize(TEXT, prosody=Prosody(rate=120))
    fast = synthesize(TEXT, prosody=Prosody(rate=300))
    assert fast.duration < 0.7 * slow.duration
    assert [w.text for w in fast.words] == TEXT_WORDS


def test_volume_scales_level() -> None:
    quiet = synthesize("Hello there.", prosody=Prosody(volume=40))
    loud = synthesize("Hello there.", prosody=Prosody(volume=160))
    assert np.sqrt(np.mean(loud.audio**2)) > 2 * np.sqrt(np.mean(quiet.audio**2))


def test_deterministic_regardless_of_history() -> None:
    args = ("Move the boat over the water.", "female_uk", Prosody(pitch=60, rate=190))
    first = synthesize(*args)
    # espeak keeps wave-generator state between utterances; speak other things in between
    for v in VOICES:
        synthesize("Something else entirely, with other words.", v, Prosody(rate=250))
    again = synthesize(*args)
    assert again.audio.tobytes() == first.audio.tobytes()
    assert again.words == first.words and again.phonemes == first.phonemes


def test_deterministic_across_processes() -> None:
    code = (
        "import hashlib; from emohead.synth.speech import synthesize, Prosody;"
        "u = synthesize('Move the boat over the water.', 'female_uk', Prosody(pitch=60, rate=190));"
        "print(hashlib.md5(u.audio.tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = synthesize("Move the boat over the water.", "female_uk", Prosody(pitch=60, rate=190))
    assert out.stdout.strip() == md5(here.audio)


def test_thread_safe() -> None:
    texts = [f"Sentence number {i} for the threads." for i in range(6)]
    expected = [md5(synthesize(t, "male_uk").audio) for t in texts]
    got: dict[int, str] = {}

    def work(i: int) -> None:
        got[i] = md5(synthesize(texts[i], "male_uk").audio)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(len(texts))] == expected


def test_lead_and_tail_silence(utt: Utterance) -> None:
    padded = synthesize(TEXT, lead_silence=0.5, tail_silence=0.25)
    n_lead, n_tail = 8000, 4000
    assert padded.audio.shape[0] == utt.audio.shape[0] + n_lead + n_tail
    assert not np.any(padded.audio[:n_lead]) and not np.any(padded.audio[-n_tail:])
    assert padded.audio[n_lead:-n_tail].tobytes() == utt.audio.tobytes()
    assert padded.duration == pytest.approx(utt.duration + 0.75)
    for a, b in zip(padded.words, utt.words):
        assert a.text == b.text
        assert a.start == pytest.approx(b.start + 0.5) and a.end == pytest.approx(b.end + 0.5)
    for a, b in zip(padded.phonemes, utt.phonemes):
        assert a.symbol == b.symbol and a.start == pytest.approx(b.start + 0.5)
    assert padded.words[0].start >= 0.5


def test_other_sample_rates() -> None:
    native = synthesize("Hello.", sample_rate=22050)
    resampled = synthesize("Hello.", sample_rate=24000)
    assert native.sample_rate == 22050 and resampled.sample_rate == 24000
    assert native.duration == pytest.approx(resampled.duration, abs=1e-3)
    assert native.audio.dtype == np.float32


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_raises(text: str) -> None:
    with pytest.raises(ValueError, match="text"):
        synthesize(text)


def test_unknown_voice_raises() -> None:
    with pytest.raises(ValueError, match="robot_x") as info:
        synthesize("Hello.", voice="robot_x")
    assert DEFAULT_VOICE in str(info.value)  # lists the valid keys


@pytest.mark.parametrize(
    "field, value",
    [("pitch", 101), ("pitch", -1), ("pitch_range", 150), ("rate", 50), ("rate", 500), ("volume", 201)],
)
def test_bad_prosody_raises(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        Prosody(**{field: value})


def test_prosody_rounds_reals() -> None:
    p = Prosody(pitch=61.6, rate=204.2)
    assert (p.pitch, p.rate) == (62, 204) and isinstance(p.pitch, int)


@pytest.mark.parametrize("kw", [{"lead_silence": -0.1}, {"tail_silence": float("nan")}, {"sample_rate": 0}])
def test_bad_keyword_raises(kw: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        synthesize("Hello.", **kw)
