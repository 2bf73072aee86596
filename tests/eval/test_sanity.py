"""Can the evaluators tell? SyncNet, ER and M-LMD on ground-truth clips of the smoke corpus vs degraded inputs
(issue 17 item 5): known audio shifts must be found, in-sync audio must score >= 3x another clip's audio, and the
ground truth must beat the neutral clip (ER) and a frozen mouth (M-LMD)."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.eval import EvalError
from emohead.eval import sanity
from emohead.eval.syncnet import SyncClip
from emohead.eval.syncnet_training import SyncTrainConfig, prepare_dataset_clips, train_syncnet


def _clip(i, speaker, sentence, emotion="happy", T=30):
    rng = np.random.default_rng(i)
    return sanity.GTClip(f"c{i}", rng.integers(0, 256, (T, 64, 64, 3), dtype=np.uint8),
                         rng.normal(size=T * 640).astype(np.float32), np.zeros((T, 68, 2), np.float32), emotion,
                         speaker, sentence)


def test_shift_clip_slices_audio_by_whole_frames():
    T = 40
    crops = np.arange(T, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    mfcc = np.arange(4 * T + 1, dtype=np.float32)[:, None] * np.ones((1, 13), np.float32)
    for s in (-10, -2, 0, 5, 10):
        c = sanity.shift_clip(SyncClip(crops, mfcc), s, 10)
        assert len(c.crops) == T - 20 and len(c.mfcc) == 4 * (T - 20) + 1
        assert c.crops[0, 0, 0, 0] == 10                        # video always starts at frame M
        assert c.mfcc[0, 0] == 4 * (10 - s)                      # audio delayed by s frames: frame M - s under it
    with pytest.raises(EvalError, match="margin"):
        sanity.shift_clip(SyncClip(crops, mfcc), 11, 10)


def test_partners_prefer_other_speaker_and_sentence():
    clips = [_clip(0, "a", "s1"), _clip(1, "a", "s2"), _clip(2, "b", "s1"), _clip(3, "b", "s2")]
    assert sanity.mismatch_partners(clips) == [3, 2, 1, 0]
    clips = [_clip(0, "a", "s1", "happy"), _clip(1, "a", "s2", "neutral"), _clip(2, "a", "s1", "neutral"),
             _clip(3, "b", "s1", "sad")]
    assert sanity.neutral_partners(clips) == [2, None, None, None]   # same sentence first; b has no neutral clip


def test_frozen_mouth_copies_one_mouth_and_keeps_the_rest():
    T, H = 6, 64
    frames = np.full((T, H, H, 3), 100, np.uint8)
    lm = np.zeros((T, 68, 2), np.float32)
    lm[:, :, 0], lm[:, :, 1] = 32, 40
    lm[:, 48, 0], lm[:, 54, 0] = 26, 38                          # mouth 12 px wide centred near (32, 40)
    for t in range(T):
        frames[t, 36:44, 28:36] = 40 * t                          # the mouth changes every frame
        lm[t, 62, 1], lm[t, 66, 1] = 40 - t, 40 + t               # opening t px apart... frame 0 is closed
    out = sanity.frozen_mouth(frames, lm)
    assert sanity.mouth_opening(lm).argmin() == 0
    assert (out[:, 36:44, 28:36] == 0).all()                      # every frame shows frame 0's mouth
    assert (out[:, :20] == 100).all() and (out[:, :, :10] == 100).all()   # far from the mouth: untouched


@pytest.mark.slow
def test_syncnet_finds_known_offsets_and_tells_in_sync_from_mismatched(smoke_corpus):
    """The SyncNet evaluate_run trains (multi-way loss), here with 600 steps (~20 s): on the 16 ground-truth test
    clips, +-2, +-5, +-10 frame shifts are found within one frame in >= 90 % of the trials, and in-sync audio
    has >= 3x the confidence of another clip's audio (measured: 100 % and 3.4)."""
    ds = smoke_corpus
    cfg = SyncTrainConfig(steps=600)
    model, _ = train_syncnet(prepare_dataset_clips(ds, split="train", progress=False), cfg, progress=False)
    clips = sanity.load_gt_clips(ds, 64)
    assert len(clips) == 16 and len({c.speaker for c in clips}) == 2
    off = sanity.sync_offset_check(model, clips)
    assert off["n_trials"] == 6 * 16
    assert off["recovery_rate"] >= sanity.TARGET_RECOVERY, off["per_shift"]
    assert off["aligned_offset_ok"] >= 0.9
    conf = sanity.confidence_ratio(model, clips)
    assert conf["partner_same_sentence"] == 0.0
    assert conf["ratio"] >= sanity.TARGET_RATIO, conf
    assert conf["frozen_mouth"] < conf["in_sync"] / sanity.TARGET_RATIO


@pytest.mark.slow
def test_er_and_mlmd_rank_the_ground_truth_first(smoke_corpus):
    """A small analyser trained on the training clips' frames (~5 s): ER of the ground truth beats the neutral clip
    of the same speaker scored against the emotional tag; M-LMD of the ground truth is below a frozen mouth and
    the neutral clip (measured: ER 56 vs 5 %, M-LMD 0.45 vs 0.68 / 0.82 px)."""
    from emohead.analyser.model import train_analyser

    from .test_analyser_metrics import TINY, _samples

    ds = smoke_corpus
    analyser, _ = train_analyser(TINY, image_size=ds.records[0].image_size, seed=0, progress=False,
                                 samples=(_samples(ds, "train"), _samples(ds, "test")))
    clips = sanity.load_gt_clips(ds, 64)
    out = sanity.evaluator_checks(None, analyser, clips)
    er, ml = out["er"], out["mlmd"]
    assert er["n_clips"] == 14 and er["ground_truth"] > 2 * er["neutral_clip"], er
    assert ml["ground_truth"] < ml["frozen_mouth"] and ml["ground_truth_paired"] < ml["neutral_clip"], ml
    assert out["pass"] == {"er": True, "mlmd": True}
