"""L_cord with the CLIP backend: a tiny random transformers CLIPModel saved to disk and loaded back by path."""
from __future__ import annotations

import dataclasses

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("clip")
    words = ["[PAD]", "[UNK]", "a", "photo", "of", "face", "neutral", "angry", "contempt", "disgusted", "fear",
             "happy", "sad", "surprised"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(path)
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config={"vocab_size": len(words), "hidden_size": 16, "intermediate_size": 32,
                                  "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16,
                                  "bos_token_id": 0, "pad_token_id": 0, "eos_token_id": 5},   # pooled at "face"
                     vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                    "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                     projection_dim=8)
    CLIPModel(cfg).save_pretrained(path)
    return path


def test_clip_embeddings_are_unit_and_differentiable(tiny_clip):
    from emohead.render.losses import ClipCoordination, l_cord

    coord = ClipCoordination(tiny_clip, ["neutral", "happy", "sad"])
    assert coord.text.shape == (3, 8) and torch.allclose(coord.text.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(coord.text[1], coord.text[2])             # the prompts differ by emotion
    patch = torch.rand(2, 3, 20, 20, requires_grad=True)
    e = coord.image_embedding(patch)
    assert e.shape == (2, 8) and torch.allclose(e.norm(dim=-1), torch.ones(2), atol=1e-5)
    loss = l_cord(e, coord.text_embedding(torch.tensor([1, 2])))
    assert -1.0 <= float(loss) <= 1.0
    loss.backward()
    assert patch.grad is not None and torch.isfinite(patch.grad).all() and patch.grad.abs().sum() > 0


def test_nerf_refinement_with_the_clip_backend(render_world, tiny_clip, tmp_path):
    from emohead.render import train_nerf

    cfg = dataclasses.replace(render_world["profile"].nerf, coord_backend="clip", clip_path=str(tiny_clip))
    _, history = train_nerf(render_world["ds"], cfg, tmp_path / "nerf", analyser=render_world["analyser"],
                            progress=False)
    assert history["coord_backend"] == "clip"
    cord = [v for v in history["l_cord"] if v is not None]
    assert cord and all(-1.0 <= v <= 1.0 for v in cord)
