"""Word timings of prepared clips: TTS + DTW alignment of a transcript, the fallbacks, and empty transcripts."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.prepare.words import align_transcript, clip_words, dtw_path
from emohead.synth.speech import Prosody, synthesize

TEXT = "Don't forget a jacket, we will stop in a couple of minutes"


@pytest.mark.parametrize("voice, rate", [("female_us", 140), ("male_uk", 220)])
def test_transcript_alignment_finds_the_words(voice, rate):
    """Speech of another voice at another rate, with leading silence: the aligned word times match its own."""
    utt = synthesize(TEXT, voice, Prosody(pitch=70, rate=rate), lead_silence=0.6, tail_silence=0.4)
    words = align_transcript(utt.audio, TEXT)
    assert [w["word"] for w in words] == [w.text for w in utt.words]
    err = [abs(a["start"] - b.start) for a, b in zip(words, utt.words)] + \
          [abs(a["end"] - b.end) for a, b in zip(words, utt.words)]
    assert np.mean(err) < 0.05 and np.max(err) < 0.15


def test_banded_dtw_equals_full_dtw_near_the_diagonal():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    b = np.repeat(a, 2, axis=0) + 0.01 * rng.normal(size=(100, 3))
    full, band = dtw_path(a, b), dtw_path(a, b, band=10)
    assert np.array_equal(full, band)
    assert tuple(full[0]) == (0, 0) and tuple(full[-1]) == (49, 99)
    assert (np.diff(full, axis=0) >= 0).all()


def test_words_fall_back_in_order():
    audio = np.zeros(16000, np.float32)
    given = [{"word": "hi", "start": 0.1, "end": 0.4}, {"word": "late", "start": 0.8, "end": 1.7}]
    words, method = clip_words(audio, text="hi late", words=given)
    assert method == "given" and words["words"][-1]["end"] == 1.0           # clipped to the clip
    calls = []

    def asr(x, w=None, *, where="clip"):
        calls.append(where)
        return [{"word": "asr", "start": 0.0, "end": 0.5}]
    words, method = clip_words(audio, text="x", words=given, asr=asr, where="clip 'c'")
    assert method == "asr" and words["words"][0]["word"] == "asr" and calls == ["clip 'c'"]
    words, method = clip_words(audio)
    assert method == "none" and words == {"text": "", "words": [], "phonemes": []}


def test_an_empty_transcript_is_accepted_downstream():
    """Clips without words: the feature extractor gives every frame the silence text vector."""
    from emohead.config import load_profile
    from emohead.features import build_extractors, extract_clip

    cfg = load_profile("smoke").features
    feats = extract_clip(build_extractors(cfg), np.zeros(16000, np.float32), 16000, 25,
                         words={"text": "", "words": [], "phonemes": []})
    assert feats.text.shape[0] == 25 and feats.words == [None] * 25
