"""The face analyser: one small CNN standing in for 3DDFA, OpenFace and the emotion classifier.

On real data the paper measures expressions with 3DDFA (alpha, landmarks), action units with
OpenFace and emotions with a classifier (Sec. III-B, IV). In the synthetic world these roles are
played by a network trained on renders of the generator (DESIGN.md, "The embedded default"):

    frame [S, S, 3] -> fixed crop (samples.crop_box_fraction) -> [3, I, I]
      -> ResNet-like trunk -> 5 heads: landmarks [68, 2], alpha [10], beta_id [40], AUs [K], emotion logits [8]

It is an evaluator: it is trained on fresh renders with its own seeds and never sees a corpus clip.

Loss (ours): ``L = w_lm MSE(landmarks, crop-normalised) + MSE(alpha) + w_beta MSE(beta) + L1(AU)
+ w_ce CE(emotion)``; Adam with a short linear warm-up, cosine learning-rate decay and gradient clipping.

Main entry points::

    model, history = train_analyser(profile.analyser, image_size=128, seed=0)
    out = analyse_frames(model, frames)                 # frames uint8 [T, H, W, 3] -> AnalyserOutput
    metrics = evaluate_analyser(model, n=500)           # errors on fresh held-out renders
    save_analyser(model, "analyser.safetensors"); model = load_analyser("analyser.safetensors")
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import AnalyserConfig
from ..cpu_kernels import training_kernels
from ..files import save_safetensors_atomic
from .samples import (AnalyserSamples, crop_box_fraction, crop_box_pixels, crop_frames,
                            landmarks_from_crop, render_samples)

log = logging.getLogger(__name__)

FORMAT = "emohead-face-analyser"
VERSION = 1
LOSS_WEIGHTS: dict[str, float] = {"landmarks": 100.0, "alpha": 1.0, "beta": 0.5, "au": 1.0, "emotion": 0.3}
"""Weights of the terms of the training loss (ours; landmarks are in crop units, ~0.02 per px)."""


WARMUP_FRACTION = 0.05
"""Share of the optimisation steps with a linear learning-rate warm-up (ours)."""
GRAD_CLIP = 2.0
"""Gradient-norm clip per step (ours)."""


class AnalyserError(ValueError):
    """A bad analyser input or checkpoint."""


# ---------------------------------------------------------------- network
class _Block(nn.Module):
    """Basic residual block: (conv3x3 BN ReLU conv3x3 BN) + shortcut, optional stride-2 downsampling."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


@dataclass(frozen=True)
class AnalyserOutput:
    """Per-frame analyser estimates (numpy float32 from :func:`analyse_frames`, torch from the model)."""

    landmarks: Any        # [B, 68, 2] pixels of the input frames (OpenCV: pixel centres at integers)
    alpha: Any            # [B, 10] 3DMM expression
    beta: Any             # [B, S] identity
    au: Any               # [B, K] action-unit intensities
    emotion_logits: Any   # [B, 8] over emohead.data.emotions.MEAD_EMOTIONS
    emotion_probs: Any    # [B, 8] softmax of the logits

    @property
    def emotion(self) -> Any:
        """[B] index of the most likely emotion."""
        return self.emotion_logits.argmax(-1)


class FaceAnalyser(nn.Module):
    """Image -> landmarks, alpha, beta_id, AU intensities, emotion logits.

    Trunk: stem conv (stride 2) and four residual blocks at widths w, 2w, 4w, 8w, each halving the
    resolution (one block per stage keeps a CPU step cheap), then average pooling to a 3x3 grid (landmarks need where, not only what),
    a shared 256-d layer and one linear head per quantity.
    """

    def __init__(self, *, input_size: int = 96, width: int = 32, n_au: int = 20, n_shape: int = 40,
                 n_expression: int = 10, n_emotions: int = 8, n_landmarks: int = 68,
                 au_names: tuple[str, ...] = (), emotions: tuple[str, ...] = (),
                 image_size: int = 128, crop_box: tuple[float, float, float] | None = None) -> None:
        super().__init__()
        if input_size < 16:
            raise AnalyserError(f"analyser.input_size={input_size}: need at least 16 px")
        if width < 4:
            raise AnalyserError(f"analyser.width={width}: need at least 4 channels")
        self.hparams = {"input_size": int(input_size), "width": int(width), "n_au": int(n_au),
                        "n_shape": int(n_shape), "n_expression": int(n_expression), "n_emotions": int(n_emotions),
                        "n_landmarks": int(n_landmarks), "au_names": list(au_names), "emotions": list(emotions),
                        "image_size": int(image_size),
                        "crop_box": list(crop_box if crop_box is not None else crop_box_fraction())}
        w = int(width)
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        chans = [w, w, 2 * w, 4 * w, 8 * w]
        self.stages = nn.Sequential(*[_Block(chans[i], chans[i + 1], 2) for i in range(4)])
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(8 * w * 9, 256), nn.ReLU(inplace=True))
        self.head_landmarks = nn.Linear(256, 2 * n_landmarks)
        self.head_alpha = nn.Linear(256, n_expression)
        self.head_beta = nn.Linear(256, n_shape)
        self.head_au = nn.Linear(256, n_au)
        self.head_emotion = nn.Linear(256, n_emotions)
        # landmark outputs start at the crop centre
        nn.init.zeros_(self.head_landmarks.weight)
        nn.init.constant_(self.head_landmarks.bias, 0.5)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    @property
    def input_size(self) -> int:
        return self.hparams["input_size"]

    def embed_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Analyser inputs [B, 3, I, I] in [0, 1] -> the shared 256-d embedding [B, 256] feeding every head."""
        return self.fc(self.pool(self.stages(self.stem((crops - self.mean) * 4.0))))

    def heads(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """Shared embeddings [B, 256] -> raw heads; landmarks crop-normalised [B, 68, 2]."""
        return {"landmarks": self.head_landmarks(h).view(len(h), -1, 2), "alpha": self.head_alpha(h),
                "beta": self.head_beta(h), "au": self.head_au(h), "emotion_logits": self.head_emotion(h)}

    def forward_crops(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """Analyser inputs [B, 3, I, I] in [0, 1] -> raw heads; landmarks crop-normalised [B, 68, 2]."""
        return self.heads(self.embed_crops(crops))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Frames [B, 3, S, S] float in [0, 1], any square S -> dict of AnalyserOutput fields (torch).

        landmarks come back in pixels of the input frames.
        """
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3 \
                or images.shape[2] != images.shape[3]:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise AnalyserError(f"images must be a float tensor [B, 3, S, S] (square RGB frames), got {shape}")
        if not images.is_floating_point():
            raise AnalyserError(f"images must be float in [0, 1], got dtype {images.dtype}")
        box = tuple(self.hparams["crop_box"])
        out = self.forward_crops(crop_frames(images, self.input_size, box))
        out["landmarks"] = landmarks_from_crop(out["landmarks"], images.shape[-1], box)
        out["emotion_probs"] = out["emotion_logits"].softmax(-1)
        return out


def build_analyser(cfg: AnalyserConfig, *, image_size: int) -> FaceAnalyser:
    """An untrained analyser sized for the procedural model and the MEAD emotions."""
    from emohead.data.emotions import MEAD_EMOTIONS

    from ..face.procedural import N_SHAPE
    from ..face.facs import AU_NAMES

    return FaceAnalyser(input_size=cfg.input_size, width=cfg.width, n_au=len(AU_NAMES), n_shape=N_SHAPE,
                        n_emotions=len(MEAD_EMOTIONS), au_names=AU_NAMES, emotions=MEAD_EMOTIONS,
                        image_size=image_size)


# ---------------------------------------------------------------- loss and metrics
def _targets(samples: AnalyserSamples, idx: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[idx])).to(device)
    return {"images": t(samples.images).permute(0, 3, 1, 2).float() / 255.0, "landmarks": t(samples.landmarks),
            "alpha": t(samples.alpha), "beta": t(samples.beta), "au": t(samples.au), "emotion": t(samples.emotion)}


def analyser_loss(pred: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                  weights: dict[str, float] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted multi-task loss (ours) -> (total, per-term floats). Landmarks crop-normalised [B, 68, 2]."""
    w = LOSS_WEIGHTS if weights is None else weights
    terms = {
        "landmarks": F.mse_loss(pred["landmarks"], target["landmarks"]),
        "alpha": F.mse_loss(pred["alpha"], target["alpha"]),
        "beta": F.mse_loss(pred["beta"], target["beta"]),
        "au": F.l1_loss(pred["au"], target["au"]),
        "emotion": F.cross_entropy(pred["emotion_logits"], target["emotion"]),
    }
    total = sum(w[k] * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}


@torch.no_grad()
def _predict_samples(model: FaceAnalyser, samples: AnalyserSamples, batch_size: int,
                     device: torch.device) -> dict[str, np.ndarray]:
    was = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(samples), batch_size):
        idx = np.arange(s, min(len(samples), s + batch_size))
        out = model.forward_crops(_targets(samples, idx, device)["images"])
        for k, v in out.items():
            parts.setdefault(k, []).append(v.float().cpu().numpy())
    model.train(was)
    return {k: np.concatenate(v) for k, v in parts.items()}


def sample_metrics(model: FaceAnalyser, samples: AnalyserSamples, *, batch_size: int = 128,
                   device: torch.device | str = "cpu") -> dict[str, float]:
    """Errors on labelled samples: landmark_px (mean point distance in frame pixels), alpha_rmse,
    beta_rmse, au_mae, emotion_accuracy (all, and on level >= 2 expressions: emotion_accuracy_l23)."""
    p = _predict_samples(model, samples, batch_size, torch.device(device))
    fs = crop_box_pixels(samples.image_size)[2]                     # crop side in frame pixels
    lm_px = float(np.linalg.norm((p["landmarks"] - samples.landmarks) * fs, axis=-1).mean())
    pred_emo = p["emotion_logits"].argmax(-1)
    strong = (samples.level >= 2) | (samples.level == 0)
    return {
        "landmark_px": lm_px,
        "alpha_rmse": float(np.sqrt(((p["alpha"] - samples.alpha) ** 2).mean())),
        "beta_rmse": float(np.sqrt(((p["beta"] - samples.beta) ** 2).mean())),
        "au_mae": float(np.abs(p["au"] - samples.au).mean()),
        "emotion_accuracy": float((pred_emo == samples.emotion).mean()),
        "emotion_accuracy_l23": float((pred_emo[strong] == samples.emotion[strong]).mean()),
        "alpha_std": float(samples.alpha.std()),
        "beta_std": float(samples.beta.std()),
        "image_size": int(samples.image_size),
        "n": len(samples),
    }


# ---------------------------------------------------------------- training
def _check_config(cfg: AnalyserConfig, image_size: int) -> None:
    for name in ("n_train", "n_val", "epochs", "batch_size", "width", "input_size"):
        if int(getattr(cfg, name)) < 1:
            raise AnalyserError(f"analyser.{name}={getattr(cfg, name)}: must be positive")
    if not cfg.lr > 0:
        raise AnalyserError(f"analyser.lr={cfg.lr}: must be positive")
    if int(image_size) < 16:
        raise AnalyserError(f"image_size={image_size}: frames must be at least 16 px")


def train_analyser(cfg: AnalyserConfig, *, image_size: int, seed: int = 0, device: torch.device | str = "cpu",
                   progress: bool = True, samples: tuple[AnalyserSamples, AnalyserSamples] | None = None
                   ) -> tuple[FaceAnalyser, dict[str, Any]]:
    """Train the analyser on ``cfg.n_train`` fresh renders of ``image_size``-px frames.

    Returns (model in eval mode, history) where history holds per-epoch losses ("loss", "terms"),
    validation metrics per epoch ("val"), the final held-out metrics ("metrics") and timings.
    ``samples`` = (train, val) reuses renders already made (tests); otherwise they are rendered here.
    """
    from tqdm.auto import tqdm

    _check_config(cfg, image_size)
    dev = torch.device(device)
    t0 = time.perf_counter()
    if samples is None:
        from ..face.procedural import build_procedural_model
        face = build_procedural_model()
        train = render_samples(face, cfg.n_train, image_size=image_size, input_size=cfg.input_size, seed=seed,
                               split="train", device=dev, progress=progress)
        val = render_samples(face, cfg.n_val, image_size=image_size, input_size=cfg.input_size, seed=seed,
                             split="val", device=dev, progress=progress)
    else:
        train, val = samples
    t_render = time.perf_counter() - t0
    torch.manual_seed(seed)
    model = build_analyser(cfg, image_size=image_size).to(dev)
    model.hparams["train_config"] = asdict(cfg)
    model.hparams["seed"] = int(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    bs = min(cfg.batch_size, len(train))
    steps_per_epoch = max(1, len(train) // bs)                      # drop the ragged last batch (BN)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(WARMUP_FRACTION * total))

    def lr_factor(step: int) -> float:                              # linear warm-up, then cosine decay
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(step - warm, total - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    gen = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA7A1, 9]))
    history: dict[str, Any] = {"loss": [], "terms": [], "val": [], "step_loss": []}
    t1 = time.perf_counter()
    bar = tqdm(total=total, desc="analyser training", unit="step", disable=not progress)
    model.train()
    with training_kernels(dev):                                       # cpu_kernels.py: a oneDNN bug
        for epoch in range(cfg.epochs):
            order = gen.permutation(len(train))
            sums: dict[str, float] = {}
            tot = 0.0
            for s in range(steps_per_epoch):
                batch = _targets(train, order[s * bs:(s + 1) * bs], dev)
                pred = model.forward_crops(batch["images"])
                loss, terms = analyser_loss(pred, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                opt.step()
                sched.step()
                tot += float(loss.detach())
                history["step_loss"].append(float(loss.detach()))
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            history["loss"].append(tot / steps_per_epoch)
            history["terms"].append({k: v / steps_per_epoch for k, v in sums.items()})
            val_m = sample_metrics(model, val, batch_size=max(bs, 128), device=dev)
            history["val"].append(val_m)
            log.info("analyser epoch %d/%d: loss %.4f, val landmark %.2f px, alpha rmse %.3f, emotion acc %.3f",
                     epoch + 1, cfg.epochs, history["loss"][-1], val_m["landmark_px"], val_m["alpha_rmse"],
                     val_m["emotion_accuracy"])
    bar.close()
    model.eval()
    history["metrics"] = history["val"][-1]
    history["render_s"] = t_render
    history["train_s"] = time.perf_counter() - t1
    history["image_size"] = int(image_size)
    model.hparams["history"] = {"loss": history["loss"], "metrics": history["metrics"],
                                "render_s": t_render, "train_s": history["train_s"]}
    return model, history


def evaluate_analyser(model: FaceAnalyser, n: int = 500, *, image_size: int | None = None, seed: int = 0,
                      device: torch.device | str | None = None, progress: bool = False) -> dict[str, float]:
    """Errors on ``n`` fresh held-out renders ("eval" seeds, never trained on) of ``image_size`` frames.

    -> landmark_px (frame pixels), alpha_rmse, beta_rmse, au_mae, emotion_accuracy, emotion_accuracy_l23.
    """
    from ..face.procedural import build_procedural_model

    size = int(image_size or model.hparams["image_size"])
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    samples = render_samples(build_procedural_model(), n, image_size=size, input_size=model.input_size, seed=seed,
                             split="eval", device=dev, progress=progress)
    return sample_metrics(model, samples, device=dev)


# ---------------------------------------------------------------- inference
def _frames_tensor(frames: Any) -> torch.Tensor:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise AnalyserError(f"frames must be uint8 [T, H, W, 3] (RGB), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise AnalyserError(f"frames must be uint8 [T, H, W, 3], got dtype {arr.dtype}")
    if arr.shape[1] != arr.shape[2]:
        raise AnalyserError(f"frames must be square (the corpus's default camera), got {arr.shape[1]}x{arr.shape[2]}")
    if arr.shape[1] < 16:
        raise AnalyserError(f"frames must be at least 16 px, got {arr.shape[1]}")
    return torch.from_numpy(np.ascontiguousarray(arr))


@torch.no_grad()
def analyse_frames(model: FaceAnalyser, frames: Any, *, batch_size: int = 64,
                   device: torch.device | str = "cpu") -> AnalyserOutput:
    """Analyse frames uint8 [T, H, W, 3] (H == W, any size) -> AnalyserOutput of numpy float32 arrays.

    landmarks are in pixels of the given frames.
    """
    if not isinstance(model, FaceAnalyser):
        raise AnalyserError(f"model must be a FaceAnalyser, got {type(model).__name__}")
    if batch_size < 1:
        raise AnalyserError(f"batch_size={batch_size}: must be positive")
    x = _frames_tensor(frames)
    dev = torch.device(device)
    model = model.to(dev).eval()
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(x), batch_size):
        img = x[s:s + batch_size].to(dev).permute(0, 3, 1, 2).float() / 255.0
        for k, v in model(img).items():
            parts.setdefault(k, []).append(v.float().cpu().numpy())
    names = [f.name for f in fields(AnalyserOutput)]
    if not parts:
        h = model.hparams
        sizes = {"landmarks": (0, h["n_landmarks"], 2), "alpha": (0, h["n_expression"]), "beta": (0, h["n_shape"]),
                 "au": (0, h["n_au"]), "emotion_logits": (0, h["n_emotions"]), "emotion_probs": (0, h["n_emotions"])}
        return AnalyserOutput(**{k: np.zeros(sizes[k], np.float32) for k in names})
    return AnalyserOutput(**{k: np.concatenate(parts[k]).astype(np.float32) for k in names})


@torch.no_grad()
def embed_frames(model: FaceAnalyser, frames: Any, *, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> np.ndarray:
    """Frames uint8 [T, H, W, 3] (square) -> float32 [T, 256]: the shared layer feeding every head.

    The analyser's penultimate embedding, used by emohead.eval for the Frechet distance "FD (analyser)".
    """
    if not isinstance(model, FaceAnalyser):
        raise AnalyserError(f"model must be a FaceAnalyser, got {type(model).__name__}")
    if batch_size < 1:
        raise AnalyserError(f"batch_size={batch_size}: must be positive")
    x = _frames_tensor(frames)
    dev = torch.device(device)
    model = model.to(dev).eval()
    box = tuple(model.hparams["crop_box"])
    parts = [np.zeros((0, model.fc[1].out_features), np.float32)]
    for s in range(0, len(x), batch_size):
        img = x[s:s + batch_size].to(dev).permute(0, 3, 1, 2).float() / 255.0
        crops = crop_frames(img, model.input_size, box)
        parts.append(model.embed_crops(crops).float().cpu().numpy())
    return np.concatenate(parts)


# ---------------------------------------------------------------- files
def save_analyser(model: FaceAnalyser, path: str | Path) -> Path:
    """Write weights and config to one safetensors file (config as JSON metadata), atomically."""
    meta = {"format": FORMAT, "version": str(VERSION), "config": json.dumps(model.hparams)}
    return save_safetensors_atomic(path, model.state_dict(), meta)


def load_analyser(path: str | Path, device: torch.device | str = "cpu") -> FaceAnalyser:
    """Read a file written by :func:`save_analyser` -> FaceAnalyser in eval mode on ``device``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise AnalyserError(f"face analyser checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise AnalyserError(f"face analyser checkpoint {path} is not a readable safetensors file: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise AnalyserError(f"{path} is not a face analyser checkpoint (format {meta.get('format')!r})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise AnalyserError(f"{path}: tensor {bad[0]!r} of the face analyser holds NaN or inf; the training "
                            "diverged or the file was damaged, re-train it (emohead extract without --analyser)")
    if meta.get("version") != str(VERSION):
        raise AnalyserError(f"{path}: analyser checkpoint version {meta.get('version')!r}, expected {VERSION}")
    try:
        hp = json.loads(meta["config"])
        extra = {k: hp.pop(k) for k in ("train_config", "seed", "history") if k in hp}
        hp["au_names"], hp["emotions"] = tuple(hp["au_names"]), tuple(hp["emotions"])
        hp["crop_box"] = tuple(hp["crop_box"])
        model = FaceAnalyser(**hp)
        model.hparams.update(extra)
        model.load_state_dict(state)
    except Exception as exc:
        raise AnalyserError(f"{path}: the analyser config or weights do not fit together: {exc}") from exc
    return model.to(device).eval()


__all__ = ["AnalyserError", "AnalyserOutput", "FaceAnalyser", "LOSS_WEIGHTS", "analyse_frames", "analyser_loss",
           "build_analyser", "embed_frames", "evaluate_analyser", "load_analyser", "sample_metrics", "save_analyser",
           "train_analyser"]
