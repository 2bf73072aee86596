"""Configuration: one frozen dataclass per stage, the paper's values as defaults, named profiles.

Every field carries a one-line docstring saying where its value comes from ("Sec. III-A",
"Table IV", "ours" for choices the paper does not make). A profile (``smoke``, ``cpu``, ``gpu``,
``paper``) is a :class:`Profile` bundling one config per stage; profiles differ only in budgets
(corpus size, resolution, iterations), never in the method.

Overrides are dotted paths, validated against the dataclass fields and their types::

    cfg = load_profile("cpu", {"audio2exp.iterations": 500, "synth.image_size": 96})

An unknown stage or field, or a value of the wrong type, raises :class:`ConfigError` naming it.
Profiles round-trip through YAML (:func:`save_config` / :func:`load_config`); the resolved
config is saved next to every output.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from .files import write_text_atomic


class ConfigError(ValueError):
    """A configuration value, override or file is invalid; the message names it."""


# --------------------------------------------------------------------------------------------
# Stage configs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MediaConfig:
    """Frame and audio rates and the expression space shared by every stage."""

    fps: int = 25
    """Video frame rate; audio is cut into per-frame windows aligned with it (Sec. III-A)."""
    sample_rate: int = 16000
    """Audio sample rate in Hz, mono (HuBERT and emotion2vec expect 16 kHz; Sec. III-A)."""
    expression_dims: int = 10
    """m, the number of 3DMM expression parameters alpha (3DDFA basis; Sec. III, Table IV)."""
    shape_dims: int = 40
    """Identity (shape) parameters beta_id (3DDFA w_shp has 40; the paper writes R^50, Sec. III-D)."""


@dataclass(frozen=True)
class SynthConfig:
    """The embedded synthetic world (DESIGN.md, "The embedded default"); not part of the paper."""

    emotion_set: Literal["mead", "crema"] = "mead"
    """Emotion vocabulary: MEAD's 8 or CREMA-D's 6 (Sec. IV, datasets)."""
    levels: tuple[int, ...] = (1, 2, 3)
    """Intensity levels generated (MEAD has 3, Sec. IV)."""
    all_levels: bool = False
    """True: every (actor, emotion, sentence) at every level; False: levels cycle over sentences (ours)."""
    n_actors: int = 3
    """Number of synthetic actors; actor 0 is the target person the renderer is trained on (ours)."""
    n_sentences: int = 6
    """Sentences per emotion, each spoken by every actor (MEAD design, Sec. IV; eq. 13 needs the partners)."""
    n_test_sentences: int = 1
    """Of each emotion's sentences, how many are held out for the test split (split by sentence, ours)."""
    emotions_per_sentence: int = 2
    """Emotions per sentence: 2 = contrasting pairs (happy/sad...), 1 = disjoint lists as MEAD's mostly are (ours)."""
    image_size: int = 128
    """Rendered frame size in pixels for the target actor (ours; MEAD crops are 512, Sec. III-D)."""
    others_image_size: int = 0
    """Frame size for non-target actors; 0 means the same as image_size (ours)."""
    n_voices: int = 4
    """Distinct espeak-ng voices assigned to actors (ours)."""
    lead_silence: float = 0.2
    """Seconds of silence before speech starts in each clip (ours)."""
    tail_silence: float = 0.2
    """Seconds of silence after speech ends in each clip (ours)."""
    seed: int = 0
    """Seed of the whole world: same seed, same bytes (ours)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Per-frame features v~ (audio), e~ (audio emotion), g~ (text) of Sec. III-A."""

    audio_backend: Literal["spectral", "hubert"] = "spectral"
    """v~ extractor: 'hubert' is the paper's HuBERT-base; 'spectral' the embedded default (Sec. III-A)."""
    audio_dim: int = 768
    """Width of v~ from the pretrained backend (HuBERT-base hidden size, Sec. III-A); checked against the model."""
    emotion_backend: Literal["prosody", "emotion2vec"] = "prosody"
    """e~ extractor: 'emotion2vec' is the paper's emotion2vec-base; 'prosody' the embedded default (Sec. III-A)."""
    emotion_dim: int = 768
    """Width of e~ from the pretrained backend (emotion2vec-base, Sec. III-A); checked against the model."""
    transcript_backend: Literal["dataset", "funasr"] = "dataset"
    """Where word timings come from: the clip's own transcript, or FunASR timestamped ASR (Fig. 9)."""
    text_backend: Literal["hashed", "llama"] = "hashed"
    """g~ extractor: 'llama' is the paper's LLaMA-2-7B hidden state; 'hashed' the embedded default (Sec. III-A)."""
    text_dim: int = 4096
    """Width of g~ from the pretrained backend (LLaMA-2-7B hidden size, Sec. III-A); checked against the model."""
    hashed_dim: int = 256
    """Width of the embedded 'hashed' text feature (ours; a stand-in for the 4096-d LLaMA state)."""
    hubert_path: str = ""
    """Local directory or hub id of a HuBERT model (empty: not configured; ours)."""
    emotion2vec_path: str = ""
    """Local directory of an emotion2vec model (empty: not configured; ours)."""
    asr_path: str = ""
    """Local directory of a FunASR timestamped ASR model (empty: not configured; ours)."""
    llama_path: str = ""
    """Local directory or hub id of a LLaMA model (empty: not configured; ours)."""


@dataclass(frozen=True)
class AnalyserConfig:
    """The face analyser: a CNN playing 3DDFA's, OpenFace's and the emotion classifier's roles (DESIGN.md)."""

    input_size: int = 96
    """Side of the face crop the CNN sees, in pixels (ours)."""
    n_train: int = 20000
    """Training renders from the synthetic generator, never the corpus test clips (ours)."""
    n_val: int = 1000
    """Held-out renders for the reported errors (ours)."""
    epochs: int = 12
    """Passes over the training renders (ours)."""
    batch_size: int = 128
    """Images per optimisation step (ours)."""
    lr: float = 2e-3
    """Adam learning rate with cosine decay (ours)."""
    width: int = 32
    """Channels of the first convolution; doubled at each stage (ours)."""


@dataclass(frozen=True)
class HyperplaneConfig:
    """Emotion hyperplanes: one linear SVM per emotion on alpha (Sec. III-B, App. B)."""

    mar_groups: int = 5
    """Equal-width MAR groups for balanced sampling (Sec. III-B)."""
    balance_mar: bool = True
    """Sample evenly across MAR groups when training (Sec. III-B)."""
    svm_c: float = 1.0
    """Linear SVM regularisation C (scikit-learn default; the paper gives none)."""
    normalize_normals: bool = True
    """Scale each normal w_z to unit length (ours; eq. 9 leaves the scale to tau)."""


@dataclass(frozen=True)
class Audio2ExpConfig:
    """Audio-expression module and its training (Sec. III-A, III-D, Table IV, Table VI)."""

    variant: Literal["full", "literal", "no_alignment", "no_refinement"] = "full"
    """'full': eq. 1-9 completed (model.py says how, ours); 'literal': eq. 2-7 as printed; Table IV ablations."""
    refine_along: Literal["pattern", "normal"] = "normal"
    """eq. 9's w_z: the SVM normal as printed ('normal') or its activation pattern Sigma w_z (ours, hyperplanes.py)."""
    tag_anchor: bool = True
    """eq. 9 anchored at the tag's mean training expression, alpha^ = mu_z + alpha~ + tau w_z (ours; False: as printed)."""
    d: int = 512
    """Common projection width d of E1, E2, E3 (eq. 1; Table IV: 512)."""
    dh: int = 512
    """Attention width dh of Wq, Wk (eq. 2-3; Table IV: 512)."""
    n_neighbors: int = 5
    """n, fusion over frames i-n..i (Sec. III-A; Table IV: 5)."""
    max_offset: int = 8
    """Frame offsets (+-) with a learned attention bias in the completed FusedAttn, 0: none (ours)."""
    ffn_widths: tuple[int, ...] = (512, 256, 256, 128)
    """Hidden widths of FFN1 and FFN2 before their k outputs (Sec. III-A)."""
    window: int = 32
    """Frames per training/inference window (ours)."""
    rho: float = 0.5
    """Weight of the cross-identity term of L_reg_const (eq. 13; Table VI)."""
    loss: Literal["reg", "reg_const"] = "reg_const"
    """Training loss: plain L_reg or the contrastive L_reg_const (eq. 13, Table VI)."""
    lr: float = 5e-4
    """Adam learning rate (Sec. III-D)."""
    iterations: int = 20000
    """Training iterations (Sec. III-D)."""
    batch_size: int = 16
    """Windows per batch (ours; the paper does not say)."""
    checkpoint_every: int = 1000
    """Iterations between resumable checkpoints (ours)."""


@dataclass(frozen=True)
class NerfConfig:
    """Expression-conditioned NeRF renderer and its two-stage training (Sec. III-C, III-D)."""

    backend: Literal["torch", "triton", "tcnn"] = "torch"
    """Hash-grid implementation: pure PyTorch reference, Triton kernel, or tiny-cuda-nn (ours)."""
    iterations: int = 200000
    """Total rendering-module iterations (Sec. III-D)."""
    refine_start: int = 100000
    """Iteration from which L_refine = L_cord + L_shape is added (Sec. III-D)."""
    lambda_photo: float = 1.0
    """Weight of L_photo (eq. 16)."""
    lambda_cord: float = 1e-3
    """Weight of the CLIP coordination loss L_cord (eq. 16, Table VI sweep)."""
    lambda_shape: float = 1e-9
    """Weight of the identity loss L_shape (eq. 16, Table VI sweep)."""
    lr: float = 1e-2
    """Adam learning rate with a linear schedule (Sec. III-D gives the schedule, not the rate; ours)."""
    crop_mead: int = 512
    """Training crop size for MEAD (Sec. III-D)."""
    crop_cremad: int = 340
    """Training crop size for CREMA-D (Sec. III-D)."""
    image_size: int = 128
    """Resolution the NeRF is trained and rendered at in this profile (ours)."""
    hash_levels: int = 16
    """Multi-resolution hash-grid levels (instant-ngp / RAD-NeRF, ref [44])."""
    hash_features: int = 2
    """Features per hash-grid level (instant-ngp)."""
    hash_log2_size: int = 16
    """log2 of each level's hash-table size (instant-ngp uses 14-24)."""
    rays_per_batch: int = 4096
    """Rays per training step (ours)."""
    samples_per_ray: int = 64
    """Samples along each ray between t_n and t_f (eq. 11-12; ours)."""
    checkpoint_every: int = 1000
    """Iterations between resumable checkpoints (ours)."""
    final_lr_fraction: float = 0.1
    """The linear schedule decays the learning rate from lr to lr * this at the last iteration (ours)."""
    hidden: int = 64
    """Width of the density and colour MLPs (RAD-NeRF, ref [44] of Sec. III-C, uses 64)."""
    ray_tile: int = 1
    """Training rays come in ray_tile x ray_tile tiles of neighbouring pixels; 1 = single random pixels (ours)."""
    train_precision: Literal["fp32", "tf32", "fp16"] = "fp32"
    """The MLPs' matrix products when training on a GPU: fp32, TF32, or fp16 autocast with a loss scale (ours)."""
    train_step: Literal["eager", "graph"] = "eager"
    """Photometric steps op by op, or each as one CUDA graph (static shapes, counter-based random numbers; ours)."""
    max_resolution: int = 2048
    """Finest hash-grid resolution over the head box (instant-ngp)."""
    grid_resolution: int = 64
    """Cells per side of the occupancy grid for empty-space skipping (instant-ngp uses 128)."""
    grid_every: int = 16
    """Iterations between occupancy-grid refreshes; skipping starts after the first quarter (ours)."""
    patch_size: int = 0
    """Side of the rendered face patch for L_cord / L_shape; 0 = the analyser's input size (ours)."""
    coord_backend: Literal["auto", "analyser", "tddfa", "clip"] = "auto"
    """E_I, E_T of L_cord (eq. 16): auto = analyser (synthetic world) or tddfa (3DDFA_V2, real data); CLIP: paper."""
    clip_path: str = ""
    """Local folder of a transformers CLIPModel + tokenizer for coord_backend='clip' (ours; never downloaded)."""
    clip_prompt: str = "a photo of a {emotion} face"
    """Text whose CLIP embedding E_T(emo) the rendered patch is pulled toward (ours; the paper does not say)."""
    max_frames: int = 0
    """Train on at most this many frames of the target person, evenly spaced; 0 = all (ours)."""
    box_margin: float = 1.15
    """The head box is the face model's bounding box over extreme expressions, scaled by this (ours)."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation (Sec. IV)."""

    sync_max_offset: int = 15
    """SyncNet confidence searches +-15 frame offsets (syncnet_python)."""
    max_test_clips: int = 0
    """Evaluate at most this many test clips; 0 means all (ours)."""
    max_frames_per_clip: int = 0
    """Evaluate at most this many frames from the start of each clip; 0 means all (ours)."""
    sweep_d: tuple[int, ...] = ()
    """Table IV sweep of d = dh: extra audio-expression models evaluated where the profile has the budget."""
    sweep_n: tuple[int, ...] = ()
    """Table IV sweep of n (neighbours in F): extra audio-expression models evaluated where the budget allows."""
    syncnet_path: str = ""
    """syncnet_python weights (a local .model / .pth file); empty: train a SyncNet on the training split (ours)."""
    syncnet_steps: int = 900
    """SyncNet training steps on ground-truth training clips (ours; ~30 s on 2 cores, see eval/syncnet.py)."""
    inception_path: str = ""
    """Inception-v3 weights for FID (local file; Sec. IV); empty: the analyser's embedding, reported as "FD (analyser)"."""
    trust_torchscript: bool = False
    """Allow a TorchScript ``inception_path``, which runs code stored in the file (ours; only for files you trust)."""


@dataclass(frozen=True)
class Profile:
    """A complete, named run configuration: one config per stage plus where to run."""

    name: str = "custom"
    """Profile name (smoke, cpu, gpu, paper or custom)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device; 'auto' picks CUDA when available (ours)."""
    seed: int = 0
    """Global seed for training and sampling (ours)."""
    workers: int = 1
    """Models trained at once in worker processes where a notebook trains several (emohead.workers); 1: in turn (ours)."""
    media: MediaConfig = field(default_factory=MediaConfig)
    """Rates and dimensions (Sec. III)."""
    synth: SynthConfig = field(default_factory=SynthConfig)
    """Synthetic world (ours)."""
    features: FeatureConfig = field(default_factory=FeatureConfig)
    """Feature extraction (Sec. III-A)."""
    analyser: AnalyserConfig = field(default_factory=AnalyserConfig)
    """Face analyser: alpha, landmarks, identity, AUs and emotion from images (Sec. III-B, IV)."""
    hyperplanes: HyperplaneConfig = field(default_factory=HyperplaneConfig)
    """Emotion hyperplanes (Sec. III-B)."""
    audio2exp: Audio2ExpConfig = field(default_factory=Audio2ExpConfig)
    """Audio-expression module (Sec. III-A, III-D)."""
    nerf: NerfConfig = field(default_factory=NerfConfig)
    """Rendering module (Sec. III-C, III-D)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation (Sec. IV)."""


STAGES: tuple[str, ...] = ("media", "synth", "features", "analyser", "hyperplanes", "audio2exp", "nerf", "eval")


# --------------------------------------------------------------------------------------------
# Named profiles
# --------------------------------------------------------------------------------------------
def _profile(name: str, device: str, workers: int = 1, **stages: Mapping[str, Any]) -> Profile:
    base = Profile(name=name, device=device, workers=workers)  # type: ignore[arg-type]
    return apply_overrides(base, {f"{s}.{k}": v for s, kv in stages.items() for k, v in kv.items()})


def _build_profiles() -> dict[str, Profile]:
    return {
        # CI-sized: every notebook in seconds to a couple of minutes on a 2-core CPU.
        "smoke": _profile(
            "smoke", "cpu",
            synth=dict(n_actors=2, n_sentences=3, n_test_sentences=1, image_size=64),
            features=dict(hashed_dim=64),
            analyser=dict(input_size=64, n_train=4000, n_val=200, epochs=12, batch_size=64, width=16),
            audio2exp=dict(d=64, dh=64, ffn_widths=(64, 32), iterations=60, batch_size=8,
                           checkpoint_every=30),
            nerf=dict(iterations=60, refine_start=30, image_size=64, hash_levels=8,
                      hash_log2_size=12, max_resolution=256, hidden=32, rays_per_batch=512,
                      samples_per_ray=24, checkpoint_every=30, grid_resolution=16, grid_every=8,
                      max_frames=200, patch_size=32),
            eval=dict(max_test_clips=2, max_frames_per_clip=24, syncnet_steps=300),
        ),
        # The demo: a meaningful result on a 2-core CPU in under 30 minutes end to end.
        "cpu": _profile(
            "cpu", "cpu",
            synth=dict(n_actors=3, n_sentences=6, n_test_sentences=1, image_size=128),
            analyser=dict(n_train=12000, n_val=1000, epochs=6),
            audio2exp=dict(d=128, dh=128, ffn_widths=(256, 128, 128, 64), iterations=1500,
                           batch_size=16, checkpoint_every=250),
            # a small NeRF at 64 px: 1,200 iterations of 1,024 rays x 32 samples take about 2.5 min on 2 cores; with
            # 400 the renders were too blurry for the analyser (ER 19 % vs 50 % measured with 1,200, neutral-tag 12 %)
            nerf=dict(iterations=1200, refine_start=750, image_size=64, hash_levels=8,
                      hash_log2_size=14, max_resolution=256, rays_per_batch=1024, samples_per_ray=32,
                      checkpoint_every=100, grid_resolution=32, max_frames=1000, patch_size=32),
            eval=dict(max_test_clips=4, max_frames_per_clip=25),
        ),
        # One H200-class GPU: all seven notebooks from an empty run folder in well under 25 minutes, none over 9
        # (issue 22; the times of the committed run are in reports/gpu/summary.md). The notebooks train 11
        # audio-expression models (03: the loss and rho ablations; 05: the architecture ablations and sweeps) and
        # 2 NeRFs (04: full; 05: [z; alpha] codes), so those budgets set the run's length; the models that do not
        # depend on each other train side by side in 6 processes (emohead/workers.py). Sized to what one
        # session's GPU time holds; `paper` has the paper's budgets (summary.md prices them from measured rates).
        "gpu": _profile(
            "gpu", "cuda", workers=6,
            synth=dict(n_actors=5, n_sentences=6, n_test_sentences=2, image_size=512,
                       others_image_size=128, all_levels=True),
            analyser=dict(input_size=128, n_train=20000, n_val=2000, epochs=10, batch_size=256, width=48),
            audio2exp=dict(iterations=2000, batch_size=64, checkpoint_every=500),
            # train_step="graph": the photometric stage as CUDA graphs (its 1,500 steps took 7.0-8.4 s on the H200,
            # op by op 13.2-22.1 s), the same held-out PSNR after the two stages (docs/performance.md)
            nerf=dict(backend="triton", iterations=3000, refine_start=1500, image_size=512,
                      hash_log2_size=19, rays_per_batch=8192, samples_per_ray=64,
                      checkpoint_every=1000, max_frames=3000, train_step="graph"),
            eval=dict(max_test_clips=16, max_frames_per_clip=40, sweep_d=(256,), sweep_n=(3,), syncnet_steps=800),
        ),
        # The paper's exact budgets (Sec. III-D): 20k a2e iterations, 200k NeRF iterations.
        "paper": _profile(
            "paper", "cuda",
            synth=dict(n_actors=10, n_sentences=30, n_test_sentences=5, image_size=512,
                       all_levels=True),
            features=dict(audio_backend="hubert", emotion_backend="emotion2vec",
                          text_backend="llama"),
            nerf=dict(backend="triton", image_size=512, hash_log2_size=19, rays_per_batch=8192),
        ),
    }


def load_profile(name: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """Return the named profile with dotted-path ``overrides`` applied and validated."""
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return apply_overrides(PROFILES[name], overrides or {})


# --------------------------------------------------------------------------------------------
# Validation, overrides, YAML
# --------------------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in canonical form or raise."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list/tuple, got {type(value).__name__} {value!r}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return _from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected bool, got {type(value).__name__} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected int, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected str, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)}")


POSITIVE_FIELDS = frozenset({
    "fps", "workers", "sample_rate", "expression_dims", "shape_dims", "n_actors", "n_sentences", "n_test_sentences",
    "emotions_per_sentence", "image_size", "n_voices", "audio_dim", "emotion_dim", "text_dim", "hashed_dim",
    "input_size", "n_train", "n_val", "epochs", "batch_size", "lr", "width", "mar_groups", "svm_c", "d", "dh",
    "window", "iterations", "checkpoint_every", "crop_mead", "crop_cremad", "hash_levels", "hash_features",
    "hash_log2_size", "rays_per_batch", "samples_per_ray", "final_lr_fraction", "hidden", "max_resolution",
    "grid_resolution", "grid_every", "box_margin", "syncnet_steps"})
"""Numeric settings that must be > 0 (checked whenever a config is built or overridden)."""


def _check_range(name: str, value: Any, where: str) -> None:
    """Raise naming the setting when a numeric value is out of its range (> 0, or >= 0 for the others)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, tuple):
            for v in value:
                _check_range(name, v, where)
        return
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{where}: {value!r} is not a finite number")
    if name in POSITIVE_FIELDS and value <= 0:
        raise ConfigError(f"{where}: must be > 0, got {value!r}")
    if name not in POSITIVE_FIELDS and name != "seed" and value < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value!r}")


def _from_dict(cls: type, data: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown field(s) {unknown}; "
                          f"valid fields of {cls.__name__}: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    for k, v in kwargs.items():
        _check_range(k, v, f"{where}.{k}" if where else k)
    return cls(**kwargs)


def apply_overrides(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """Apply dotted-path overrides (``"nerf.iterations": 500``, ``"seed": 3``) with validation."""
    result = profile
    for path, value in overrides.items():
        parts = path.split(".")
        if len(parts) == 1:
            stage, name = None, parts[0]
        elif len(parts) == 2:
            stage, name = parts
        else:
            raise ConfigError(f"override {path!r}: expected 'field' or 'stage.field'")
        if stage is None:
            target_cls, target = Profile, result
        else:
            if stage not in STAGES:
                raise ConfigError(f"override {path!r}: unknown stage {stage!r}; stages are {list(STAGES)}")
            target = getattr(result, stage)
            target_cls = type(target)
        hints = typing.get_type_hints(target_cls)
        if name not in hints or (stage is None and name in STAGES):
            valid = [f.name for f in dataclasses.fields(target_cls) if stage or f.name not in STAGES]
            raise ConfigError(f"override {path!r}: unknown field {name!r} of {target_cls.__name__}; "
                              f"valid fields: {valid}")
        new_value = _coerce(value, hints[name], path)
        _check_range(name, new_value, path)
        updated = dataclasses.replace(target, **{name: new_value})
        result = updated if stage is None else dataclasses.replace(result, **{stage: updated})
    return result


def to_dict(profile: Profile) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) suitable for YAML/JSON."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, tuple):
            return [plain(v) for v in obj]
        return obj

    return plain(profile)


def from_dict(data: Mapping[str, Any], *, source: str = "config") -> Profile:
    """Build a :class:`Profile` from a nested dict, validating names and types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return _from_dict(Profile, data, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def save_config(profile: Profile, path: str | Path) -> Path:
    """Write the resolved profile as YAML (atomically)."""
    text = yaml.safe_dump(to_dict(profile), sort_keys=False, default_flow_style=None)
    return write_text_atomic(path, text)


def load_config(path: str | Path) -> Profile:
    """Read a YAML profile written by :func:`save_config` (or by hand)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    return from_dict(data or {}, source=str(path))


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a CLI override ``stage.field=value``; the value is read as YAML (``3``, ``1e-3``, ``[1, 2]``)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected stage.field=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        # YAML reads "1e-3" as a string; accept plain numeric spellings.
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                pass
    return key.strip(), value


def resolve_device(profile: Profile) -> str:
    """The torch device string for a profile ('auto' -> 'cuda' if available else 'cpu')."""
    if profile.device != "auto":
        return profile.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


PROFILES: dict[str, Profile] = _build_profiles()
"""The named profiles: smoke (CI), cpu (the demo), gpu (one H200), paper (the paper's budgets)."""
