"""Scaling past one GPU: data-parallel audio-expression training and sharded feature extraction under torchrun.

    python benchmarks/ddp_scaling.py --device cuda --nproc 1 2      # 1 GPU against 2 GPUs (nvidia-h200-x2)
    python benchmarks/ddp_scaling.py --device cpu --nproc 1 2 --quick   # the same code on a CPU (gloo)

For each process count N the script starts ``python -m torch.distributed.run --standalone --nproc_per_node N``
on itself (``--worker``); every rank runs the library's own code paths:

- training: :class:`emohead.audio2exp.TrainStep`, the step of ``train_audio2exp`` (one process: the plain
  step; N processes: DistributedDataParallel, each rank cuts its rows of the same global batch with
  ``WindowSampler.batch(rows=...)``), on synthetic feature tracks with the embedded feature widths
  (640 / 40 / 256) and the gpu profile's model (d = dh = 512), for several global batch sizes. Timed:
  batch cutting on the CPU, host-to-device copy, forward, L_reg_const, backward (with DDP's all-reduce)
  and the Adam step, after warm-up iterations; the global batch is the same for every N.
- extraction: ``emohead.features.extract_dataset`` (sharded by clip over the ranks, rank 0 writes the
  index) on an in-memory corpus of random-noise clips with words, with the embedded backends
  (spectral, prosody, hashed: CPU) and with HuBERT-base geometry (random weights) on the GPU; timed
  from a barrier to the returned store, the backends already built; then the cached re-run.
- agreement: the weights after 0, 1 and 10 Adam steps on an odd global batch (uneven rows), and after every
  timed run, compared between 1 and N processes; 'input ms/it' times the host-side part of a step alone
  (cutting this rank's windows and copying them to the device).

Scaling efficiency = (rate with N processes) / (N x rate with one process). The multicast-off
variables the device docs require (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
NVSHMEM_DISABLE_NVLS=1) are set for every process this script starts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
EMBEDDED_DIMS = {"audio": 640, "emotion": 40, "text": 256}
EMOTIONS = ["angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised"]
WORDS = ["she", "had", "your", "dark", "suit", "in", "greasy", "wash", "water", "all", "year"]


# -- worker side ---------------------------------------------------------------------------------
def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_tracks(n_clips: int, n_frames: int, seed: int = 0):
    """Random feature tracks (embedded widths) with targets and one partner each: the sampler's input."""
    from emohead.audio2exp import Track

    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(n_clips):
        silent = np.zeros(n_frames, bool)
        silent[:5] = True
        tracks.append(Track(id=f"c{i}", speaker=f"s{i % 4}", emotion=EMOTIONS[i % 8], sentence=f"t{i // 4}",
                            split="train",
                            audio=rng.normal(size=(n_frames, EMBEDDED_DIMS["audio"])).astype(np.float32),
                            emotion_feat=rng.normal(size=(n_frames, EMBEDDED_DIMS["emotion"])).astype(np.float32),
                            text=rng.normal(size=(n_frames, EMBEDDED_DIMS["text"])).astype(np.float32),
                            alpha=rng.normal(size=(n_frames, 10)).astype(np.float32), silent=silent,
                            partners=[rng.normal(size=(n_frames, 10)).astype(np.float32)]))
    return tracks


def train_rows(args, device, work: Path) -> list[dict]:
    import dataclasses

    import torch

    from emohead import distributed as dist
    from emohead.audio2exp import FeatureInfo, TrainStep, WindowSampler, build_model, silence_features
    from emohead.audio2exp.data import feature_stats
    from emohead.audio2exp.training import _batch_to_torch
    from emohead.config import load_profile

    base = load_profile(args.profile).audio2exp
    tracks = synthetic_tracks(args.clips, args.frames)
    silence = silence_features(tracks)
    sampler = WindowSampler(tracks, EMOTIONS, silence, window=base.window, context=base.n_neighbors)
    normals = np.random.default_rng(1).normal(size=(len(EMOTIONS), 10)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    info = FeatureInfo(dims=EMBEDDED_DIMS, backends={k: "random" for k in EMBEDDED_DIMS})
    rows = []
    for B in args.batches:
        cfg = dataclasses.replace(base, batch_size=B)
        model = build_model(cfg, info, normals, EMOTIONS, seed=0)
        model.set_statistics(feature_stats(tracks), silence)
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        step = TrainStep(model, opt, sampler, cfg, device, seed=0)
        for it in range(args.warmup):
            step(it)
        _sync(device)
        dist.barrier()
        t0 = time.perf_counter()
        losses = [step(it) for it in range(args.warmup, args.warmup + args.iterations)]
        total = dist.all_reduce_sum(torch.stack(losses))          # the global-batch losses (a sync point)
        _sync(device)
        dist.barrier()
        seconds = time.perf_counter() - t0
        if dist.is_main():
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                       work / f"state_n{dist.world_size()}_b{B}.pt")
        # the host-side share of a step: cutting this rank's windows and copying them to the device
        t1 = time.perf_counter()
        for it in range(20):
            _batch_to_torch(sampler.batch(0, it, B, rows=step.rows), device)
        _sync(device)
        input_ms = (time.perf_counter() - t1) / 20 * 1000
        rows.append({"global batch": B, "per rank": step.rows.stop - step.rows.start if step.rows else B,
                     "iterations": args.iterations, "seconds": seconds,
                     "it/s": args.iterations / seconds, "windows/s": args.iterations * B / seconds,
                     "input ms/it": input_ms, "last loss": float(total[-1])})
        del step, model, opt
    return rows


def agreement_states(args, device, work: Path) -> None:
    """Weights after 0, 1 and 10 steps (rank 0 saves them): the launcher compares 1 against N processes."""
    import dataclasses

    import torch

    from emohead import distributed as dist
    from emohead.audio2exp import FeatureInfo, TrainStep, WindowSampler, build_model, silence_features
    from emohead.audio2exp.data import feature_stats
    from emohead.config import load_profile

    base = load_profile(args.profile).audio2exp
    tracks = synthetic_tracks(min(args.clips, 48), args.frames, seed=2)
    silence = silence_features(tracks)
    sampler = WindowSampler(tracks, EMOTIONS, silence, window=base.window, context=base.n_neighbors)
    normals = np.eye(len(EMOTIONS), 10, dtype=np.float32)
    info = FeatureInfo(dims=EMBEDDED_DIMS, backends={k: "random" for k in EMBEDDED_DIMS})
    B = args.batches[0] + 1                                     # odd: uneven rows
    cfg = dataclasses.replace(base, batch_size=B)
    model = build_model(cfg, info, normals, EMOTIONS, seed=0)
    model.set_statistics(feature_stats(tracks), silence)
    model.to(device)
    step = TrainStep(model, torch.optim.Adam(model.parameters(), lr=cfg.lr), sampler, cfg, device, seed=0)
    for k in range(11):
        if k in (0, 1, 10) and dist.is_main():
            torch.save({n: v.detach().cpu() for n, v in model.state_dict().items()},
                       work / f"agree_n{dist.world_size()}_k{k}.pt")
        if k < 10:
            step(k)
    dist.barrier()


class MemoryCorpus:
    """Just enough of a ProcessedDataset for extract_dataset: records, audio(rec), words(rec), sample_rate."""

    sample_rate = 16000

    def __init__(self, n_clips: int, seconds: float, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.records, self._audio, self._words = [], {}, {}
        n = int(seconds * self.sample_rate)
        for i in range(n_clips):
            rec = SimpleNamespace(id=f"clip{i:04d}", n_frames=int(seconds * 25), fps=25)
            self.records.append(rec)
            t = np.arange(n) / self.sample_rate
            self._audio[rec.id] = (0.1 * rng.normal(size=n) + 0.2 * np.sin(2 * np.pi * (120 + i) * t)).astype(
                np.float32)
            k = int(seconds // 0.4) - 1
            self._words[rec.id] = {"words": [{"word": WORDS[(i + j) % len(WORDS)], "start": 0.2 + 0.4 * j,
                                              "end": 0.5 + 0.4 * j} for j in range(k)]}

    def __len__(self) -> int:
        return len(self.records)

    def clip(self, cid: str):
        return next(r for r in self.records if r.id == cid)

    def audio(self, rec) -> np.ndarray:
        return self._audio[rec.id]

    def words(self, rec) -> dict:
        return self._words[rec.id]


def extract_rows(args, device, work: Path) -> list[dict]:
    import dataclasses

    from emohead import distributed as dist
    from emohead.config import load_profile
    from emohead.features import build_extractors, extract_dataset

    corpus = MemoryCorpus(args.extract_clips, args.extract_seconds)
    audio_s = len(corpus) * args.extract_seconds
    base = load_profile(args.profile).features
    settings = [("embedded backends (spectral, prosody, hashed), CPU", dataclasses.replace(base), "cpu")]
    if args.hubert_dir:
        settings.append(("HuBERT-base (random weights) + prosody + hashed, " + device.type,
                         dataclasses.replace(base, audio_backend="hubert", hubert_path=args.hubert_dir,
                                             audio_dim=768), str(device)))
    rows = []
    for label, cfg, dev in settings:
        extractors = build_extractors(cfg, dev)
        out = work / f"features_n{dist.world_size()}_{len(rows)}"
        # warm-up on one clip per rank (kernels, FFT plans), outside the timed run
        extract_dataset(corpus, cfg, work / f"warm_n{dist.world_size()}_{len(rows)}", device=dev, progress=False,
                        clips=[r.id for r in corpus.records[:dist.world_size()]], extractors=extractors)
        _sync(dist.local_device(dev))
        dist.barrier()
        t0 = time.perf_counter()
        store = extract_dataset(corpus, cfg, out, device=dev, progress=False, extractors=extractors)
        seconds = time.perf_counter() - t0
        assert store.last_run == {"computed": len(corpus), "cached": 0}, store.last_run
        dist.barrier()
        t0 = time.perf_counter()
        store = extract_dataset(corpus, cfg, out, device=dev, progress=False, extractors=extractors)
        cached = time.perf_counter() - t0
        assert store.last_run["computed"] == 0 and len(store) == len(corpus)
        rows.append({"what": label, "clips": len(corpus), "audio (s)": audio_s, "seconds": seconds,
                     "clips/s": len(corpus) / seconds, "x real time": audio_s / seconds, "cached re-run (s)": cached})
    return rows


def worker(args) -> None:
    import torch

    from emohead import distributed as dist

    for k, v in MULTICAST_OFF.items():
        assert os.environ.get(k) == v, f"{k} must be {v} (multicast off)"
    device = torch.device(args.device)
    dist.init_from_env(device)
    device = dist.local_device(device)
    work = Path(args.work)
    result = {"warmup": args.warmup, "world_size": dist.world_size(), "backend": torch.distributed.get_backend()
              if dist.is_initialized() else "none", "train": [], "extract": []}
    if not args.skip_train:
        agreement_states(args, device, work)
        result["train"] = train_rows(args, device, work)
    if not args.skip_extract:
        result["extract"] = extract_rows(args, device, work)
    if dist.is_main():
        (work / f"result_n{dist.world_size()}.json").write_text(json.dumps(result))
    dist.barrier()


# -- launcher side -------------------------------------------------------------------------------
def launch(n: int, args, work: Path, passthrough: list[str]) -> dict:
    env = {**os.environ, **MULTICAST_OFF, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "4"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                          os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
           str(Path(__file__).resolve()), "--worker", "--work", str(work), *passthrough]
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    print(f"  {n} process(es): {time.perf_counter() - t0:.1f} s including start-up", flush=True)
    result = json.loads((work / f"result_n{n}.json").read_text())
    print(json.dumps(result), flush=True)
    return result


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="process counts (first = baseline)")
    parser.add_argument("--profile", default="gpu", help="profile whose audio2exp model and features are used")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024], help="global batch sizes")
    parser.add_argument("--iterations", type=int, default=100, help="timed training iterations per batch size")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--clips", type=int, default=200, help="synthetic training tracks")
    parser.add_argument("--frames", type=int, default=150, help="frames per synthetic track")
    parser.add_argument("--extract-clips", type=int, default=128)
    parser.add_argument("--extract-seconds", type=float, default=8.0)
    parser.add_argument("--hubert", action="store_true", help="also time HuBERT-base geometry (random weights)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run on a CPU)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--hubert-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.batches, args.iterations, args.warmup, args.clips, args.frames = [8, 32], 10, 2, 24, 60
        args.extract_clips, args.extract_seconds, args.profile = 8, 3.0, "smoke"
    if args.worker:
        return worker(args)

    work = Path(tempfile.mkdtemp(prefix="ddp_scaling_"))
    try:
        passthrough = ["--device", args.device, "--profile", args.profile, "--batches", *map(str, args.batches),
                       "--iterations", str(args.iterations), "--warmup", str(args.warmup), "--clips", str(args.clips),
                       "--frames", str(args.frames), "--extract-clips", str(args.extract_clips),
                       "--extract-seconds", str(args.extract_seconds)]
        passthrough += ["--skip-train"] * args.skip_train + ["--skip-extract"] * args.skip_extract
        if args.hubert and not args.skip_extract:
            import torch
            from transformers import HubertConfig, HubertModel

            torch.manual_seed(0)
            HubertModel(HubertConfig()).save_pretrained(work / "hubert")     # HuBERT-base geometry, random weights
            passthrough += ["--hubert-dir", str(work / "hubert")]
        results = {n: launch(n, args, work, passthrough) for n in args.nproc}
        rows = report_rows(results, args.nproc, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in rows:
        print(r, flush=True)
    from report import machine, save_result

    from emohead.config import load_profile

    gpu = args.device.startswith("cuda")
    window = load_profile(args.profile).audio2exp.window
    name = args.name or f"ddp_scaling_{'gpu' if gpu else 'cpu'}"
    notes = [f"Scaling efficiency = rate with N processes / (N x rate with 1 process); same global batch for every N "
             f"(each rank takes its rows of it), {'NCCL, one GPU per process' if gpu else 'gloo on the CPU'}, "
             f"multicast off ({', '.join(f'{k}={v}' for k, v in MULTICAST_OFF.items())}). Training: "
             f"{args.iterations} timed iterations after {args.warmup} warm-up ones, {args.profile} profile's model "
             f"(synthetic tracks, embedded feature widths 640/40/256, window "
             f"{window}); 'max abs(w1 - wN)' compares the weights after the same iterations with 1 and N processes. Extraction: "
             f"{args.extract_clips} random-noise clips of {args.extract_seconds:g} s, backends built before timing."]
    kwargs = {"results_dir": args.results} if args.results else {}
    save_result(name, {"title": f"Scaling past one GPU ({name})", "machine": machine() + _gpu_count(),
                       "command": "python benchmarks/ddp_scaling.py " + " ".join(sys.argv[1:]),
                       "columns": ["what", "processes", "global batch", "per rank", "rate", "windows/s",
                                   "speed-up", "efficiency", "note"],
                       "rows": rows, "notes": notes, "raw": {str(k): v for k, v in results.items()}}, **kwargs)


def _gpu_count() -> str:
    import torch

    return f" x {torch.cuda.device_count()}" if torch.cuda.is_available() and torch.cuda.device_count() > 1 else ""


def report_rows(results: dict[int, dict], nprocs: list[int], work: Path) -> list[dict]:
    import torch

    base_n = nprocs[0]
    rows = []
    if results[base_n]["train"]:
        ref = {k: torch.load(work / f"agree_n{base_n}_k{k}.pt", weights_only=True) for k in (0, 1, 10)}
        for n in nprocs[1:]:
            parts = []
            for k in (1, 10):
                other = torch.load(work / f"agree_n{n}_k{k}.pt", weights_only=True)
                diff = max(float((other[p] - ref[k][p]).abs().max()) for p in ref[k])
                moved = max(float((ref[k][p] - ref[0][p]).abs().max()) for p in ref[k])
                parts.append(f"after {k} step(s) max abs(w1 - w{n}) = {diff:.1e} (update max abs(w1 - w0) = {moved:.1e})")
            rows.append({"what": "weights, 1 vs N processes", "processes": n,
                         "global batch": results[base_n]["train"][0]["global batch"] + 1, "note": "; ".join(parts)})
    for i, tr in enumerate(results[base_n]["train"]):
        B = tr["global batch"]
        ref = torch.load(work / f"state_n{base_n}_b{B}.pt", weights_only=True)
        for n in nprocs:
            r = results[n]["train"][i]
            state = torch.load(work / f"state_n{n}_b{B}.pt", weights_only=True)
            diff = max(float((state[k].float() - ref[k].float()).abs().max()) for k in ref)
            speedup = r["it/s"] / tr["it/s"]
            rows.append({"what": "audio-expression training", "processes": n, "global batch": B,
                         "per rank": r["per rank"], "rate": f"{fmt(r['it/s'])} it/s", "windows/s": fmt(r["windows/s"], 0),
                         "speed-up": f"{speedup:.2f}", "efficiency": f"{speedup * base_n / n:.0%}",
                         "note": f"input {r['input ms/it']:.1f} ms/it; max abs(w1 - wN) = {diff:.1e} after "
                                 f"{r['iterations'] + results[n].get('warmup', 10)} its"})
    for i, ex in enumerate(results[base_n]["extract"]):
        for n in nprocs:
            r = results[n]["extract"][i]
            speedup = r["clips/s"] / ex["clips/s"]
            rows.append({"what": f"feature extraction, {r['what']}", "processes": n, "global batch": "",
                         "per rank": f"{-(-r['clips'] // n)} clips",
                         "rate": f"{fmt(r['clips/s'])} clips/s ({fmt(r['x real time'], 0)}x real time)",
                         "windows/s": "", "speed-up": f"{speedup:.2f}", "efficiency": f"{speedup * base_n / n:.0%}",
                         "note": f"cached re-run {r['cached re-run (s)']:.2f} s"})
    return rows


if __name__ == "__main__":
    main()
