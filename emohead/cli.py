"""The ``emohead`` command: one sub-command per stage plus ``reproduce``.

Every sub-command takes ``--profile`` (smoke, cpu, gpu, paper) and repeated
``--set stage.field=value`` overrides; bad arguments exit with status 2 and a message naming them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from .config import PROFILES, ConfigError, Profile, load_profile, parse_override, to_dict

log = logging.getLogger("emohead")


class CommandError(Exception):
    """A problem with the command's arguments or inputs, reported without a traceback."""


def _overrides_from_args(args: argparse.Namespace) -> dict:
    overrides = dict(parse_override(s) for s in args.set)
    if getattr(args, "seed", None) is not None:
        overrides["seed"] = args.seed
    return overrides


def _profile_from_args(args: argparse.Namespace) -> Profile:
    return load_profile(args.profile, _overrides_from_args(args))


def _alpha_source(args: argparse.Namespace) -> dict:
    """{"alpha_source": ...} reading alpha from `emohead extract`'s analysis/ folder when --analysis is given."""
    if args.analysis is None:
        return {}
    from .extract import analysis_source

    if not Path(args.analysis).is_dir():
        raise CommandError(f"--analysis {args.analysis}: no such folder (run `emohead extract` first)")
    return {"alpha_source": analysis_source(args.analysis)}


# --------------------------------------------------------------------------------------------
# Sub-commands
# --------------------------------------------------------------------------------------------
def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    overrides = _overrides_from_args(args)
    load_profile(args.profile, overrides)  # validate before any work
    results = reproduce(args.profile, args.out, notebooks_dir=args.notebooks, force=args.force,
                        only=args.only or None, overrides=overrides, kernel_name=args.kernel)
    ran = sum(r.status == "ran" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    print(f"reproduce [{args.profile}]: {ran} notebook(s) ran, {skipped} skipped; "
          f"summary: {Path(args.out) / 'summary.md'}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth.corpus import generate_corpus

    cfg = _profile_from_args(args)
    root = generate_corpus(cfg, args.out, overwrite=args.force, progress=True)
    print(f"synthetic corpus written to {root}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from .extract import run_extraction

    cfg = _profile_from_args(args)
    if args.analyser is not None and not Path(args.analyser).is_file():
        raise CommandError(f"--analyser {args.analyser}: no such file")
    result = run_extraction(cfg, args.data, args.out, analyser_path=args.analyser, progress=True)
    m = result.dataset_metrics
    extra = (f"; test split: alpha RMSE {m['alpha_rmse']:.3f}, landmarks {m['landmark_px']:.2f} px, "
             f"clip emotion accuracy {m['clip_emotion_accuracy']:.2f}") if m else ""
    print(f"features -> {result.features_dir}; analysis -> {result.analysis_dir}{extra}")
    return 0


def cmd_fit_hyperplanes(args: argparse.Namespace) -> int:
    from .data import ProcessedDataset
    from .emotion import hyperplane_report
    from .files import write_json_atomic

    cfg = _profile_from_args(args)
    ds = ProcessedDataset(args.data)
    if args.speaker is not None and args.speaker not in ds.speakers:
        raise CommandError(f"--speaker {args.speaker!r} is not in {args.data} (speakers: {list(ds.speakers)})")
    true_dirs = None
    if ds.source == "synthetic":
        from .face import build_procedural_model
        from .synth import emotion_loadings

        true_dirs = dict(zip(ds.emotions, emotion_loadings(build_procedural_model(), ds.emotions)))
    source = _alpha_source(args)
    planes, report = hyperplane_report(ds, cfg.hyperplanes, seed=cfg.seed, speaker=args.speaker,
                                       true_directions=true_dirs, **source)
    report["alpha_source"] = "analyser" if source else "dataset"
    path = planes.save(Path(args.out) / "hyperplanes.npz")
    write_json_atomic(Path(args.out) / "report.json", report)
    acc = report["accuracy_balanced"]
    print(f"hyperplanes for {len(planes.emotions)} emotions -> {path}; held-out accuracy "
          f"{min(acc.values()):.3f}..{max(acc.values()):.3f}; report: {Path(args.out) / 'report.json'}")
    return 0


def cmd_train_a2e(args: argparse.Namespace) -> int:
    from .audio2exp import train_audio2exp
    from .data import ProcessedDataset
    from .emotion import EmotionHyperplanes
    from .features import FeatureStore

    cfg = _profile_from_args(args)
    ds = ProcessedDataset(args.data)
    features = args.features if args.features is not None else Path(args.data).parent / "features"
    if not (Path(features) / "index.json").is_file():
        raise CommandError(f"--features {features}: no feature folder (index.json) there; run "
                           f"`emohead extract --data {args.data} --out DIR` and pass --features DIR/features")
    if not Path(args.hyperplanes).is_file():
        raise CommandError(f"--hyperplanes {args.hyperplanes}: no such file (run `emohead fit-hyperplanes`)")
    planes = EmotionHyperplanes.load(args.hyperplanes)
    source = _alpha_source(args)
    from .config import resolve_device

    model, history = train_audio2exp(ds, FeatureStore(features), planes, cfg.audio2exp, args.out, seed=cfg.seed,
                                     device=resolve_device(cfg), progress=True, **source)
    final = history["final_val"]
    print(f"audio-expression model ({cfg.audio2exp.variant}, {cfg.audio2exp.loss}) -> {args.out}; "
          f"test-split RMSE {final['rmse']:.3f} over {final['frames']} frames")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    cfg = _profile_from_args(args)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser, *, default_profile: str = "cpu") -> None:
    parser.add_argument("--profile", default=default_profile, choices=sorted(PROFILES),
                        help=f"named configuration (default: {default_profile})")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                        help="override one config field, e.g. --set audio2exp.iterations=500 (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emohead", description="EmoHead reproduction: "
                                     "audio + emotion tag -> 3DMM expression -> talking-head video.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("reproduce", help="run every notebook through Papermill with a profile")
    _common(p)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: reports/<profile>)")
    p.add_argument("--force", action="store_true", help="re-run notebooks whose outputs are complete")
    p.add_argument("--only", nargs="*", default=[], metavar="NN", help="run only these notebooks (numbers or names)")
    p.add_argument("--notebooks", type=Path, default=None, help="folder of numbered notebooks (default: ./notebooks)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python)")
    p.add_argument("--seed", type=int, default=None, help="override the global seed")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("synth", help="generate the embedded synthetic corpus")
    _common(p)
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    p.add_argument("--seed", type=int, default=None, help="seed of the synthetic world (synth.seed)")
    p.add_argument("--force", action="store_true", help="replace an existing dataset at --out")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("extract", help="per-frame features (v~, e~, g~) and face analysis of a dataset")
    _common(p)
    p.add_argument("--data", type=Path, required=True, help="processed dataset folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (features/, analyser/, analysis/)")
    p.add_argument("--analyser", type=Path, default=None, help="a trained analyser checkpoint (default: train one)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("fit-hyperplanes", help="train the emotion hyperplanes (one linear SVM per emotion)")
    _common(p)
    p.add_argument("--data", type=Path, required=True, help="processed dataset folder")
    p.add_argument("--out", type=Path, required=True, help="folder for hyperplanes.npz/.json and report.json")
    p.add_argument("--speaker", default=None, help="person whose frames train the planes (default: the target)")
    p.add_argument("--analysis", type=Path, default=None,
                   help="use alpha read from video by the analyser (the analysis/ folder of `emohead extract`) "
                        "instead of the dataset's alpha, as the paper uses 3DDFA")
    p.set_defaults(func=cmd_fit_hyperplanes)

    p = sub.add_parser("train-a2e", help="train the audio-expression module (resumes an interrupted run)")
    _common(p)
    p.add_argument("--data", type=Path, required=True, help="processed dataset folder")
    p.add_argument("--hyperplanes", type=Path, required=True, help="hyperplanes.npz from `emohead fit-hyperplanes`")
    p.add_argument("--out", type=Path, required=True, help="output folder (model, checkpoint, history)")
    p.add_argument("--features", type=Path, default=None,
                   help="feature folder of `emohead extract` (default: features/ beside --data)")
    p.add_argument("--analysis", type=Path, default=None,
                   help="train on alpha read from video by the analyser (analysis/ of `emohead extract`)")
    p.add_argument("--seed", type=int, default=None, help="override the global seed")
    p.set_defaults(func=cmd_train_a2e)

    p = sub.add_parser("config", help="print a profile's resolved configuration as YAML")
    _common(p)
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "reproduce" and args.out is None:
        args.out = Path("reports") / args.profile
    if args.command == "synth" and args.seed is not None:
        args.set = [*args.set, f"synth.seed={args.seed}"]
        args.seed = None
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, CommandError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"emohead {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emohead {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:
        from .reproduce import ReproduceError

        if isinstance(err, ReproduceError):
            print(f"emohead {args.command}: error: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
