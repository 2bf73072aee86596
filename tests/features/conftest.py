"""Tiny random models of the paper's pretrained classes, saved to and loaded back from temp dirs."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import yaml

WORDS = ["she", "had", "your", "dark", "suit", "in", "greasy", "wash", "water", "all", "year", "hello", "world"]


@pytest.fixture(scope="session")
def hubert_dir(tmp_path_factory):
    """transformers HubertModel, hidden size 32, 2 layers, 16-channel convs (stride 320 as HuBERT-base)."""
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    path = tmp_path_factory.mktemp("hubert")
    HubertModel(cfg).eval().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    """transformers LlamaModel (hidden 16) + a WordLevel tokenizer wrapped in PreTrainedTokenizerFast."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
    path = tmp_path_factory.mktemp("llama")
    LlamaModel(cfg).eval().save_pretrained(path)
    fast.save_pretrained(path)
    return path


def emotion2vec_config(embed_dim: int = 32) -> dict:
    """A tiny FunASR Emotion2vec config.yaml (the real emotion2vec-base has embed_dim 768, depth 8)."""
    audio = {
        "feature_encoder_spec": "[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2",  # stride 320 like the real one
        "extractor_mode": "layer_norm", "conv_pos_depth": 2, "conv_pos_width": 16, "conv_pos_groups": 2,
        "conv_pos_pre_ln": False, "start_drop_path_rate": 0.0, "end_drop_path_rate": 0.0, "prenet_depth": 1,
        "prenet_layerdrop": 0.0, "prenet_dropout": 0.0, "decoder": None, "use_alibi_encoder": True,
        "num_extra_tokens": 0, "init_extra_token_zero": True, "alibi_scale": 1.0, "learned_alibi": False,
        "learned_alibi_scale": True, "learned_alibi_scale_per_head": True, "learned_alibi_scale_per_layer": False,
        "num_alibi_heads": 2, "model_depth": 2, "local_grad_mult": 1.0, "alibi_max_pos": None,
        "mask_noise_std": 0.01, "inverse_mask": False, "keep_masked_pct": 0.0, "mask_prob": 0.5,
        "mask_prob_min": None, "mask_length": 5, "mask_dropout": 0.0, "add_masks": False,
        "encoder_zero_mask": True, "mask_channel_prob": 0.0, "mask_channel_length": 64,
    }
    conf = {
        "loss_beta": 0.0, "loss_scale": None, "depth": 2, "start_drop_path_rate": 0.0, "end_drop_path_rate": 0.0,
        "num_heads": 2, "norm_eps": 1.0e-05, "norm_affine": True, "encoder_dropout": 0.1, "post_mlp_drop": 0.1,
        "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.0, "layerdrop": 0.05,
        "embed_dim": embed_dim, "mlp_ratio": 2.0, "layer_norm_first": False, "average_top_k_layers": 2,
        "end_of_block_targets": False, "clone_batch": 1, "normalize": True, "modalities": {"audio": audio},
    }
    return {"model": "Emotion2vec", "model_conf": conf}


@pytest.fixture(scope="session")
def emotion2vec_dir(tmp_path_factory):
    """FunASR's Emotion2vec built from a tiny config, saved as config.yaml + model.pt (AutoModel's layout)."""
    import torch

    with contextlib.redirect_stdout(io.StringIO()):
        from funasr.models.emotion2vec.model import Emotion2vec
    conf = emotion2vec_config()
    torch.manual_seed(0)
    model = Emotion2vec(**conf).eval()
    path = tmp_path_factory.mktemp("emotion2vec")
    text = yaml.safe_dump(conf, sort_keys=False)
    assert "1.0e-05" in text  # OmegaConf reads 1e-05 as a string
    (path / "config.yaml").write_text(text)
    torch.save(model.state_dict(), path / "model.pt")
    return path


def tone(seconds: float, f0: float = 150.0, sr: int = 16000, amp: float = 0.3) -> np.ndarray:
    """A harmonic tone (5 partials) at f0: float32 [S]."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)
