"""Atomic file writes: every artifact is written to a temporary file beside its target, then renamed.

A crash mid-write leaves the previous file (or nothing), never a half-written one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``.

    The temporary name keeps the target's suffix so libraries that choose a format from it
    (soundfile, PyAV, numpy) still work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_npz_atomic(target: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write a compressed .npz atomically (numpy's own writer is not atomic)."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return Path(target)


def save_safetensors_atomic(target: str | os.PathLike, state: dict, metadata: dict[str, str] | None = None) -> Path:
    """Write a torch state dict as one .safetensors file (tensors made contiguous, on CPU) atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(target)


def move_aside(folder: str | os.PathLike, names: "tuple[str, ...] | list[str]", aside: str) -> Path:
    """Move the files ``names`` of ``folder`` that exist into ``folder/aside/`` (an earlier run kept, not overwritten)."""
    import shutil

    folder = Path(folder)
    dest = folder / aside
    dest.mkdir(exist_ok=True)
    for name in names:
        if (folder / name).exists():
            shutil.move(str(folder / name), str(dest / name))
    return dest


class FolderLockedError(ValueError):
    """Another process is writing the same output folder (names the holder)."""


class FolderLock:
    """One writer per output folder: an exclusive ``flock`` on ``<folder>.lock`` beside it.

    The kernel drops the lock when its holder exits, even after ``kill -9``, so no stale lock ever blocks a rerun.
    The lock file records the holder (pid, host, command, start time) for the message a second writer gets.

    >>> with FolderLock(out):            # doctest: +SKIP
    ...     write_everything(out)
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder.with_name(self.folder.name + ".lock")
        self._fh: Any = None

    def acquire(self) -> "FolderLock":
        import fcntl
        import socket
        import sys
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise FolderLockedError(f"{self.folder}: another writer holds it ({holder}); wait for it to finish, "
                                    f"or choose another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, `{' '.join(sys.argv[:4])}`, since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            import fcntl

            fh, self._fh = self._fh, None
            fh.seek(0)
            fh.truncate()                   # the file stays (removing it would race a new holder); it says nothing
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """JSON from ``path``; a missing, unreadable or malformed file is a ValueError naming it and ``what`` it is."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read the {what} ({type(err).__name__}: {err}); "
                         "the file is damaged or truncated, re-create it") from None


def load_safetensors_checked(path: str | os.PathLike, what: str, allow_inf: tuple[str, ...] = ()) -> dict:
    """Tensors from a .safetensors file, all finite; a damaged file, a pickle in its place or NaN/inf weights are a
    ValueError naming the file (and the tensor). Never unpickles: safetensors holds tensors only.
    ``allow_inf``: tensors where +-inf is a legitimate value (only NaN is refused there)."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    try:
        state = load_file(str(path))
    except Exception as err:                                  # SafetensorError, OSError, ...
        raise ValueError(f"{path}: not a readable safetensors file for the {what} ({type(err).__name__}: {err}); "
                         "the file is damaged, truncated or of another format, re-create it") from None
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        bad = torch.isnan(tensor).any() if name in allow_inf else ~torch.isfinite(tensor).all()
        if bool(bad):
            raise ValueError(f"{path}: tensor {name!r} of the {what} holds NaN or inf; the training diverged or the "
                             "file was damaged, re-train it")
    return state
