"""Speed of per-frame feature extraction.

    python benchmarks/features_speed.py --corpus DIR --profile cpu     # embedded backends on a corpus
    python benchmarks/features_speed.py --hubert-base --device cuda    # HuBERT-base (random weights) on a GPU

Targets (issue 4): report the cpu corpus on a 2-core CPU; HuBERT-base on the H200 at >= 500x real time.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile  # noqa: E402


def corpus_rows(corpus: Path, profile_name: str, device: str) -> list[dict]:
    from emohead.data import ProcessedDataset
    from emohead.features import extract_dataset

    ds = ProcessedDataset(corpus)
    profile = load_profile(profile_name)
    out = Path(tempfile.mkdtemp(prefix="features_"))
    try:
        t0 = time.perf_counter()
        extract_dataset(ds, profile.features, out, device=device, progress=False)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_dataset(ds, profile.features, out, device=device, progress=False)
        cached = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    frames = sum(c.n_frames for c in ds.records)
    audio_s = frames / ds.fps
    return [{"what": f"{profile_name} corpus, embedded backends (spectral, prosody, hashed)", "clips": len(ds),
             "audio (s)": f"{audio_s:.0f}", "seconds": f"{first:.1f}", "x real time": f"{audio_s / first:.0f}",
             "cached re-run (s)": f"{cached:.2f}"}]


def hubert_rows(device: str, repeats: int = 5) -> list[dict]:
    import torch
    from transformers import HubertConfig, HubertModel

    from emohead.features.hubert import HubertExtractor

    work = Path(tempfile.mkdtemp(prefix="hubert_"))
    try:
        torch.manual_seed(0)
        HubertModel(HubertConfig()).save_pretrained(work)   # HuBERT-base geometry, random weights
        extractor = HubertExtractor(str(work), 768, device=device)
        rows = []
        rng = np.random.default_rng(0)
        for seconds in (3.0, 60.0):
            audio = (0.1 * rng.normal(size=int(16000 * seconds))).astype(np.float32)
            n_frames = int(seconds * 25)
            extractor(audio, n_frames, 25)  # warm-up
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(repeats):
                out = extractor(audio, n_frames, 25)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            per = (time.perf_counter() - t0) / repeats
            rows.append({"what": f"HuBERT-base (random weights), one {seconds:.0f} s clip, fp32",
                         "clips": 1, "audio (s)": f"{seconds:.0f}", "seconds": f"{per:.4f}",
                         "x real time": f"{seconds / per:.0f}", "cached re-run (s)": "",
                         "shape": "x".join(map(str, out.shape))})
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None, help="processed dataset to extract")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--hubert-base", action="store_true", help="time a HuBERT-base-sized model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--name", default=None, help="result file name in reports/benchmarks/")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON result")
    args = parser.parse_args()
    rows = []
    if args.corpus is not None:
        rows += corpus_rows(args.corpus, args.profile, args.device)
    if args.hubert_base:
        rows += hubert_rows(args.device)
    if not rows:
        parser.error("give --corpus DIR and/or --hubert-base")
    for r in rows:
        print(r, flush=True)
    name = args.name or f"features_speed_{'gpu' if args.device.startswith('cuda') else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    save_result(name, {"title": f"Feature extraction ({name})", "machine": machine(),
                       "command": "python benchmarks/features_speed.py " + " ".join(sys.argv[1:]),
                       "columns": ["what", "clips", "audio (s)", "seconds", "x real time", "cached re-run (s)"],
                       "rows": rows}, **kwargs)


if __name__ == "__main__":
    main()
