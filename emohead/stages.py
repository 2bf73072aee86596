"""A run folder's stages, each made on demand or reused: the prelude every later notebook and the evaluation need.

    data -> features -> hyperplanes -> audio2exp (the full model) -> analyser -> nerf (the full model)

``upstream(profile, run_dir, "audio2exp")`` makes (or reuses: every stage caches by its settings) the stages up to
and including ``audio2exp`` and returns them. ``eh.notebook.upstream(ctx, ...)`` is the same for a notebook.
The folders inside the run are those of docs/architecture.md: data/, features/, hyperplanes/hyperplanes.npz,
audio2exp/full/, analyser/, nerf/full/. A prepared real dataset (``emohead prepare``) is used through ``data_dir``
instead of the synthetic world.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Profile

STAGES: tuple[str, ...] = ("data", "features", "hyperplanes", "audio2exp", "analyser", "nerf")


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

    data_dir: a processed dataset to use as is (real data); default: the synthetic world at ``run_dir/data``,
    generated when missing or made with other settings.
    """
    if until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; stages in order: {list(STAGES)}")
    wanted = STAGES[:STAGES.index(until) + 1]
    run_dir = Path(run_dir)
    from .data import ProcessedDataset

    if data_dir is None:
        from .synth import ensure_corpus

        data_dir = ensure_corpus(profile, run_dir / "data", device=device, progress=progress)
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
