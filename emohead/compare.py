"""``emohead compare RUN REFERENCE``: a reproduction's metrics against a reference one (``reports/<profile>``).

Each notebook's ``metrics.json`` is flattened (``a.b``, ``a[0]``); numbers must agree within a relative
tolerance (float summation order differs between machines and thread counts), strings, booleans and nulls
must be equal. Timing, speed and device keys are left out and listed as excluded; notebooks and keys found
on one side only are listed as missing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .notebook import METRICS_FILE

# a key is excluded when its last name contains one of these, or ends with one of the suffixes
EXCLUDED_PARTS = ("seconds", "per_second", "duration", "latency", "elapsed", "timing", "speed", "fps", "device")
EXCLUDED_SUFFIXES = ("_s", "_ms", "it_s")


@dataclass(frozen=True)
class Difference:
    key: str                  # "NN_name: a.b[0]"
    run: Any
    reference: Any
    rel: float | None         # relative difference of two numbers, else None


@dataclass
class Comparison:
    run: Path
    reference: Path
    rtol: float
    equal: int = 0
    differences: list[Difference] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    missing_in_run: list[str] = field(default_factory=list)
    missing_in_reference: list[str] = field(default_factory=list)
    config_differences: list[str] = field(default_factory=list)
    notebooks: int = 0

    @property
    def ok(self) -> bool:
        """No differing metrics and nothing missing on either side."""
        return not (self.differences or self.missing_in_run or self.missing_in_reference)

    def to_text(self, max_rows: int = 40) -> str:
        lines = [f"compare {self.run} against the reference {self.reference} (rtol {self.rtol:g})"]
        if self.config_differences:
            lines.append(f"  note: the configurations differ ({', '.join(self.config_differences[:8])}"
                         f"{', ...' if len(self.config_differences) > 8 else ''}): differences are expected")
        lines.append(f"  {self.notebooks} notebook(s): {self.equal} metrics equal within rtol, "
                     f"{len(self.differences)} differ{':' if self.differences else ''}")
        if self.differences:
            rows = [(d.key, _fmt(d.run), _fmt(d.reference), "-" if d.rel is None else f"{d.rel:.2e}")
                    for d in self.differences[:max_rows]]
            header = ("key", "run", "reference", "rel. diff")
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
            for row in [header, *rows]:
                lines.append("    " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if len(self.differences) > max_rows:
                lines.append(f"    ... and {len(self.differences) - max_rows} more")
        if self.excluded:
            lines.append(f"  excluded (timing, speed, device): {len(self.excluded)}: " + ", ".join(self.excluded))
        for label, items in (("missing in the run", self.missing_in_run),
                             ("missing in the reference", self.missing_in_reference)):
            if items:
                lines.append(f"  {label} ({len(items)}): " + ", ".join(items))
        return "\n".join(lines)


def is_excluded(name: str) -> bool:
    """Whether a metric's own name (the last key) marks a timing, speed or device value."""
    name = name.lower()
    return any(p in name for p in EXCLUDED_PARTS) or name.endswith(EXCLUDED_SUFFIXES)


def flatten_metrics(metrics: Any) -> dict[str, tuple[str, Any]]:
    """``{"a.b[0]": (last key name, value)}`` for every leaf of a metrics.json."""
    return {key: (last, value) for key, last, value in _walk(metrics, "", "")}


def _walk(obj: Any, key: str, last: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k), str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{key}[{i}]", last)
    else:
        yield key, last, obj


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def close(a: Any, b: Any, rtol: float, atol: float = 1e-9) -> tuple[bool, float | None]:
    """(equal?, relative difference or None): numbers within ``rtol`` (or ``atol``), anything else exactly."""
    if not (_is_number(a) and _is_number(b)):
        return (type(a) is type(b) and a == b), None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b), None
    if a == b:
        return True, 0.0
    diff = abs(a - b)
    scale = max(abs(a), abs(b))
    rel = diff / scale if math.isfinite(scale) else math.inf
    return (diff <= atol or rel <= rtol), rel


def _notebooks(folder: Path) -> list[str]:
    return sorted(p.parent.name for p in folder.glob(f"*/{METRICS_FILE}"))


def _config(folder: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return {k: v for k, (_, v) in flatten_metrics(data).items()} if isinstance(data, dict) else {}


def compare_runs(run: str | Path, reference: str | Path, *, rtol: float = 1e-3, atol: float = 1e-9) -> Comparison:
    """Compare every notebook's metrics.json in ``run`` with the same notebook's in ``reference``."""
    run, reference = Path(run), Path(reference)
    for label, folder in (("run", run), ("reference", reference)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{label} folder {folder} does not exist")
    result = Comparison(run, reference, rtol)
    cfg_run, cfg_ref = _config(run), _config(reference)
    if cfg_run and cfg_ref:
        result.config_differences = sorted(k for k in cfg_run.keys() | cfg_ref.keys()
                                           if cfg_run.get(k) != cfg_ref.get(k))
    in_run, in_ref = _notebooks(run), _notebooks(reference)
    result.missing_in_run += [f"{n} (no {METRICS_FILE})" for n in in_ref if n not in in_run]
    result.missing_in_reference += [f"{n} (no {METRICS_FILE})" for n in in_run if n not in in_ref]
    for name in (n for n in in_ref if n in in_run):
        result.notebooks += 1
        mine = flatten_metrics(json.loads((run / name / METRICS_FILE).read_text(encoding="utf-8")))
        theirs = flatten_metrics(json.loads((reference / name / METRICS_FILE).read_text(encoding="utf-8")))
        for key in list(theirs) + [k for k in mine if k not in theirs]:
            label = f"{name}: {key}"
            last = (theirs.get(key) or mine.get(key))[0]
            if is_excluded(last):
                result.excluded.append(label)
            elif key not in mine:
                result.missing_in_run.append(label)
            elif key not in theirs:
                result.missing_in_reference.append(label)
            else:
                same, rel = close(mine[key][1], theirs[key][1], rtol, atol)
                if same:
                    result.equal += 1
                else:
                    result.differences.append(Difference(label, mine[key][1], theirs[key][1], rel))
    return result


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return json.dumps(v) if isinstance(v, str) else str(v)
