"""Head-NeRF training to a PSNR target and rendering speed, in one run on one device.

    python benchmarks/nerf_speed.py --device cuda --profile gpu --results DIR      # the H200 run (512 px)
    python benchmarks/nerf_speed.py --device cpu --profile smoke --set nerf.iterations=40   # a quick check
    python benchmarks/nerf_speed.py --device cuda --trained RUN/nerf/full --data RUN/data    # a model trained elsewhere

1. Synthesises the profile's corpus restricted to its target actor (synth.n_actors=1) and trains the head NeRF
   with the profile's nerf config, photometric stage only (nerf.refine_start = nerf.iterations: L_cord / L_shape
   need a trained face analyser, which notebook 04 trains; their weights are 1e-3 and 1e-9). PSNR on held-out
   frames is logged against training seconds: "time to 30 dB" is the first validation at or above 30 dB.
   With ``--trained DIR --data DIR`` nothing is trained: the training rows come from that model's history.json
   (e.g. the two-stage training of notebook 04).
2. Renders the target actor's held-out frames with the trained model: the head alone (ray marching with
   empty-space skipping and early termination, several frames per pass) and end to end (plus compositing over torso
   and background on the CPU), in frames per second, after a warm-up pass.

Targets (issue 7): >= 30 dB on the target actor's test frames in under 10 minutes; >= 60 frames/s at 512 x 512.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile, parse_override  # noqa: E402
from emohead.data import ProcessedDataset  # noqa: E402
from emohead.render import load_nerf, load_nerf_frames, train_nerf  # noqa: E402
from emohead.synth.corpus import ensure_corpus  # noqa: E402

PSNR_TARGET, TRAIN_SECONDS_TARGET, FPS_TARGET = 30.0, 600.0, 60.0
COLUMNS = ["what", "setting", "result", "target", "met"]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    parser.add_argument("--work", type=Path, default=Path("runs/nerf_speed"), help="scratch folder (corpus, model)")
    parser.add_argument("--frames", type=int, default=64, help="held-out frames rendered for the speed rows")
    parser.add_argument("--trained", type=Path, default=None, help="a trained NeRF folder: measure it, train nothing")
    parser.add_argument("--data", type=Path, default=None, help="its processed dataset (with --trained)")
    parser.add_argument("--profile-steps", type=int, default=0,
                        help="also profile a fresh training of this many steps (torch.profiler; tables printed)")
    parser.add_argument("--skip-render", action="store_true", help="training rows only")
    parser.add_argument("--two-stage", action="store_true",
                        help="train as notebook 04 does: L_photo, then L_refine from nerf.refine_start on (trains the "
                             "face analyser first, with the profile's analyser config; --set analyser.n_train=... to "
                             "shorten it)")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    overrides = {"synth.n_actors": 1, **dict(parse_override(s) for s in args.set)}
    prof = load_profile(args.profile, overrides)
    if args.trained is not None:
        if args.data is None:
            parser.error("--trained needs --data (the dataset the NeRF was trained on)")
        import json

        model_dir, ds = args.trained, ProcessedDataset(args.data)
        history = json.loads((model_dir / "history.json").read_text())
        cfg = prof.nerf
        stage = "two-stage training as in notebook 04" if history.get("refine_start") else "photometric stage"
    else:
        ds = ProcessedDataset(ensure_corpus(prof, args.work / "data", progress=True, device=args.device))
        model_dir = args.work / f"nerf_{args.profile}"
        analyser = None
        if args.two_stage:     # L_refine from nerf.refine_start on, with a face analyser trained (or reused) here
            from emohead.extract import ensure_analyser

            analyser, _ = ensure_analyser(prof, args.work / "analyser", image_size=prof.synth.image_size,
                                          device=args.device, progress=True)
            cfg, stage = prof.nerf, f"two-stage training (L_refine from iteration {prof.nerf.refine_start})"
        else:
            cfg, stage = dataclasses.replace(prof.nerf, refine_start=prof.nerf.iterations), "photometric stage"
        _, history = train_nerf(ds, cfg, model_dir, seed=prof.seed, device=args.device, progress=True,
                                val_every=max(1, cfg.iterations // 20), analyser=analyser)
    speaker = history["speaker"]
    model = load_nerf(model_dir, args.device)
    meta = model.meta
    reached = [s for s, p in zip(history.get("val_seconds", []), history["val_psnr"]) if p >= PSNR_TARGET]
    reached_head = [s for s, p in zip(history.get("val_seconds", []), history["val_psnr_head"]) if p >= PSNR_TARGET]
    final = history["final_val"]
    size = history["image_size"]
    f = meta["field"]
    setting = (f"{size} px, {history['train_frames']} frames, {history['iteration'][-1]} it, hash "
               f"{f['hash_levels']}x{f['hash_features']} 2^{f['hash_log2_size']}, backend {model.field.encoder.backend}")
    rows = [
        {"what": f"training, {stage}", "setting": setting,
         "result": f"{history['seconds']:.0f} s ({history['iterations_per_second']:.1f} it/s)", "target": "", "met": ""},
        {"what": "held-out PSNR after training (whole frame / head pixels)", "setting": f"{len(final['frames'])} frames",
         "result": f"{final['psnr']:.2f} / {final['psnr_head']:.2f} dB", "target": f">= {PSNR_TARGET:g} dB",
         "met": "yes" if final["psnr"] >= PSNR_TARGET else "no"},
        {"what": f"time to {PSNR_TARGET:g} dB (whole frame, first validation at or above)", "setting": "",
         "result": f"{reached[0]:.0f} s" if reached else "not reached",
         "target": f"< {TRAIN_SECONDS_TARGET:g} s", "met": "yes" if reached and reached[0] < TRAIN_SECONDS_TARGET else "no"},
        {"what": f"time to {PSNR_TARGET:g} dB (head pixels only)", "setting": "",
         "result": f"{reached_head[0]:.0f} s" if reached_head else "not reached", "target": "", "met": ""},
    ]

    if args.profile_steps and args.trained is None:
        profile_training(ds, dataclasses.replace(cfg, iterations=args.profile_steps, refine_start=args.profile_steps),
                         args.work / "nerf_profiled", prof.seed, args.device)
    if args.skip_render:
        save(args, rows, history)
        return
    test = load_nerf_frames(ds, speaker, "test", image_size=size, max_frames=args.frames)
    codes, R, t = test.codes.numpy(), test.R.numpy(), test.t.numpy()
    real, parsing = test.images.numpy(), test.parsing.numpy()
    head_rows = []
    for batch in sorted({max(1, (1 << 20) // (size * size)), 2 * max(1, (1 << 20) // (size * size))}):
        model.render_heads(codes[:batch], R[:batch], t[:batch])          # warm-up (kernels, allocator)
        sync(args.device)
        t0 = time.perf_counter()
        for s in range(0, len(codes), batch):
            model.render_heads(codes[s:s + batch], R[s:s + batch], t[s:s + batch])
        sync(args.device)
        head_fps = len(codes) / (time.perf_counter() - t0)
        head_rows.append({"what": "rendering the head (ray marching)",
                          "setting": f"{size} x {size}, {len(codes)} frames, {batch} per pass",
                          "result": f"{head_fps:.1f} frames/s", "target": f">= {FPS_TARGET:g} frames/s",
                          "met": "yes" if head_fps >= FPS_TARGET else "no"})
    t0 = time.perf_counter()
    model.render_frames(codes, R, t, real, parsing)
    full_fps = len(codes) / (time.perf_counter() - t0)
    rows += head_rows + [
        {"what": "rendering end to end (+ compositing on the CPU, uint8 out)", "setting": f"{size} x {size}",
         "result": f"{full_fps:.1f} frames/s", "target": "", "met": ""},
    ]
    save(args, rows, history)


def profile_training(ds, cfg, out_dir: Path, seed: int, device: str) -> None:
    """Train ``cfg.iterations`` steps under torch.profiler; print the kernels and ops by device and CPU time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof_:
        _, hist = train_nerf(ds, cfg, out_dir, seed=seed, device=device, progress=False, val_every=10**9)
        sync(device)
    print(f"profiled training: {cfg.iterations} steps, {hist['seconds']:.2f} s "
          f"({hist['iterations_per_second']:.1f} it/s under the profiler)", flush=True)
    for key in ("device_time_total", "cpu_time_total"):
        try:
            print(prof_.key_averages().table(sort_by=key, row_limit=30), flush=True)
        except Exception as err:                          # noqa: BLE001 - the key's name moved between versions
            print(f"(no table by {key}: {err})")


def save(args, rows: list[dict], history: dict) -> None:
    for r in rows:
        print(r, flush=True)
    name = args.name or f"nerf_speed_{'gpu' if args.device.startswith('cuda') else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    curve = ", ".join(f"{s:.1f} s: {p:.1f} / {ph:.1f} dB" for s, p, ph in
                      zip(history.get("val_seconds", []), history["val_psnr"], history["val_psnr_head"]))
    save_result(name, {"title": f"Head NeRF training and rendering ({name})", "machine": machine(),
                       "command": "python benchmarks/nerf_speed.py " + " ".join(sys.argv[1:]),
                       "columns": COLUMNS, "rows": rows,
                       "notes": [f"Synthetic target actor, profile {args.profile}; PSNR of composited frames against "
                                 f"the real held-out frames (whole frame; head pixels in brackets of row 2). "
                                 f"PSNR over training (whole frame / head pixels): {curve}."]}, **kwargs)


if __name__ == "__main__":
    main()
