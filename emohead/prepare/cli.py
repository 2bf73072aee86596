"""The ``emohead prepare`` sub-commands: your own videos, MEAD or CREMA-D -> a processed dataset.

::

    emohead prepare video --video me.mp4 [--video me2.mp4] [--audio me.wav ...] --emotion neutral [--level 1]
                          --out DATA [--size 512] [--asr-path DIR] [--transcript me.txt ...] [--speaker NAME]
    emohead prepare mead --raw MEAD --actors M003 [M005 ...] [--emotions angry ...] [--levels 1 2 3] --out DATA
    emohead prepare crema-d --raw CREMA-D [--actors 1001 ...] [--emotions anger ...] --out DATA [--size 340]

``add_prepare_parser(subparsers)`` adds them to a parser; ``run_prepare(args)`` runs one and returns the exit
status: 0 done, 1 no clip could be prepared, 2 bad arguments or inputs (with a message naming them).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_SIZE = {"video": 512, "mead": 512, "crema-d": 340}
"""Output frame size per source: the paper's 512 px MEAD and 340 px CREMA-D crops."""


def _common(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    p.add_argument("--size", type=int, default=None,
                   help=f"output frame size in pixels, even (default {DEFAULT_SIZE[kind]})")
    p.add_argument("--asr-path", default=None,
                   help="FunASR model folder with timestamps: word timings by speech recognition")
    p.add_argument("--test-every", type=int, default=6, help="every k-th sentence goes to the test split (default 6)")
    p.add_argument("--zoom", type=float, default=1.0,
                   help="> 1 frames the face larger (less shoulders), < 1 smaller (default 1: the synthetic framing)")
    p.add_argument("--models", type=Path, default=None,
                   help="face-model folder (default: $EMOHEAD_MODELS, else ../shared/models)")
    p.add_argument("--work", type=Path, default=None, help="cache folder (default: <out>.work, kept for resuming)")
    p.add_argument("--restart", action="store_true",
                   help="forget the cache of an earlier run and track every clip again")
    p.add_argument("--force", action="store_true", help="replace an existing dataset at --out")
    p.add_argument("--workers", type=int, default=1,
                   help="clips tracked at once, one process each (default 1; up to the CPU cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


def add_prepare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``prepare`` with its ``video``, ``mead`` and ``crema-d`` sub-commands; returns the ``prepare`` parser."""
    prep = subparsers.add_parser("prepare", help="turn your own videos, MEAD or CREMA-D into a processed dataset",
                                 description=__doc__.split("\n\n")[0])
    sub = prep.add_subparsers(dest="source", metavar="SOURCE")
    sub.required = True

    p = sub.add_parser("video", help="your own talking videos (one person)")
    p.add_argument("--video", action="append", type=Path, required=True, help="a video file (repeatable)")
    p.add_argument("--audio", action="append", type=Path, default=[],
                   help="its audio file, one per --video in order (default: the video's own audio track)")
    p.add_argument("--emotion", action="append", default=[],
                   help="emotion tag: one for all videos or one per video (default neutral)")
    p.add_argument("--level", action="append", type=int, default=[],
                   help="intensity 1-3: one for all videos or one per video (default 1)")
    p.add_argument("--speaker", default="person", help="the person's id in the dataset (default: person)")
    p.add_argument("--segment", type=float, default=8.0,
                   help="cut long videos into clips of about this many seconds at pauses (0: never; default 8)")
    p.add_argument("--transcript", action="append", type=Path, default=[],
                   help="what is said: a .txt (aligned to the audio) or a .json of timed words, one per video")
    _common(p, "video")
    p.set_defaults(func=run_prepare)

    p = sub.add_parser("mead", help="MEAD (<raw>/<actor>/video/front/<emotion>/level_<k>/<nnn>.mp4 + audio/)")
    p.add_argument("--raw", type=Path, required=True, help="folder holding the extracted actor folders")
    p.add_argument("--actors", nargs="+", required=True, help="actor ids, e.g. M003 W015")
    p.add_argument("--emotions", nargs="+", default=None, help="only these emotions")
    p.add_argument("--levels", nargs="+", type=int, default=None, help="only these levels (1-3)")
    _common(p, "mead")
    p.set_defaults(func=run_prepare)

    p = sub.add_parser("crema-d", help="CREMA-D (<raw>/VideoFlash/*.flv + <raw>/AudioWAV/*.wav)")
    p.add_argument("--raw", type=Path, required=True, help="folder holding VideoFlash/ and AudioWAV/")
    p.add_argument("--actors", nargs="+", default=None, help="only these actors, e.g. 1001 1002 (default: all)")
    p.add_argument("--emotions", nargs="+", default=None, help="only these emotions (anger disgust fear ...)")
    _common(p, "crema-d")
    p.set_defaults(func=run_prepare)
    return prep


def sources_from_args(args: argparse.Namespace) -> list:
    """The ClipSource list an argument namespace asks for (raises SourceError on bad input)."""
    from .sources import cremad_sources, mead_sources, video_sources

    if args.source == "video":
        return video_sources(args.video, args.audio or None, args.emotion or "neutral", args.level or 1,
                             speaker=args.speaker, segment=args.segment, transcripts=args.transcript or None)
    if args.source == "mead":
        return mead_sources(args.raw, args.actors, args.emotions, args.levels)
    return cremad_sources(args.raw, args.actors, args.emotions)


def run_prepare(args: argparse.Namespace, *, tracker=None) -> int:
    """Run one ``prepare`` sub-command. 0: done; 1: no clip could be prepared; 2: bad arguments or inputs.

    ``tracker`` replaces the face tracker (tests); by default ``emohead.tracking.FaceTracker(--models)``.
    """
    from ..data.validate import DatasetError
    from .pipeline import PrepareError, prepare_dataset
    from .sources import SourceError

    name = f"emohead prepare {args.source}"
    size = args.size if args.size is not None else DEFAULT_SIZE[args.source]
    try:
        if args.asr_path is not None and not Path(args.asr_path).is_dir():
            raise SourceError(f"--asr-path {args.asr_path}: no such folder")
        if size < 32 or size % 2:
            raise SourceError(f"--size {size}: must be an even number of pixels >= 32")
        if args.zoom <= 0:
            raise SourceError(f"--zoom {args.zoom}: must be positive")
        if args.test_every < 2:
            raise SourceError(f"--test-every {args.test_every}: must be >= 2")
        if args.workers < 1:
            raise SourceError(f"--workers {args.workers}: must be >= 1")
        _check_writable(Path(args.out), "--out")
        sources = sources_from_args(args)
        if tracker is None:
            from ..tracking.models import find_model_dir
            from ..tracking.tracker import FaceTracker

            find_model_dir(args.models)                      # a missing model names the folder, before any work
            tracker = _LazyTracker(FaceTracker, args.models, not args.no_progress)
        result = prepare_dataset(sources, args.out, size=size, tracker=tracker, asr_path=args.asr_path,
                                 source_name={"video": "video", "mead": "mead", "crema-d": "crema-d"}[args.source],
                                 resume=not args.restart, overwrite=args.force, work_dir=args.work,
                                 test_every=args.test_every, zoom=args.zoom, progress=not args.no_progress,
                                 workers=args.workers, model_dir=args.models)
    except PrepareError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 1 if str(err).startswith("no clip could be prepared") else 2
    except (SourceError, DatasetError, ValueError, OSError) as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; run the same command again to resume (tracked clips are cached)",
              file=sys.stderr)
        return 130
    print(f"{name}: {result.summary()}")
    print(f"{name}: cache kept in {result.work} (delete it when you no longer need to re-run)")
    return 0


def _check_writable(path: Path, option: str) -> None:
    """Raise SourceError naming ``option`` when ``path`` cannot become a folder this process writes into."""
    import os

    from .sources import SourceError

    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SourceError(f"{option} {path}: {'is a file' if probe == path else f'lies under the file {probe}'}")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise SourceError(f"{option} {path}: {probe} is not writable")


class _LazyTracker:
    """Builds the FaceTracker on the first ``track`` call, so a fully cached re-run loads no model."""

    cache_id = "FaceTracker"

    def __init__(self, factory, model_dir, progress: bool):
        self._factory, self._model_dir, self._progress, self._tracker = factory, model_dir, progress, None

    def track(self, frames, *, name: str = "clip"):
        if self._tracker is None:
            self._tracker = self._factory(self._model_dir, progress=self._progress)
        return self._tracker.track(frames, name=name)


def main(argv: list[str] | None = None) -> int:
    """``python -m emohead.prepare.cli ...`` (the same as ``emohead prepare ...``)."""
    parser = argparse.ArgumentParser(prog="emohead")
    add_prepare_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prepare", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
