"""Speed of the real face tracker (emohead.tracking, issue 19) on a clip of the astronaut photo.

    python benchmarks/tracking_speed.py                                  # 256 and 512 px, 48 frames, CPU
    python benchmarks/tracking_speed.py --sizes 512 --frames 96 --out reports/benchmarks/tracking_speed_cpu.json
    python benchmarks/tracking_speed.py --sizes 512 --frames 96 --workers 1 4 8   # + clips tracked N at once

The clip is scikit-image's public-domain `astronaut` portrait moved by a slow similarity transform (shift, scale,
in-plane rotation) and resized to each size. Times :meth:`FaceTracker.track` end to end (BlazeFace, the face mesh
twice, the selfie segmentation and 3DDFA_V2 mb05 on every frame, smoothing, interpolation), after one warm-up
clip, and each model alone on one frame. ``--workers N``: also N clips tracked at once, one process each with its own
tracker (what ``emohead prepare --workers N`` does): frames/s of all N clips over the wall time, models loaded
before the clock starts. Prints one JSON line (the report format of benchmarks/report.py); writes
it to ``--out`` when given. Needs the model files (``$EMOHEAD_MODELS`` or ../shared/models).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine  # noqa: E402

from emohead.files import write_json_atomic  # noqa: E402
from emohead.tracking import FaceTracker  # noqa: E402
from emohead.tracking.mesh import rect_from_detection  # noqa: E402


def astronaut_clip(size: int, n: int) -> np.ndarray:
    """[n, size, size, 3] uint8: the astronaut moved about her face (rotation +-10 deg, scale +-10 %, 30 px shift)."""
    from skimage.data import astronaut
    from skimage.transform import SimilarityTransform, resize, warp

    img, c = astronaut(), np.array([225.0, 125.0])
    out = []
    for k in range(n):
        s = k / max(n - 1, 1)
        move = SimilarityTransform(scale=1 + 0.1 * np.sin(np.pi * s), rotation=np.deg2rad(10 * np.sin(2 * np.pi * s)))
        tf = SimilarityTransform(translation=-c) + move + SimilarityTransform(translation=c + [30 * s, 0])
        frame = warp(img, tf.inverse)
        out.append((resize(frame, (size, size), anti_aliasing=True) * 255).round().astype(np.uint8))
    return np.stack(out)


def per_call_ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return 1000 * (time.perf_counter() - t0) / repeat


_TRACKER = []


def _load_tracker(tddfa_weights: Path | None, device: str) -> float:
    """A worker's first job: build this process's tracker (outside the timed part); returns its pid."""
    import os

    if not _TRACKER:
        _TRACKER.append(FaceTracker(tddfa_weights=tddfa_weights, progress=False, device=device))
        _TRACKER[0].track(astronaut_clip(256, 4), name="warm-up")
    return os.getpid()


def _track(clip: np.ndarray, name: str) -> int:
    """A worker's job: track one clip with this process's tracker; returns the frames where a face was found."""
    return int(_TRACKER[0].track(clip, name=name).found.sum())


def parallel_row(size: int, n_frames: int, workers: int, tddfa_weights: Path | None, device: str) -> dict:
    """``workers`` clips of ``n_frames`` tracked at once in ``workers`` processes (emohead.workers)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    clips = [astronaut_clip(size, n_frames) for _ in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    import os
    threads = max(1, (os.cpu_count() or 1) // workers)
    from emohead.workers import _init_worker
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
        pids = set()
        while len(pids) < workers:       # every worker loads its models before the clock starts
            pids |= set(pool.map(_load_tracker, [tddfa_weights] * workers, [device] * workers))
        t0 = time.perf_counter()
        found = list(pool.map(_track, clips, [f"clip{i}" for i in range(workers)]))
        seconds = time.perf_counter() - t0
    total = workers * n_frames
    return {"frame px": size, "frames": total, "found": int(sum(found)), "seconds": f"{seconds:.2f}",
            "frames/s": f"{total / seconds:.1f}", "workers": workers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--tddfa-weights", type=Path, default=None, help="another 3DDFA_V2 checkpoint (e.g. mb1)")
    ap.add_argument("--device", default="cpu", help="torch device of 3DDFA_V2")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--workers", type=int, nargs="*", default=[],
                    help="also time this many clips tracked at once, one process each (several values allowed)")
    args = ap.parse_args(argv)

    tracker = FaceTracker(tddfa_weights=args.tddfa_weights, progress=False, device=args.device)
    rows = []
    for size in args.sizes:
        clip = astronaut_clip(size, args.frames)
        tracker.track(clip[:8], name="warm-up")
        t0 = time.perf_counter()
        track = tracker.track(clip, name=f"astronaut_{size}")
        seconds = time.perf_counter() - t0
        frame = clip[0]
        dets = tracker.detector(frame)
        rect = rect_from_detection(dets.boxes[0], dets.keypoints[0])
        lm = track.landmarks[0]
        rows.append({
            "frame px": size, "frames": len(clip), "found": int(track.found.sum()), "seconds": f"{seconds:.2f}",
            "frames/s": f"{len(clip) / seconds:.1f}",
            "detector ms": f"{per_call_ms(lambda: tracker.detector(frame), 10):.1f}",
            "mesh ms": f"{per_call_ms(lambda: tracker.mesh(frame, rect), 10):.1f}",
            "segmentation ms": f"{per_call_ms(lambda: tracker.segmenter(frame), 10):.1f}",
            "3DDFA_V2 ms": f"{per_call_ms(lambda: tracker.tddfa.predict(frame, lm), 10):.1f}",
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    parallel = []
    for size in args.sizes:
        for n in args.workers:
            parallel.append(parallel_row(size, args.frames, n, args.tddfa_weights, args.device))
            print(json.dumps(parallel[-1]), file=sys.stderr, flush=True)
    result = {
        "title": "Real face tracking speed (BlazeFace + face mesh + selfie segmentation + 3DDFA_V2)",
        "machine": machine(), "command": "python benchmarks/tracking_speed.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "columns": list(rows[0]), "rows": rows,
        "notes": [f"3DDFA_V2 weights: {tracker.tddfa.weights.name} on {args.device}; the mesh runs twice per frame "
                  "(detection ROI, then the smoothed tracking ROI); per-model times are one call on one frame."],
    }
    if parallel:                       # one table: the rows with "workers" time N clips tracked at once
        result["columns"] += ["workers"]
        result["rows"] += parallel
        result["notes"].append("Rows with workers N: N clips tracked at once, one process each with its own tracker "
                               "(emohead prepare --workers N); frames/s of all N clips over the wall time, models "
                               "loaded before the clock starts.")
    print(json.dumps(result))
    if args.out is not None:
        write_json_atomic(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
