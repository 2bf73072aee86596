"""Does drawing training rays in tiles of neighbouring pixels (nerf.ray_tile) cost held-out PSNR? Several seeds.

    python benchmarks/ray_tile_psnr.py --profile cpu --tiles 1 4 --seeds 0 1 2          # this 2-core CPU, ~15 min

Tiles are what a hash-grid backward that merges shared rows would need (docs/performance.md: on single random pixels
no merging inside a block can reach 1.0 G points/s). This measures the other side: one corpus (the profile's, target
actor only), the photometric stage of the profile's NeRF, trained once per (tile, seed) with the NeRF's seed varied
(initialisation and batches); held-out PSNR of 8 test frames, whole frame and head pixels.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile, parse_override  # noqa: E402
from emohead.data import ProcessedDataset  # noqa: E402
from emohead.render import train_nerf  # noqa: E402
from emohead.synth.corpus import ensure_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiles", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    parser.add_argument("--work", type=Path, default=Path("runs/ray_tile_psnr"))
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    prof = load_profile(args.profile, {"synth.n_actors": 1, **dict(parse_override(s) for s in args.set)})
    ds = ProcessedDataset(ensure_corpus(prof, args.work / "data", progress=False, device=args.device))
    base = dataclasses.replace(prof.nerf, refine_start=prof.nerf.iterations)
    rows, results = [], {}
    for tile in args.tiles:
        for seed in args.seeds:
            cfg = dataclasses.replace(base, ray_tile=tile)
            t0 = time.perf_counter()
            _, hist = train_nerf(ds, cfg, args.work / f"nerf_tile{tile}_seed{seed}", seed=seed, device=args.device,
                                 progress=False)
            final = hist["final_val"]
            results.setdefault(tile, []).append((final["psnr"], final["psnr_head"]))
            print(f"tile {tile} seed {seed}: {final['psnr']:.2f} / {final['psnr_head']:.2f} dB, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    for tile, vals in results.items():
        v = np.asarray(vals)
        rows.append({"what": f"ray_tile {tile} ({tile} x {tile} pixels per tile)",
                     "setting": f"{len(v)} seeds ({', '.join(map(str, args.seeds))})",
                     "result": f"{v[:, 0].mean():.2f} +- {v[:, 0].std(ddof=1) if len(v) > 1 else 0:.2f} / "
                               f"{v[:, 1].mean():.2f} +- {v[:, 1].std(ddof=1) if len(v) > 1 else 0:.2f} dB",
                     "per seed": ", ".join(f"{a:.2f} / {b:.2f}" for a, b in v)})
    for r in rows:
        print(r, flush=True)
    f = prof.nerf
    save_result(args.name or f"ray_tile_psnr_{args.profile}", {
        "title": "Training rays in tiles of neighbouring pixels: held-out PSNR (whole frame / head pixels)",
        "machine": machine(), "command": "python benchmarks/ray_tile_psnr.py " + " ".join(sys.argv[1:]),
        "columns": ["what", "setting", "result", "per seed"], "rows": rows,
        "notes": [f"Profile {args.profile}, synthetic target actor, {f.image_size} px, photometric stage, "
                  f"{f.iterations} iterations x {f.rays_per_batch} rays x {f.samples_per_ray} samples; mean +- "
                  f"standard deviation over the seeds (the NeRF's initialisation and batches; one corpus)."]},
        **({"results_dir": args.results} if args.results else {}))


if __name__ == "__main__":
    main()
