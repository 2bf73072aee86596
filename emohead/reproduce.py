"""``emohead reproduce``: run every numbered notebook through Papermill with a profile.

Layout of the output folder ``DIR``::

    DIR/config.yaml                the resolved profile
    DIR/run/                       shared stage artifacts (data/, features/, ...), the RUN_DIR
    DIR/NN_name.ipynb              executed notebook
    DIR/NN_name/metrics.json       what the notebook measured (+ its figures, config.yaml)
    DIR/NN_name/done.json          written last: source hash + config hash + duration
    DIR/summary.md                 one table over all notebooks

A notebook counts as complete when its ``done.json`` matches the current notebook source and
configuration and its executed copy and metrics exist; a re-run skips complete notebooks (unless
``force``; once one notebook re-runs, every later one re-runs too), so an interrupted reproduction resumes where it stopped. A failing notebook leaves
``DIR/NN_name.failed.ipynb`` showing the error, and the run stops there.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import Profile, load_profile, save_config, to_dict
from .files import atomic_path, write_json_atomic, write_text_atomic
from .notebook import METRICS_FILE

log = logging.getLogger(__name__)

_NOTEBOOK_NAME = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")


class ReproduceError(RuntimeError):
    """A notebook failed or left incomplete outputs; the message names it."""


@dataclass(frozen=True)
class NotebookResult:
    name: str                 # e.g. "01_data_and_features"
    status: str               # "ran", "skipped" or "failed"
    seconds: float
    metrics: dict[str, Any]


def default_notebooks_dir() -> Path:
    """``./notebooks`` if it exists, else the repository's notebooks/ beside the package."""
    here = Path.cwd() / "notebooks"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "notebooks"


def list_notebooks(notebooks_dir: str | Path, only: Sequence[str] | None = None) -> list[Path]:
    """Numbered notebooks (``NN_name.ipynb``) in numeric order, optionally only the given numbers/names."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise ReproduceError(f"notebooks folder not found: {notebooks_dir}")
    books = sorted(p for p in notebooks_dir.glob("*.ipynb") if _NOTEBOOK_NAME.match(p.name))
    if not books:
        raise ReproduceError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir}")
    if only:
        wanted = set(only)
        picked = [p for p in books if p.stem in wanted or p.stem[:2] in wanted]
        unknown = wanted - {p.stem for p in picked} - {p.stem[:2] for p in picked}
        if unknown:
            raise ReproduceError(f"--only {sorted(unknown)}: no such notebook in {notebooks_dir} "
                                 f"(have {[p.stem for p in books]})")
        books = picked
    return books


def _sha(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def _notebook_source_hash(path: Path) -> str:
    """Hash of the cells' sources only (outputs and metadata do not matter)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return _sha(json.dumps([(c.get("cell_type"), "".join(c.get("source", ""))) for c in nb.get("cells", [])]))


def notebook_parameters(profile: Profile, run_dir: Path, out_dir: Path,
                        overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values injected into a notebook's ``parameters`` cell."""
    return {"PROFILE": profile.name, "RUN_DIR": str(run_dir), "OUT_DIR": str(out_dir),
            "SEED": profile.seed, "OVERRIDES": dict(overrides)}


def run_notebook(notebook: Path, executed: Path, parameters: Mapping[str, Any], *,
                 kernel_name: str | None = None, cwd: Path | None = None,
                 progress: bool = False) -> None:
    """Execute one notebook with Papermill; the executed copy appears atomically at ``executed``.

    ``kernel_name`` defaults to ``python3``, the ipykernel of the environment emohead runs in.
    """
    import papermill as pm

    failed = executed.with_suffix(".failed.ipynb")
    failed.unlink(missing_ok=True)
    with atomic_path(executed) as tmp:
        try:
            pm.execute_notebook(str(notebook), str(tmp), parameters=dict(parameters),
                                kernel_name=kernel_name or "python3", language="python", cwd=str(cwd or notebook.parent),
                                progress_bar=progress, log_output=False)
        except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
            where = "it did not start"
            if tmp.exists() and tmp.stat().st_size:
                tmp.replace(failed)
                where = f"executed copy with the error: {failed}"
            raise ReproduceError(f"{notebook.name} failed; {where}\n{err}") from err


def reproduce(profile: str | Profile, out_dir: str | Path, *, notebooks_dir: str | Path | None = None,
              force: bool = False, only: Sequence[str] | None = None,
              overrides: Mapping[str, Any] | None = None, kernel_name: str | None = None) -> list[NotebookResult]:
    """Run the numbered notebooks in order with ``profile``; resume past complete ones."""
    from tqdm.auto import tqdm

    overrides = dict(overrides or {})
    cfg = load_profile(profile, overrides) if isinstance(profile, str) else profile
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReproduceError(f"--out {out_dir}: cannot create folder ({err.strerror})") from None
    run_dir = out_dir / "run"
    save_config(cfg, out_dir / "config.yaml")
    config_hash = _sha(json.dumps(to_dict(cfg), sort_keys=True))
    books = list_notebooks(notebooks_dir or default_notebooks_dir(), only)

    results: list[NotebookResult] = []
    upstream_ran = False  # a notebook that re-ran invalidates every later one (they read its outputs)
    bar = tqdm(books, desc=f"reproduce [{cfg.name}]", unit="notebook")
    for nb in bar:
        name = nb.stem
        bar.set_postfix_str(name)
        nb_out = out_dir / name
        executed = out_dir / f"{name}.ipynb"
        done_path = nb_out / "done.json"
        source_hash = _notebook_source_hash(nb)
        if not (force or upstream_ran) and _is_complete(done_path, executed, source_hash, config_hash):
            done = json.loads(done_path.read_text())
            results.append(NotebookResult(name, "skipped", done.get("seconds", 0.0),
                                          json.loads((nb_out / METRICS_FILE).read_text())))
            log.info("%s: complete, skipped", name)
            continue
        done_path.unlink(missing_ok=True)
        (nb_out / METRICS_FILE).unlink(missing_ok=True)
        params = notebook_parameters(cfg, run_dir.resolve(), nb_out.resolve(), overrides)
        t0 = time.perf_counter()
        try:
            run_notebook(nb, executed, params, kernel_name=kernel_name)
        except ReproduceError:
            results.append(NotebookResult(name, "failed", time.perf_counter() - t0, {}))
            write_summary(out_dir, cfg, results)
            raise
        seconds = time.perf_counter() - t0
        metrics_path = nb_out / METRICS_FILE
        if not metrics_path.is_file():
            raise ReproduceError(f"{name} ran but wrote no {metrics_path}: its last cell must call eh.notebook.finish")
        metrics = json.loads(metrics_path.read_text())
        write_json_atomic(done_path, {"source": source_hash, "config": config_hash,
                                      "seconds": round(seconds, 2), "profile": cfg.name})
        results.append(NotebookResult(name, "ran", seconds, metrics))
        upstream_ran = True
        log.info("%s: ran in %.1f s", name, seconds)
    write_summary(out_dir, cfg, results + _earlier_results(out_dir, notebooks_dir, results) if only else results)
    return results


def _earlier_results(out_dir: Path, notebooks_dir: str | Path | None,
                     results: Sequence[NotebookResult]) -> list[NotebookResult]:
    """Notebooks left out by ``only`` whose outputs from an earlier run are in ``out_dir`` (kept in summary.md)."""
    ran = {r.name for r in results}
    earlier = []
    for nb in list_notebooks(notebooks_dir or default_notebooks_dir(), None):
        done, metrics = out_dir / nb.stem / "done.json", out_dir / nb.stem / METRICS_FILE
        if nb.stem in ran or not (done.is_file() and metrics.is_file()):
            continue
        try:
            seconds = float(json.loads(done.read_text()).get("seconds", 0.0))
            earlier.append(NotebookResult(nb.stem, "earlier run", seconds, json.loads(metrics.read_text())))
        except (json.JSONDecodeError, ValueError):
            continue
    return earlier


def _is_complete(done_path: Path, executed: Path, source_hash: str, config_hash: str) -> bool:
    if not (done_path.is_file() and executed.is_file() and (done_path.parent / METRICS_FILE).is_file()):
        return False
    try:
        done = json.loads(done_path.read_text())
    except json.JSONDecodeError:
        return False
    return done.get("source") == source_hash and done.get("config") == config_hash


def _flat(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_summary(out_dir: Path, cfg: Profile, results: Sequence[NotebookResult]) -> Path:
    """``summary.md``: each notebook's status, time and scalar metrics."""
    lines = [f"# EmoHead reproduction, profile `{cfg.name}`", "",
             "Numbers here come from the embedded synthetic world unless the run used real data; "
             "they are not the paper's MEAD / CREMA-D figures.", "",
             "| notebook | status | seconds |", "|---|---|---|"]
    results = sorted(results, key=lambda r: r.name)
    lines += [f"| {r.name} | {r.status} | {r.seconds:.1f} |" for r in results]
    for r in results:
        flat = _flat(r.metrics)
        if not flat:
            continue
        lines += ["", f"## {r.name}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in flat.items()]
        tables = out_dir / r.name / "tables.md"          # result tables a notebook wrote (notebook 05)
        if tables.is_file():
            lines += ["", tables.read_text(encoding="utf-8").rstrip()]
    return write_text_atomic(out_dir / "summary.md", "\n".join(lines) + "\n")
