"""``emohead reproduce``: run every numbered notebook through Papermill with a profile.

Layout of the output folder ``DIR`` (``runs/<profile>`` from the command line)::

    DIR/config.yaml                the resolved profile
    DIR/run/                       shared stage artifacts (data/, features/, ...), the RUN_DIR
    DIR/run/run.json               the run's identity: a random run id, made when the run folder is new
    DIR/NN_name.ipynb              executed notebook
    DIR/NN_name/metrics.json       what the notebook measured (+ its figures, config.yaml)
    DIR/NN_name/done.json          written last: run id, source + config hash, fingerprints, duration
    DIR/summary.md                 one table over all notebooks

A ``done.json`` proves that the run it stands for exists: besides the run id it holds the sha256 of the
executed notebook and of ``metrics.json``, and the size and mtime of every file under ``run/`` that the
notebook created or changed (a later notebook that changes such a file updates the record). A notebook
counts as complete only when its source, the configuration, the run id and every fingerprint still match,
so reports copied without their run folder (a fresh clone of the committed ``reports/``) run everything,
while an interrupted local run resumes where it stopped. Once one notebook re-runs every later one re-runs
too; ``force`` re-runs all; ``dry_run`` only returns the plan. A failing notebook leaves
``DIR/NN_name.failed.ipynb`` showing the error, and the run stops there.

``data_dir``: a processed dataset (``emohead prepare``) every notebook runs on instead of the synthetic world (its
``DATA_DIR`` parameter). It is checked before anything runs, the run folder is bound to it
(:func:`emohead.stages.bind_dataset`: a run folder made with another dataset is refused), and its identity (path and
manifest hash) is part of the configuration hash in every ``done.json``, so a run with another dataset re-runs.

A folder holding ``REFERENCE.md`` or ``reference.json`` (the committed ``reports/<profile>``) is a
reference: writing into it is refused unless ``update_reference``; ``emohead compare`` checks a run
against it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import Profile, load_profile, save_config, to_dict
from .files import FolderLock, atomic_path, write_json_atomic, write_text_atomic
from .notebook import METRICS_FILE

log = logging.getLogger(__name__)

_NOTEBOOK_NAME = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")

RUN_SUBDIR = "run"                                   # DIR/run: the notebooks' RUN_DIR
RUN_FILE = "run.json"                                # DIR/run/run.json: the run id
DONE_FILE = "done.json"
REFERENCE_MARKERS = ("REFERENCE.md", "reference.json")   # either one makes a folder a reference
SOURCE_COMMIT_ENV = "EMOHEAD_SOURCE_COMMIT"          # the commit a copied tree (no .git) came from


class ReproduceError(RuntimeError):
    """A notebook failed or left incomplete outputs; the message names it."""


class ReferenceFolderError(ReproduceError):
    """A run was asked to write into a reference folder without ``update_reference``."""


class DataDirError(ReproduceError, ValueError):
    """``data_dir`` is not a processed dataset, or the run folder serves another dataset."""


@dataclass(frozen=True)
class NotebookResult:
    name: str                 # e.g. "01_data_and_features"
    status: str               # "ran", "skipped" or "failed"; in a dry run's plan "run" or "skip"
    seconds: float
    metrics: dict[str, Any]
    reason: str = ""          # why it runs (e.g. "no run folder") or "complete"


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
                        overrides: Mapping[str, Any], data_dir: str | Path | None = None) -> dict[str, Any]:
    """The values injected into a notebook's ``parameters`` cell (``DATA_DIR`` only when a dataset is given)."""
    params = {"PROFILE": profile.name, "RUN_DIR": str(run_dir), "OUT_DIR": str(out_dir),
              "SEED": profile.seed, "OVERRIDES": dict(overrides)}
    if data_dir is not None:
        params["DATA_DIR"] = str(Path(data_dir).resolve())
    return params


def config_hash(profile: Profile, dataset: Mapping[str, str] | None = None) -> str:
    """Hash of the resolved configuration, plus the prepared dataset's identity when there is one."""
    payload = to_dict(profile)
    if dataset is not None and dataset.get("kind") == "prepared":
        payload = {"profile": payload, "dataset": dict(dataset)}   # the synthetic world keeps the old hash
    return _sha(json.dumps(payload, sort_keys=True))


def check_data_dir(data_dir: str | Path | None, out_dir: str | Path) -> dict[str, str]:
    """The dataset identity of ``data_dir`` (None: the synthetic world), checked against ``out_dir/run``.

    Raises :class:`DataDirError` naming the folder when it is not a processed dataset, or naming both datasets
    when the run folder's stage outputs were made from another one."""
    from .data import DatasetError
    from .stages import DatasetMismatchError, check_run_dataset, dataset_identity

    try:
        want = dataset_identity(data_dir)
    except DatasetError as err:
        raise DataDirError(f"--data-dir {data_dir}: not a processed dataset (make one with `emohead prepare`): "
                           f"{err}") from None
    try:
        check_run_dataset(Path(out_dir) / RUN_SUBDIR, want)
    except DatasetMismatchError as err:
        raise DataDirError(str(err)) from None
    return want


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


def reference_marker(folder: str | Path) -> Path | None:
    """The file that makes ``folder`` a reference (REFERENCE.md or reference.json), or None."""
    for name in REFERENCE_MARKERS:
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def read_run_id(run_dir: str | Path) -> str | None:
    """The run id in ``run_dir/run.json``, or None when there is none (no run folder yet)."""
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run_id = data.get("run_id") if isinstance(data, dict) else None
    return run_id if isinstance(run_id, str) and run_id else None


def ensure_run_id(run_dir: str | Path) -> str:
    """The run id of ``run_dir``; a new random one (written atomically to run.json) if it has none."""
    run_id = read_run_id(run_dir)
    if run_id is None:
        run_id = uuid.uuid4().hex
        write_json_atomic(Path(run_dir) / RUN_FILE, {"run_id": run_id, "created": _now()})
    return run_id


def run_manifest(run_dir: str | Path) -> dict[str, tuple[int, int]]:
    """``{"run/<path>": (size, mtime_ns)}`` for every file under ``run_dir`` except run.json (no hashing)."""
    run_dir = Path(run_dir)
    manifest: dict[str, tuple[int, int]] = {}
    for folder, _, files in os.walk(run_dir):
        for fname in files:
            path = Path(folder, fname)
            rel = path.relative_to(run_dir).as_posix()
            if rel == RUN_FILE or fname.endswith(".lock"):       # writer locks (files.FolderLock): not outputs
                continue
            try:
                st = path.stat()
            except OSError:         # a temporary file that vanished while we listed
                continue
            manifest[f"{RUN_SUBDIR}/{rel}"] = (st.st_size, st.st_mtime_ns)
    return manifest


HASHED_BELOW = 1 << 20
"""Run files smaller than this (bytes) are recorded with their sha256 too: one rewritten with the same content (a
killed notebook that had rewritten an index) still counts as unchanged. Bigger ones (videos, weights): size, mtime."""


def _artifact_record(out_dir: Path, rel: str, fp: Sequence[int]) -> list[Any]:
    """done.json's record of one run file: [size, mtime_ns], plus its sha256 when it is small."""
    record: list[Any] = [int(fp[0]), int(fp[1])]
    if fp[0] < HASHED_BELOW:
        try:
            record.append(_file_sha256(out_dir / rel))
        except OSError:
            pass
    return record


def _artifact_unchanged(path: Path, record: Sequence[Any]) -> bool:
    """The file still matches its done.json record: same size and mtime, or same size and content (small files)."""
    try:
        st = path.stat()
    except OSError:
        return False
    if (st.st_size, st.st_mtime_ns) == (int(record[0]), int(record[1])):
        return True
    return len(record) > 2 and st.st_size == int(record[0]) and _file_sha256(path) == record[2]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def why_incomplete(out_dir: Path, name: str, run_id: str | None, source_hash: str,
                   config_hash: str) -> str | None:
    """Why notebook ``name`` in ``out_dir`` must run, or None when its done.json and every fingerprint match."""
    if run_id is None:
        return "no run folder" if not (out_dir / RUN_SUBDIR).is_dir() else f"{RUN_SUBDIR}/{RUN_FILE} missing (no run id)"
    done_path = out_dir / name / DONE_FILE
    if not done_path.is_file():
        return "not run yet (no done.json)"
    try:
        done = json.loads(done_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "done.json unreadable"
    if not isinstance(done, dict) or "run_id" not in done:
        return "done.json of an older format (no run id)"
    if done["run_id"] != run_id:
        return "done.json belongs to another run"
    if done.get("source") != source_hash:
        return "notebook source changed"
    if done.get("config") != config_hash:
        return "configuration changed"
    for label, path, key in (("executed notebook", out_dir / f"{name}.ipynb", "executed_sha256"),
                             (METRICS_FILE, out_dir / name / METRICS_FILE, "metrics_sha256")):
        if not path.is_file():
            return f"{label} missing"
        if _file_sha256(path) != done.get(key):
            return f"{label} changed"
    try:
        artifacts = {str(k): (int(v[0]), int(v[1]), *[str(x) for x in v[2:3]])
                     for k, v in done.get("artifacts", {}).items()}
    except (AttributeError, TypeError, ValueError, IndexError):
        return "done.json malformed (artifacts)"
    for rel, record in artifacts.items():
        if not (out_dir / rel).exists():
            return f"artifact {rel} missing"
        if not _artifact_unchanged(out_dir / rel, record):
            return f"artifact {rel} changed"
    return None


def _plan(out_dir: Path, books: Sequence[Path], config_hash: str, force: bool) -> list[tuple[Path, str, str]]:
    """``(notebook, "run" | "skip", reason)`` for each notebook; after the first "run" every later one runs."""
    run_id = read_run_id(out_dir / RUN_SUBDIR)
    steps, first_run = [], None
    for nb in books:
        reason = "--force" if force else why_incomplete(out_dir, nb.stem, run_id, _notebook_source_hash(nb),
                                                        config_hash)
        if reason is None and first_run is not None:
            reason = f"after {first_run}, which runs"
        if reason is None:
            steps.append((nb, "skip", "complete"))
        else:
            steps.append((nb, "run", reason))
            first_run = first_run or nb.stem
    return steps


def _skipped(out_dir: Path, name: str, status: str, reason: str) -> NotebookResult:
    nb_out = out_dir / name
    seconds = float(json.loads((nb_out / DONE_FILE).read_text()).get("seconds", 0.0))
    return NotebookResult(name, status, seconds, json.loads((nb_out / METRICS_FILE).read_text()), reason)


def reproduce(profile: str | Profile, out_dir: str | Path, *, notebooks_dir: str | Path | None = None,
              force: bool = False, only: Sequence[str] | None = None,
              overrides: Mapping[str, Any] | None = None, kernel_name: str | None = None,
              dry_run: bool = False, update_reference: bool = False,
              data_dir: str | Path | None = None) -> list[NotebookResult]:
    """Run the numbered notebooks in order with ``profile``; resume past complete ones.

    ``dry_run``: return the plan (status "run" or "skip", with the reason) and touch nothing.
    A reference folder (see :func:`reference_marker`) is written only with ``update_reference``,
    which also records the git commit in its ``reference.json``. ``data_dir``: a processed dataset every notebook
    runs on (see the module docstring).
    """
    overrides = dict(overrides or {})
    cfg = load_profile(profile, overrides) if isinstance(profile, str) else profile
    out_dir = Path(out_dir)
    dataset = check_data_dir(data_dir, out_dir)            # at the boundary, before anything runs
    cfg_hash = config_hash(cfg, dataset)
    books = list_notebooks(notebooks_dir or default_notebooks_dir(), only)
    steps = _plan(out_dir, books, cfg_hash, force)
    if dry_run:
        return [_skipped(out_dir, nb.stem, "skip", reason) if action == "skip"
                else NotebookResult(nb.stem, "run", 0.0, {}, reason) for nb, action, reason in steps]

    marker = reference_marker(out_dir)
    if marker is not None and not update_reference:
        raise ReferenceFolderError(
            f"{out_dir} is a reference folder ({marker.name}): a run does not write there. Write the run elsewhere "
            f"(`emohead reproduce --profile {cfg.name} --out runs/{cfg.name}`) and compare it with "
            f"`emohead compare runs/{cfg.name} {out_dir}`; to refresh the reference on purpose pass "
            f"--update-reference (`make reference`).")
    try:                             # one run per output folder, like every writer (a second one: FolderLockedError)
        lock = FolderLock(out_dir).acquire()
    except OSError as err:
        raise ReproduceError(f"--out {out_dir}: cannot create folder ({err.strerror})") from None
    try:
        git = _git_state(out_dir) if update_reference else None      # before this run dirties the tree
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ReproduceError(f"--out {out_dir}: cannot create folder ({err.strerror})") from None
        run_dir = out_dir / RUN_SUBDIR
        save_config(cfg, out_dir / "config.yaml")
        run_id = ensure_run_id(run_dir)
        order = [nb.stem for nb in list_notebooks(notebooks_dir or default_notebooks_dir(), None)]

        from tqdm.auto import tqdm

        results: list[NotebookResult] = []
        bar = tqdm(steps, desc=f"reproduce [{cfg.name}]", unit="notebook")
        for nb, action, reason in bar:
            name = nb.stem
            bar.set_postfix_str(name)
            if action == "skip":
                results.append(_skipped(out_dir, name, "skipped", reason))
                log.info("%s: complete, skipped", name)
                continue
            log.info("%s: runs (%s)", name, reason)
            nb_out = out_dir / name
            executed = out_dir / f"{name}.ipynb"
            done_path = nb_out / DONE_FILE
            metrics_path = nb_out / METRICS_FILE
            done_path.unlink(missing_ok=True)
            metrics_path.unlink(missing_ok=True)
            params = notebook_parameters(cfg, run_dir.resolve(), nb_out.resolve(), overrides, data_dir)
            before = run_manifest(run_dir)
            t0 = time.perf_counter()
            try:
                run_notebook(nb, executed, params, kernel_name=kernel_name)
            except ReproduceError:
                results.append(NotebookResult(name, "failed", time.perf_counter() - t0, {}, reason))
                write_summary(out_dir, cfg, results)
                raise
            seconds = time.perf_counter() - t0
            if not metrics_path.is_file():
                raise ReproduceError(f"{name} ran but wrote no {metrics_path}: its last cell must call eh.notebook.finish")
            after = run_manifest(run_dir)
            changed = {rel: fp for rel, fp in after.items() if before.get(rel) != fp}
            removed = sorted(set(before) - set(after))
            metrics = json.loads(metrics_path.read_text())
            write_json_atomic(done_path, {
                "run_id": run_id, "source": _notebook_source_hash(nb), "config": cfg_hash,
                "seconds": round(seconds, 2), "profile": cfg.name, "finished": _now(), "dataset": dataset,
                "executed_sha256": _file_sha256(executed), "metrics_sha256": _file_sha256(metrics_path),
                "artifacts": {rel: _artifact_record(out_dir, rel, fp) for rel, fp in sorted(changed.items())},
                "removed": removed})
            _update_upstream_records(out_dir, order[:order.index(name)] if name in order else [], run_id, changed,
                                     removed)
            results.append(NotebookResult(name, "ran", seconds, metrics, reason))
            log.info("%s: ran in %.1f s", name, seconds)
        write_summary(out_dir, cfg, results + _earlier_results(out_dir, notebooks_dir, results) if only else results)
        if update_reference:
            write_json_atomic(out_dir / "reference.json", {
                "profile": cfg.name, "seed": cfg.seed, "commit": git["commit"], "uncommitted_changes": git["dirty"],
                "updated": _now(), "run_id": run_id, "notebooks": {r.name: r.status for r in results}})
        return results
    finally:
        lock.release()


def _update_upstream_records(out_dir: Path, upstream: Sequence[str], run_id: str,
                             changed: Mapping[str, tuple[int, int]], removed: Sequence[str]) -> None:
    """A notebook changed or removed run files that earlier notebooks recorded: bring their done.json up to date."""
    if not (changed or removed):
        return
    gone = set(removed)
    for name in upstream:
        path = out_dir / name / DONE_FILE
        try:
            done = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(done, dict) or done.get("run_id") != run_id or not isinstance(done.get("artifacts"), dict):
            continue
        artifacts = done["artifacts"]
        hit = [rel for rel in artifacts if rel in changed or rel in gone]
        if not hit:
            continue
        for rel in hit:
            if rel in gone:
                del artifacts[rel]
            else:
                artifacts[rel] = _artifact_record(out_dir, rel, changed[rel])
        write_json_atomic(path, done)


def _git_state(folder: Path) -> dict[str, Any]:
    """{"commit": HEAD or None, "dirty": uncommitted changes to tracked files (or None)} of the repository.

    Outside a git checkout the commit is read from ``$EMOHEAD_SOURCE_COMMIT`` (40 hex digits; anything else is refused
    with a ReproduceError) and "dirty" is None.
    """
    cwd = next((p for p in (folder, *folder.parents) if p.is_dir()), Path.cwd())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=30, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        # a copy of the tree without .git (a remote GPU machine): the commit it was copied from, if the caller says
        given = os.environ.get(SOURCE_COMMIT_ENV, "").strip()
        if given and not re.fullmatch(r"[0-9a-f]{40}", given):     # refused before any notebook runs
            raise ReproduceError(f"${SOURCE_COMMIT_ENV}={given!r} is not a commit: give all 40 hex digits "
                                 "(git rev-parse HEAD), or leave it unset to record no commit")
        return {"commit": given or None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


def _earlier_results(out_dir: Path, notebooks_dir: str | Path | None,
                     results: Sequence[NotebookResult]) -> list[NotebookResult]:
    """Notebooks left out by ``only`` whose outputs from an earlier run are in ``out_dir`` (kept in summary.md)."""
    ran = {r.name for r in results}
    earlier = []
    for nb in list_notebooks(notebooks_dir or default_notebooks_dir(), None):
        done, metrics = out_dir / nb.stem / DONE_FILE, out_dir / nb.stem / METRICS_FILE
        if nb.stem in ran or not (done.is_file() and metrics.is_file()):
            continue
        try:
            seconds = float(json.loads(done.read_text()).get("seconds", 0.0))
            earlier.append(NotebookResult(nb.stem, "earlier run", seconds, json.loads(metrics.read_text())))
        except (json.JSONDecodeError, ValueError):
            continue
    return earlier


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
    """``summary.md``: each notebook's status, time and scalar metrics, then the paper-facing section
    (:func:`emohead.eval.run_summary.summary_section`)."""
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
    from .eval.run_summary import summary_section       # (eval loads torch: only when a summary is written)

    paper = summary_section(out_dir)                     # Tables I, IV, VI, the paper's orderings, the paper's cost
    if paper:
        lines += ["", paper]
    return write_text_atomic(out_dir / "summary.md", "\n".join(lines) + "\n")
