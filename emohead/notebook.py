"""What every numbered notebook calls first and last.

``start`` validates the notebook's ``parameters`` cell at the boundary (profile name, folders,
overrides), seeds the random generators and saves the resolved config next to the outputs;
``finish`` writes the notebook's ``metrics.json``, which ``emohead reproduce`` and the tests read.
"""
from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .config import ConfigError, Profile, load_profile, resolve_device, save_config
from .files import write_json_atomic
from .markdown import markdown_text

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class NotebookContext:
    """Resolved parameters of a notebook run."""

    profile: Profile     # the resolved configuration
    run_dir: Path        # shared stage artifacts (data/, features/, ...): one per reproduction
    out_dir: Path        # this notebook's own outputs (metrics.json, figures)
    device: str          # torch device string

    def stage_dir(self, name: str) -> Path:
        """Folder of a stage's artifacts inside the run (created on demand)."""
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def upstream(ctx: NotebookContext, until: str, *, data_dir: str | Path | None = None):
    """The run's stages up to ``until``, made or reused (:func:`emohead.stages.upstream`): the notebooks' prelude."""
    from .stages import upstream as make_upstream

    return make_upstream(ctx.profile, ctx.run_dir, until, device=ctx.device, data_dir=data_dir)


def show_figures_inline() -> None:
    """Make a returned matplotlib ``Figure`` display as a PNG in Jupyter (eh.viz never uses pyplot)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(
        Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight", dpi=80))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)


def start(profile: str, run_dir: str | Path, out_dir: str | Path, *, seed: int | None = None,
          overrides: Mapping[str, Any] | None = None) -> NotebookContext:
    """Validate notebook parameters, create folders, seed, save the config; return the context."""
    if not isinstance(profile, str):
        raise ConfigError(f"notebook parameter PROFILE must be a profile name, got {profile!r}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"notebook parameter OVERRIDES must be a dict of 'stage.field': value, got {overrides!r}")
    for name, value in (("RUN_DIR", run_dir), ("OUT_DIR", out_dir)):
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(f"notebook parameter {name} must be a folder path, got {value!r}")
    overrides = dict(overrides or {})
    if seed is not None:
        overrides.setdefault("seed", seed)
    cfg = load_profile(profile, overrides)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for name, path in (("RUN_DIR", run_dir), ("OUT_DIR", out_dir)):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"notebook parameter {name}={str(path)!r}: cannot create folder ({err.strerror})") from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    show_figures_inline()
    seed_everything(cfg.seed)
    save_config(cfg, out_dir / "config.yaml")
    return NotebookContext(profile=cfg, run_dir=run_dir, out_dir=out_dir, device=resolve_device(cfg))


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value)  # "inf"/"nan": JSON has no spelling for them
        return value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item"):
        return _jsonable(value.item(), where)
    raise TypeError(f"metrics{where}: {type(value).__name__} is not JSON-serialisable")


def finish(ctx: NotebookContext | str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json`` (atomically) into the notebook's output folder; returns its path."""
    out_dir = ctx.out_dir if isinstance(ctx, NotebookContext) else Path(ctx)
    payload = _jsonable(dict(metrics), "")
    path = write_json_atomic(out_dir / METRICS_FILE, payload)
    log.info("wrote %s", path)
    return path


def read_metrics(out_dir: str | Path) -> dict[str, Any]:
    """Load a notebook's ``metrics.json``."""
    path = Path(out_dir) / METRICS_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def markdown_table(rows: list[Mapping[str, Any]], columns: list[str] | None = None, *, digits: int = 3,
                   title: str | None = None):
    """:func:`emohead.markdown.markdown_text` as IPython Markdown for display in a notebook (a str without IPython)."""
    text = markdown_text(rows, columns, digits=digits, title=title)
    try:
        from IPython.display import Markdown
    except ImportError:
        return text
    return Markdown(text)
