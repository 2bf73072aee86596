"""The ``emohead`` command: one sub-command per stage plus ``reproduce`` and ``compare``.

Every sub-command but ``compare`` takes ``--profile`` (smoke, cpu, gpu, paper) and repeated
``--set stage.field=value`` overrides; bad arguments exit with status 2 and a message naming them.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from .config import PROFILES, ConfigError, Profile, load_profile, parse_override, to_dict
from .files import FolderLock

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
def check_output_folder(path: Path, option: str) -> None:
    """Raise CommandError naming ``option`` when ``path`` cannot become a folder this process writes into."""
    probe = path
    while not probe.exists():                    # the nearest existing ancestor decides
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"lies under {probe}, which is a file"
        raise CommandError(f"{option} {path}: {where}; choose a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise CommandError(f"{option} {path}: {probe} is not writable")
    if probe.exists():                           # os.access trusts the mode bits (and root passes them): really try
        import tempfile

        try:
            with tempfile.TemporaryFile(dir=probe):
                pass
        except OSError as err:
            raise CommandError(f"{option} {path}: {probe} is not writable (creating a file there failed: "
                               f"{err.strerror})") from None


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import ReferenceFolderError, reference_marker, reproduce

    overrides = _overrides_from_args(args)
    load_profile(args.profile, overrides)  # validate before any work
    try:
        results = reproduce(args.profile, args.out, notebooks_dir=args.notebooks, force=args.force,
                            only=args.only or None, overrides=overrides, kernel_name=args.kernel,
                            dry_run=args.dry_run, update_reference=args.update_reference, data_dir=args.data_dir)
    except ReferenceFolderError as err:
        raise CommandError(str(err)) from None
    if args.dry_run:
        to_run = sum(r.status == "run" for r in results)
        print(f"reproduce [{args.profile}] dry run into {args.out}: {to_run} notebook(s) would run, "
              f"{len(results) - to_run} would be skipped")
        width = max(len(r.name) for r in results)
        for r in results:
            print(f"  {r.name.ljust(width)}  {r.status:4}  {r.reason}")
        marker = reference_marker(args.out)
        if marker is not None and not args.update_reference:
            print(f"note: {args.out} is a reference folder ({marker.name}); a real run there needs --update-reference")
        return 0
    ran = sum(r.status == "ran" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    print(f"reproduce [{args.profile}]: {ran} notebook(s) ran, {skipped} skipped; "
          f"summary: {Path(args.out) / 'summary.md'}; open the executed notebooks with "
          f"`.venv/bin/jupyter lab {args.out}`")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_runs

    if args.rtol < 0:
        raise CommandError(f"--rtol {args.rtol}: must be >= 0")
    for label, folder in (("RUN", args.run), ("REFERENCE", args.reference)):
        if not Path(folder).is_dir():
            raise CommandError(f"{label} {folder}: no such folder")
    result = compare_runs(args.run, args.reference, rtol=args.rtol)
    print(result.to_text())
    return 1 if args.strict and not result.ok else 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth.corpus import generate_corpus

    cfg = _profile_from_args(args)
    root = generate_corpus(cfg, args.out, overwrite=args.force, progress=True)
    print(f"synthetic corpus written to {root}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from . import distributed
    from .config import resolve_device
    from .extract import run_extraction

    cfg = _profile_from_args(args)
    if args.analyser is not None and not Path(args.analyser).is_file():
        raise CommandError(f"--analyser {args.analyser}: no such file")
    distributed.init_from_env(resolve_device(cfg))      # under torchrun: clips sharded over the processes
    result = run_extraction(cfg, args.data, args.out, analyser_path=args.analyser, progress=True)
    if not distributed.is_main():
        return 0
    m = result.dataset_metrics
    extra = (f"; test split: alpha RMSE {m['alpha_rmse']:.3f}, landmarks {m['landmark_px']:.2f} px, "
             f"clip emotion accuracy {m['clip_emotion_accuracy']:.2f}") if m else ""
    print(f"features -> {result.features_dir}; analysis -> {result.analysis_dir}{extra}")
    return 0


def cmd_fit_hyperplanes(args: argparse.Namespace) -> int:
    with FolderLock(Path(args.out)):                      # one writer per output folder (docs/faults.md)
        return _fit_hyperplanes(args)


def _fit_hyperplanes(args: argparse.Namespace) -> int:
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
    held_out = (f"held-out accuracy {min(acc.values()):.3f}..{max(acc.values()):.3f}" if acc else
                "no held-out accuracy (the test split holds frames of too few emotions)")
    print(f"hyperplanes for {len(planes.emotions)} emotions -> {path}; {held_out}; "
          f"report: {Path(args.out) / 'report.json'}")
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
    from . import distributed
    from .config import resolve_device

    distributed.init_from_env(resolve_device(cfg))      # under torchrun: DistributedDataParallel
    model, history = train_audio2exp(ds, FeatureStore(features), planes, cfg.audio2exp, args.out, seed=cfg.seed,
                                     device=resolve_device(cfg), progress=True, **source)
    if not distributed.is_main():
        return 0
    final = history["final_val"]
    print(f"audio-expression model ({cfg.audio2exp.variant}, {cfg.audio2exp.loss}) -> {args.out}; "
          f"test-split RMSE {final['rmse']:.3f} over {final['frames']} frames")
    return 0


def _load_a2e(path: Path, device: str):
    from .audio2exp import load_audio2exp

    if not (Path(path) / "model.json").is_file():
        raise CommandError(f"--a2e {path}: no trained audio-expression model there (model.json); run `emohead train-a2e`")
    return load_audio2exp(path, device)


def _analyser_for(args: argparse.Namespace, device: str):
    """--analyser, or the one `emohead extract` wrote beside --data (analyser/analyser.safetensors), or None."""
    from .analyser.model import load_analyser

    path = args.analyser if args.analyser is not None else Path(args.data).parent / "analyser" / "analyser.safetensors"
    if not Path(path).is_file():
        if args.analyser is not None:
            raise CommandError(f"--analyser {path}: no such file")
        return None
    return load_analyser(path, device=device)


def cmd_train_nerf(args: argparse.Namespace) -> int:
    from .config import resolve_device
    from .data import ProcessedDataset
    from .render.training import code_kind_for_variant, train_nerf

    cfg = _profile_from_args(args)
    device = resolve_device(cfg)
    ds = ProcessedDataset(args.data)
    a2e = _load_a2e(args.a2e, "cpu")
    analyser = _analyser_for(args, device)
    if analyser is None and cfg.nerf.refine_start < cfg.nerf.iterations:
        raise CommandError(f"the L_cord / L_shape stage needs the face analyser: pass --analyser FILE (`emohead extract` "
                           f"writes analyser/analyser.safetensors), or --set nerf.refine_start={cfg.nerf.iterations}")
    nerf, history = train_nerf(ds, cfg.nerf, args.out, speaker=args.speaker, code=code_kind_for_variant(a2e.cfg.variant),
                               analyser=analyser, seed=cfg.seed, device=device, progress=True, **_alpha_source(args))
    final = history["final_val"]
    print(f"head NeRF of {history['speaker']} ({nerf.code_kind} codes, {history['train_frames']} frames at "
          f"{history['image_size']} px) -> {args.out}; test frames: PSNR {final['psnr']:.2f} dB "
          f"(head {final['psnr_head']:.2f} dB), {history['seconds']:.0f} s")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    with FolderLock(Path(args.out)):                      # one writer per output folder (docs/faults.md)
        return _render(args)


def _render(args: argparse.Namespace) -> int:
    from .config import resolve_device
    from .data import ProcessedDataset
    from .features import FeatureStore
    from .pipeline import EmotionControl, audio_features, driving_track, read_speech, render_video, view_sweep
    from .render import load_nerf

    cfg = _profile_from_args(args)
    device = resolve_device(cfg)
    ds = ProcessedDataset(args.data)
    nerf = load_nerf(args.nerf, device)
    a2e = _load_a2e(args.a2e, device)
    speaker = nerf.meta.get("speaker", ds.speakers[0])
    if args.to is None and (args.weight is not None or args.switch_at is not None or args.sweep):
        raise CommandError("--weight, --switch-at and --sweep need --to EMOTION (the second emotion)")
    if args.weight is not None and not 0.0 <= args.weight <= 1.0:
        raise CommandError(f"--weight {args.weight:g}: must lie in [0, 1] (the share of --to in the blend)")
    if not args.ramp >= 0.0:
        raise CommandError(f"--ramp {args.ramp:g}: must be >= 0 seconds")
    if args.max_clips < 1:
        raise CommandError(f"--max-clips {args.max_clips}: must be >= 1")
    for option, tag in (("--emotion", args.emotion), ("--to", args.to)):     # before any work, listing the known tags
        if tag is not None and tag not in a2e.emotions:
            raise CommandError(f"{option} {tag}: unknown emotion {tag!r}; the audio-expression model knows "
                               f"{list(a2e.emotions)}")
    jobs = []   # (name, features, audio, sample_rate, driving clip id, default emotion)
    if args.audio is not None:
        try:
            audio, sr, words = read_speech(args.audio, args.words)       # checked: the file, its samples, the words
        except ValueError as err:
            raise CommandError(str(err)) from None
        if words is None and cfg.features.transcript_backend == "dataset":
            raise CommandError(f"--audio {args.audio} needs --words FILE.json (its transcript with word times) while "
                               f"features.transcript_backend=dataset; or --set features.transcript_backend=funasr")
        feats = audio_features(cfg.features, audio, sr, ds.fps, words, device=device, name=str(args.audio))
        drive = args.driving_clip or ds.clips(split="test", speaker=speaker)[0].id
        jobs.append((Path(args.audio).stem, feats, audio, sr, drive, args.emotion or "neutral"))
    else:
        features = args.features if args.features is not None else Path(args.data).parent / "features"
        if not (Path(features) / "index.json").is_file():
            raise CommandError(f"--features {features}: no feature folder (index.json); run `emohead extract`")
        store = FeatureStore(features)
        clips = args.clip or [c.id for c in ds.clips(split="test", speaker=speaker)][:args.max_clips]
        for cid in clips:
            if cid not in store:
                raise CommandError(f"--clip {cid}: no features in {features} (clips: {store.clip_ids[:5]} ...)")
            rec = ds.clip(cid)
            jobs.append((cid, store.get(cid), ds.audio(rec), ds.sample_rate, args.driving_clip or cid, rec.emotion))
    if args.tau_scale < 0 or args.tau_scale != args.tau_scale:
        raise CommandError(f"--tau-scale {args.tau_scale}: must be >= 0 (0 = the neutral face, 1 = as trained)")
    threads = {}
    if args.encoder_threads is not None:
        if not 1 <= args.encoder_threads <= 64:
            raise CommandError(f"--encoder-threads {args.encoder_threads}: must be in 1..64")
        threads = {"encoder_threads": args.encoder_threads}
    out = Path(args.out)
    written = []
    for name, feats, audio, sr, drive_id, default_emotion in jobs:
        n = feats.audio.shape[0]
        if args.switch_at is not None and not args.sweep and not 0.0 <= args.switch_at <= n / ds.fps:
            raise CommandError(f"--switch-at {args.switch_at:g}: outside clip {name} (0 to {n / ds.fps:.2f} s)")
        switch_at = 0.0 if args.sweep else args.switch_at
        ramp = n / ds.fps if args.sweep else args.ramp
        control = EmotionControl(args.emotion or default_emotion, to=args.to, weight=args.weight or 0.0,
                                 switch_at=switch_at, ramp=ramp, tau_scale=args.tau_scale)
        yaw = view_sweep(n, args.yaw_sweep) if args.yaw_sweep else 0.0
        label = (f"{control.emotion}-to-{control.to}-sweep" if args.sweep else
                 control.label().replace("->", "-to-").replace("@", "-at-").replace("+", "-plus-"))
        # rendered batch by batch on the NeRF's device and encoded on a writer thread meanwhile
        path = render_video(out / f"{name}_{label}{'_views' if args.yaw_sweep else ''}.mp4", a2e, nerf, feats,
                            control, driving_track(ds, drive_id, nerf.image_size), fps=ds.fps, audio=audio,
                            sample_rate=sr, yaw=yaw, **threads)
        written.append(path)
    print(f"{len(written)} video(s) -> {out}: " + ", ".join(p.name for p in written))
    return 0


def _check_evaluation_inputs(cfg: Profile, systems: list[str]) -> None:
    """--system names, eval.syncnet_path and eval.inception_path, checked before the work (EvalError names them)."""
    from .eval.systems import system_specs

    known = list(system_specs(cfg))
    unknown = [s for s in systems if s not in known]
    if unknown:
        raise CommandError(f"--system {unknown[0]}: unknown system(s) {unknown}; this profile evaluates {known}")
    if cfg.eval.syncnet_path:
        from .eval.syncnet import load_syncnet

        load_syncnet(cfg.eval.syncnet_path)               # weights only; a damaged file or a pickle is refused
    if cfg.eval.inception_path:
        from .eval.frechet import is_torchscript

        path = Path(cfg.eval.inception_path)
        if not path.is_file():
            raise CommandError(f"eval.inception_path={path}: no such file")
        if is_torchscript(path) and not cfg.eval.trust_torchscript:
            raise CommandError(f"eval.inception_path={path}: a TorchScript file, which runs code stored in it; set "
                               "eval.trust_torchscript=true only if you trust where it came from")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .config import resolve_device
    from .eval import evaluate_run

    cfg = _profile_from_args(args)
    if not (Path(args.run) / "data" / "manifest.json").is_file():
        raise CommandError(f"--run {args.run}: expected a run folder holding data/ (and features/, analyser/, "
                           f"audio2exp/full, nerf/full from the notebooks or `emohead reproduce`)")
    out = args.out or Path(args.run).parent / "evaluation"
    if args.out is None:
        check_output_folder(Path(out), "the default --out")
    _check_evaluation_inputs(cfg, args.system)            # before any model is trained, not after
    with FolderLock(Path(out)):                           # one writer per output folder (docs/faults.md)
        result = evaluate_run(cfg, args.run, out, device=resolve_device(cfg), systems=args.system or None,
                              progress=True)
    print(result.to_markdown())
    print(f"\n{len(result.results)} systems on {len(result.clips)} test clips -> {out / 'evaluation.json'}, "
          f"{out / 'tables.md'}")
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
    p.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<profile>)")
    p.add_argument("--force", action="store_true", help="re-run notebooks whose outputs are complete")
    p.add_argument("--only", nargs="*", default=[], metavar="NN", help="run only these notebooks (numbers or names)")
    p.add_argument("--notebooks", type=Path, default=None, help="folder of numbered notebooks (default: ./notebooks)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python)")
    p.add_argument("--seed", type=int, default=None, help="override the global seed")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DATA",
                   help="a processed dataset (`emohead prepare`) every notebook runs on instead of the synthetic "
                        "world; cells that need the synthetic world are skipped, saying so")
    p.add_argument("--dry-run", action="store_true",
                   help="print which notebooks would run or be skipped, and why; run and write nothing")
    p.add_argument("--update-reference", action="store_true",
                   help="allow writing into a reference folder (one holding REFERENCE.md or reference.json, "
                        "e.g. reports/cpu) and record the git commit there")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("compare", help="compare a reproduction's metrics with a reference (e.g. reports/cpu)")
    p.add_argument("run", type=Path, help="output folder of `emohead reproduce` (e.g. runs/cpu)")
    p.add_argument("reference", type=Path, help="reference folder (e.g. reports/cpu)")
    p.add_argument("--rtol", type=float, default=1e-3,
                   help="relative tolerance for numbers (default 1e-3: float summation order may differ)")
    p.add_argument("--strict", action="store_true", help="exit 1 when metrics differ or are missing")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.set_defaults(func=cmd_compare)

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

    p = sub.add_parser("train-nerf", help="train the head NeRF of the target person (resumes an interrupted run)")
    _common(p)
    p.add_argument("--data", type=Path, required=True, help="processed dataset folder")
    p.add_argument("--a2e", type=Path, required=True,
                   help="trained audio-expression folder: its variant decides the NeRF's code (alpha^ or [z; alpha~])")
    p.add_argument("--out", type=Path, required=True, help="output folder (nerf.safetensors/.json, checkpoint, history)")
    p.add_argument("--speaker", default=None, help="person to train on (default: the dataset's target speaker)")
    p.add_argument("--analyser", type=Path, default=None,
                   help="face analyser for L_cord / L_shape (default: analyser/analyser.safetensors beside --data)")
    p.add_argument("--analysis", type=Path, default=None,
                   help="condition on alpha read from video by the analyser (analysis/ of `emohead extract`)")
    p.add_argument("--seed", type=int, default=None, help="override the global seed")
    p.set_defaults(func=cmd_train_nerf)

    p = sub.add_parser("render", help="render talking-head mp4s with audio: test clips or any audio, any emotion")
    _common(p)
    p.add_argument("--nerf", type=Path, required=True, help="trained NeRF folder (`emohead train-nerf --out`)")
    p.add_argument("--a2e", type=Path, required=True, help="trained audio-expression folder")
    p.add_argument("--data", type=Path, required=True, help="processed dataset (driving poses, torso, test clips)")
    p.add_argument("--out", type=Path, required=True, help="folder for the mp4 files")
    p.add_argument("--features", type=Path, default=None, help="feature folder (default: features/ beside --data)")
    p.add_argument("--clip", action="append", default=[], help="test clip id to re-voice (repeatable; default: the "
                   "target speaker's test clips)")
    p.add_argument("--max-clips", type=int, default=4, help="at most this many default test clips")
    p.add_argument("--audio", type=Path, default=None, help="any wav/flac file to speak instead of dataset clips")
    p.add_argument("--words", type=Path, default=None,
                   help="its transcript as JSON {'words': [{word, start, end}]} (needed by transcript_backend=dataset)")
    p.add_argument("--driving-clip", default=None, help="clip whose head poses and torso drive the video")
    p.add_argument("--emotion", default=None, help="emotion tag (default: the clip's own; neutral for --audio)")
    p.add_argument("--to", default=None, help="second emotion, for a blend, a switch or a sweep")
    p.add_argument("--weight", type=float, default=None, help="blend weight of --to in [0, 1]")
    p.add_argument("--switch-at", type=float, default=None, help="switch to --to at this time (seconds)")
    p.add_argument("--ramp", type=float, default=0.5, help="seconds the switch takes (default 0.5)")
    p.add_argument("--sweep", action="store_true", help="interpolate from --emotion to --to over the whole clip")
    p.add_argument("--tau-scale", type=float, default=1.0, help="emotion intensity: scales tau and moves the tag's anchor from neutral (0 neutral, 1 as trained)")
    p.add_argument("--yaw-sweep", type=float, default=0.0, metavar="DEG",
                   help="novel views: turn the head +-DEG degrees over the clip (Fig. 4)")
    p.add_argument("--encoder-threads", type=int, default=None, metavar="N",
                   help="x264 threads (default 4: the same bytes on any machine; more when a fast GPU waits for it)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("evaluate", help="the paper's metrics for every system on the same test clips (Tables I, IV)")
    _common(p)
    p.add_argument("--run", type=Path, required=True,
                   help="run folder (data/, features/, analyser/, audio2exp/, nerf/); missing variants are trained")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: evaluation/ beside --run)")
    p.add_argument("--system", action="append", default=[], help="evaluate only this system (repeatable)")
    p.set_defaults(func=cmd_evaluate)

    from .prepare.cli import add_prepare_parser       # emohead prepare video | mead | crema-d: real faces -> a dataset
    add_prepare_parser(sub)

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
        args.out = Path("runs") / args.profile
    if args.command == "synth" and args.seed is not None:
        args.set = [*args.set, f"synth.seed={args.seed}"]
        args.seed = None
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "out", None) is not None and args.command != "config":
            check_output_folder(Path(args.out), "--out")           # before the work, not after it
        return func(args)
    except (ConfigError, CommandError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"emohead {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyError as err:                 # our KeyErrors name the unknown key and the known ones (e.g. emotions)
        print(f"emohead {args.command}: error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emohead {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except OSError as err:                  # a full disk, a folder gone read-only mid-run: not bad input, exit 1
        print(f"emohead {args.command}: error: {err}; files written before it stand (each is written whole or not "
              f"at all), re-run once fixed", file=sys.stderr)
        return 1
    except Exception as err:
        from .reproduce import ReproduceError

        if isinstance(err, ReproduceError):
            print(f"emohead {args.command}: error: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
