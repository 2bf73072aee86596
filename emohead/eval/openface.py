"""OpenFace 2.0 action-unit CSVs: the AU intensities the paper's AUE uses on real data (Sec. IV).

OpenFace's ``FeatureExtraction`` writes one row per frame with columns ``frame, face_id, timestamp,
confidence, success, ..., AU01_r ... AU45_r`` (intensities 0-5; headers after the first carry a
leading space) and ``AUxx_c`` presence flags. :func:`read_openface_aus` reads the ``_r`` columns and
names them like :data:`emohead.face.facs.AU_NAMES` (``AU01_r`` -> ``AU1``); AUs OpenFace has and we do not
(AU10, AU17) keep their names and drop out when compared with the analyser's AUs.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .metrics import au_error
from .result import EvalError, MetricResult

_AU_COLUMN = re.compile(r"^AU(\d+)_r$")


def openface_au_name(column: str) -> str | None:
    """``"AU01_r"`` -> ``"AU1"`` (our spelling); None for any other column."""
    m = _AU_COLUMN.match(column.strip())
    return f"AU{int(m.group(1))}" if m else None


class OpenFaceAUs(NamedTuple):
    """AU intensities read from an OpenFace CSV."""

    names: tuple[str, ...]     # our AU names, e.g. ("AU1", "AU2", "AU4", ...)
    values: np.ndarray         # float32 [N, K] intensities (OpenFace scale 0-5)
    frame: np.ndarray          # int64 [N] OpenFace's frame numbers (1-based)


def read_openface_aus(path: str | Path, *, successful_only: bool = True) -> OpenFaceAUs:
    """Read the ``AUxx_r`` columns of an OpenFace CSV -> :class:`OpenFaceAUs`.

    ``successful_only`` drops rows whose ``success`` column is 0 (face not tracked). Without a
    ``frame`` column rows are numbered 1..N.
    """
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"OpenFace CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, skipinitialspace=True))
    if not rows:
        raise EvalError(f"OpenFace CSV {path} is empty")
    header = [h.strip() for h in rows[0]]
    cols = [(i, openface_au_name(h)) for i, h in enumerate(header)]
    cols = [(i, n) for i, n in cols if n is not None]
    if not cols:
        raise EvalError(f"OpenFace CSV {path} has no AUxx_r intensity columns (header: {header[:8]}...)")
    col = {h: i for i, h in enumerate(header)}
    values, frames = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise EvalError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        try:
            if successful_only and "success" in col and float(row[col["success"]]) == 0:
                continue
            values.append([float(row[i]) for i, _ in cols])
            frames.append(int(float(row[col["frame"]])) if "frame" in col else len(frames) + 1)
        except ValueError as err:
            raise EvalError(f"{path}:{line}: not a number ({err})") from None
    return OpenFaceAUs(tuple(n for _, n in cols), np.asarray(values, np.float32).reshape(-1, len(cols)),
                       np.asarray(frames, np.int64))


def openface_au_error(generated_csv: str | Path, real_csv: str | Path) -> MetricResult:
    """AUE from two OpenFace CSVs (generated and ground-truth video): :func:`~emohead.eval.metrics.au_error`
    over the frames successfully tracked in both (matched by frame number) and the AUs in both."""
    g, r = read_openface_aus(generated_csv), read_openface_aus(real_csv)
    common, gi, ri = np.intersect1d(g.frame, r.frame, return_indices=True)
    if len(common) == 0:
        raise EvalError(f"{generated_csv} and {real_csv} share no successfully tracked frame")
    return au_error(g.values[gi], r.values[ri], pred_names=g.names, real_names=r.names)


__all__ = ["OpenFaceAUs", "openface_au_error", "openface_au_name", "read_openface_aus"]
