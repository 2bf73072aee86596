"""What every numbered notebook calls first and last.

``start`` validates the notebook's ``parameters`` cell at the boundary (profile name, folders,
overrides, ``DATA_DIR``), seeds the random generators and saves the resolved config next to the outputs;
``finish`` writes the notebook's ``metrics.json``, which ``emohead reproduce`` and the tests read.

``DATA_DIR`` empty: the embedded synthetic world (generated into ``RUN_DIR/data``). Set to a processed dataset
(``emohead prepare``): every stage runs on it (:func:`dataset`, :func:`upstream`), the run folder is bound to it
(:func:`emohead.stages.bind_dataset`), and cells that need the synthetic world's generator ask
:func:`needs_synthetic`, which prints what is skipped on real data and why.
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
    data_dir: Path | None = None   # a prepared dataset (DATA_DIR), or None for the synthetic world

    @property
    def synthetic(self) -> bool:
        """True when the notebook runs on the embedded synthetic world (DATA_DIR empty)."""
        return self.data_dir is None

    def stage_dir(self, name: str) -> Path:
        """Folder of a stage's artifacts inside the run (created on demand)."""
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def upstream(ctx: NotebookContext, until: str, *, data_dir: str | Path | None = None):
    """The run's stages up to ``until``, made or reused (:func:`emohead.stages.upstream`): the notebooks' prelude.

    data_dir: default the notebook's DATA_DIR (None: the synthetic world)."""
    from .stages import upstream as make_upstream

    return make_upstream(ctx.profile, ctx.run_dir, until, device=ctx.device,
                         data_dir=ctx.data_dir if data_dir is None else data_dir)


def dataset(ctx: NotebookContext):
    """The notebook's processed dataset: DATA_DIR, or the synthetic corpus at ``RUN_DIR/data`` (made or reused)."""
    return upstream(ctx, "data").ds


def needs_synthetic(ctx: NotebookContext, what: str) -> bool:
    """True on the synthetic world; on real data print one line saying that ``what`` is skipped, and return False."""
    if ctx.synthetic:
        return True
    print(f"skipped on real data ({ctx.data_dir}): {what}")
    return False


def choose_emotions(available, first: str, second: str) -> tuple[str, str]:
    """(first, second) where the model knows them; a missing one is replaced by a known emotion other than its
    partner, saying so (a prepared dataset holds only the emotions it was recorded with)."""
    known = [str(e) for e in available]
    if len(known) < 2:
        raise ConfigError(f"two emotions are needed, the model knows {known}")
    picked: list[str] = []
    for wanted in (first, second):
        if wanted in known and wanted not in picked:
            picked.append(wanted)
            continue
        other = next(e for e in known if e not in picked and e not in (first, second)[len(picked) + 1:])
        print(f"emotion {wanted!r} is not among this dataset's {known}: using {other!r}")
        picked.append(other)
    return picked[0], picked[1]


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
          overrides: Mapping[str, Any] | None = None, data_dir: str | Path | None = "") -> NotebookContext:
    """Validate notebook parameters, create folders, seed, save the config; return the context.

    data_dir (DATA_DIR): "" or None for the synthetic world, else a processed dataset; the run folder is bound to it.
    """
    if not isinstance(profile, str):
        raise ConfigError(f"notebook parameter PROFILE must be a profile name, got {profile!r}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"notebook parameter OVERRIDES must be a dict of 'stage.field': value, got {overrides!r}")
    for name, value in (("RUN_DIR", run_dir), ("OUT_DIR", out_dir)):
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(f"notebook parameter {name} must be a folder path, got {value!r}")
    if data_dir is not None and not isinstance(data_dir, (str, Path)):
        raise ConfigError(f"notebook parameter DATA_DIR must be a processed dataset's folder or \"\", got {data_dir!r}")
    data = Path(data_dir) if data_dir is not None and str(data_dir) else None
    if data is not None:
        from .data import DatasetError, ProcessedDataset

        try:
            ProcessedDataset(data)
        except DatasetError as err:
            raise ConfigError(f"notebook parameter DATA_DIR={str(data)!r} is not a processed dataset "
                              f"(make one with `emohead prepare`): {err}") from None
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
    from .stages import bind_dataset

    bind_dataset(run_dir, data)              # a run folder serves one dataset: a mismatch is refused, naming both
    save_config(cfg, out_dir / "config.yaml")
    return NotebookContext(profile=cfg, run_dir=run_dir, out_dir=out_dir, device=resolve_device(cfg), data_dir=data)


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
    """Write ``metrics.json`` (atomically) into the notebook's output folder; returns its path.

    On real data (DATA_DIR set) a ``"dataset"`` entry names the prepared dataset the numbers come from."""
    out_dir = ctx.out_dir if isinstance(ctx, NotebookContext) else Path(ctx)
    metrics = dict(metrics)
    if isinstance(ctx, NotebookContext) and not ctx.synthetic:
        from .data import ProcessedDataset

        ds = ProcessedDataset(ctx.data_dir)
        metrics.setdefault("dataset", {"path": str(ctx.data_dir), "source": ds.source, "clips": len(ds),
                                        "emotions": list(ds.emotions), "speakers": list(ds.speakers)})
    payload = _jsonable(metrics, "")
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
