"""Training the audio-expression module (Sec. III-D): Adam, lr 5e-4, L_reg or L_reg_const, resumable.

Output folder::

    OUT/checkpoint.pt    model + optimiser + iteration + history (every ``checkpoint_every`` iterations,
                         on Ctrl-C, and at the end); a re-run with the same fingerprint resumes from it
    OUT/model.safetensors, OUT/model.json   the trained model and what it needs to be rebuilt
    OUT/history.json     loss curve and validation RMSE

The fingerprint hashes the config, seed, hyperplanes and the data (dataset manifest, feature keys);
files of a run with another fingerprint are moved into ``OUT/stale-<hash>/`` rather than overwritten.
Batches depend only on (seed, iteration), so a resumed run equals an uninterrupted one.

Data-parallel under ``torchrun --nproc_per_node N -m emohead train-a2e ...`` (:mod:`emohead.distributed`):
every process builds the same model and cuts its rows of the same global batch of ``batch_size``
windows (:func:`emohead.distributed.rows`); the loss is each shard's part of the global-batch loss
(:func:`~emohead.audio2exp.losses.l_reg_const_part`) times N, and DistributedDataParallel averages the
gradients, so each step is the one-process step up to floating-point rounding. Validation, the final
evaluation, checkpoints, history.json and the model files are done by rank 0 alone; the others wait.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .. import distributed as dist
from ..config import Audio2ExpConfig
from ..files import (FolderLock, load_safetensors_checked, read_json_file,
                     save_safetensors_atomic, write_json_atomic)
from ..training_loop import CheckpointedLoop, RunFolder
from ..training_loop import fingerprint as run_fingerprint
from .data import (FeatureInfo, Track, WindowBatch, WindowSampler, check_feature_widths, feature_stats,
                   load_tracks, silence_features)
from .inference import predict
from .losses import l_reg, l_reg_const, l_reg_const_part, l_reg_part
from .model import Audio2Expression

log = logging.getLogger(__name__)

MODEL_FILE, META_FILE, CHECKPOINT_FILE, HISTORY_FILE = "model.safetensors", "model.json", "checkpoint.pt", "history.json"


class A2ETrainingError(ValueError, RuntimeError):
    """A training run that cannot start or continue: bad inputs or settings (names the file or setting).
    A ValueError, so the CLI reports it as bad input (exit 2); still a RuntimeError for older callers."""


# -- model files ---------------------------------------------------------------------------------
def build_model(cfg: Audio2ExpConfig, info: FeatureInfo, normals: np.ndarray, emotions: Sequence[str],
                seed: int) -> Audio2Expression:
    """A freshly initialised model (deterministic under ``seed``)."""
    torch.manual_seed(seed)
    model = Audio2Expression(cfg, info.dims, torch.as_tensor(np.asarray(normals, np.float32)), list(emotions))
    model.feature_info = info
    return model


def save_audio2exp(model: Audio2Expression, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write model.safetensors and model.json (config, widths, backends, emotions) atomically."""
    out_dir = Path(out_dir)
    save_safetensors_atomic(out_dir / MODEL_FILE, model.state_dict())
    info: FeatureInfo = model.feature_info
    meta = {"format": "emohead-audio2exp", "version": 1, "config": dataclasses.asdict(model.cfg),
            "dims": info.dims, "backends": info.backends, "emotions": model.emotions, **(extra or {})}
    write_json_atomic(out_dir / META_FILE, meta)
    return out_dir / MODEL_FILE


def load_audio2exp(path: str | Path, device: str | torch.device = "cpu") -> Audio2Expression:
    """Load a model saved by :func:`save_audio2exp` (``path`` = its folder or its model.safetensors)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    for p in (meta_path, model_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; expected a folder written by `emohead train-a2e`")
    meta = read_json_file(meta_path, "audio-expression model description")
    if not isinstance(meta, dict) or meta.get("format") != "emohead-audio2exp":
        raise ValueError(f"{meta_path}: not an audio-expression model (format {meta.get('format')!r})")
    cfg_fields = {f.name for f in dataclasses.fields(Audio2ExpConfig)}
    raw = {k: v for k, v in meta["config"].items() if k in cfg_fields}
    raw["ffn_widths"] = tuple(raw.get("ffn_widths", ()))
    raw.setdefault("tag_anchor", False)                                 # models saved before anchors existed
    cfg = Audio2ExpConfig(**raw)
    state = load_safetensors_checked(model_path, "audio-expression model")
    if "anchors" not in state:
        if cfg.tag_anchor:
            raise ValueError(f"{model_path}: the config asks for tag anchors but the file holds none")
        state["anchors"] = torch.zeros_like(state["normals"])
    try:
        model = Audio2Expression(cfg, meta["dims"], state["normals"], meta["emotions"])
        model.load_state_dict(state)
        model.feature_info = FeatureInfo(dims=meta["dims"], backends=meta["backends"])
    except (KeyError, RuntimeError, TypeError) as err:        # missing keys, tensors of the wrong shape
        raise ValueError(f"{model_path}: does not match {meta_path} ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:300]}); re-train it or restore both files together") from None
    return model.to(device).eval()


def check_store(model: Audio2Expression, store: Any) -> None:
    """Raise naming the backends when a FeatureStore's widths differ from the model's."""
    check_feature_widths(model.feature_info, FeatureInfo(dims=store.dims, backends=store.backends), str(store.root))


# -- evaluation ----------------------------------------------------------------------------------
def evaluate(model: Audio2Expression, tracks: Sequence[Track], *, device: str | torch.device | None = None) -> dict[str, Any]:
    """RMSE of alpha^ (true tag; alpha~ for no_refinement) against each clip's alpha, over frames and dims.

    Returns {"rmse", "rmse_by_speaker": {speaker: rmse}, "frames"}.
    """
    sq: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for t in tracks:
        pred = predict(model, _Features(t), device=device)
        alpha_hat = pred.refined(*model.refinement(t.emotion)) if model.refines else pred.alpha_tilde
        sq.setdefault(t.speaker, []).append(float(((alpha_hat - t.alpha) ** 2).sum()))
        counts[t.speaker] = counts.get(t.speaker, 0) + t.alpha.size
    total = sum(sum(v) for v in sq.values()) / max(1, sum(counts.values()))
    return {"rmse": float(np.sqrt(total)),
            "rmse_by_speaker": {s: float(np.sqrt(sum(v) / counts[s])) for s, v in sorted(sq.items())},
            "frames": int(sum(counts.values()) // max(1, model.m))}


class _Features:
    """Adapter: a Track seen as ClipFeatures (audio, emotion, text)."""

    def __init__(self, t: Track):
        self.audio, self.emotion, self.text = t.audio, t.emotion_feat, t.text


# -- training ------------------------------------------------------------------------------------
def emotion_anchors(tracks: Sequence[Track], emotions: Sequence[str]) -> np.ndarray:
    """mu_z [E, m]: each emotion's mean expression over the training frames (zeros for an emotion with no clip)."""
    m = tracks[0].alpha.shape[1]
    out = np.zeros((len(emotions), m), np.float64)
    for i, z in enumerate(emotions):
        frames = [t.alpha for t in tracks if t.emotion == z]
        if frames:
            out[i] = np.concatenate(frames).mean(axis=0)
    return out.astype(np.float32)


def fingerprint(cfg: Audio2ExpConfig, seed: int, normals: np.ndarray, ds: Any, store: Any, extra: Any = None) -> str:
    """Hash of everything a trained model depends on (config, seed, hyperplanes, data, features)."""
    return run_fingerprint({"cfg": dataclasses.asdict(cfg), "seed": seed, "extra": extra},
                           np.ascontiguousarray(normals, np.float32).tobytes(), Path(ds.manifest_path).read_bytes(),
                           json.dumps({c: store.stored_key(c) for c in store.clip_ids}, sort_keys=True).encode())


def _batch_to_torch(b: WindowBatch, device: torch.device) -> dict[str, torch.Tensor]:
    out = {k: torch.from_numpy(np.ascontiguousarray(getattr(b, k))).to(device)
           for k in ("audio", "emotion", "text", "alpha", "partner", "has_partner", "tag")}
    return out


def batch_loss(model: Audio2Expression, batch: dict[str, torch.Tensor], cfg: Audio2ExpConfig, *,
               forward: Callable[..., Any] | None = None, global_counts: tuple[int, int] | None = None) -> torch.Tensor:
    """The training loss of one batch (L_reg or L_reg_const, eq. 13) on alpha^ with the clip's tag.

    ``forward`` runs the model (a DistributedDataParallel wrapper of ``model``; default ``model``).
    ``global_counts`` = (windows, windows with a partner) of the global batch when ``batch`` holds only
    some of its rows: the result is then this shard's part of the global-batch loss (the parts sum to it).
    """
    out = (forward or model)(batch["audio"], batch["emotion"], batch["text"])
    pred = out.refined(model.tag_normals(batch["tag"]), model.tag_anchors(batch["tag"])) if model.refines \
        else out.alpha_tilde
    if global_counts is not None:
        n_windows, n_partnered = global_counts
        if cfg.loss == "reg":
            return l_reg_part(batch["alpha"], pred, n_windows)
        return l_reg_const_part(batch["alpha"], pred, batch["partner"], batch["has_partner"], cfg.rho,
                                n_windows, n_partnered)
    if cfg.loss == "reg":
        return l_reg(batch["alpha"], pred)
    return l_reg_const(batch["alpha"], pred, batch["partner"], batch["has_partner"], cfg.rho)


class TrainStep:
    """One optimisation step on the global batch of (seed, iteration), on one process or as one DDP rank.

    Shared by :func:`train_audio2exp` and ``benchmarks/ddp_scaling.py``. With one process it is the
    plain step; in a process group the model is wrapped in DistributedDataParallel, this rank cuts its
    rows of the global batch and back-propagates N times its part of the global loss (DDP averages).
    Returns the detached global-batch loss of this rank's part (sum over ranks = the batch loss).
    """

    def __init__(self, model: Audio2Expression, optimiser: torch.optim.Optimizer, sampler: WindowSampler,
                 cfg: Audio2ExpConfig, device: torch.device, seed: int):
        self.model, self.optimiser, self.sampler, self.cfg, self.device, self.seed = (
            model, optimiser, sampler, cfg, device, seed)
        self.world = dist.world_size()
        if self.world > 1 and cfg.batch_size < self.world:
            raise A2ETrainingError(f"audio2exp.batch_size={cfg.batch_size} is smaller than the {self.world} "
                                   f"processes; each needs at least one window of the global batch")
        self.rows = dist.rows(cfg.batch_size) if self.world > 1 else None
        self.forward: Callable[..., Any] = model
        if self.world > 1:
            import inspect

            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            # buffers (normals, input statistics) are equal on every rank and never change: no sync per forward
            no_sync = ({"forward_sync_buffers": False}
                       if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                       else {"broadcast_buffers": False})
            self.forward = DistributedDataParallel(model, device_ids=ids, **no_sync)

    def global_counts(self, iteration: int) -> tuple[int, int]:
        """(windows, windows with a partner) of the global batch of ``iteration``."""
        clip = self.sampler.plan(self.seed, iteration, self.cfg.batch_size)[0]
        return self.cfg.batch_size, int(sum(bool(self.sampler.tracks[c].partners) for c in clip))

    def __call__(self, iteration: int) -> torch.Tensor:
        self.model.train()
        B = self.cfg.batch_size
        batch = _batch_to_torch(self.sampler.batch(self.seed, iteration, B, rows=self.rows), self.device)
        if self.world == 1:
            loss = batch_loss(self.model, batch, self.cfg)
            scaled = loss
        else:
            loss = batch_loss(self.model, batch, self.cfg, forward=self.forward,
                              global_counts=self.global_counts(iteration))
            scaled = loss * self.world                    # DDP averages gradients over the world
        self.optimiser.zero_grad(set_to_none=True)
        scaled.backward()
        self.optimiser.step()
        return loss.detach()


def run_folder(out_dir: str | Path) -> RunFolder:
    """The audio-expression model's folder (fingerprint, stale runs, reuse, resume: :class:`RunFolder`)."""
    return RunFolder(Path(out_dir), META_FILE, (CHECKPOINT_FILE, MODEL_FILE, META_FILE, HISTORY_FILE),
                     history=HISTORY_FILE, checkpoint=CHECKPOINT_FILE)


def train_audio2exp(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: str | Path, *, seed: int = 0,
                    device: str | torch.device = "cpu", progress: bool = True, stop_at: int | None = None,
                    alpha_source: Callable[[Any, str], np.ndarray] | None = None, val_every: int | None = None,
                    train_speakers: Sequence[str] | None = None) -> tuple[Audio2Expression, dict[str, Any]]:
    """Train (or resume, or reuse) the audio-expression module; returns (model, history).

    ds: ProcessedDataset; store: its FeatureStore; planes: EmotionHyperplanes (w_z, eq. 9).
    Trains on the 'train' split of ``train_speakers`` (default: every speaker, "many-to-one") and
    validates RMSE on the 'test' split. ``stop_at`` ends early after checkpointing (used to test resume).
    In a process group (``torchrun``) it trains data-parallel (module docstring); every rank returns the
    trained model and rank 0's history.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # one writer per model folder (rank 0 writes); a second trainer of the same folder fails at once, naming the first
    with FolderLock(out_dir) if dist.is_main() else contextlib.nullcontext():
        return _train_audio2exp(ds, store, planes, cfg, out_dir, seed=seed, device=device, progress=progress,
                                stop_at=stop_at, alpha_source=alpha_source, val_every=val_every,
                                train_speakers=train_speakers)


def is_trained(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: str | Path, *, seed: int = 0) -> bool:
    """:func:`train_audio2exp` with these arguments (default speakers, no alpha_source) would reuse ``out_dir``."""
    fp = fingerprint(cfg, seed, planes.directions(cfg.refine_along), ds, store,
                     extra={"speakers": [], "alpha_source": False})
    return run_folder(out_dir).is_current(fp)


def _history_of_training(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: Path, seed: int,
                         device: str) -> dict[str, Any]:
    """A worker's job: train one model, no progress bar; its history (the model stays on disk)."""
    return train_audio2exp(ds, store, planes, cfg, out_dir, seed=seed, device=device, progress=False)[1]


def training_job(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: str | Path, *, seed: int = 0,
                 device: str | torch.device = "cpu") -> Any:
    """A :class:`emohead.workers.Job` training the model of (cfg, out_dir) in a worker process, or None when
    ``out_dir`` already holds it (:func:`is_trained`)."""
    from ..workers import Job

    if is_trained(ds, store, planes, cfg, out_dir, seed=seed):
        return None
    return Job(f"audio2exp/{Path(out_dir).name}", _history_of_training,
               (ds, store, planes, cfg, Path(out_dir), seed, str(device)))


def train_many(ds: Any, store: Any, planes: Any, runs: Mapping[str, tuple[Audio2ExpConfig, str | Path]], *,
               seed: int = 0, device: str | torch.device = "cpu", workers: int = 1,
               progress: bool = True) -> dict[str, tuple[Audio2Expression, dict[str, Any]]]:
    """Train (or reuse) several models, {name: (config, folder)}, up to ``workers`` at once in worker processes
    (:mod:`emohead.workers`; 1: one after another, here) -> {name: (model, history)} in the order of ``runs``.

    The models are the ones :func:`train_audio2exp` makes of each (config, folder) alone: the workers write the
    folders, then each is read back here. Runs sharing a folder must share a config.
    """
    from ..workers import run_jobs

    folders: dict[Path, Audio2ExpConfig] = {}
    for name, (cfg, out_dir) in runs.items():
        if folders.setdefault(Path(out_dir), cfg) != cfg:
            raise A2ETrainingError(f"{name}: folder {out_dir} is given two different configs")
    if workers > 1:
        jobs = [j for folder, cfg in folders.items()
                if (j := training_job(ds, store, planes, cfg, folder, seed=seed, device=device)) is not None]
        if len(jobs) > 1:
            run_jobs(jobs, workers, desc=f"audio2exp: {len(jobs)} models, {min(workers, len(jobs))} processes",
                     progress=progress)
    return {name: train_audio2exp(ds, store, planes, cfg, out_dir, seed=seed, device=device, progress=progress)
            for name, (cfg, out_dir) in runs.items()}


def _train_audio2exp(ds: Any, store: Any, planes: Any, cfg: Audio2ExpConfig, out_dir: str | Path, *, seed: int = 0,
                     device: str | torch.device = "cpu", progress: bool = True, stop_at: int | None = None,
                     alpha_source: Callable[[Any, str], np.ndarray] | None = None, val_every: int | None = None,
                     train_speakers: Sequence[str] | None = None) -> tuple[Audio2Expression, dict[str, Any]]:
    """The body of :func:`train_audio2exp`, run while holding the folder's lock."""

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = dist.local_device(device)
    main = dist.is_main()
    missing = [e for e in ds.emotions if e not in planes.emotions]
    if missing:
        raise A2ETrainingError(f"the hyperplanes have no normal for emotion(s) {missing} of {ds.root}")
    if cfg.iterations < 1 or cfg.batch_size < 1 or cfg.window < 2:
        raise A2ETrainingError(f"audio2exp.iterations, batch_size must be >= 1 and window >= 2; got "
                               f"{cfg.iterations}, {cfg.batch_size}, {cfg.window}")
    directions = planes.directions(cfg.refine_along)                  # w_z of eq. 9 (normal or pattern)
    fp = fingerprint(cfg, seed, directions, ds, store, extra={"speakers": list(train_speakers or []),
                                                                  "alpha_source": alpha_source is not None})
    run = run_folder(out_dir)
    if main:
        run.retire_stale(fp)
    dist.barrier()                                                      # every rank sees the same files
    if run.finished() and stop_at is None:
        log.info("reusing the trained audio-expression model in %s", out_dir)
        return load_audio2exp(out_dir, device), run.read_history()

    info = FeatureInfo(dims=store.dims, backends=store.backends)
    train = load_tracks(ds, store, split="train", alpha_source=alpha_source, speakers=train_speakers)
    val = load_tracks(ds, store, split="test", alpha_source=alpha_source, with_partners=False)
    if train[0].alpha.shape[1] != planes.dims:
        raise A2ETrainingError(f"expressions are {train[0].alpha.shape[1]}-d but the hyperplanes are {planes.dims}-d")
    silence = silence_features(train)
    sampler = WindowSampler(train, planes.emotions, silence, window=cfg.window, context=cfg.n_neighbors)
    model = build_model(cfg, info, directions, planes.emotions, seed)
    model.set_statistics(feature_stats(train), silence)
    model.set_anchors(emotion_anchors(train, planes.emotions))
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)          # Adam, lr 5e-4 (Sec. III-D)
    history: dict[str, Any] = {"iteration": [], "loss": [], "val_iteration": [], "val_rmse": [], "seconds": 0.0,
                               "fingerprint": fp, "train_clips": len(train), "val_clips": len(val),
                               "clips_with_partner": int(sum(bool(t.partners) for t in train)),
                               "world_size": dist.world_size()}
    start = 0
    ckpt = run.read_checkpoint(map_location=device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        start, history = int(ckpt["iteration"]), ckpt["history"]
        history["world_size"] = dist.world_size()
        log.info("resuming audio-expression training in %s at iteration %d", out_dir, start)

    step = TrainStep(model, optimiser, sampler, cfg, device, seed)     # DDP-wrapped in a process group

    def checkpoint(iteration: int) -> None:
        if not main:                                                    # rank 0 alone writes
            return
        run.write_checkpoint({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "iteration": iteration,
                              "history": history, "fingerprint": fp})

    val_every = val_every or max(1, cfg.iterations // 10)
    log_every = max(1, cfg.iterations // 200)
    end = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
    running = []

    def one_step(it: int, bar: Any) -> None:
        nonlocal running
        running.append(step(it))
        done = it + 1
        if done % log_every == 0 or done == cfg.iterations:
            losses = dist.all_reduce_sum(torch.stack(running))         # each rank holds its part of the loss
            history["iteration"].append(done)
            history["loss"].append(float(np.mean(losses.double().cpu().numpy())))
            running = []
        if main and (done % val_every == 0 or done == cfg.iterations):
            r = evaluate(model, val, device=device)["rmse"]
            history["val_iteration"].append(done)
            history["val_rmse"].append(r)
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val_rmse=f"{r:.3f}")

    CheckpointedLoop(history, checkpoint, checkpoint_every=cfg.checkpoint_every, where=run.root / run.checkpoint).run(
        start, end, cfg.iterations, one_step, desc="audio2exp", progress=progress and main)
    if end < cfg.iterations:
        dist.barrier()
        return model, history
    if main:
        final = evaluate(model, val, device=device)
        history.update(final_val=final, iterations_per_second=cfg.iterations / max(history["seconds"], 1e-9))
        run.write_history(history)
        save_audio2exp(model, out_dir, {"fingerprint": fp, "seed": seed, "val_rmse": final["rmse"]})
    dist.barrier()                                                      # the files exist before any rank returns
    if not main:
        history = run.read_history()
    return model, history
