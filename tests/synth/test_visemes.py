"""Tests for emohead.synth.visemes (real espeak phonemes for the end-to-end cases)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from emohead.synth import visemes
from emohead.synth.speech import Phoneme, Utterance, synthesize
from emohead.synth.visemes import (
    ARTICULATION_AUS,
    articulation_curves,
    phoneme_dominance,
    phoneme_targets,
)

FPS = 25.0


def n_frames_for(u: Utterance) -> int:
    return int(np.ceil(u.duration * FPS))


def word_frames(u: Utterance, text: str) -> slice:
    w = next(w for w in u.words if w.text == text)
    return slice(int(np.ceil(w.start * FPS)), int(np.ceil(w.end * FPS)))


def total_variation(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x)).sum())


@pytest.fixture(scope="module")
def mama() -> Utterance:
    return synthesize("Mama, pop the bubble.", "female_us")


def test_targets_open_vowel_vs_bilabial() -> None:
    a, m = phoneme_targets("a"), phoneme_targets("m")
    assert set(a) == set(ARTICULATION_AUS)
    assert a["AU26"] >= 0.8 and a["AU26"] > m["AU26"]
    assert m["AU24"] == 1.0 and m["AU25"] == 0.0
    for s in ("p", "b"):
        assert phoneme_targets(s)["AU24"] == 1.0
    assert 0 < phoneme_targets("f")["AU24"] < 1
    assert phoneme_targets("u:")["AU18"] > 0.7 and phoneme_targets("w")["AU18"] > 0.7
    assert 0 < phoneme_targets("S")["AU18"] < phoneme_targets("u:")["AU18"]
    # vowel height ordering for the jaw
    assert phoneme_targets("aI")["AU26"] > phoneme_targets("e")["AU26"] > phoneme_targets("i:")["AU26"]


def test_targets_stress_marks_and_variants() -> None:
    assert phoneme_targets("'aI") == phoneme_targets("aI")
    assert phoneme_targets(",i:") == phoneme_targets("i:")
    assert phoneme_targets("I2#") == phoneme_targets("I2")
    assert phoneme_targets("'oU") == phoneme_targets("oU")


@pytest.mark.parametrize("symbol", ["_", "_:", "_!", "||", "_^_", " "])
def test_pauses_are_silence(symbol: str) -> None:
    assert phoneme_targets(symbol) == {au: 0.0 for au in ARTICULATION_AUS}


def test_unknown_symbol_is_neutral(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="emohead.synth.visemes"):
        t = phoneme_targets("~~zz")
    assert 0 < t["AU25"] < 0.6 and t["AU24"] == 0.0
    assert "~~zz" in caplog.text
    with pytest.raises(ValueError, match="symbol"):
        phoneme_targets(3)  # type: ignore[arg-type]


def test_all_real_symbols_known_and_in_range(mama: Utterance, caplog: pytest.LogCaptureFixture) -> None:
    u = synthesize("Who would choose the jazzy thing? Yes, I'd rather measure your voice and hold it!")
    visemes._lookup.cache_clear()  # unknown symbols are logged on their first (uncached) lookup
    with caplog.at_level(logging.DEBUG, logger="emohead.synth.visemes"):
        for p in u.phonemes + mama.phonemes:
            t = phoneme_targets(p.symbol)
            assert all(0.0 <= v <= 1.0 for v in t.values())
            assert all(v > 0 for v in phoneme_dominance(p.symbol).values())
    assert "unknown espeak phoneme" not in caplog.text


def test_curves_shape_range_dtype(mama: Utterance) -> None:
    n = n_frames_for(mama)
    for smoothing in (0.0, 0.04, 0.1):
        curves = articulation_curves(mama.phonemes, n, FPS, smoothing=smoothing)
        assert list(curves) == list(ARTICULATION_AUS)
        for c in curves.values():
            assert c.shape == (n,) and c.dtype == np.float32
            assert np.all((c >= 0) & (c <= 1))
    longer = articulation_curves(mama.phonemes, n + 50, FPS)
    assert all(not np.any(c[n + 5 :]) for c in longer.values())  # after the speech: silence
    assert all(c.shape == (0,) for c in articulation_curves(mama.phonemes, 0).values())


def test_bilabials_close_the_lips(mama: Utterance) -> None:
    c = articulation_curves(mama.phonemes, n_frames_for(mama), FPS)
    for word in ("Mama", "pop", "bubble"):
        sl = word_frames(mama, word)
        assert c["AU24"][sl].max() >= 0.9, word
        assert c["AU25"][sl].min() <= 0.1, word
    sl = word_frames(mama, "Mama")
    assert c["AU26"][sl].max() > 0.7  # the open /A:/
    # lips part between the closures
    assert c["AU24"][sl].min() < 0.2


def test_rounding(mama: Utterance) -> None:
    u = synthesize("Who wants food?")
    c = articulation_curves(u.phonemes, n_frames_for(u), FPS)
    assert c["AU18"][word_frames(u, "Who")].max() > 0.7
    c2 = articulation_curves(mama.phonemes, n_frames_for(mama), FPS)
    assert c2["AU18"][word_frames(mama, "Mama")].max() < 0.05


def test_synthetic_sequence() -> None:
    ph = [
        Phoneme("_:", 0.0, 0.2), Phoneme("m", 0.2, 0.3), Phoneme("'a", 0.3, 0.5),
        Phoneme("p", 0.5, 0.58), Phoneme("a", 0.58, 0.8), Phoneme("_", 0.8, 1.0),
    ]
    c = articulation_curves(ph, 30, FPS)
    assert c["AU24"][6] > 0.9  # t=0.24 inside the /m/
    assert c["AU24"][13] > 0.85  # t=0.52 inside the short /p/
    assert c["AU26"][10] > 0.8  # t=0.40 middle of /a/
    assert not np.any(c["AU25"][:2]) and not np.any(c["AU25"][-3:])  # silence at both ends


def test_silence_gives_zeros() -> None:
    ph = [Phoneme("_:", 0.0, 0.4), Phoneme("_", 0.4, 0.6)]
    for c in articulation_curves(ph, 20, FPS).values():
        assert not np.any(c)
    for c in articulation_curves([], 10, FPS).values():
        assert not np.any(c)


def test_smoothing_reduces_total_variation(mama: Utterance) -> None:
    n = n_frames_for(mama)
    raw = articulation_curves(mama.phonemes, n, FPS, smoothing=0.0)
    smooth = articulation_curves(mama.phonemes, n, FPS, smoothing=0.04)
    smoother = articulation_curves(mama.phonemes, n, FPS, smoothing=0.1)
    for au in ("AU25", "AU26", "AU24"):
        assert total_variation(smooth[au]) < total_variation(raw[au]), au
        assert total_variation(smoother[au]) < total_variation(smooth[au]), au


def test_short_phoneme_between_frames_still_counts() -> None:
    # a 15 ms /p/ that contains no frame time (frames at 0.20 and 0.24 s)
    ph = [Phoneme("a", 0.0, 0.2025), Phoneme("p", 0.2025, 0.2175), Phoneme("a", 0.2175, 0.5)]
    assert not np.any(articulation_curves(ph, 12, FPS, smoothing=0.0)["AU24"])
    assert articulation_curves(ph, 12, FPS)["AU24"].max() > 0.3


def test_other_fps_and_determinism(mama: Utterance) -> None:
    a = articulation_curves(mama.phonemes, 50, 30.0)
    b = articulation_curves(mama.phonemes, 50, 30.0)
    assert all(a[k].tobytes() == b[k].tobytes() for k in ARTICULATION_AUS)
    assert a["AU24"].max() > 0.9


@pytest.mark.parametrize(
    "kw, name",
    [({"n_frames": -1}, "n_frames"), ({"fps": 0.0}, "fps"), ({"fps": float("inf")}, "fps"),
     ({"smoothing": -0.1}, "smoothing"), ({"n_frames": 2.5}, "n_frames")],
)
def test_bad_arguments_raise(kw: dict, name: str) -> None:
    args = {"n_frames": 10, "fps": 25.0, "smoothing": 0.04} | kw
    with pytest.raises(ValueError, match=name):
        articulation_curves([], args["n_frames"], args["fps"], smoothing=args["smoothing"])
