"""Checking the model settings (features.*_path) up front, with errors that name the setting."""
from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path
from typing import Iterator

from ..config import ConfigError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_location(setting: str, value: str, *, backend: str, required: tuple[str, ...] = (),
                   allow_hub_id: bool = False) -> str:
    """Return ``value`` if it names a usable local model directory (or, if allowed, a hub id); else raise.

    ``required`` lists files the directory must hold (e.g. ``("config.yaml", "model.pt")``).
    Hub ids (``org/name``) are passed through unchanged: transformers resolves them from its local cache
    and fails (with an error naming the setting) when offline and not cached. Nothing is downloaded
    unless transformers' own settings allow it.
    """
    if not value:
        raise ConfigError(f"{setting} is empty: the {backend!r} backend needs a local model directory"
                          + (" or a hub id" if allow_hub_id else ""))
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{setting}={value!r}: not a directory")
        missing = [f for f in required if not (path / f).is_file()]
        if missing:
            raise ConfigError(f"{setting}={value!r}: the {backend!r} model directory lacks {missing}")
        return str(path)
    if allow_hub_id and _HUB_ID.match(value) and not value.startswith((".", "~")):
        return value
    raise ConfigError(f"{setting}={value!r}: no such directory")


@contextlib.contextmanager
def quiet_funasr() -> Iterator[None]:
    """Import/construct FunASR objects without their prints on stdout or changes to the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
