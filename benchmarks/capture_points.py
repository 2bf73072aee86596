"""The points a trained head NeRF's hash grid really sees, saved for benchmarks/hashgrid_speed.py (issue 21, item 2).

    python benchmarks/capture_points.py --device cuda --profile gpu --trained RUN/nerf_gpu --data RUN/data \
        --out /tmp/points.npz
    python benchmarks/hashgrid_speed.py --device cuda --points-file /tmp/points.npz ...

A forward hook on the field's HashGridEncoder records its input (the [0, 1]^3 coordinates, in the order the encoder
receives them) while the model renders:

- "trainer batches, random pixels (real)": consecutive training batches as the eager trainer draws and renders them
  (``sample_rays`` with the profile's rays_per_batch and samples_per_ray, stratified samples, the model's occupancy
  grid, compacted), i.e. the hash grid's forward and backward order in training;
- "trainer batches, 4 x 4 tiles (real)": the same with ``nerf.ray_tile=4`` (tile sampling, a non-default trainer), its
  samples ray by ray as before issue 21's fourth round;
- "trainer batches, 4 x 4 tiles, depth by depth (real)": the same batches in the order the trainer now feeds tiles
  (``render_rays(group=16)``: a tile's 16 rays at one depth, then the next depth);
- "rendered frame, neighbouring pixels (real)": every pixel of a training frame's head rectangle, row by row, through
  the same renderer (neighbouring rays, as a rendered image; the video renderer marches instead, so its samples differ).

Each set is cut to --points points (default 2^20, the synthetic sets' size). Only the points are saved (npz).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emohead.config import load_profile  # noqa: E402
from emohead.data import ProcessedDataset  # noqa: E402
from emohead.render.batches import build_ray_table, render_training_rays, sample_rays  # noqa: E402
from emohead.render.frames import load_nerf_frames  # noqa: E402
from emohead.render.model import load_nerf  # noqa: E402


def capture(nerf, table, cfg, n_points: int, seed: int = 0) -> dict[str, np.ndarray]:
    """{set name: [n_points, 3] float32} of encoder inputs (see the module docstring)."""
    seen: list[torch.Tensor] = []
    hook = nerf.field.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    device = table.layers.device
    sets = {}
    try:
        with torch.no_grad():
            for name, tile, group in (("trainer batches, random pixels (real)", 1, 1),
                                      ("trainer batches, 4 x 4 tiles (real)", 4, 1),
                                      ("trainer batches, 4 x 4 tiles, depth by depth (real)", 4, 16)):
                seen.clear()
                gen = torch.Generator(device=device).manual_seed(seed)
                while sum(s.shape[0] for s in seen) < n_points:
                    f, pix = sample_rays(table, cfg.rays_per_batch, gen, tile)
                    render_training_rays(nerf.field, table, f, pix, cfg.samples_per_ray, gen, nerf.grid, group=group)
                sets[name] = torch.cat(seen)[:n_points]
            seen.clear()
            size = table.frames.size
            y0, y1, x0, x1 = (int(v) for v in table.rects[0])
            yy, xx = torch.meshgrid(torch.arange(y0, y1, device=device), torch.arange(x0, x1, device=device),
                                    indexing="ij")
            pix = (yy * size + xx).reshape(-1)
            gen = torch.Generator(device=device).manual_seed(seed)
            for start in range(0, pix.numel(), 8192):
                chunk = pix[start:start + 8192]
                render_training_rays(nerf.field, table, torch.zeros_like(chunk), chunk, cfg.samples_per_ray, gen,
                                     nerf.grid)
                if sum(s.shape[0] for s in seen) >= n_points:
                    break
            sets["rendered frame, neighbouring pixels (real)"] = torch.cat(seen)[:n_points]
    finally:
        hook.remove()
    for name, pts in sets.items():
        if pts.shape[0] < n_points:
            raise SystemExit(f"{name}: only {pts.shape[0]} points captured, {n_points} asked")
    return {name: pts.float().cpu().numpy() for name, pts in sets.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--trained", type=Path, required=True, help="a trained NeRF folder")
    parser.add_argument("--data", type=Path, required=True, help="its processed dataset")
    parser.add_argument("--points", type=int, default=2**20)
    parser.add_argument("--out", type=Path, required=True, help="npz file to write")
    args = parser.parse_args()
    cfg = load_profile(args.profile).nerf
    ds = ProcessedDataset(args.data)
    nerf = load_nerf(args.trained, args.device)
    frames = load_nerf_frames(ds, nerf.meta.get("speaker", ds.extra["target_speaker"]), "train",
                              image_size=nerf.image_size, code=nerf.code_kind, max_frames=cfg.max_frames)
    table = build_ray_table(frames, args.device)
    sets = capture(nerf, table, cfg, args.points)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.npz")
    np.savez(tmp, names=np.array(list(sets)), **{f"set{i}": v for i, v in enumerate(sets.values())})
    tmp.replace(args.out)
    for name, pts in sets.items():
        print(f"{name}: {pts.shape[0]} points, extent {pts.min(0).round(3)} .. {pts.max(0).round(3)}", flush=True)


if __name__ == "__main__":
    main()
