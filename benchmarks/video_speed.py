"""Talking-head video speed: finished 512 px frames per second and a 60 s clip to mp4, before and after, in one run.

    python benchmarks/video_speed.py --device cuda --profile gpu --results DIR                 # the H200 run
    python benchmarks/video_speed.py --device cpu --profile smoke --seconds 4 --frames 8      # a quick check
    python benchmarks/video_speed.py --device cuda --trained RUN/nerf/full --data RUN/data    # a trained model

1. Trains the head NeRF as ``nerf_speed.py`` does (the profile's corpus restricted to the target actor, photometric
   stage; ``--set`` changes it), or loads ``--trained``.
2. The head alone (ray marching) on held-out frames for several march settings: the first version (every ray that
   meets the box, 16 samples of all of them at a time) in float32, with more frames per pass, another step, TF32
   or fp16 matmuls in the MLPs (fp16: the default on a GPU), and the occupied-span march (``skip_empty``).
3. Finished frames (head over the source frame's torso over the background, uint8 on the host) per second:
   "before" = the first march in float32 + NumPy compositing frame by frame (the code before issue 21); "after" =
   compositing on the device, one copy to the host per batch, with the settings of each row. The largest pixel
   difference from "before" is reported.
4. A ``--seconds`` clip (the driving clip played back and forth, its audio repeated) to an mp4 with sound:
   "before" renders every frame, then encodes (x264 on one thread, conversion to YUV inline); "after" streams
   batches into a writer thread that converts (2 threads) and encodes while the device renders
   (``emohead.pipeline.write_talking_head_video``, what ``emohead render`` runs after the audio-expression model),
   with the fastest "after" setting of 3.
5. A profile of one pass of that setting (CUDA kernels by total time).

Targets (issue 21): >= 120 finished frames/s at 512 x 512; a 60 s clip faster than real time, mp4 included.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile, parse_override  # noqa: E402
from emohead.data import ProcessedDataset, probe_video  # noqa: E402
from emohead.pipeline import DrivingTrack, driving_track, write_talking_head_video  # noqa: E402
from emohead.render import load_nerf, load_nerf_frames, train_nerf  # noqa: E402
from emohead.render.model import RENDER_MARCH  # noqa: E402

FPS_TARGET = 120.0
COLUMNS = ["what", "setting", "result", "ratio", "target", "met"]
FIRST = {"skip_empty": False, "precision": "fp32"}             # the march of the code before issue 21
F32 = {"precision": "fp32"}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE")
    parser.add_argument("--work", type=Path, default=Path("runs/video_speed"), help="scratch folder (corpus, model)")
    parser.add_argument("--frames", type=int, default=64, help="held-out frames for the frames/s rows")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the clip written to mp4")
    parser.add_argument("--before-seconds", type=float, default=None,
                        help="length of the 'before' clip (default --seconds; it is the slow one)")
    parser.add_argument("--encoder-threads", type=int, nargs="+", default=[1, 4], help="x264 threads, one row each")
    parser.add_argument("--trained", type=Path, default=None, help="a trained NeRF folder: measure it, train nothing")
    parser.add_argument("--data", type=Path, default=None, help="its processed dataset (with --trained)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rows: the first version in float32 and fp16, 4 and 16 frames per pass")
    parser.add_argument("--budget", type=float, default=0.0, help="seconds; later sections shrink or skip past it")
    parser.add_argument("--no-fused", action="store_true", help="leave out the fused-MLP rows")
    parser.add_argument("--cold", action="store_true",
                        help="the shipped defaults' first use in this process: no head-alone rows; finished frames "
                             "with the defaults first, then the same again (warm), then fp16; no mp4 sections")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    dev = args.device
    name = args.name or f"video_speed_{'gpu' if dev.startswith('cuda') else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    rows: list[dict] = []
    notes: list[str] = []
    extra: dict = {}

    def save() -> None:
        save_result(name, {"title": f"Talking-head video: finished frames and mp4 ({name})", "machine": machine(),
                           "command": "python benchmarks/video_speed.py " + " ".join(sys.argv[1:]),
                           "columns": COLUMNS, "rows": rows, "notes": notes, "details": extra}, **kwargs)

    def row(what, setting, result, ratio="", target="", met=""):
        r = {"what": what, "setting": setting, "result": result, "ratio": ratio, "target": target, "met": met}
        rows.append(r)
        print(r, flush=True)
        save()

    def left() -> float:
        return float("inf") if not args.budget else args.budget - (time.perf_counter() - start)

    # ------------------------------------------------------------------ 1. the model
    overrides = {"synth.n_actors": 1, **dict(parse_override(s) for s in args.set)}
    prof = load_profile(args.profile, overrides)
    if args.trained is not None:
        if args.data is None:
            parser.error("--trained needs --data (the dataset the NeRF was trained on)")
        model_dir, ds = args.trained, ProcessedDataset(args.data)
        history = json.loads((model_dir / "history.json").read_text())
    else:
        from emohead.synth.corpus import ensure_corpus

        cfg = dataclasses.replace(prof.nerf, refine_start=prof.nerf.iterations)
        t0 = time.perf_counter()
        ds = ProcessedDataset(ensure_corpus(prof, args.work / "data", progress=False, device=dev))
        print(f"corpus: {time.perf_counter() - t0:.1f} s", flush=True)
        model_dir = args.work / f"nerf_{args.profile}"
        _, history = train_nerf(ds, cfg, model_dir, seed=prof.seed, device=dev, progress=False,
                                val_every=max(1, cfg.iterations // 10))
    model = load_nerf(model_dir, dev)
    size, speaker = model.image_size, history["speaker"]
    final = history["final_val"]
    row("training (context), photometric stage", f"{size} px, {history['train_frames']} frames, "
        f"{history['iteration'][-1]} it, backend {model.field.encoder.backend}",
        f"{history['seconds']:.0f} s ({history['iterations_per_second']:.1f} it/s); held-out PSNR "
        f"{final['psnr']:.2f} / head {final['psnr_head']:.2f} dB")
    print(f"model ready after {time.perf_counter() - start:.0f} s", flush=True)

    test = load_nerf_frames(ds, speaker, "test", image_size=size, max_frames=args.frames)
    codes, R, t = test.codes.numpy(), test.R.numpy(), test.t.numpy()
    real, parsing = test.images.numpy(), test.parsing.numpy()
    n = len(codes)
    base = max(1, (1 << 20) // size ** 2)                  # the first version's frames per pass (4 at 512 px)

    # ------------------------------------------------------------------ 2. the head alone
    def head_fps(batch: int, march: dict) -> float:
        model.render_heads(codes[:batch], R[:batch], t[:batch], march=march)          # warm-up
        sync(dev)
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            model.render_heads(codes[s:s + batch], R[s:s + batch], t[s:s + batch], march=march)
        sync(dev)
        return n / (time.perf_counter() - t0)

    def counts(march: dict) -> dict:
        st: dict = {}
        model.render_heads(codes[:base], R[:base], t[:base], march={**march, "stats": st})
        k = min(base, n)
        return {**{f"{key} per frame": round(v / k) for key, v in st.items() if key != "chunks"},
                "chunks per pass": st["chunks"], "frames per pass": k}

    span = {**F32, "skip_empty": True}
    variants = [("first version (every ray meeting the box)", base, FIRST),
                ("first version", 2 * base, FIRST),
                ("first version", 4 * base, FIRST),
                ("occupied span of each ray (skip_empty)", base, span),
                ("occupied span", 2 * base, span),
                ("occupied span", 4 * base, span),
                ("first version, step 8", 2 * base, {**FIRST, "step": 8}),
                ("first version, step 32", 2 * base, {**FIRST, "step": 32}),
                ("first version, TF32 matmuls", 2 * base, {**FIRST, "precision": "tf32"}),
                ("first version, fp16 MLPs (the default on a GPU)", 2 * base, {**FIRST, "precision": "fp16"}),
                ("first version, fp16 MLPs", 4 * base, {**FIRST, "precision": "fp16"}),
                ("first version, fused fp16 MLP kernels", 4 * base, {**FIRST, "precision": "fused"}),
                ("first version, fused fp16 MLP kernels", 8 * base, {**FIRST, "precision": "fused"})]
    if args.quick:
        variants = [variants[i] for i in (0, 2, 10, 11, 12)]
    if not dev.startswith("cuda"):
        variants = [v for v in variants if v[2].get("precision", "fp32") == "fp32"]
    if args.no_fused:
        variants = [v for v in variants if v[2].get("precision") != "fused"]
    if args.cold:
        variants = []
    head = {}
    extra["per_frame_counts"] = {"first version": counts(FIRST), "occupied span": counts(span)}
    print("per frame:", extra["per_frame_counts"], flush=True)
    for label, batch, march in variants:
        try:
            fps = head_fps(batch, march)
        except Exception:                                         # noqa: BLE001 - a variant that fails is a result
            traceback.print_exc()
            row(f"head alone: {label}", f"{batch} per pass", "failed")
            continue
        head[(label, batch)] = fps
        ref = head.get(("first version (every ray meeting the box)", base), fps)
        row(f"head alone (ray marching): {label}", f"{size} x {size}, {n} frames, {batch} per pass",
            f"{fps:.1f} frames/s", f"{fps / ref:.2f}x")

    # ------------------------------------------------------------------ 3. finished frames
    def frames_fps(**kw) -> tuple[float, np.ndarray]:
        model.render_frames(codes[:kw.get("batch") or base], R[:kw.get("batch") or base], t[:kw.get("batch") or base],
                            real[:kw.get("batch") or base], parsing[:kw.get("batch") or base], **kw)   # warm-up
        sync(dev)
        t0 = time.perf_counter()
        out = model.render_frames(codes, R, t, real, parsing, **kw)
        return n / (time.perf_counter() - t0), out

    before_fps, before = frames_fps(batch=base, compositing="cpu", march=FIRST)
    row("finished frames, before: first march + NumPy compositing per frame", f"{size} x {size}, {base} per pass",
        f"{before_fps:.1f} frames/s", "1.00x")
    fp16, fused = {"precision": "fp16"}, {"precision": "fused"}
    after_settings = [(base, F32), (2 * base, F32), (4 * base, F32), (2 * base, fp16), (4 * base, fp16),
                      (4 * base, {**fp16, "skip_empty": True}), (4 * base, fused), (8 * base, fused), (4 * base, {})]
    if args.quick:
        after_settings = after_settings[2:3] + after_settings[4:5] + after_settings[6:]
    if not dev.startswith("cuda"):
        after_settings = [a for a in after_settings if a[1].get("precision") not in ("fp16", "fused")]
    if args.no_fused:
        after_settings = [a for a in after_settings if a[1].get("precision") != "fused"]
    if args.cold:
        after_settings = [(4 * base, {}), (4 * base, {}), (4 * base, fp16)]
    best = (0.0, None)
    for batch, march in after_settings:
        fps, out = frames_fps(batch=batch, compositing="device", march=march)
        diff = np.abs(out.astype(np.int16) - before.astype(np.int16))
        desc = ", ".join(f"{k} {v}" for k, v in march.items()) or f"defaults ({RENDER_MARCH})"
        row("finished frames, after: compositing on the device, one copy per batch", f"{size} x {size}, {batch} per "
            f"pass, {desc}; vs before: max {int(diff.max())} levels, {100 * (diff > 0).mean():.3f} % of values differ",
            f"{fps:.1f} frames/s", f"{fps / before_fps:.2f}x", f">= {FPS_TARGET:g} frames/s",
            "yes" if fps >= FPS_TARGET else "no")
        if fps > best[0] and int(diff.max()) <= 1:
            best = (fps, (batch, march))
    dev_first = frames_fps(batch=base, compositing="device", march=FIRST)[0] if not args.quick else None
    if dev_first is not None:
        row("finished frames: first march + compositing on the device (compositing alone)", f"{base} per pass",
            f"{dev_first:.1f} frames/s", f"{dev_first / before_fps:.2f}x")

    def later_sections() -> None:
        from emohead.data.video import VideoWriter                # PyAV: only this section writes videos

        # ------------------------------------------------------------------ 4. a clip to mp4
        clip = ds.clips(split="test", speaker=speaker)[0]
        track = driving_track(ds, clip.id, size)
        clip_codes = load_nerf_frames(ds, speaker, "test", image_size=size, clip_ids=[clip.id]).codes.numpy()
        n_video = int(round(args.seconds * ds.fps))
        idx = track.fit_index(n_video)
        video_codes = clip_codes[idx]
        one = ds.audio(clip)
        audio = np.tile(one, int(np.ceil(args.seconds * ds.sample_rate / len(one))) + 1)
        out_dir = args.work / "videos"
        batch, march = (4 * base, {}) if best[1] is None else best[1]
        setting = f"{args.seconds:g} s at {ds.fps:g} fps ({n_video} frames), {size} x {size}, audio muxed"
        after_wall = {}
        for threads in args.encoder_threads:
            if left() < 20:
                notes.append(f"encoder threads {threads}: skipped (time budget)")
                continue
            st: dict = {}
            path = write_talking_head_video(out_dir / f"after_t{threads}.mp4", model, video_codes, track, fps=ds.fps,
                                            audio=audio, sample_rate=ds.sample_rate, progress=False, batch=batch,
                                            march=march, encoder_threads=threads, stats=st)
            info = probe_video(path) if threads == args.encoder_threads[0] else {}
            after_wall[threads] = st["seconds"]
            extra[f"video_after_threads{threads}"] = {**st, **info}
            how = ", ".join(f"{k} {v}" for k, v in march.items()) or "defaults"
            row(f"{args.seconds:g} s clip -> mp4, after: streamed (device compositing, writer thread), x264 threads "
                f"{threads}", f"{setting}; {batch} per pass, {how}",
                f"{st['seconds']:.1f} s = {args.seconds / st['seconds']:.2f}x real time "
                f"({n_video / st['seconds']:.0f} frames/s); renderer done after {st['render_seconds']:.1f} s, waited "
                f"{st['render_blocked_seconds']:.1f} s for the encoder", "", "faster than real time",
                "yes" if st["seconds"] < args.seconds else "no")
        before_s = args.before_seconds if args.before_seconds is not None else args.seconds
        if before_s > 0 and left() > before_s * 1.6:
            nb = int(round(before_s * ds.fps))
            drive = DrivingTrack(track.frames, track.parsing, track.R, track.t).fit(nb)
            t0 = time.perf_counter()
            frames = model.render_frames(clip_codes[idx[:nb]], drive.R, drive.t, drive.frames, drive.parsing,
                                         batch=base, compositing="cpu", march=FIRST)
            rendered = time.perf_counter() - t0
            n_audio = int(round(nb * ds.sample_rate / ds.fps))
            with VideoWriter(out_dir / "before.mp4", int(round(ds.fps)), audio=audio[:n_audio],
                             sample_rate=ds.sample_rate, convert_threads=0) as w:       # conversion inline, as before
                w.write(frames)
            wall = time.perf_counter() - t0
            per_s = wall / before_s
            ratio = ", ".join(f"{per_s * args.seconds / s:.2f}x (threads {k})" for k, s in after_wall.items())
            row(f"{before_s:g} s clip -> mp4, before: render all (first march, NumPy compositing), then encode "
                f"(x264 1 thread)", f"{before_s:g} s ({nb} frames), {size} x {size}, audio muxed",
                f"{wall:.1f} s = {before_s / wall:.2f}x real time (rendering {rendered:.1f} s, encoding "
                f"{wall - rendered:.1f} s)", ratio, "faster than real time", "yes" if wall < before_s else "no")
        else:
            notes.append("the 'before' clip was skipped (time budget)")

        # ------------------------------------------------------------------ 5. where the time goes
        if dev.startswith("cuda") and left() > 20:
            from torch.profiler import ProfilerActivity, profile

            model.render_heads(codes[:batch], R[:batch], t[:batch], march=march)
            with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof_:
                model.render_heads(codes[:batch], R[:batch], t[:batch], march=march)
                sync(dev)
            table = ""
            for key in ("device_time_total", "cuda_time_total", "self_cpu_time_total"):
                try:
                    table = prof_.key_averages().table(sort_by=key, row_limit=25)
                    break
                except Exception:                     # noqa: BLE001 - the key's name moved between versions
                    continue
            print(table, flush=True)
            extra["profile_one_pass"] = table

    try:
        if args.cold:
            notes.append("--cold: the mp4 sections were not run")
        else:
            later_sections()
    except Exception:                                             # noqa: BLE001 - keep the rows measured so far
        traceback.print_exc()
        notes.append("a later section failed: " + traceback.format_exc().strip().splitlines()[-1])
    notes.append(f"Synthetic target actor, profile {args.profile} ({', '.join(args.set) or 'no --set'}); held-out "
                 f"frames with their own torso and parsing. 'first version' is the march before issue 21 (the pose "
                 f"transform is the current batched one in every row). Total run {time.perf_counter() - start:.0f} s.")
    save()


if __name__ == "__main__":
    main()
