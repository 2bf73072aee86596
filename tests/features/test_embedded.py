"""The embedded backends: spectral (v~), prosody (e~), hashed (g~), and the 25 fps pooling."""
import numpy as np
import pytest

from emohead.config import FeatureConfig
from emohead.features import build_extractors, extract_clip
from emohead.features.frames import conv_geometry, pool_to_frames
from emohead.features.hashed import HashedTextEncoder, normalize_word, word_vector
from emohead.features.prosody import ProsodyExtractor, pitch_track, prosody_columns
from emohead.features.spectral import SpectralExtractor, log_mel

from .conftest import tone


@pytest.mark.parametrize("n_frames", [1, 2, 7, 25, 83])
def test_output_shapes_for_several_lengths(n_frames):
    ex = build_extractors(FeatureConfig(hashed_dim=24))
    audio = tone(n_frames / 25)
    words = [{"word": "hi", "start": 0.0, "end": n_frames / 50}]
    f = extract_clip(ex, audio, 16000, n_frames, 25, words)
    assert f.audio.shape == (n_frames, 640) and f.emotion.shape == (n_frames, 40) and f.text.shape == (n_frames, 24)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in (f.audio, f.emotion, f.text))
    assert len(f.words) == n_frames and ex.dims == {"audio": 640, "emotion": 40, "text": 24}


def test_spectral_width_and_content():
    assert SpectralExtractor.dim == 640 and len(prosody_columns()) == ProsodyExtractor.dim == 40
    audio = tone(1.0, 200)
    mel = log_mel(audio)
    assert mel.shape == (101, 80)                         # 100 Hz, centred frames
    v = SpectralExtractor()(audio, 25, 25).reshape(25, 8, 80)
    # frame i's window = mel frames 4i-2 .. 4i+5 (clamped): its own 4 sit at positions 2..5
    np.testing.assert_allclose(v[3, 2:6], mel[12:16], rtol=1e-5)
    np.testing.assert_allclose(v[0, 0], mel[0], rtol=1e-5)  # clamped at the start
    # the 200 Hz partial sits in a low band: the spectrum peaks below 1 kHz
    assert v[10, 2].argmax() < 20


def test_pitch_track_recovers_f0_and_silence_is_unvoiced():
    for f0 in (110.0, 180.0, 300.0):
        tr = pitch_track(tone(1.0, f0))
        voiced = tr["f0"] > 0
        assert voiced[5:-5].all()
        assert np.median(tr["f0"][voiced]) == pytest.approx(f0, rel=0.02)
    audio = np.concatenate([np.zeros(8000, np.float32), tone(0.5, 150)])
    tr = pitch_track(audio)
    assert (tr["voicing"][:45] == 0).all() and (tr["f0"][:45] == 0).all() and tr["voicing"][60:90].min() > 0.8


def test_prosody_follows_pitch():
    p = ProsodyExtractor()
    cols = prosody_columns()
    low, high = p(tone(1.0, 120), 25, 25), p(tone(1.0, 240), 25, 25)
    j = cols.index("f0/long_mean")
    assert high[:, j].mean() - low[:, j].mean() == pytest.approx(12.0, abs=0.5)   # one octave = 12 semitones


def test_pool_to_frames_averages_pairs_at_50hz():
    hop, field = conv_geometry((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
    assert (hop, field) == (320, 400)                     # HuBERT / emotion2vec
    n_model = (16000 - field) // hop + 1                  # 49 model frames for 1 s
    feats = np.arange(n_model, dtype=np.float32)[:, None].repeat(3, 1)
    out = pool_to_frames(feats, hop=hop, field=field, sample_rate=16000, n_frames=25, fps=25)
    assert out.shape == (25, 3)
    np.testing.assert_allclose(out[:24, 0], np.arange(24) * 2 + 0.5)   # mean of frames 2i, 2i+1
    assert out[24, 0] == 48                                              # the last frame has one


def test_hashed_text_is_deterministic_unit_norm_and_has_a_silence_vector():
    enc = HashedTextEncoder(64)
    a = enc.encode(["Year.", "year", "water"])
    assert a.shape == (3, 64) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    np.testing.assert_array_equal(a[0], a[1])             # case and punctuation do not matter
    assert abs(a[0] @ a[2]) < 0.5
    assert normalize_word("Don't,") == "don't"
    assert np.linalg.norm(enc.silence) == pytest.approx(1.0) and abs(enc.silence @ a[0]) < 0.5
    # fixed across processes: a stable hash (not Python's salted hash()); pinned values
    np.testing.assert_allclose(word_vector("hello", 4), [0.57103044, -0.61850458, -0.53671533, 0.05755878], rtol=1e-6)
    np.testing.assert_array_equal(HashedTextEncoder(4).encode(["HELLO"])[0], word_vector("hello", 4))


def test_text_features_follow_the_words_on_frames():
    ex = build_extractors(FeatureConfig(hashed_dim=16))
    words = [{"word": "hello", "start": 0.2, "end": 0.6}, {"word": "world", "start": 0.8, "end": 1.0}]
    f = extract_clip(ex, tone(1.2), 16000, 30, 25, words)
    assert f.words[:5] == [None] * 5 and f.words[5] == "hello" and f.words[17] is None and f.words[20] == "world"
    np.testing.assert_array_equal(f.text[0], ex.text.silence)
    np.testing.assert_array_equal(f.text[17], ex.text.silence)
    np.testing.assert_array_equal(f.text[5], word_vector("hello", 16))
    assert f.meta["transcript"][1]["word"] == "world" and f.meta["backends"]["text"] == "hashed"
