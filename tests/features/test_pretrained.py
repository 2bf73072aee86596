"""The paper's backends on tiny random models of the real classes, saved to and loaded from temp dirs."""
import numpy as np
import pytest
from payloads import Payload

from emohead.config import ConfigError, FeatureConfig
from emohead.features import build_extractors, extract_clip
from emohead.features.transcript import FunasrTranscriber

from .conftest import tone

WORDS = [{"word": "she", "start": 0.1, "end": 0.3}, {"word": "had", "start": 0.3, "end": 0.5},
         {"word": "dark", "start": 0.6, "end": 0.9}]


def test_hubert_backend(hubert_dir):
    import torch
    from transformers import HubertModel

    ex = build_extractors(FeatureConfig(audio_backend="hubert", hubert_path=str(hubert_dir), audio_dim=32))
    assert ex.dims["audio"] == 32
    for n in (3, 25, 31):
        f = extract_clip(ex, tone(n / 25), 16000, n, 25, WORDS)
        assert f.audio.shape == (n, 32) and f.audio.dtype == np.float32 and np.isfinite(f.audio).all()
    # 25 fps = the mean of HuBERT's 50 Hz frames in pairs
    model = HubertModel.from_pretrained(hubert_dir).eval()
    audio = tone(1.0)
    with torch.no_grad():
        hidden = model(torch.from_numpy(audio)[None]).last_hidden_state[0].numpy()   # [49, 32]
    f = extract_clip(ex, audio, 16000, 25, 25, WORDS)
    np.testing.assert_allclose(f.audio[3], hidden[6:8].mean(0), rtol=1e-4, atol=1e-5)
    # deterministic
    np.testing.assert_array_equal(f.audio, extract_clip(ex, audio, 16000, 25, 25, WORDS).audio)


def test_hubert_width_mismatch_names_the_backend(hubert_dir):
    with pytest.raises(ConfigError, match=r"'hubert'.*hidden size 32.*features.audio_dim=768"):
        build_extractors(FeatureConfig(audio_backend="hubert", hubert_path=str(hubert_dir)))


def test_emotion2vec_backend(emotion2vec_dir):
    ex = build_extractors(FeatureConfig(emotion_backend="emotion2vec", emotion2vec_path=str(emotion2vec_dir),
                                        emotion_dim=32))
    assert ex.dims["emotion"] == 32 and (ex.emotion.hop, ex.emotion.field) == (320, 400)
    for n in (2, 25, 40):
        f = extract_clip(ex, tone(n / 25), 16000, n, 25, WORDS)
        assert f.emotion.shape == (n, 32) and np.isfinite(f.emotion).all()
    # the same model through funasr.AutoModel's own loader gives the same frame features
    with __import__("emohead.features.paths", fromlist=["quiet_funasr"]).quiet_funasr():
        from funasr import AutoModel

        am = AutoModel(model=str(emotion2vec_dir), device="cpu", disable_update=True,
                       ncpu=__import__("torch").get_num_threads())
    import torch

    audio = tone(1.0)
    src = torch.nn.functional.layer_norm(torch.from_numpy(audio), (len(audio),))[None]
    with torch.no_grad():
        ref = am.model.extract_features(src, padding_mask=None)["x"][0].numpy()      # [49, 32] at 50 Hz
    f = extract_clip(ex, audio, 16000, 25, 25, WORDS)
    np.testing.assert_allclose(f.emotion[5], ref[10:12].mean(0), rtol=1e-4, atol=1e-5)


def test_emotion2vec_width_mismatch(emotion2vec_dir):
    with pytest.raises(ConfigError, match=r"'emotion2vec'.*width 32.*features.emotion_dim=768"):
        build_extractors(FeatureConfig(emotion_backend="emotion2vec", emotion2vec_path=str(emotion2vec_dir)))


def test_llama_backend_uses_the_last_token_of_each_word_over_the_transcript_so_far(llama_dir):
    import torch
    from transformers import AutoTokenizer, LlamaModel

    ex = build_extractors(FeatureConfig(text_backend="llama", llama_path=str(llama_dir), text_dim=16))
    f = extract_clip(ex, tone(1.0), 16000, 25, 25, WORDS)
    assert f.text.shape == (25, 16) and f.words[8] == "had"   # frame 8: centre 0.34 s
    np.testing.assert_array_equal(f.text[0], np.zeros(16, np.float32))        # silence
    # word k's state is the model's state after "she ... word_k": causal, so later words do not change it
    tok, model = AutoTokenizer.from_pretrained(llama_dir), LlamaModel.from_pretrained(llama_dir).eval()
    with torch.no_grad():
        prefix = model(**tok("she had", return_tensors="pt")).last_hidden_state[0, -1].numpy()
    np.testing.assert_allclose(f.text[8], prefix, rtol=1e-4, atol=1e-5)
    # a different later word leaves earlier frames unchanged, changes its own frames
    other = [dict(w) for w in WORDS]
    other[2]["word"] = "water"
    g = extract_clip(ex, tone(1.0), 16000, 25, 25, other)
    np.testing.assert_allclose(g.text[:15], f.text[:15], rtol=1e-5, atol=1e-6)
    assert not np.allclose(g.text[18], f.text[18])
    assert f.words[18] == "dark"


def test_llama_width_mismatch(llama_dir):
    with pytest.raises(ConfigError, match=r"'llama'.*hidden size 16.*features.text_dim=4096"):
        build_extractors(FeatureConfig(text_backend="llama", llama_path=str(llama_dir)))


class FakeAsr:
    """Stands in for funasr.AutoModel: returns a FunASR-format result (timestamps in ms)."""

    def __init__(self):
        self.calls = 0

    def generate(self, input, **kwargs):  # noqa: A002 - FunASR's argument name
        self.calls += 1
        assert isinstance(input, np.ndarray) and input.dtype == np.float32
        return [{"key": "rand_key", "text": "she had dark", "timestamp": [[100, 300], [300, 500], [600, 900]]}]


def test_funasr_transcript_backend_with_a_funasr_format_result():
    ex = build_extractors(FeatureConfig(hashed_dim=8))
    ex.transcript = FunasrTranscriber("", model=FakeAsr())
    f = extract_clip(ex, tone(1.0), 16000, 25, 25, words=None)   # words come from the ASR, not the dataset
    ref = extract_clip(build_extractors(FeatureConfig(hashed_dim=8)), tone(1.0), 16000, 25, 25, WORDS)
    assert f.words == ref.words and ex.transcript.model.calls == 1
    np.testing.assert_array_equal(f.text, ref.text)


def test_funasr_asr_directory_without_config(tmp_path):
    with pytest.raises(ConfigError, match=r"features.asr_path=.*lacks \['config.yaml'\]"):
        build_extractors(FeatureConfig(transcript_backend="funasr", asr_path=str(tmp_path)))


def test_funasr_state_is_loaded_with_weights_only(tmp_path):
    import torch

    from emohead.features.emotion2vec import load_funasr_state

    good = tmp_path / "good.pt"
    torch.save({"model": {"module.w": torch.ones(2)}}, good)
    assert list(load_funasr_state(good)) == ["w"]                    # unwrapped as FunASR does
    marker, bad = tmp_path / "payload-ran", tmp_path / "model.pt"
    torch.save({"model": Payload(marker)}, bad)
    with pytest.raises(ConfigError, match="weights_only") as e:
        load_funasr_state(bad)
    assert "model.pt" in str(e.value) and not marker.exists()
