"""Awkward input: missing models, wrong rate, stereo, empty, silent, NaN, frame-count mismatch."""
import logging

import numpy as np
import pytest

from emohead.config import ConfigError, FeatureConfig
from emohead.features import build_extractors, extract_clip, prepare_audio

from .conftest import tone

WORDS = [{"word": "hi", "start": 0.1, "end": 0.5}]


@pytest.fixture(scope="module")
def ex():
    return build_extractors(FeatureConfig(hashed_dim=8))


@pytest.mark.parametrize("backend, setting", [
    ({"audio_backend": "hubert", "hubert_path": "/no/such/hubert"}, "features.hubert_path='/no/such/hubert'"),
    ({"emotion_backend": "emotion2vec", "emotion2vec_path": "/no/e2v"}, "features.emotion2vec_path='/no/e2v'"),
    ({"transcript_backend": "funasr", "asr_path": "/no/asr"}, "features.asr_path='/no/asr'"),
    ({"text_backend": "llama", "llama_path": "/no/llama"}, "features.llama_path='/no/llama'"),
])
def test_missing_model_directory_names_the_setting(backend, setting):
    with pytest.raises(ConfigError, match=f"{setting}: no such directory"):
        build_extractors(FeatureConfig(**backend))


def test_empty_setting_and_incomplete_directory(tmp_path):
    with pytest.raises(ConfigError, match="features.llama_path is empty"):
        build_extractors(FeatureConfig(text_backend="llama"))
    with pytest.raises(ConfigError, match=r"emotion2vec_path=.*lacks \['config.yaml', 'model.pt'\]"):
        build_extractors(FeatureConfig(emotion_backend="emotion2vec", emotion2vec_path=str(tmp_path)))


def test_wrong_sample_rate_is_resampled_with_a_warning(ex, caplog):
    a16 = tone(1.0, 150)
    a8 = a16[::2].copy()                                  # the same tone at 8 kHz
    with caplog.at_level(logging.WARNING, logger="emohead.features"):
        f8 = extract_clip(ex, a8, 8000, 25, 25, WORDS, clip_id="c8")
    assert any("8000 Hz, resampling to 16000 Hz" in r.getMessage() and "c8" in r.getMessage() for r in caplog.records)
    f16 = extract_clip(ex, a16, 16000, 25, 25, WORDS)
    assert f8.audio.shape == f16.audio.shape
    # the pitch survives resampling
    assert np.abs(f8.emotion[5:20, 3] - f16.emotion[5:20, 3]).max() < 0.5      # f0/long_mean, semitones


def test_stereo_is_downmixed(ex):
    mono = tone(1.0)
    stereo = np.stack([mono, mono], axis=1)               # [S, 2]
    assert prepare_audio(stereo, 16000).shape == (16000,)
    np.testing.assert_allclose(extract_clip(ex, stereo, 16000, 25, 25, WORDS).audio,
                               extract_clip(ex, mono, 16000, 25, 25, WORDS).audio, rtol=1e-5, atol=1e-5)


def test_empty_audio_raises(ex):
    with pytest.raises(ValueError, match="clip 'e'.*empty"):
        extract_clip(ex, np.zeros(0, np.float32), 16000, 1, 25, WORDS, clip_id="e")


def test_nan_audio_names_the_clip(ex):
    a = tone(1.0)
    a[100] = np.nan
    with pytest.raises(ValueError, match=r"clip 'bad': audio array contains 1 NaN/inf sample\(s\), the first at index 100"):
        extract_clip(ex, a, 16000, 25, 25, WORDS, clip_id="bad")


def test_silent_audio_is_computed_with_voicing_zero(ex, caplog):
    with caplog.at_level(logging.WARNING, logger="emohead.features"):
        f = extract_clip(ex, np.zeros(16000, np.float32), 16000, 25, 25, WORDS, clip_id="quiet")
    assert any("silent" in r.getMessage() for r in caplog.records)
    assert np.isfinite(f.audio).all() and np.isfinite(f.emotion).all()
    cols = __import__("emohead.features.prosody", fromlist=["prosody_columns"]).prosody_columns()
    for name in ("voicing/frame_mean", "voicing/long_mean", "f0/frame_mean", "f0/long_mean"):
        assert (f.emotion[:, cols.index(name)] == 0).all()


def test_frame_count_mismatch(ex):
    a = tone(1.0)                                         # 25 frames
    extract_clip(ex, a, 16000, 26, 25, WORDS)             # within one frame: padded
    extract_clip(ex, a, 16000, 24, 25, WORDS)             # within one frame: trimmed
    with pytest.raises(ValueError, match="n_frames=30 .* within one frame"):
        extract_clip(ex, a, 16000, 30, 25, WORDS)


def test_dataset_transcript_needs_words(ex):
    with pytest.raises(ValueError, match="transcript_backend='dataset' needs"):
        extract_clip(ex, tone(1.0), 16000, 25, 25, None)
