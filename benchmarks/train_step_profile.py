"""Where the time of a head-NeRF training step goes: eager and CUDA-graph steps, and the work between steps.

    python benchmarks/train_step_profile.py --device cuda --profile gpu --trained RUN/nerf_gpu --data RUN/data \
        --results DIR
    python benchmarks/train_step_profile.py --device cpu --profile smoke --trained ... --data ... --steps 3   # a check

On a trained NeRF (its occupancy grid is a real one) and its training frames, with the profile's batch:

- the photometric step (eq. 15) op by op (``nerf.train_step=eager``) and as a replayed CUDA graph (``graph``), with
  and without the occupancy grid (with it, the graph step packs the kept samples into fixed slots), in milliseconds
  per step (synchronised before and after a run of steps): the
  graph rows are the GPU's own time for a step, the eager rows add the host's launches;
- the graph step with TF32 and with fp16 autocast;
- the fraction of a batch's samples the grid keeps (what either step sends to the field);
- what the trainer does between steps: an occupancy-grid refresh (every nerf.grid_every steps) and a validation
  (2 held-out frames, every iterations / 20 steps in benchmarks/nerf_speed.py).

The steps train the loaded field further (it is a profile, nothing is saved).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile, parse_override  # noqa: E402
from emohead.data import ProcessedDataset  # noqa: E402
from emohead.render import load_nerf, load_nerf_frames  # noqa: E402
from emohead.render.graph_step import GraphedPhotoStep  # noqa: E402
from emohead.render.losses import l_photo  # noqa: E402
from emohead.render.rays import pose_rays, sample_along_rays  # noqa: E402
from emohead.render.training import (build_ray_table, evaluate_nerf, matmul_tf32,  # noqa: E402
                                     render_training_rays, sample_rays)

COLUMNS = ["what", "setting", "result", "note"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, steps: int, device: torch.device) -> float:
    """Milliseconds per call of fn(i) over ``steps`` calls (synchronised before and after)."""
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        fn(i)
    sync(device)
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    parser.add_argument("--trained", type=Path, required=True, help="a trained NeRF folder")
    parser.add_argument("--data", type=Path, required=True, help="its processed dataset")
    parser.add_argument("--steps", type=int, default=200, help="steps per timed row")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    prof = load_profile(args.profile, {"synth.n_actors": 1, **dict(parse_override(s) for s in args.set)})
    device = torch.device(args.device)
    ds = ProcessedDataset(args.data)
    nerf = load_nerf(args.trained, device)
    cfg = prof.nerf
    speaker = nerf.meta.get("speaker") or ds.extra.get("target_speaker")
    frames = load_nerf_frames(ds, speaker, "train", image_size=cfg.image_size, max_frames=cfg.max_frames,
                              progress=False)
    test = load_nerf_frames(ds, speaker, "test", image_size=cfg.image_size, max_frames=8)
    table = build_ray_table(frames, device)
    field, grid = nerf.field.train().requires_grad_(True), nerf.grid
    cuda = device.type == "cuda"

    def adam():
        return torch.optim.Adam(field.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-15, fused=cuda,
                                capturable=cuda)

    rows: list[dict] = []
    setting = f"{cfg.image_size} px, {cfg.rays_per_batch} rays x {cfg.samples_per_ray} samples, {args.steps} steps"

    def row(what: str, result: str, note: str = "", where: str = setting) -> None:
        rows.append({"what": what, "setting": where, "result": result, "note": note})
        print(rows[-1], flush=True)

    # the fraction of samples the grid keeps, over a few batches
    with torch.no_grad():
        kept = []
        for i in range(8):
            gen = torch.Generator(device=device).manual_seed(i)
            f, pix = sample_rays(table, cfg.rays_per_batch, gen)
            fr = table.frames
            rays = pose_rays(table.origins[pix], table.directions[pix], fr.R[f], fr.t[f], field.box_min,
                             field.box_max)
            s = sample_along_rays(rays.near, rays.far, cfg.samples_per_ray, stratified=True, generator=gen)
            pts = (rays.origins[:, None] + s[..., None] * rays.directions[:, None]).reshape(-1, 3)
            hit = rays.hit[:, None].expand(-1, cfg.samples_per_ray).reshape(-1)
            kept.append((float(hit.float().mean()), float((hit & grid.occupied(pts)).float().mean())))
    hit_frac = sum(k[0] for k in kept) / len(kept)
    kept_frac = sum(k[1] for k in kept) / len(kept)
    row("samples of a batch on rays that meet the head box", f"{100 * hit_frac:.1f} %", "8 batches")
    row("samples of a batch the occupancy grid keeps", f"{100 * kept_frac:.1f} %",
        "what the steps send to the field once the grid is used")

    # eager photometric steps
    optimiser = adam()

    def eager(i: int, use_grid: bool) -> None:
        gen = torch.Generator(device=device).manual_seed(i)
        f, pix = sample_rays(table, cfg.rays_per_batch, gen)
        out, target = render_training_rays(field, table, f, pix, cfg.samples_per_ray, gen,
                                           grid if use_grid else None)
        loss = l_photo(out.rgb, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for use_grid in (False, True):
        timed(lambda i: eager(i, use_grid), 5, device)
        ms = timed(lambda i: eager(i, use_grid), args.steps, device)
        row(f"eager step, {'with' if use_grid else 'without'} the occupancy grid", f"{ms:.2f} ms ({1e3 / ms:.0f} it/s)")

    # CUDA-graph steps (on a CPU: the same step eagerly)
    for precision in ("fp32", "tf32", "fp16"):
        step_cfg = dataclasses.replace(cfg, train_step="graph", train_precision=precision)
        with matmul_tf32(precision == "tf32" and cuda):
            step = GraphedPhotoStep(field, table, adam(), step_cfg, 0, grid, fp16=precision == "fp16" and cuda,
                                    loss_scale=1024.0 if precision == "fp16" and cuda else 1.0)
            for use_grid in (False, True):
                timed(lambda i: step(10_000 + i, use_grid), 5, device)             # warm-up and capture
                ms = timed(lambda i: step(20_000 + i, use_grid), args.steps, device)
                note = (f"kept samples packed into {step.capacity} slots ({100 * step.capacity / step.n_points:.0f} %"
                        f" of the batch's); steps that kept more: {int(step.dropped_steps)}") if use_grid else ""
                row(f"graph step ({'replayed' if cuda else 'eager on a CPU'}), {precision}, "
                    f"{'with' if use_grid else 'without'} the occupancy grid", f"{ms:.2f} ms ({1e3 / ms:.0f} it/s)",
                    note)
        del step

    # between steps
    field.eval()
    codes = table.frames.codes[:8]
    grid_ms = timed(lambda i: grid.refresh(field, codes, generator=torch.Generator(device=device).manual_seed(i)),
                    max(1, args.steps // 20), device)
    row("occupancy-grid refresh (8 codes)", f"{grid_ms:.1f} ms",
        f"every {cfg.grid_every} steps: {grid_ms / cfg.grid_every:.2f} ms per step",
        where=f"{cfg.grid_resolution}^3 cells")
    val_ms = timed(lambda i: evaluate_nerf(nerf, test, max_frames=2), 3, device)
    row("validation (2 held-out frames, float32 march)", f"{val_ms:.0f} ms",
        f"20 per run in nerf_speed.py: {20 * val_ms / 1e3:.1f} s", where=f"{cfg.image_size} px")
    if args.results is not None:
        save_result(args.name or f"train_step_profile_{args.device.split(':')[0]}",
                    {"title": "Head-NeRF training step: eager vs CUDA graph, and the work between steps",
                     "machine": machine(), "command": " ".join(sys.argv), "columns": COLUMNS, "rows": rows},
                    args.results)


if __name__ == "__main__":
    main()
