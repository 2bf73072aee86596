"""Word-to-frame alignment (paper Fig. 9) and FunASR result parsing."""
import numpy as np
import pytest

from emohead.features import align_words, frame_words, normalize_words, words_from_funasr


def test_frame_takes_word_covering_its_centre():
    # frame i spans [0.04 i, 0.04 (i + 1)), centre 0.04 i + 0.02
    words = [{"word": "a", "start": 0.10, "end": 0.21}, {"word": "b", "start": 0.21, "end": 0.30}]
    idx = align_words(words, 10, 25)
    # centres: .02 .06 .10 .14 .18 .22 .26 .30 .34 .38
    assert idx.tolist() == [-1, -1, 0, 0, 0, 1, 1, -1, -1, -1]
    assert frame_words(words, 10, 25) == [None, None, "a", "a", "a", "b", "b", None, None, None]


def test_silence_before_first_word_between_words_and_after_last():
    words = [{"word": "hello", "start": 0.5, "end": 0.9}, {"word": "world", "start": 1.3, "end": 1.7}]
    fw = frame_words(words, 50, 25)                       # 2 s
    assert all(w is None for w in fw[:12])                # before 0.5 s: silence padding
    assert fw[12:22] == ["hello"] * 10                    # 0.50-0.90 s
    assert all(w is None for w in fw[22:32])              # the 0.4 s gap between words
    assert fw[32:42] == ["world"] * 10
    assert all(w is None for w in fw[42:])                # after the last word


def test_no_words_is_all_silence_and_a_word_inside_one_frame_may_vanish():
    assert align_words([], 7, 25).tolist() == [-1] * 7
    # a 10 ms word that misses every frame centre is not seen on any frame (Fig. 9's rule)
    assert align_words([{"word": "x", "start": 0.045, "end": 0.055}], 3, 25).tolist() == [-1, -1, -1]


def test_normalize_words_accepts_transcript_dict_and_rejects_bad_times():
    d = {"text": "hi", "words": [{"word": "hi", "start": 0, "end": 0.2}]}
    assert normalize_words(d) == [{"word": "hi", "start": 0.0, "end": 0.2}]
    with pytest.raises(ValueError, match=r"words\[0\]"):
        normalize_words([{"word": "hi", "start": 0.3, "end": 0.2}])
    with pytest.raises(ValueError, match="needs 'word'"):
        normalize_words([{"word": "hi"}])


def test_words_from_funasr_formats():
    # English models: one [start_ms, end_ms] per space-separated word
    res = [{"key": "utt", "text": "hello world", "timestamp": [[500, 900], [1300, 1700]]}]
    words = words_from_funasr(res)
    assert words == [{"word": "hello", "start": 0.5, "end": 0.9}, {"word": "world", "start": 1.3, "end": 1.7}]
    assert frame_words(words, 50, 25)[12] == "hello"
    # Chinese models: one timestamp per character, text may hold spaces
    zh = words_from_funasr({"text": "你 好", "timestamp": [[100, 300], [300, 500]]})
    assert [w["word"] for w in zh] == ["你", "好"]
    # SenseVoice-style: explicit word list
    sv = words_from_funasr({"text": "hi there.", "words": ["hi", "there"], "timestamp": [[0, 100], [100, 300]]})
    assert sv[1] == {"word": "there", "start": 0.1, "end": 0.3}
    with pytest.raises(ValueError, match="timestamp"):
        words_from_funasr({"text": "hello"})
    with pytest.raises(ValueError, match="3 timestamps"):
        words_from_funasr({"text": "hello world", "timestamp": [[0, 1], [1, 2], [2, 3]]})
