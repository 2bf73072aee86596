"""Latency of the emotion mixer (notebook 06): from a slider's new value to the new image in the widget.

    python benchmarks/widget_speed.py                       # mesh fallback, 256 px, this CPU (target <= 200 ms)
    python benchmarks/widget_speed.py --size 512 --updates 50

A small synthetic world (one actor, a briefly trained audio-expression model) is built in a temporary folder; the
mixer over one of its clips then has its blend, yaw and time sliders swept over their steps, one update per move.
An update is what a user waits for: the codes for the new setting (eq. 9), one frame rendered by the mesh
renderer of the synthetic world, PNG encoding for the image widget.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

import emohead as eh  # noqa: E402

WORLD = {"synth.n_actors": 1, "synth.image_size": 32, "audio2exp.iterations": 4, "audio2exp.checkpoint_every": 4,
         "audio2exp.batch_size": 4, "audio2exp.window": 16}
TARGET_MS = 200.0


def build_mixer(root: Path, size: int, device: str) -> eh.widgets.EmotionMixer:
    cfg = eh.config.load_profile("smoke", WORLD)
    ds = eh.data.ProcessedDataset(eh.synth.ensure_corpus(cfg, root / "data", progress=False))
    store = eh.features.extract_dataset(ds, cfg.features, root / "features", progress=False)
    planes = eh.emotion.ensure_hyperplanes(ds, cfg.hyperplanes, root / "hyperplanes.npz", seed=cfg.seed)
    a2e, _ = eh.audio2exp.train_audio2exp(ds, store, planes, cfg.audio2exp, root / "a2e", progress=False)
    clip = ds.clips(split="test")[0]
    preview = eh.widgets.mesh_preview(cfg.synth, size, device=device)
    return eh.widgets.EmotionMixer.from_clip(a2e, ds, store, clip.id, preview)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="preview frame size in pixels")
    parser.add_argument("--updates", type=int, default=30, help="timed slider moves per slider")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mixer = build_mixer(Path(tmp), args.size, args.device)
        setup = time.perf_counter() - t0
        mixer.measure_latency(5, "yaw")                                  # warm-up
        rows = []
        for control in ("blend", "yaw", "time"):
            r = mixer.measure_latency(args.updates, control)
            rows.append({"slider": control, "renderer": f"{r['renderer']} ({r['image_size']} px)",
                         "updates": r["updates"], "median": f"{r['median_ms']:.1f} ms",
                         "90th percentile": f"{r['p90_ms']:.1f} ms", "max": f"{r['max_ms']:.1f} ms",
                         "target": f"<= {TARGET_MS:.0f} ms: {'met' if r['median_ms'] <= TARGET_MS else 'NOT met'}"})
            logging.getLogger("widget_speed").warning("%s", rows[-1])
        t1 = time.perf_counter()
        mixer.export(Path(tmp) / "export.mp4")
        export_s = time.perf_counter() - t1
    name = args.name or f"widget_speed_{'gpu' if args.device.startswith('cuda') else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    notes = [f"Setup (tiny world, model, mixer): {setup:.1f} s. Export of the whole clip ({mixer.n_frames} frames "
             f"at {args.size} px, H.264 + audio): {export_s:.2f} s.",
             f"The mesh preview renders with {mixer.preview.threads} torch thread(s) (torch's default here: "
             f"{torch.get_num_threads()}); on a busy 2-core CPU two threads made a frame 10-80x slower."]
    path = save_result(name, {"title": f"Emotion mixer update latency ({name})", "machine": machine(),
                              "command": " ".join(["python benchmarks/widget_speed.py", *sys.argv[1:]]),
                              "columns": ["slider", "renderer", "updates", "median", "90th percentile", "max",
                                          "target"], "rows": rows, "notes": notes}, **kwargs)
    logging.getLogger("widget_speed").warning("wrote %s", path)


if __name__ == "__main__":
    main()
