"""The fused MLP kernels (emohead/render/mlp_triton.py) on a GPU against the field's float32 layers, stage by stage.

    CUDA_LAUNCH_BLOCKING=1 python benchmarks/fused_mlp_check.py --stage density --n 1000000
    python benchmarks/fused_mlp_check.py --stage color --n 4096
    python benchmarks/fused_mlp_check.py --stage march

One stage per process (a kernel that faults leaves the CUDA context unusable): the density kernel, the colour
kernel, or a 128 x 128 march of a random dense field, each with the gpu profile's shapes (16 levels x 2 features,
64 hidden, 10-d codes). Prints the largest differences; exits 1 if a stage is off by more than fp16 rounding.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emohead.render.field import ExpressionField, direction_encoding  # noqa: E402
from emohead.render.mlp_triton import FusedMlps, reference_color, reference_density  # noqa: E402


def random_field(device: str) -> ExpressionField:
    torch.manual_seed(0)
    field = ExpressionField(torch.full((3,), -1.0), torch.full((3,), 1.0), expr_dim=10, hash_levels=16,
                            hash_log2_size=19, max_resolution=2048, hidden=64,
                            backend="triton" if device == "cuda" else "torch")
    with torch.no_grad():
        for p in [*field.density_mlp.parameters(), *field.color_mlp.parameters()]:
            p.normal_(0.0, 0.3)
        field.encoder.embeddings.normal_(0.0, 0.5)
    return field.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["density", "color", "march"], required=True)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--block", type=int, default=None, help="points per program (mlp_triton.BLOCK_N)")
    parser.add_argument("--warps", type=int, default=None, help="warps per program (mlp_triton.NUM_WARPS)")
    args = parser.parse_args()
    from emohead.render import mlp_triton

    mlp_triton.BLOCK_N = args.block or mlp_triton.BLOCK_N
    mlp_triton.NUM_WARPS = args.warps or mlp_triton.NUM_WARPS
    print(f"stage {args.stage}, n {args.n}, block {mlp_triton.BLOCK_N}, warps {mlp_triton.NUM_WARPS}", flush=True)
    dev = args.device
    field = random_field(dev)
    mlps = FusedMlps.from_field(field)
    gen = torch.Generator().manual_seed(1)
    rays = max(1, args.n // 7)
    enc = torch.randn(args.n, 32, generator=gen).to(dev)
    codes = torch.randn(rays, 10, generator=gen).to(dev)
    rows = torch.randint(0, rays, (args.n,), generator=gen).to(dev)
    ok = True
    with torch.no_grad():
        if args.stage in ("density", "color"):
            t0 = time.perf_counter()
            raw = mlps.density(enc, codes, rows)
            torch.cuda.synchronize() if dev == "cuda" else None
            ref = reference_density(field, enc, codes, rows)
            err = float((raw.float() - ref).abs().max())
            ok &= err <= 4e-3 * float(ref.abs().max()) + 2e-3
            print(f"density n={args.n}: max |diff| {err:.2e} (max |ref| {float(ref.abs().max()):.2f}), "
                  f"{time.perf_counter() - t0:.3f} s", flush=True)
        if args.stage == "color":
            sh = direction_encoding(torch.nn.functional.normalize(torch.randn(rays, 3, generator=gen), dim=-1)).to(dev)
            sel = torch.randint(0, args.n, (args.n // 2 + 1,), generator=gen).to(dev)
            ray_rows = torch.randint(0, rays, (args.n // 2 + 1,), generator=gen).to(dev)
            rgb = mlps.color(raw, sel, sh, codes, ray_rows)
            torch.cuda.synchronize() if dev == "cuda" else None
            err = float((rgb - reference_color(field, raw, sel, sh, codes, ray_rows)).abs().max())
            ok &= err <= 1e-2                                          # random weights of std 0.3: large activations
            print(f"color n={sel.numel()}: max |diff| {err:.2e}", flush=True)
        if args.stage == "march":
            from emohead.render.march import march_rays
            from emohead.render.occupancy import OccupancyGrid
            from emohead.render.rays import HeadRays, ray_box

            side = torch.linspace(-1.5, 1.5, 128)
            yy, xx = torch.meshgrid(side, side, indexing="ij")
            d = torch.nn.functional.normalize(torch.stack([xx, yy, torch.full_like(xx, 3.0)], -1).reshape(-1, 3), dim=-1)
            o = torch.tensor([0.0, 0.0, -3.0]).expand_as(d).contiguous()
            lo, hi = torch.full((3,), -1.0), torch.full((3,), 1.0)
            near, far, hit = ray_box(o, d, lo, hi)
            r = HeadRays(o.to(dev), d.to(dev), near.to(dev), far.to(dev), hit.to(dev))
            grid = OccupancyGrid(lo, hi, 16).to(dev)
            grid.density.fill_(1.0)
            code, bg = torch.randn(10).to(dev), torch.tensor([0.2, 0.4, 0.6], device=dev)
            out = {p: march_rays(field, r, code, bg, n_samples=64, grid=grid, precision=p) for p in ("fp32", "fused")}
            err = float((out["fused"].rgb - out["fp32"].rgb).abs().max())
            ok &= err <= 1 / 255
            print(f"march 128 x 128: max |rgb diff| {err:.2e}, opacity max {float(out['fp32'].opacity.max()):.2f}",
                  flush=True)
    print("ok" if ok else "MISMATCH", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
