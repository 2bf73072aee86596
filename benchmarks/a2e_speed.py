"""Speed of the audio-expression module: training iterations per second and long-audio inference.

    python benchmarks/a2e_speed.py --device cpu --profile cpu          # 2-core CPU, the cpu profile's model
    python benchmarks/a2e_speed.py --device cuda --profile gpu         # the H200, the gpu profile's model

Training is timed on random batches of the profile's shape (forward + L_reg_const + backward + Adam step);
inference on a 60 s clip (1500 frames) with the paper's model (d = dh = 512) and feature widths
(HuBERT 768, emotion2vec 768, LLaMA-2 4096), including the host-to-device copies. Target (issue 6):
inference at least 1000x real time on the H200.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.audio2exp import FeatureInfo, build_model, l_reg_const, predict  # noqa: E402
from emohead.config import load_profile  # noqa: E402

EMBEDDED_DIMS = {"audio": 640, "emotion": 40, "text": 256}
PAPER_DIMS = {"audio": 768, "emotion": 768, "text": 4096}
EMOTIONS = ["angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised"]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_model(cfg, dims: dict[str, int], device: str):
    normals = torch.nn.functional.normalize(torch.randn(len(EMOTIONS), 10), dim=1).numpy()
    info = FeatureInfo(dims=dims, backends={k: "random" for k in dims})
    return build_model(cfg, info, normals, EMOTIONS, seed=0).to(device)


def training_row(cfg, dims: dict[str, int], device: str, label: str, steps: int) -> dict:
    model = make_model(cfg, dims, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    B, W, n = cfg.batch_size, cfg.window, cfg.n_neighbors
    batch = {s: torch.randn(B, n + W, d, device=device) for s, d in dims.items()}
    target, partner = torch.randn(B, W, 10, device=device), torch.randn(B, W, 10, device=device)
    has = torch.ones(B, dtype=torch.bool, device=device)
    tags = torch.randint(0, len(EMOTIONS), (B,), device=device)

    def step() -> None:
        out = model(batch["audio"], batch["emotion"], batch["text"])
        loss = l_reg_const(target, out.refined(model.tag_normals(tags)), partner, has, cfg.rho)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    per = (time.perf_counter() - t0) / steps
    return {"what": f"training step, {label}", "model": f"d={cfg.d}, window {W}, batch {B}",
            "seconds": f"{per * 1000:.2f} ms", "rate": f"{1 / per:.0f} it/s"}


def inference_row(cfg, dims: dict[str, int], device: str, label: str, seconds: float = 60.0, repeats: int = 10) -> dict:
    model = make_model(cfg, dims, device).eval()
    T = int(seconds * 25)
    rng = np.random.default_rng(0)
    feats = SimpleNamespace(**{s: rng.normal(size=(T, d)).astype(np.float32) for s, d in dims.items()})
    pred = predict(model, feats)              # warm-up
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        pred = predict(model, feats)
    sync(device)
    per = (time.perf_counter() - t0) / repeats
    assert pred.alpha_tilde.shape == (T, 10)
    return {"what": f"inference, one {seconds:.0f} s clip ({T} frames), {label}", "model": f"d={cfg.d}, window {cfg.window}",
            "seconds": f"{per * 1000:.1f} ms", "rate": f"{seconds / per:.0f}x real time"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", default="cpu", help="profile whose audio2exp config is timed for training")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 30 CPU / 200 GPU)")
    parser.add_argument("--name", default=None)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    gpu = args.device.startswith("cuda")
    steps = args.steps or (200 if gpu else 30)
    prof_cfg = load_profile(args.profile).audio2exp
    paper_cfg = load_profile("paper").audio2exp
    rows = [training_row(prof_cfg, EMBEDDED_DIMS, args.device, f"{args.profile} profile, embedded feature widths", steps),
            training_row(dataclasses.replace(paper_cfg, batch_size=prof_cfg.batch_size), PAPER_DIMS, args.device,
                         "paper model and feature widths", steps),
            inference_row(paper_cfg, PAPER_DIMS, args.device, "paper model and feature widths")]
    for r in rows:
        print(r, flush=True)
    name = args.name or f"a2e_speed_{'gpu' if gpu else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    save_result(name, {"title": f"Audio-expression module ({name})", "machine": machine(),
                       "command": "python benchmarks/a2e_speed.py " + " ".join(sys.argv[1:]),
                       "columns": ["what", "model", "seconds", "rate"], "rows": rows}, **kwargs)


if __name__ == "__main__":
    main()
