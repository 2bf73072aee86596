"""Training a SyncNet on ground-truth clips (ours: the paper scores Sync with syncnet_python's pretrained weights).

Positive pairs are a clip's audio and video windows at the same time, negatives the same clip shifted; the losses
are the original contrastive loss and a multi-way (softmax over offsets) loss. The network, the windows and the
confidence score: :mod:`.syncnet`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..cpu_kernels import training_kernels
from .result import EvalError
from .syncnet import MAX_OFFSET, SyncClip, SyncNet, audio_windows, prepare_clip, video_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncTrainConfig:
    """Training a SyncNet on ground-truth clips (ours: the paper uses pretrained syncnet_python weights)."""

    width: int = 8
    """Channel scale (64 = the original; 8 trains on a CPU in seconds)."""
    embed_dim: int = 64
    """Embedding width E (1024 in syncnet_python, 256 in the 2016 paper)."""
    image_size: int = 64
    """Side S of the mouth crop fed to the video stream (224 in syncnet_python)."""
    region: str = "mouth"
    """Crop region: 'mouth' (the 2016 paper) or 'face' (syncnet_python's face tracks)."""
    steps: int = 900
    """Optimisation steps (900: about 30 s on 2 CPU cores at the defaults)."""
    chunks_per_step: int = 2
    """Clip segments per step (ours)."""
    chunk_windows: int = 24
    """Consecutive video windows per segment; each is paired with every audio window within max_shift (ours)."""
    lr: float = 2e-3
    """Adam learning rate (cosine decay; ours)."""
    loss: str = "multiway"
    """'contrastive': Chung & Zisserman 2016 eq. 1 (:func:`contrastive_loss`); 'multiway': the multi-way matching
    loss of Chung et al. 2019 ("Perfect match"), a softmax over -distance to the in-sync and the offset audio
    windows (:func:`multiway_loss`)."""
    margin: float = 1.0
    """Contrastive-loss margin m on the embedding distance (Chung & Zisserman 2016, eq. 1)."""
    min_shift: int = 2
    """Offset pairs use shifts of min_shift..max_shift frames either way (ours)."""
    max_shift: int = MAX_OFFSET
    """Largest shift of an offset pair (the confidence searches +-15)."""


def contrastive_loss(video: torch.Tensor, audio: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Chung & Zisserman 2016 eq. 1: E = 1/(2N) sum_n y_n d_n^2 + (1 - y_n) max(m - d_n, 0)^2, d_n = ||v_n - a_n||_2.

    video, audio [N, E]; same [N] 1 for in-sync pairs, 0 for offset pairs.
    """
    d = F.pairwise_distance(video, audio)
    y = same.float()
    return 0.5 * (y * d ** 2 + (1 - y) * F.relu(margin - d) ** 2).mean()


def multiway_loss(d: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Multi-way matching (Chung, Chung & Kang 2019, "Perfect match"): cross-entropy of softmax(-d) over each video
    window's candidate audio windows. d [L, A] distances, target [L] index of the in-sync audio window, valid
    [L, A] which candidates count (the in-sync one and the offset ones)."""
    return F.cross_entropy((-d).masked_fill(~valid, float("-inf")), target)


def _band_loss(v: torch.Tensor, a: torch.Tensor, shift: torch.Tensor, cfg: SyncTrainConfig
               ) -> tuple[torch.Tensor, float, float]:
    """The loss over every (video i, audio j) pair of a segment, in sync (j = i) or offset
    (min_shift <= |j - i| <= max_shift) -> (loss, mean d_pos, mean d_neg). 'contrastive': eq. 1 with the in-sync and
    the offset pairs weighted equally; 'multiway': :func:`multiway_loss` with each video window's band as candidates."""
    d = torch.cdist(v, a)                                               # [L, A]
    pos = shift == 0
    neg = (shift.abs() >= cfg.min_shift) & (shift.abs() <= cfg.max_shift)
    if cfg.loss == "multiway":
        loss = multiway_loss(d, pos.float().argmax(1), pos | neg)
    else:
        loss = 0.5 * ((d[pos] ** 2).mean() + (F.relu(cfg.margin - d[neg]) ** 2).mean())
    return loss, float(d[pos].detach().mean()), float(d[neg].detach().mean())


def train_syncnet(clips: Sequence[SyncClip], cfg: SyncTrainConfig = SyncTrainConfig(), *, seed: int = 0,
                  device: torch.device | str = "cpu", progress: bool = True) -> tuple[SyncNet, dict[str, Any]]:
    """Train a SyncNet on prepared ground-truth clips (:func:`prepare_clip`) -> (model in eval mode, history).

    Each step takes ``chunks_per_step`` segments of ``chunk_windows`` consecutive video windows (clip
    and start drawn uniformly) and the audio windows up to ``max_shift`` frames around them; every
    (video i, audio j) pair counts, in sync when j = i and offset when min_shift <= |j - i| <= max_shift
    (the audio stream runs once per window, shared by all pairs). Loss (``cfg.loss``): "multiway", a softmax over
    each video window's candidates (:func:`multiway_loss`), or "contrastive", eq. 1 with positives and negatives
    averaged separately. Deterministic for a seed on one device.
    """
    from tqdm.auto import tqdm

    for name in ("width", "embed_dim", "image_size", "steps", "chunks_per_step", "chunk_windows"):
        if int(getattr(cfg, name)) < 1:
            raise EvalError(f"SyncTrainConfig.{name}={getattr(cfg, name)}: must be positive")
    if cfg.loss not in ("contrastive", "multiway"):
        raise EvalError(f"SyncTrainConfig.loss={cfg.loss!r}: expected 'contrastive' or 'multiway'")
    if not 1 <= cfg.min_shift <= cfg.max_shift:
        raise EvalError(f"SyncTrainConfig: need 1 <= min_shift ({cfg.min_shift}) <= max_shift ({cfg.max_shift})")
    sizes = np.array([c.n_windows for c in clips])
    usable = np.flatnonzero(sizes > cfg.min_shift)
    if len(usable) == 0:
        raise EvalError(f"train_syncnet: no clip has more than {cfg.min_shift} windows ({len(clips)} clips given)")
    for c in clips:
        if c.crops.shape[1] != cfg.image_size:
            raise EvalError(f"clips were prepared at {c.crops.shape[1]} px, SyncTrainConfig.image_size is {cfg.image_size}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5C, 25]))
    model = SyncNet(width=cfg.width, embed_dim=cfg.embed_dim, image_size=cfg.image_size, region=cfg.region).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    history: dict[str, Any] = {"loss": [], "d_pos": [], "d_neg": []}
    t0 = time.perf_counter()
    model.train()
    with training_kernels(dev):                                       # cpu_kernels.py: a oneDNN bug
        for _ in (bar := tqdm(range(cfg.steps), desc="syncnet training", unit="step", disable=not progress)):
            segs = []
            for c in rng.choice(usable, size=cfg.chunks_per_step):
                w = int(sizes[c])
                n = min(cfg.chunk_windows, w)
                i0 = int(rng.integers(w - n + 1))
                lo, hi = max(0, i0 - cfg.max_shift), min(w, i0 + n + cfg.max_shift)
                segs.append((clips[c], np.arange(i0, i0 + n), np.arange(lo, hi)))
            vin = torch.cat([video_windows(c.crops, vi) for c, vi, _ in segs])
            ain = torch.cat([audio_windows(c.mfcc, ai) for c, _, ai in segs])
            v = model.forward_lip(model.prepare_video(vin).to(dev))                          # [sum L, E]
            a = model.forward_aud(ain.to(dev))                                              # [sum A, E]
            loss = torch.zeros((), device=dev)
            dp = dn = 0.0
            vs = as_ = 0
            for _, vi, ai in segs:
                shift = torch.as_tensor(ai[None, :] - vi[:, None], device=dev)               # [L, A] j - i
                l, p, q = _band_loss(v[vs:vs + len(vi)], a[as_:as_ + len(ai)], shift, cfg)
                loss = loss + l / len(segs)
                dp, dn = dp + p / len(segs), dn + q / len(segs)
                vs, as_ = vs + len(vi), as_ + len(ai)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            history["loss"].append(float(loss.detach()))
            history["d_pos"].append(dp)
            history["d_neg"].append(dn)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", gap=f"{dn - dp:.3f}")
    model.eval()
    history["train_s"] = time.perf_counter() - t0
    history["n_clips"] = len(clips)
    history["n_windows"] = int(sizes.sum())
    model.hparams["train_config"] = {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}
    model.hparams["seed"] = int(seed)
    log.info("syncnet: %d steps on %d windows of %d clips in %.1f s, final loss %.4f",
             cfg.steps, history["n_windows"], len(clips), history["train_s"], history["loss"][-1])
    return model, history


def prepare_dataset_clips(ds: Any, *, split: str = "train", image_size: int = 64, region: str = "mouth",
                          max_clips: int | None = None, frame_size: int | None = None,
                          progress: bool = True) -> list[SyncClip]:
    """Ground-truth clips of a :class:`~emohead.data.ProcessedDataset` split prepared for SyncNet (dataset
    landmarks).

    frame_size: area-resize the frames to this side first (landmarks rescaled), the size the evaluated videos
    have (``nerf.image_size``), so the SyncNet trains on crops as sharp as the ones it will judge; None: as stored.
    """
    from tqdm.auto import tqdm

    from ..render.frames import resize_frames

    recs = ds.clips(split=split)[:max_clips]
    if not recs:
        raise EvalError(f"{ds.root}: no clips in split {split!r}")
    out = []
    for r in tqdm(recs, desc=f"syncnet clips ({split})", unit="clip", disable=not progress):
        arrays = ds.arrays(r, ["landmarks", "parsing"])
        frames, lm = ds.frames(r), arrays["landmarks"]
        if frame_size and frame_size != r.image_size:
            frames, _ = resize_frames(frames, arrays["parsing"], int(frame_size))
            lm = (lm + 0.5) * (frame_size / r.image_size) - 0.5
        out.append(prepare_clip(frames, ds.audio(r), lm, image_size=image_size, region=region, fps=ds.fps,
                                sample_rate=ds.sample_rate))
    return out
