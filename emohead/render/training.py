"""Training the expression-conditioned head NeRF (Sec. III-D, eq. 15-16).

Two stages, as the paper trains its rendering module:

* iterations [0, refine_start): L = L_photo on random rays of random training frames;
* iterations [refine_start, iterations): L = L_photo + lambda_cord L_cord + lambda_shape L_shape
  (1, 1e-3, 1e-9); L_cord and L_shape need a whole face, so each step also renders one P x P patch over the
  face crop of one frame (``losses.patch_pixels``) and feeds it to the coordination backend (the face
  analyser's embedding by default, CLIP on request) and to the analyser's identity head.

What a ray is compared with (``batches.py``, AD-NeRF's layering): the target is the real frame; the ray's background
is the frame with its head pixels replaced by the estimated background image. So outside the head the NeRF must be
transparent (the frame shows through), on the head it must be opaque, and at test time the head is rendered on
black with its opacity and composited over torso and background (``compositing.py``).

``nerf.train_step``: "eager" runs each step op by op; "graph" runs the photometric steps as one CUDA graph each
(``graph_step.py``: static shapes, counter-based random numbers; the same maths eagerly on a CPU).

Adam with a linear schedule (lr -> lr * final_lr_fraction); every ``grid_every`` iterations the occupancy grid
is refreshed from the field, and after the first quarter of training empty cells are skipped. Batches are a
function of (seed, iteration) only, so a resumed run reproduces an uninterrupted one (up to the summation order
of the hash table's scatter-add gradient, which PyTorch does not fix). A finished run with the
same fingerprint is reused; one with other settings is moved to ``stale-<hash>/``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import NerfConfig
from ..cpu_kernels import training_kernels
from ..files import FolderLock
from ..training_loop import CheckpointedLoop, RunFolder
from ..training_loop import fingerprint as run_fingerprint
from .batches import (NerfTrainingError, RayTable, background_layers, build_ray_table, head_rects,  # noqa: F401
                      linear_lr, rays_from_uniforms, render_training_rays, sample_rays)
from .field import ExpressionField
from .frames import NerfFrames, head_box, load_nerf_frames
from .graph_step import GraphedPhotoStep
from .losses import (AnalyserCoordination, ClipCoordination, TddfaCoordination, l_cord, l_photo, l_shape, nerf_loss,
                     patch_pixels, psnr_from_mse)
from .model import NERF_META, NERF_WEIGHTS, HeadNerf, load_nerf, save_nerf
from .occupancy import OccupancyGrid

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"


LOSS_SCALE_FP16 = 1024.0
"""Constant loss scale of fp16 training: keeps the MLPs' fp16 gradients out of the subnormal range. Adam with eps
1e-15 is invariant to a constant gradient scale, so the scaled gradients go to the optimiser as they are."""


@contextlib.contextmanager
def matmul_tf32(enabled: bool):
    """CUDA matrix products in TensorFloat-32 while inside (``nerf.train_precision=tf32``); restored after."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = before or enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def build_field(cfg: NerfConfig, code_dim: int, box: tuple[torch.Tensor, torch.Tensor]) -> ExpressionField:
    return ExpressionField(box[0], box[1], expr_dim=code_dim, hash_levels=cfg.hash_levels,
                           hash_features=cfg.hash_features, hash_log2_size=cfg.hash_log2_size,
                           max_resolution=cfg.max_resolution, hidden=cfg.hidden, backend=cfg.backend)


TRAIN_STEPS = ("eager", "graph")


def _check_config(cfg: NerfConfig) -> None:
    problems = []
    if cfg.iterations < 1:
        problems.append(f"nerf.iterations={cfg.iterations} (must be >= 1)")
    if not 0 <= cfg.refine_start <= cfg.iterations:
        problems.append(f"nerf.refine_start={cfg.refine_start} (must be in 0..nerf.iterations={cfg.iterations})")
    if cfg.ray_tile < 1 or cfg.rays_per_batch % (cfg.ray_tile ** 2):
        problems.append(f"nerf.ray_tile={cfg.ray_tile} (must be >= 1, and nerf.rays_per_batch={cfg.rays_per_batch} a "
                        f"multiple of its square)")
    if cfg.rays_per_batch < 8 or cfg.samples_per_ray < 2:
        problems.append(f"nerf.rays_per_batch={cfg.rays_per_batch}, samples_per_ray={cfg.samples_per_ray} "
                        f"(need >= 8 and >= 2)")
    if cfg.lr <= 0 or not 0 < cfg.final_lr_fraction <= 1:
        problems.append(f"nerf.lr={cfg.lr}, final_lr_fraction={cfg.final_lr_fraction} (need lr > 0, fraction in (0, 1])")
    if cfg.checkpoint_every < 1 or cfg.grid_every < 1:
        problems.append(f"nerf.checkpoint_every={cfg.checkpoint_every}, grid_every={cfg.grid_every} (need >= 1)")
    if cfg.train_step not in TRAIN_STEPS:
        problems.append(f"nerf.train_step={cfg.train_step!r} (one of {', '.join(TRAIN_STEPS)})")
    if problems:
        raise NerfTrainingError("bad NeRF settings: " + "; ".join(problems))


LATER_FIELDS = {"train_precision": "fp32", "ray_tile": 1, "train_step": "eager"}
"""NerfConfig fields added after NeRFs were first trained, with their defaults: at the default they stay out of
the fingerprint, so a NeRF trained before the field existed (and computing the same) is still reused."""


def fingerprint(cfg: NerfConfig, seed: int, ds: Any, speaker: str, code: str, extra: Any = None) -> str:
    """Hash of what a trained NeRF depends on: config, seed, dataset manifest, speaker, code kind, extras."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if LATER_FIELDS.get(k, object()) != v}
    return run_fingerprint({"cfg": settings, "seed": seed, "speaker": speaker, "code": code,
                            "extra": extra}, Path(ds.manifest_path).read_bytes())


def _fingerprint(cfg: NerfConfig, seed: int, ds: Any, speaker: str, code: str, analyser: Any,
                 alpha_source: bool) -> str:
    """:func:`fingerprint` of a training run with this analyser (its weights' hash) and alpha source."""
    analyser_key = None if analyser is None else hashlib.sha256(
        b"".join(v.detach().cpu().numpy().tobytes() for v in analyser.state_dict().values())).hexdigest()[:16]
    return fingerprint(cfg, seed, ds, speaker, code, extra={"analyser": analyser_key, "alpha_source": alpha_source})


def is_trained(ds: Any, cfg: NerfConfig, out_dir: str | Path, *, speaker: str, code: str = "alpha",
               analyser: Any = None, seed: int = 0) -> bool:
    """:func:`train_nerf` with these arguments (no alpha_source) would reuse the finished NeRF in ``out_dir``."""
    return run_folder(out_dir).is_current(_fingerprint(cfg, seed, ds, speaker, code, analyser, False))


def run_folder(out_dir: str | Path) -> RunFolder:
    """The NeRF's folder (fingerprint, stale runs, reuse, resume: :class:`RunFolder`)."""
    return RunFolder(Path(out_dir), NERF_META, (CHECKPOINT_FILE, NERF_META, NERF_WEIGHTS, HISTORY_FILE),
                     history=HISTORY_FILE, checkpoint=CHECKPOINT_FILE)


@torch.no_grad()
def evaluate_nerf(nerf: HeadNerf, frames: NerfFrames, *, max_frames: int = 8, return_images: bool = False
                  ) -> dict[str, Any]:
    """PSNR (dB) of composited renders against real frames: whole frame, and inside the head mask.

    Renders up to ``max_frames`` evenly spaced frames with their own codes and poses, over their own torso.
    """
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int))
    real = frames.images[idx].cpu().numpy()
    parsing = frames.parsing[idx].cpu().numpy()
    rendered = nerf.render_frames(frames.codes[idx].cpu().numpy(), frames.R[idx].cpu().numpy(),
                                  frames.t[idx].cpu().numpy(), real, parsing,
                                  march={"precision": "fp32"})     # PSNR of the float32 renderer, as before
    mask = frames.head_mask(torch.as_tensor(idx)).cpu().numpy()
    err = ((rendered.astype(np.float64) - real.astype(np.float64)) / 255.0) ** 2      # [N, H, W, 3]
    head_mse = err[mask].mean() if mask.any() else float("nan")
    out: dict[str, Any] = {"psnr": float(psnr_from_mse(err.reshape(len(err), -1).mean(axis=1)).mean()),
                           "psnr_head": float(psnr_from_mse(head_mse, cap_db=120.0)),
                           "frames": [int(i) for i in idx]}
    if return_images:
        out.update(rendered=rendered, real=real)
    return out


def coord_backend(cfg: NerfConfig, ds: Any) -> str:
    """The L_cord / L_shape backend a run uses: ``nerf.coord_backend``, with "auto" -> "analyser" on the synthetic
    world and "tddfa" (3DDFA_V2) on recorded people (a prepared dataset)."""
    from ..data.format import SYNTHETIC_SOURCE

    if cfg.coord_backend != "auto":
        return cfg.coord_backend
    return "analyser" if ds.source == SYNTHETIC_SOURCE else "tddfa"


def _coordination(backend: str, cfg: NerfConfig, analyser: Any, table: RayTable, device: torch.device, ds: Any,
                  patch: int):
    if backend == "clip":
        return ClipCoordination(cfg.clip_path, table.frames.emotions, prompt=cfg.clip_prompt, device=device)
    if backend == "tddfa":
        from ..tracking.tddfa import Tddfa
        from .frames import frame_landmarks

        return TddfaCoordination.from_frames(Tddfa(device=str(device)), table.frames.images,
                                             frame_landmarks(ds, table.frames), table.frames.tags,
                                             len(table.frames.emotions), patch=patch, device=device)
    return AnalyserCoordination.from_frames(analyser, table.frames.images, table.frames.tags,
                                            len(table.frames.emotions))


def train_nerf(ds: Any, cfg: NerfConfig, out_dir: str | Path, *, speaker: str | None = None, code: str = "alpha",
               analyser: Any = None, alpha_source: Callable[[Any, str], np.ndarray] | None = None, seed: int = 0,
               device: str | torch.device = "cpu", progress: bool = True, stop_at: int | None = None,
               val_every: int | None = None, face_model: Any = None) -> tuple[HeadNerf, dict[str, Any]]:
    """Train (or resume, or reuse) the head NeRF of ``speaker`` (default: the dataset's target speaker).

    ds: ProcessedDataset; code: 'alpha' (alpha^) or 'tag_alpha' ([z; alpha], the no_refinement variant);
    analyser: a FaceAnalyser, needed by L_shape and by the default L_cord backend when
    refine_start < iterations; alpha_source(ds, clip_id) -> [T, m] replaces the dataset's alpha (real data:
    the analysis of ``emohead extract``). Returns (HeadNerf, history); history has loss, val_psnr and timings.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # one writer per model folder; a second trainer of the same folder fails at once, naming the first
    with FolderLock(out_dir):
        return _train_nerf(ds, cfg, out_dir, speaker=speaker, code=code, analyser=analyser, alpha_source=alpha_source,
                           seed=seed, device=device, progress=progress, stop_at=stop_at, val_every=val_every,
                           face_model=face_model)


def _train_nerf(ds: Any, cfg: NerfConfig, out_dir: str | Path, *, speaker: str | None = None, code: str = "alpha",
                analyser: Any = None, alpha_source: Callable[[Any, str], np.ndarray] | None = None, seed: int = 0,
                device: str | torch.device = "cpu", progress: bool = True, stop_at: int | None = None,
                val_every: int | None = None, face_model: Any = None) -> tuple[HeadNerf, dict[str, Any]]:
    """The body of :func:`train_nerf`, run while holding the folder's lock."""

    _check_config(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    speaker = speaker or ds.extra.get("target_speaker") or ds.speakers[0]
    if speaker not in ds.speakers:
        raise NerfTrainingError(f"speaker {speaker!r} is not in {ds.root} (speakers: {list(ds.speakers)})")
    refine = cfg.refine_start < cfg.iterations
    backend = coord_backend(cfg, ds)
    if refine and analyser is None and (backend == "analyser" or (backend == "clip" and cfg.lambda_shape > 0)):
        raise NerfTrainingError("the refinement stage (nerf.refine_start < nerf.iterations) needs a face analyser "
                                "for L_shape and the analyser L_cord backend: pass analyser=, or set "
                                "nerf.refine_start=nerf.iterations to train with L_photo only")
    fp = _fingerprint(cfg, seed, ds, speaker, code, analyser, alpha_source is not None)
    run = run_folder(out_dir)
    run.retire_stale(fp)
    if run.finished() and stop_at is None:
        log.info("reusing the trained NeRF in %s", out_dir)
        return load_nerf(out_dir, device), run.read_history()

    train_frames = load_nerf_frames(ds, speaker, "train", image_size=cfg.image_size, code=code,
                                    max_frames=cfg.max_frames, alpha_source=alpha_source, progress=progress)
    test_frames = load_nerf_frames(ds, speaker, "test", image_size=cfg.image_size, code=code, max_frames=8,
                                   alpha_source=alpha_source)
    table = build_ray_table(train_frames, device)
    box = tuple(b.to(device) for b in head_box(face_model, cfg.box_margin))
    torch.manual_seed(seed)
    field = build_field(cfg, train_frames.code_dim, box).to(device)
    grid = OccupancyGrid(box[0], box[1], cfg.grid_resolution).to(device)
    nerf = HeadNerf(field=field, grid=grid, background=table.background, camera=table.frames.camera,
                    emotions=train_frames.emotions, code_kind=code, n_samples=cfg.samples_per_ray,
                    meta={"speaker": speaker, "fingerprint": fp, "seed": seed})
    # instant-ngp's Adam: betas (0.9, 0.99), eps 1e-15; on a GPU one fused kernel for all parameters
    graph_step = cfg.train_step == "graph"
    optimiser = torch.optim.Adam(field.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-15,
                                 fused=device.type == "cuda", capturable=graph_step and device.type == "cuda")
    fp16 = cfg.train_precision == "fp16" and device.type == "cuda"
    loss_scale = LOSS_SCALE_FP16 if fp16 else 1.0
    tf32 = cfg.train_precision == "tf32" and device.type == "cuda"
    if analyser is not None:
        analyser.to(device).eval().requires_grad_(False)
    patch = cfg.patch_size or (analyser.input_size if analyser is not None else 64)
    coord = _coordination(backend, cfg, analyser, table, device, ds, patch) if refine else None
    crop_box = tuple(analyser.hparams["crop_box"]) if analyser is not None else None
    patch_idx = patch_pixels(train_frames.size, crop_box, patch, device)
    history: dict[str, Any] = {"iteration": [], "loss": [], "l_photo": [], "l_cord": [], "l_shape": [],
                               "val_iteration": [], "val_psnr": [], "val_psnr_head": [], "val_seconds": [],
                               "grid_occupancy": [],
                               "seconds": 0.0, "fingerprint": fp, "speaker": speaker, "train_frames": len(train_frames),
                               "test_frames": len(test_frames), "image_size": train_frames.size,
                               "coord_backend": backend if refine else None, "patch_size": patch,
                               "refine_start": cfg.refine_start if refine else None}
    start = 0
    ckpt = run.read_checkpoint(map_location=device)
    if ckpt is not None:
        field.load_state_dict(ckpt["field"])
        grid.load_state_dict(ckpt["grid"])
        optimiser.load_state_dict(ckpt["optimiser"])
        start, history = int(ckpt["iteration"]), ckpt["history"]
        log.info("resuming NeRF training in %s at iteration %d", out_dir, start)

    def checkpoint(iteration: int) -> None:
        run.write_checkpoint({"field": field.state_dict(), "grid": grid.state_dict(),
                              "optimiser": optimiser.state_dict(), "iteration": iteration, "history": history,
                              "fingerprint": fp})

    val_every = val_every or max(1, cfg.iterations // 10)
    log_every = max(1, cfg.iterations // 200)
    skip_from = cfg.iterations // 4                      # the grid decides nothing before it has seen the field
    end = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
    # per-step losses stay on the device (a float() per step would wait for the GPU); read at each log point
    running: dict[str, list[torch.Tensor]] = {"loss": [], "l_photo": [], "l_cord": [], "l_shape": []}
    nan = torch.tensor(float("nan"), device=device)
    photo_step = GraphedPhotoStep(field, table, optimiser, cfg, seed, grid, fp16=fp16,
                                  loss_scale=loss_scale) if graph_step else None
    loop = CheckpointedLoop(history, checkpoint, checkpoint_every=cfg.checkpoint_every, where=run.root / run.checkpoint)

    def eager_step(it: int, gen: torch.Generator, refining: bool):
        """One step op by op -> (loss, L_photo, L_cord or None, L_shape or None), device tensors."""
        for group in optimiser.param_groups:
            group["lr"] = linear_lr(cfg, it)
        use_grid = grid if it >= skip_from else None
        f, pix = sample_rays(table, cfg.rays_per_batch, gen, cfg.ray_tile)
        out, target = render_training_rays(field, table, f, pix, cfg.samples_per_ray, gen, use_grid, fp16,
                                           group=cfg.ray_tile ** 2)
        photo = l_photo(out.rgb, target)                                       # eq. 15
        patch_photo = cord = shape = None
        if refining:                                                          # eq. 16 on one rendered face patch
            fi = torch.randint(0, len(train_frames), (1,), generator=gen, device=device)
            pix = coord.patch_pixels(int(fi)) if isinstance(coord, TddfaCoordination) else patch_idx
            pout, ptarget = render_training_rays(field, table, fi.expand(pix.numel()), pix,
                                                 cfg.samples_per_ray, gen, use_grid, fp16)
            image = pout.rgb.view(1, patch, patch, 3).permute(0, 3, 1, 2)      # [1, 3, P, P]
            patch_photo = l_photo(pout.rgb, ptarget)
            if isinstance(coord, TddfaCoordination):                           # recorded people: 3DDFA_V2
                e_i, beta = coord.analyse(image)
                cord = l_cord(e_i, coord.text_embedding(table.frames.tags[fi]))
                shape = l_shape(beta, table.frames.beta_id.to(device))
            else:
                cord = l_cord(coord.image_embedding(image), coord.text_embedding(table.frames.tags[fi]))
            if analyser is not None and not isinstance(coord, TddfaCoordination):
                size = analyser.input_size
                crop = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear",
                                                       align_corners=False, antialias=True)
                beta = analyser.head_beta(analyser.embed_crops(crop))
                shape = l_shape(beta, table.frames.beta_id.to(device))
        loss = nerf_loss(cfg, photo, patch_photo=patch_photo, cord=cord, shape=shape)
        optimiser.zero_grad(set_to_none=True)
        (loss * loss_scale).backward() if fp16 else loss.backward()
        optimiser.step()
        return loss, photo, cord, shape

    def one_step(it: int, bar: Any) -> None:
        field.train()
        refining = it >= cfg.refine_start and refine
        gen = None
        if photo_step is not None and not refining:                            # eq. 15 as one CUDA graph
            loss = photo = photo_step(it, it >= skip_from)
            cord = shape = None
        else:
            gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + it)
            loss, photo, cord, shape = eager_step(it, gen, refining)
        done = it + 1
        if done % cfg.grid_every == 0:
            gen = gen or torch.Generator(device=device).manual_seed(seed * 1_000_003 + it)
            pick = torch.randint(0, len(train_frames), (8,), generator=gen, device=device)
            occ = grid.refresh(field, table.frames.codes[pick], generator=gen, check=False)
            history["grid_occupancy"].append([done, occ])
        for k, v in (("loss", loss), ("l_photo", photo), ("l_cord", cord), ("l_shape", shape)):
            running[k].append(nan if v is None else v.detach().float())
        if done % log_every == 0 or done == cfg.iterations:
            history["iteration"].append(done)
            for k, vals in running.items():
                values = torch.stack(vals).cpu().numpy()                       # one wait for the GPU per log point
                history[k].append(float(np.nanmean(values)) if not np.isnan(values).all() else None)
                vals.clear()
            if photo_step is not None:                                         # the host waits here anyway
                photo_step.review()
                history["graph_dropped_steps"] = int(photo_step.dropped_steps)
                history["graph_capacity"] = photo_step.capacity
                history["graph_captures"] = photo_step.captures
            if history["loss"][-1] is None or not np.isfinite(history["loss"][-1]):
                raise NerfTrainingError(f"the NeRF loss is not finite at iteration {done} in {out_dir}"
                                        + (" (nerf.train_precision=fp16: train with fp32)" if fp16 else ""))
        if done % val_every == 0 or done == cfg.iterations:
            field.eval()
            v = evaluate_nerf(nerf, test_frames, max_frames=2)
            history["val_iteration"].append(done)
            history["val_psnr"].append(v["psnr"])
            history["val_psnr_head"].append(v["psnr_head"])
            history["val_seconds"].append(loop.elapsed())
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", psnr=f"{v['psnr']:.2f}")

    with training_kernels(device), matmul_tf32(tf32):   # L_cord / L_shape back-propagate through the analyser's convs
        loop.run(start, end, cfg.iterations, one_step, desc="nerf", progress=progress)
    field.eval()
    if end < cfg.iterations:
        return nerf, history
    final = evaluate_nerf(nerf, test_frames, max_frames=8)
    history.update(final_val=final, iterations_per_second=cfg.iterations / max(history["seconds"], 1e-9))
    run.write_history(history)
    save_nerf(nerf, out_dir, {"final_psnr": final["psnr"], "seconds": history["seconds"]})
    nerf.meta = json.loads((out_dir / NERF_META).read_text(encoding="utf-8"))
    return nerf, history


def code_kind_for_variant(variant: str) -> str:
    """The renderer's code for an audio-expression variant: [z; alpha~] for no_refinement, else alpha^."""
    return "tag_alpha" if variant == "no_refinement" else "alpha"

