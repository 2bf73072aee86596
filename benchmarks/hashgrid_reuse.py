"""How many atomic adds a hash-grid backward could save by merging the points of a block (issue 21, item 2).

    python benchmarks/hashgrid_reuse.py                         # 2^20 points, blocks of 128 / 256 / 512
    python benchmarks/hashgrid_reuse.py --out reports/benchmarks/hashgrid_reuse_cpu.json

The Triton backward (emohead/render/hashgrid_triton.py) issues, per point and level, the atomic adds of its 8 corner
rows; the "aggregated" design merges runs of consecutive points in one cell first. This script counts, on the point
sets of benchmarks/hashgrid_speed.py (same generator, seed 0) and the 16 levels N_l = 16 .. 2048 of the gpu profile,
the atomic-add "units" per point (one unit = one point's 8 corner adds at one level; 16 = no merging at all):

- runs: consecutive points of a block in one cell (what the aggregated design merges);
- cells: distinct cells in a block (what sorting a block's points by cell would merge);
- rows: distinct corner vertices in a block / 8 (merging every shared corner row: the bound for any merging
  inside a block).

A fifth point set, random 4 x 4 pixel tiles (``tile_points``), shows what a trainer sampling tiles instead of single
random pixels would give its backward.

Counts are exact (numpy, no GPU). The "ceiling" columns turn them into G points/s with a two-term model of the
H200's memory system fitted to two measured memory-ceiling rows (reports/benchmarks/hashgrid_speed_gpu_aggregated.json):
time per point = g + a * units, with the per-corner design's ceiling on uniform points (units 16) and the aggregated
design's on random segments (its runs); g covers the forward's gathers, a one unit of atomics. A model, not a
measurement: it reproduces the other two measured ceilings (camera rays) within 8 %.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hashgrid_speed import point_sets  # noqa: E402
from report import RESULTS, machine, save_result  # noqa: E402

from emohead.render.hashgrid import level_resolutions  # noqa: E402

CORNERS = np.array([(dx, dy, dz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)])   # [8, 3]


def merge_units(x: np.ndarray, resolutions, block: int) -> dict[str, float]:
    """Atomic-add units per point (see the module docstring) of points x [N, 3] in [0, 1], N a multiple of block."""
    n = len(x)
    units = {"runs": 0, "cells": 0, "rows": 0.0}
    for res in resolutions:
        cell = np.minimum(np.floor(x * res).astype(np.int64), res - 1)                     # [N, 3]
        key = (cell[:, 0] * (res + 1) + cell[:, 1]) * (res + 1) + cell[:, 2]
        kb = key.reshape(-1, block)                                                        # [blocks, B]
        units["runs"] += int((kb[:, 1:] != kb[:, :-1]).sum()) + len(kb)
        ks = np.sort(kb, axis=1)
        units["cells"] += int((ks[:, 1:] != ks[:, :-1]).sum()) + len(kb)
        v = cell[:, None, :] + CORNERS[None]                                               # [N, 8, 3]
        vk = ((v[..., 0] * (res + 2) + v[..., 1]) * (res + 2) + v[..., 2]).reshape(-1, block * 8)
        vs = np.sort(vk, axis=1)
        units["rows"] += (int((vs[:, 1:] != vs[:, :-1]).sum()) + len(vk)) / 8
    return {k: v / n for k, v in units.items()}


def tile_points(n_points: int, gen: torch.Generator, tile: int = 4, samples: int = 64, image: int = 512,
                distance: float = 2.5) -> torch.Tensor:
    """[n_points, 3] samples along the rays of random tile x tile pixel tiles (rays row-major within a tile, tiles one
    after another): the order a trainer that samples tiles instead of single pixels would feed. Same camera and
    stratified sampling as hashgrid_speed.camera_points; only tiles whose rays all meet the cube are kept."""
    n_rays = -(-n_points // samples)
    centre, back = torch.full((3,), 0.5), torch.tensor([0.35, -0.25, 1.0])
    back = back / back.norm()
    origin = centre + distance * back
    right = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), back)
    right = right / right.norm()
    up = torch.linalg.cross(back, right)
    focal = image * distance
    n_tiles = 4 * -(-n_rays // (tile * tile))                               # spares for the tiles that miss
    ox, oy = ((torch.rand(2, n_tiles, generator=gen) - 0.5) * image * 0.8).unbind(0)
    jj, ii = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="xy")
    px = (ox[:, None] + jj.reshape(-1)[None]).reshape(-1)
    py = (oy[:, None] + ii.reshape(-1)[None]).reshape(-1)
    d = (px[:, None] * right + py[:, None] * up - focal * back) / focal     # [tiles * tile^2, 3]
    t0, t1 = (0.0 - origin) / d, (1.0 - origin) / d
    near, far = torch.minimum(t0, t1).amax(-1), torch.maximum(t0, t1).amin(-1)
    keep = (far > near).reshape(-1, tile * tile).all(1).repeat_interleave(tile * tile)
    d, near, far = d[keep][:n_rays], near[keep][:n_rays], far[keep][:n_rays]
    u = (torch.arange(samples) + torch.rand(d.shape[0], samples, generator=gen)) / samples
    t = near[:, None] + u * (far - near)[:, None]
    return (origin + t[..., None] * d[:, None, :]).reshape(-1, 3)[:n_points].clamp(0.0, 1.0)


def ceiling_model(measured: dict) -> tuple[float, float]:
    """(g, a) in ns per point from the measured ceilings: per-corner on uniform (16 units), aggregated on segments."""
    t_uniform = 1.0 / measured["per_corner_uniform"]                 # ns per point = 1 / (G points/s)
    t_segments = 1.0 / measured["aggregated_segments"]
    a = (t_uniform - t_segments) / (16.0 - measured["segments_runs"])
    return t_uniform - 16.0 * a, a


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=2**20)
    ap.add_argument("--blocks", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--ceilings", type=float, nargs=2, default=[0.688, 1.13],
                    metavar=("PER_CORNER_UNIFORM", "AGG_SEGMENTS"),
                    help="measured memory ceilings (G points/s) that fit the model; defaults: the H200 rows of "
                         "reports/benchmarks/hashgrid_speed_gpu_aggregated.json and performance.md")
    ap.add_argument("--out", default="",
                    help="write the result JSON here (into reports/benchmarks/ it also updates benchmarks.md)")
    args = ap.parse_args(argv)
    resolutions = level_resolutions(16, 16, 2048)
    sets = point_sets(args.points, torch.Generator().manual_seed(0))
    sets["camera, random 4x4 pixel tiles, 64 samples"] = tile_points(args.points, torch.Generator().manual_seed(0))
    rows, per_set = [], {}
    for name, pts in sets.items():
        x = pts.numpy().astype(np.float64)
        for block in args.blocks:
            per_set[(name, block)] = merge_units(x[: len(x) // block * block], resolutions, block)
    segments = per_set[("random segments, 256 samples", args.blocks[0])]["runs"]
    g, a = ceiling_model({"per_corner_uniform": args.ceilings[0], "aggregated_segments": args.ceilings[1],
                          "segments_runs": segments})
    for (name, block), u in per_set.items():
        ceil = {k: 1.0 / (g + a * v) for k, v in u.items()}
        rows.append({"point set": name, "block": block, "runs / point": f"{u['runs']:.2f}",
                     "cells / point": f"{u['cells']:.2f}", "rows / 8 / point": f"{u['rows']:.2f}",
                     "ceiling: runs": f"{ceil['runs']:.2f}", "ceiling: sort by cell": f"{ceil['cells']:.2f}",
                     "ceiling: every shared row": f"{ceil['rows']:.2f}"})
        print(json.dumps(rows[-1]))
    result = {
        "title": ("Hash-grid backward: atomic adds a block could merge (counts) and the memory ceilings they allow "
                  "(model)"),
        "machine": machine(),
        "command": "python benchmarks/hashgrid_reuse.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "columns": ["point set", "block", "runs / point", "cells / point", "rows / 8 / point", "ceiling: runs",
                    "ceiling: sort by cell", "ceiling: every shared row"],
        "rows": rows,
        "notes": [f"Units: one point's 8 corner atomic adds at one level, summed over 16 levels (16 = no merging); "
                  f"{args.points} points, levels N_l = 16..2048. Ceilings in G points/s, fwd+bwd, from the model "
                  f"time per point = {g:.3f} + {a:.4f} x units ns, fitted to the measured memory ceilings "
                  f"{args.ceilings[0]} (per-corner, uniform) and {args.ceilings[1]} (aggregated, random segments) on "
                  "an H200. The kernels reach about 0.77-0.80 of their ceiling (hashgrid_speed_gpu_aggregated)."],
    }
    if args.out:
        out = Path(args.out)
        if out.parent.resolve() == RESULTS.resolve():
            save_result(out.stem, result)
        else:
            out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
