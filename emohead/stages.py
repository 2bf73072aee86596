"""A run folder's stages, each made on demand or reused: the prelude every later notebook and the evaluation need.

    data -> features -> hyperplanes -> audio2exp (the full model) -> analyser -> nerf (the full model)

``upstream(profile, run_dir, "audio2exp")`` makes (or reuses: every stage caches by its settings) the stages up to
and including ``audio2exp`` and returns them. ``eh.notebook.upstream(ctx, ...)`` is the same for a notebook.
The folders inside the run are those of docs/architecture.md: data/, features/, hyperplanes/hyperplanes.npz,
audio2exp/full/, analyser/, nerf/full/. A prepared real dataset (``emohead prepare``) is used through ``data_dir``
instead of the synthetic world.

A run folder serves one dataset: :func:`bind_dataset` records a prepared dataset in ``run_dir/dataset.json`` (its
path and manifest hash) and links ``run_dir/data`` to it, so the stages that read ``run_dir/data`` (the evaluation)
see it too; asking a run folder for another dataset than the one its stage outputs were made from (the synthetic
world, or another prepared dataset, or the same one prepared again) is refused, naming both. Some stages cache by
settings only (the hyperplanes), so a mix would silently reuse another dataset's outputs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Profile
from .files import write_json_atomic

STAGES: tuple[str, ...] = ("data", "features", "hyperplanes", "audio2exp", "analyser", "nerf")
DATASET_FILE = "dataset.json"            # run_dir/dataset.json: the prepared dataset a run folder serves
# folders whose contents depend on the dataset: their presence without dataset.json marks a synthetic-world run
_DATASET_OUTPUTS = ("data", "features", "hyperplanes", "audio2exp", "nerf", "syncnet")


class DatasetMismatchError(ValueError):
    """A run folder's stage outputs were made from another dataset than the one asked for."""


def dataset_identity(data_dir: str | Path | None) -> dict[str, str]:
    """``{"kind": "synthetic"}``, or a prepared dataset's resolved path and the sha256 of its manifest.json."""
    if data_dir is None:
        return {"kind": "synthetic"}
    from .data import ProcessedDataset

    ds = ProcessedDataset(data_dir)                # raises DatasetError naming the folder when it is not one
    return {"kind": "prepared", "path": str(Path(data_dir).resolve()),
            "manifest_sha256": hashlib.sha256(Path(ds.manifest_path).read_bytes()).hexdigest()}


def _describe(identity: dict[str, str]) -> str:
    if identity.get("kind") != "prepared":
        return "the synthetic world"
    return f"the prepared dataset {identity.get('path')} (manifest sha256 {str(identity.get('manifest_sha256'))[:12]})"


def run_dataset(run_dir: str | Path) -> dict[str, str] | None:
    """The dataset identity a run folder's stage outputs were made from; None for a run folder without any."""
    run_dir = Path(run_dir)
    record = run_dir / DATASET_FILE
    if record.is_file():
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except ValueError as err:
            raise DatasetMismatchError(f"{record}: not valid JSON ({err}); delete the run folder {run_dir}") from None
        if not isinstance(data, dict) or data.get("kind") != "prepared":
            raise DatasetMismatchError(f"{record}: not a dataset record; delete the run folder {run_dir}")
        return {k: str(data.get(k)) for k in ("kind", "path", "manifest_sha256")}
    if any((run_dir / name).exists() or (run_dir / name).is_symlink() for name in _DATASET_OUTPUTS):
        return {"kind": "synthetic"}
    return None


def check_run_dataset(run_dir: str | Path, want: dict[str, str]) -> dict[str, str] | None:
    """The run folder's dataset identity (None: none yet); :class:`DatasetMismatchError` naming both if not ``want``."""
    have = run_dataset(run_dir)
    if have is not None and have != want:
        changed = have.get("path") == want.get("path")
        raise DatasetMismatchError(
            f"run folder {run_dir} holds stage outputs made from {_describe(have)}, but this run asks for "
            f"{_describe(want)}{' (its manifest changed since)' if changed else ''}; they would mix. Use another "
            f"run folder (`emohead reproduce --out` / the notebook's RUN_DIR) or delete {run_dir}.")
    return have


def bind_dataset(run_dir: str | Path, data_dir: str | Path | None) -> dict[str, str]:
    """Tie ``run_dir`` to the dataset at ``data_dir`` (None: the synthetic world) or refuse, naming both.

    A prepared dataset is recorded in ``run_dir/dataset.json`` and linked as ``run_dir/data``. Returns its identity.
    """
    run_dir = Path(run_dir)
    want = dataset_identity(data_dir)
    have = check_run_dataset(run_dir, want)
    if want["kind"] == "prepared":
        link = run_dir / "data"
        run_dir.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() != Path(want["path"]):
            link.unlink()
        if not link.is_symlink():
            if link.exists():
                raise DatasetMismatchError(f"{link} exists and is not a link to {want['path']}; delete the run "
                                           f"folder {run_dir} or use another")
            link.symlink_to(want["path"], target_is_directory=True)
        if have is None:
            write_json_atomic(run_dir / DATASET_FILE, want)
    return want


@dataclass
class Upstream:
    """The stages made so far (None where not asked for). ``speaker``: the person the NeRF renders."""

    ds: Any
    store: Any = None
    planes: Any = None
    a2e: Any = None
    analyser: Any = None
    nerf: Any = None

    @property
    def speaker(self) -> str:
        return self.ds.extra.get("target_speaker", self.ds.speakers[0])


def upstream(profile: Profile, run_dir: str | Path, until: str, *, device: str = "cpu", data_dir: str | Path | None = None,
             progress: bool = True) -> Upstream:
    """Make or reuse the stages of ``run_dir`` up to ``until`` (one of :data:`STAGES`) and return them.

    data_dir: a processed dataset to use as is (real data; the run folder is bound to it, :func:`bind_dataset`);
    default: the synthetic world at ``run_dir/data``, generated when missing or made with other settings.
    ``run_dir/data`` itself is used as it stands, whichever dataset it is.
    """
    if until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; stages in order: {list(STAGES)}")
    wanted = STAGES[:STAGES.index(until) + 1]
    run_dir = Path(run_dir)
    from .data import ProcessedDataset

    if data_dir is None:
        from .synth import ensure_corpus

        bind_dataset(run_dir, None)            # refuses a run folder serving a prepared dataset
        data_dir = ensure_corpus(profile, run_dir / "data", device=device, progress=progress)
    elif Path(data_dir).absolute() != (run_dir / "data").absolute():
        bind_dataset(run_dir, data_dir)
    up = Upstream(ds=ProcessedDataset(data_dir))
    if "features" in wanted:
        from .features import extract_dataset

        up.store = extract_dataset(up.ds, profile.features, run_dir / "features", device=device, progress=progress)
    if "hyperplanes" in wanted:
        from .emotion import ensure_hyperplanes

        up.planes = ensure_hyperplanes(up.ds, profile.hyperplanes, run_dir / "hyperplanes" / "hyperplanes.npz",
                                       seed=profile.seed)
    if "audio2exp" in wanted:
        from .audio2exp import train_audio2exp

        up.a2e, _ = train_audio2exp(up.ds, up.store, up.planes, profile.audio2exp, run_dir / "audio2exp" / "full",
                                    seed=profile.seed, device=device, progress=progress)
    if "analyser" in wanted:
        from .extract import ensure_analyser

        up.analyser, _ = ensure_analyser(profile, run_dir / "analyser", image_size=profile.synth.image_size,
                                         device=device, progress=progress)
    if "nerf" in wanted:
        from .render import train_nerf

        up.nerf, _ = train_nerf(up.ds, profile.nerf, run_dir / "nerf" / "full", speaker=up.speaker,
                                analyser=up.analyser, seed=profile.seed, device=device, progress=progress)
    return up
