"""The audio-expression module against its baselines and its literal form, over several seeds (issue 17).

    python benchmarks/a2e_comparison.py --profile cpu --seeds 0 1 2 3 4          # 2-core CPU, ~15 min
    python benchmarks/a2e_comparison.py --profile gpu --seeds 0 --device cuda    # the H200, single seed

Builds (or reuses) the profile's corpus, features and hyperplanes in ``--run`` (default ``runs/<profile>/run``,
the folder `make demo` uses), trains every variant for every seed under ``--run/a2e_comparison/`` and scores all
predictors on the same held-out clips with :func:`emohead.audio2exp.comparison.compare`: held-out RMSE, motion
correlation (per-clip-centred alpha) and MAR correlation (mouth openness of the face driven by alpha^ against
the clip's true MAR). It also measures how much of each emotion's mean offset lies along the refinement
directions (:func:`emohead.emotion.hyperplanes.offset_alignment`). Writes
``reports/benchmarks/a2e_comparison_<profile>.json`` (mean +- std over seeds; every seed's row in "per_seed").
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import RESULTS, machine, save_result  # noqa: E402

import emohead as eh  # noqa: E402
from emohead.audio2exp import comparison  # noqa: E402

VARIANTS = {
    "default (completed eq. 2-9, anchored at mu_z)": {},
    "literal eq. 2-9 as printed": {"variant": "literal", "refine_along": "normal", "tag_anchor": False},
    "completed eq. 2-9, no anchor (eq. 9 as printed)": {"tag_anchor": False},
    "completed, anchored, refined along Sigma w_z": {"refine_along": "pattern"},
    "no_alignment (concat + transformer layer)": {"variant": "no_alignment"},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--device", default=None, help="torch device (default: the profile's)")
    ap.add_argument("--run", type=Path, default=None, help="run folder (default runs/<profile>/run)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), help="names from VARIANTS")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="profile override")
    ap.add_argument("--name", default=None, help="result name (default a2e_comparison_<profile>)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    args = ap.parse_args(argv)

    overrides = dict(kv.split("=", 1) for kv in args.set)
    profile = eh.config.load_profile(args.profile, {k: json.loads(v) if v[:1] in "0123456789-[{tf" else v
                                                    for k, v in overrides.items()})
    device = args.device or eh.config.resolve_device(profile)
    run = args.run or Path("runs") / args.profile / "run"
    start = time.perf_counter()
    ds = eh.data.ProcessedDataset(eh.synth.ensure_corpus(profile, run / "data", device=device))
    store = eh.features.extract_dataset(ds, profile.features, run / "features", device=device)
    planes = eh.emotion.ensure_hyperplanes(ds, profile.hyperplanes, run / "hyperplanes" / "hyperplanes.npz",
                                           seed=profile.seed)
    prep_s = time.perf_counter() - start
    variants = {name: VARIANTS[name] for name in args.variants}
    rows = comparison.compare(ds, store, planes, profile.audio2exp, run / "a2e_comparison", variants=variants,
                              seeds=args.seeds, face_model=eh.face.build_procedural_model(), device=device,
                              progress=True, corrections=[n for n in variants if VARIANTS[n] == {"tag_anchor": False}])
    summary = comparison.summarise(rows)
    train_alpha = eh.emotion.gather_frames(ds, split="train")
    alignment = eh.emotion.hyperplanes.offset_alignment(planes, train_alpha.alpha, train_alpha.labels)

    def cell(e: dict, key: str) -> str:
        if key not in e:
            return ""
        return f"{e[key]:.3f}" + (f" +- {e[key + '_std']:.3f}" if e["seeds"] > 1 else "")

    result = {
        "title": f"Audio-expression module against its baselines ({args.profile} profile, held-out clips)",
        "machine": machine(),
        "command": "python benchmarks/a2e_comparison.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "columns": ["predictor", "seeds", "held-out RMSE", "offset RMSE", "motion corr", "MAR corr",
                    "RMSE below emotion mean"],
        "rows": [{"predictor": e["predictor"], "seeds": e["seeds"], "held-out RMSE": cell(e, "rmse"),
                  "offset RMSE": cell(e, "offset_rmse"),
                  "motion corr": cell(e, "motion_corr"), "MAR corr": cell(e, "mar_corr"),
                  "RMSE below emotion mean": e.get("beats_emotion_mean", "")} for e in summary],
        "notes": [
            f"Mean +- std over seeds {args.seeds}; test clips: {len(ds.clips(split='test'))}; "
            f"{profile.audio2exp.iterations} a2e iterations, d={profile.audio2exp.d}; corpus, features and "
            f"hyperplanes {prep_s:.0f} s, all in {time.perf_counter() - start:.0f} s on {device}. "
            "Offset RMSE: per-clip mean alpha (the emotion-offset part of the RMSE). "
            "Motion corr: per-clip-centred alpha (0 for audio-blind predictors). MAR corr: mouth openness of the "
            "face driven by the prediction against the clip's true MAR.",
            "Emotion offsets (mean alpha of the emotion minus that of the others, training frames) and their cosine "
            "with the SVM normal w_z and with its activation pattern Sigma w_z: "
            + "; ".join(f"{e} |off| {a['offset_norm']:.2f}, cos w {a['cos_normal']:.2f}, "
                        f"cos Sigma w {a.get('cos_pattern', float('nan')):.2f}" for e, a in alignment.items()),
        ],
        "per_seed": rows,
        "offset_alignment": alignment,
    }
    path = save_result(args.name or f"a2e_comparison_{args.profile}", result, args.results)
    print(comparison.markdown(summary))
    print(result["notes"][1])
    print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
