"""The skeleton shared by the audio-expression and NeRF trainers: the run folder (fingerprint, stale runs, reuse,
resume: :class:`RunFolder`), and the iteration loop (progress bar, training clock, periodic checkpoints, and a
checkpoint on Ctrl-C, so that a rerun resumes where the last one stopped).
Ctrl-C (SIGINT) never cuts a step in half: it is noted, the step in progress finishes (optimizer update included),
and the checkpoint is written between steps, so a resumed run equals an uninterrupted one. A second Ctrl-C stops at
once, keeping the last checkpoint.

    loop = CheckpointedLoop(history, checkpoint, checkpoint_every=cfg.checkpoint_every, where=ckpt_path)
    loop.run(start, end, cfg.iterations, one_step, desc="nerf", progress=True)   # one_step(it, bar) per iteration

``history["seconds"]`` accumulates the time spent inside ``run`` (over resumed runs too, since it is saved in
the checkpoint); ``loop.elapsed()`` reads it mid-run.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .files import atomic_path, move_aside, read_json_file, write_json_atomic

log = logging.getLogger(__name__)


class CheckpointedLoop:
    """Runs iterations start..end-1, writing ``checkpoint(done)`` every ``checkpoint_every`` of them, at the end,
    and on KeyboardInterrupt (which is then re-raised). ``where`` only names the checkpoint in the log."""

    def __init__(self, history: dict[str, Any], checkpoint: Callable[[int], None], *, checkpoint_every: int,
                 where: str | Path) -> None:
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.history, self.checkpoint = history, checkpoint
        self.checkpoint_every, self.where = int(checkpoint_every), where
        self._t0 = time.perf_counter()

    def _bank_time(self) -> None:
        now = time.perf_counter()
        self.history["seconds"] += now - self._t0
        self._t0 = now

    def elapsed(self) -> float:
        """Training seconds so far, this run's included."""
        return self.history["seconds"] + time.perf_counter() - self._t0

    def run(self, start: int, end: int, total: int, step: Callable[[int, Any], None], *, desc: str,
            progress: bool = True) -> None:
        """Call ``step(it, bar)`` for it in start..end-1 (``bar``: the tqdm bar, for set_postfix); total = the
        whole run's iterations (for the bar)."""
        import signal
        import threading

        from tqdm.auto import tqdm

        self._t0 = time.perf_counter()
        bar = tqdm(range(start, end), desc=desc, unit="it", disable=not progress, initial=start, total=total)
        it = start
        pending = {"sigint": False}

        def note_sigint(signum: int, frame: Any) -> None:       # first Ctrl-C: finish the step, then stop
            if pending["sigint"]:
                raise KeyboardInterrupt                          # second Ctrl-C: stop now
            pending["sigint"] = True

        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, note_sigint) if in_main else None
        try:
            for it in bar:
                step(it, bar)
                done = it + 1
                if pending["sigint"]:                            # between steps: model and optimiser agree
                    self._bank_time()
                    self.checkpoint(done)
                    log.warning("interrupted: checkpoint at iteration %d written to %s", done, self.where)
                    pending["sigint"] = False
                    raise _Interrupted
                if done % self.checkpoint_every == 0 and done < end:
                    self._bank_time()
                    self.checkpoint(done)
            it = end
        except _Interrupted:
            raise KeyboardInterrupt from None
        except KeyboardInterrupt:
            self._bank_time()
            if pending["sigint"]:                                # a second Ctrl-C cut a step: keep the last good one
                log.warning("interrupted twice: the step was cut, the last periodic checkpoint in %s stands",
                            self.where)
            else:                                                # raised by the step itself, before it changed state
                self.checkpoint(it)
                log.warning("interrupted: checkpoint at iteration %d written to %s", it, self.where)
            raise
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        self._bank_time()
        self.checkpoint(end)


class _Interrupted(Exception):
    """Internal: the loop stopped between steps after a Ctrl-C (re-raised as KeyboardInterrupt)."""


def previous_checkpoint(path: str | Path) -> Path:
    """Where the checkpoint before ``path``'s is kept (``checkpoint.pt`` -> ``checkpoint.prev.pt``)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any] | None:
    """A trainer's checkpoint (tensors and plain data only, ``weights_only=True``), or None when there is none.

    A checkpoint that cannot be read (truncated, corrupt, or not a checkpoint) is moved aside to
    ``<name>.corrupt-<time>`` with a warning naming both files, and the one before it (``<stem>.prev<suffix>``,
    kept by :meth:`RunFolder.write_checkpoint`) takes its place: training resumes from the last good checkpoint, or
    starts again from iteration 0 when there is none, instead of failing on every rerun.
    """
    path = Path(path)
    prev = previous_checkpoint(path)
    for attempt in ("current", "previous"):
        if attempt == "previous":
            if not prev.is_file():
                return None
            try:
                prev.replace(path)                             # the last good one becomes the checkpoint again
            except FileNotFoundError:                          # another rank did it first
                pass
        if not path.is_file():
            continue
        ckpt, err = _load_checkpoint(path, map_location)
        if ckpt is not None:
            if attempt == "previous":
                log.warning("resuming from the last good checkpoint, %s (iteration %d), now %s again",
                            prev.name, int(ckpt["iteration"]), path.name)
            return ckpt
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
                               f"{'-prev' if attempt == 'previous' else ''}")
        try:
            path.replace(aside)
        except FileNotFoundError:                              # another rank moved it first
            pass
        then = (f"the checkpoint before it, {prev.name}, is tried next" if attempt == "current" and prev.is_file()
                else "there is no earlier good checkpoint, so training starts again from iteration 0")
        log.warning("%s cannot be read (%s); moved it to %s; %s", path if attempt == "current" else prev, err,
                    aside.name, then)
    return None


def _load_checkpoint(path: Path, map_location: Any) -> tuple[dict[str, Any] | None, str]:
    """(checkpoint, "") or (None, why it cannot be read)."""
    import torch

    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(ckpt, dict) or "iteration" not in ckpt:
            raise ValueError("not a training checkpoint (no 'iteration')")
        return ckpt, ""
    except Exception as err:                                   # torch raises several types for a damaged zip
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"


def fingerprint(settings: Mapping[str, Any], *data: bytes) -> str:
    """Hash of what a trained model depends on: ``settings`` (config, seed, ... as JSON) then raw ``data`` blobs."""
    h = hashlib.sha256()
    h.update(json.dumps(dict(settings), sort_keys=True, default=str).encode())
    for blob in data:
        h.update(blob)
    return h.hexdigest()


@dataclass
class RunFolder:
    """A trainer's output folder and what a rerun does with it, the same for every trainer.

    ``meta`` holds the finished model's fingerprint; ``files`` are all the run's files (meta, weights, history,
    checkpoint). A rerun with the same fingerprint reuses a finished model or resumes from the checkpoint; one with
    another fingerprint moves the old files to ``stale-<hash>/`` first, so nothing is overwritten.
    """

    root: Path
    meta: str
    files: tuple[str, ...]
    history: str = "history.json"
    checkpoint: str = "checkpoint.pt"

    def stored_fingerprint(self) -> str | None:
        """The fingerprint of the finished model, else of the checkpoint (a corrupt one is moved aside), else None."""
        if (self.root / self.meta).is_file():
            meta = read_json_file(self.root / self.meta, "description of the trained model")
            return meta.get("fingerprint") if isinstance(meta, dict) else None
        ckpt = read_checkpoint(self.root / self.checkpoint)
        return None if ckpt is None else ckpt.get("fingerprint")

    def retire_stale(self, fp: str) -> Path | None:
        """Move an earlier run with another fingerprint to ``stale-<its hash>/``; returns that folder or None."""
        old = self.stored_fingerprint()
        if old is None or old == fp:
            return None
        stale = move_aside(self.root, (*self.files, previous_checkpoint(self.checkpoint).name), f"stale-{old[:8]}")
        log.warning("%s: an earlier run with other settings was moved to %s", self.root, stale)
        return stale

    def finished(self) -> bool:
        """A finished model is here (its meta and its history)."""
        return (self.root / self.meta).is_file() and (self.root / self.history).is_file()

    def is_current(self, fp: str) -> bool:
        """A finished model of fingerprint ``fp`` is here: a trainer asked for it would reuse it."""
        return self.finished() and self.stored_fingerprint() == fp

    def read_history(self) -> dict[str, Any]:
        return read_json_file(self.root / self.history, "training history")

    def write_history(self, history: Mapping[str, Any]) -> None:
        write_json_atomic(self.root / self.history, history)

    def read_checkpoint(self, map_location: Any = "cpu") -> dict[str, Any] | None:
        return read_checkpoint(self.root / self.checkpoint, map_location=map_location)

    def write_checkpoint(self, state: Mapping[str, Any]) -> None:
        """``torch.save`` of ``state`` (tensors and plain data), atomically; the checkpoint it replaces is kept as
        ``<stem>.prev<suffix>``, the last good one should this one ever be damaged."""
        import os

        import torch

        path = self.root / self.checkpoint
        with atomic_path(path) as tmp:
            torch.save(dict(state), tmp)
            if path.is_file():
                os.replace(path, previous_checkpoint(path))      # then tmp -> path (a crash between: prev is read)
