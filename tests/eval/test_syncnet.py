"""SyncNet: MFCC windows, syncnet_python's layer shapes, checkpoints, determinism, and a known offset."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emohead.eval import EvalError, SyncNet, SyncTrainConfig, load_syncnet, mfcc, save_syncnet, train_syncnet
from emohead.eval.syncnet import SyncClip, n_windows, offset_distances, prepare_clip, sync_from_clip, sync_score

TINY = SyncTrainConfig(width=8, embed_dim=32, image_size=64, steps=3, chunks_per_step=2, chunk_windows=8)


def test_mfcc_rate_and_windows():
    audio = np.random.default_rng(0).normal(0, 0.1, 50 * 640).astype(np.float32)   # 2 s, 50 frames
    cc = mfcc(audio)
    assert cc.shape == (4 * 50 + 1, 13) and cc.dtype == np.float32 and np.isfinite(cc).all()
    assert n_windows(50, len(cc)) == 46
    with pytest.raises(EvalError, match="16 kHz"):
        mfcc(audio, sample_rate=8000)


def test_width_64_has_syncnet_python_layout():
    m = SyncNet()                                               # width 64, E 1024, 224 px: the original
    sd = m.state_dict()
    assert sd["netcnnaud.0.weight"].shape == (64, 1, 3, 3)
    assert sd["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert sd["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert sd["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert sd["netfcaud.3.weight"].shape == (1024, 512) and sd["netfclip.3.weight"].shape == (1024, 512)
    tiny = SyncNet(width=8, embed_dim=32, image_size=64).eval()
    assert tiny.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 32)
    assert tiny.forward_lip(torch.rand(2, 3, 5, 64, 64)).shape == (2, 32)
    with pytest.raises(EvalError, match="image_size"):
        SyncNet(image_size=40)


def test_checkpoints_round_trip_and_syncnet_python_state_dict(tmp_path):
    torch.manual_seed(0)
    m = SyncNet(width=8, embed_dim=32, image_size=64).eval()
    again = load_syncnet(save_syncnet(m, tmp_path / "s.safetensors"))
    x = torch.randn(3, 1, 13, 20)
    assert torch.equal(m.forward_aud(x), again.forward_aud(x)) and again.hparams["image_size"] == 64
    orig = SyncNet().eval()                                     # what syncnet_v2.model holds, keys as __S__.*
    torch.save({f"__S__.{k}": v for k, v in orig.state_dict().items()}, tmp_path / "syncnet_v2.model")
    loaded = load_syncnet(tmp_path / "syncnet_v2.model")
    assert loaded.hparams["input_format"] == "bgr255" and loaded.hparams["region"] == "face"
    assert torch.equal(orig.forward_aud(x), loaded.forward_aud(x))
    with pytest.raises(EvalError, match="missing.safetensors"):
        load_syncnet(tmp_path / "missing.safetensors")


def _random_clips(n=2, T=30):
    rng = np.random.default_rng(0)
    return [SyncClip(rng.integers(0, 256, (T, 64, 64, 3), dtype=np.uint8),
                     rng.normal(size=(4 * T + 1, 13)).astype(np.float32)) for _ in range(n)]


@pytest.mark.parametrize("loss", ["multiway", "contrastive"])
def test_training_is_deterministic_and_offsets_have_syncnet_python_sign(loss):
    clips = _random_clips()
    cfg = dataclasses.replace(TINY, loss=loss)
    m1, h1 = train_syncnet(clips, cfg, seed=3, progress=False)
    m2, h2 = train_syncnet(clips, cfg, seed=3, progress=False)
    assert h1["loss"] == h2["loss"] and np.isfinite(h1["loss"]).all()
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(EvalError, match="loss"):
        train_syncnet(clips, dataclasses.replace(TINY, loss="triplet"), progress=False)
    # embeddings where audio j equals video j + 2: the best offset k has a_{i-k} = v_i, so k = -2
    v = torch.randn(20, 4)
    a = torch.roll(v, 2, 0)                                     # a[j] = v[j - 2]: audio late by 2 frames
    dist, offsets = offset_distances(v, a, 5, pad="valid")
    assert offsets[np.argmin(dist)] == -2


@pytest.mark.slow
def test_trained_syncnet_finds_a_known_offset(eval_corpus):
    """Train a tiny SyncNet on the training clips; on test clips, delaying the audio by 3 frames moves
    the detected AV offset by -3, and shuffled audio has lower confidence than the real audio."""
    ds = eval_corpus
    cfg = SyncTrainConfig(steps=200, chunk_windows=16, max_shift=8, lr=5e-3)
    clips = [prepare_clip(ds.frames(r), ds.audio(r), ds.arrays(r)["landmarks"], image_size=cfg.image_size)
             for r in ds.clips(split="train")]
    model, hist = train_syncnet(clips, cfg, seed=0, progress=False)
    assert np.mean(hist["d_neg"][-20:]) > np.mean(hist["d_pos"][-20:])
    aligned, delayed, shuffled = [], [], []
    rng = np.random.default_rng(0)
    for r in ds.clips(split="test")[:4]:
        frames, audio, lm = ds.frames(r), ds.audio(r), ds.arrays(r)["landmarks"]
        late = np.concatenate([np.zeros(3 * 640, np.float32), audio[:-3 * 640]])
        chunks = audio[: len(audio) // 640 * 640].reshape(-1, 640)
        shuf = np.concatenate([chunks[rng.permutation(len(chunks))].reshape(-1), audio[len(chunks) * 640:]])
        for out, a in ((aligned, audio), (delayed, late), (shuffled, shuf)):
            out.append(sync_from_clip(model, prepare_clip(frames, a, lm, image_size=cfg.image_size)))
    moves = [d.offset - a.offset for a, d in zip(aligned, delayed)]
    assert np.median(moves) == pytest.approx(-3, abs=1), moves
    assert sync_score(aligned).value > sync_score(shuffled).value, (aligned, shuffled)


@pytest.mark.parametrize("box", [(20.3, 31.7, 17.2), (-6.5, 50.0, 22.0), (55.1, -3.2, 12.0), (-40.0, -40.0, 8.0),
                                 (0.0, 0.0, 61.0)])
def test_crop_clip_reads_only_the_box_and_equals_a_whole_frame_resampling(box):
    """crop_clip converts only the pixels its samples touch; the crop is torch's grid_sample of whole frames
    (bilinear, border repeated) within one uint8 level of float rounding: boxes inside, across and outside the edge."""
    import torch.nn.functional as F

    from emohead.eval.syncnet import crop_clip

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    size = 16
    x0, y0, side = box
    pos = (np.arange(size) + 0.5) * side / size - 0.5
    gx = torch.as_tensor((x0 + pos) / 63 * 2 - 1, dtype=torch.float64)
    gy = torch.as_tensor((y0 + pos) / 63 * 2 - 1, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).expand(3, -1, -1, -1)
    want = F.grid_sample(torch.from_numpy(frames).permute(0, 3, 1, 2).double(), grid, mode="bilinear",
                         padding_mode="border", align_corners=True).round().permute(0, 2, 3, 1).numpy()
    got = crop_clip(frames, box, size)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert got.shape == (3, size, size, 3) and diff.max() <= 1 and (diff > 0).mean() < 0.01, (diff.max(), diff.mean())
