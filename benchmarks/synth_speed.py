"""How fast the synthetic corpus is generated, per profile.

    python benchmarks/synth_speed.py --profiles smoke cpu          # on this machine
    python benchmarks/synth_speed.py --profiles gpu --device cuda  # on the GPU machine

Targets (issue 3): smoke < 60 s and cpu < 5 min on a 2-core CPU; gpu (target actor at 512 px,
>= 5 minutes of video) < 5 min on an H200.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.config import load_profile  # noqa: E402
from emohead.data import ProcessedDataset  # noqa: E402
from emohead.synth.corpus import generate_corpus  # noqa: E402

TARGET_SECONDS = {"smoke": 60, "cpu": 300, "gpu": 300}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["smoke", "cpu"])
    parser.add_argument("--device", default=None, help="torch device (default: the profile's)")
    parser.add_argument("--name", default="synth_speed_cpu", help="result file name in reports/benchmarks/")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON result")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated corpora under this folder")
    args = parser.parse_args()

    rows = []
    for name in args.profiles:
        profile = load_profile(name)
        work = Path(tempfile.mkdtemp(prefix=f"synth_{name}_"))
        out = (args.keep or work) / f"data_{name}"
        t0 = time.perf_counter()
        generate_corpus(profile, out, overwrite=True, progress=True, device=args.device)
        seconds = time.perf_counter() - t0
        ds = ProcessedDataset(out)
        target = [c for c in ds.records if c.speaker == ds.extra["target_speaker"]]
        frames = sum(c.n_frames for c in ds.records)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        rows.append({
            "profile": name, "clips": len(ds), "frames": frames,
            "target px": profile.synth.image_size,
            "target video (min)": f"{sum(c.n_frames for c in target) / ds.fps / 60:.1f}",
            "all video (min)": f"{frames / ds.fps / 60:.1f}",
            "seconds": f"{seconds:.1f}", "frames/s": f"{frames / seconds:.0f}",
            "target (s)": TARGET_SECONDS.get(name, ""),
            "met": "yes" if seconds < TARGET_SECONDS.get(name, float("inf")) else "NO",
            "disk (MB)": f"{size / 1e6:.0f}",
        })
        print(rows[-1], flush=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    cols = list(rows[0])
    kwargs = {"results_dir": args.results} if args.results else {}
    save_result(args.name, {"title": f"Synthetic corpus generation ({args.name})", "machine": machine(),
                            "command": "python benchmarks/synth_speed.py " + " ".join(sys.argv[1:]),
                            "columns": cols, "rows": rows}, **kwargs)


if __name__ == "__main__":
    main()
