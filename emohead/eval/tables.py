"""Our numbers beside the paper's (Sec. IV-B, Appendix D and F): "ours vs paper" tables.

:func:`compare_with_paper` puts our numbers beside the paper's tables (transcribed in :mod:`.paper`): each of our
systems becomes a row labelled ``"ours (synthetic)"``, followed by the paper's matching row labelled
``"paper (MEAD)"``. Our image distance on the face analyser's embedding ("FD (analyser)", see
:mod:`emohead.eval.frechet`) is never shown under a bare "FID" heading: the column is then headed
``FID_VS_FD_HEADING``, "FID (paper) / FD (analyser) (ours)", and each JSON record keeps its own metric name.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Mapping

from .frechet import ANALYSER_FD_NAME, FID_NAME
from .paper import (DIGITS, FID_VS_FD_HEADING, HIGHER_IS_BETTER, HUMAN_STUDY, METRICS, MISSING, OURS_LABEL,
                    PAPER_DIGITS, PAPER_TABLES, TABLE_I, TABLE_II, TABLE_IV, TABLE_VI, TABLE_VI_CREMAD, PaperTable,
                    arrow, format_value, paper_table)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- our systems -> the paper's rows
SYSTEM_ROWS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "Ground truth": {"I": "Ground truth", "II": "Ground truth"},
    "EmoHead (full)": {"I": "EmoHead", "II": "EmoHead", "IV": "EmoHead", "VI": "+ L_cord + L_shape"},
    # ours only: eq. 2-7 exactly as printed (the default completes them; the paper reports one EmoHead row)
    "literal eq. 2-7 (as printed)": {},
    # Table IV row 1: [v; e; g] -> self-attention transformer instead of FusedAttn (variant "no_alignment")
    "w/o audio-expression alignment": {"IV": "w/o audio expression alignment"},
    # Table IV row 2: renderer input [z; alpha~] instead of alpha~ + tau w_z (variant "no_refinement")
    "w/o hyperplane refinement": {"IV": "w/o hyperplane refinement"},
    "w/o emotion control (neutral tag)": {},  # ours only: the paper has no such row
})
"""Our system names -> {paper table number: row label} where the paper has a corresponding row."""

_SWEEP = re.compile(r"^\s*(d|n|rho|ρ)\s*=\s*([0-9]*\.?[0-9]+)\s*$")


def _sweep_row(name: str, table: PaperTable) -> tuple[bool, str | None]:
    """(is a sweep name, the table's row for it or None): "d=256" -> "d, d_h = 256, 256", "n=3", "rho=0.5"."""
    m = _SWEEP.match(name)
    if not m:
        return False, None
    key, num = m.group(1), m.group(2)
    num = format(float(num), "g")
    label = {"d": f"d, d_h = {num}, {num}", "n": f"n = {num}"}.get(key, f"rho = {num}")
    return True, (label if label in table.rows else None)


def paper_row_for(system: str, table: str | PaperTable, row_map: Mapping[str, str | None] | None = None) -> str | None:
    """The paper's row in ``table`` that our ``system`` corresponds to, or None where there is none.

    Looks in ``row_map`` (overrides), then :data:`SYSTEM_ROWS`, then sweep names ("d=256", "n=3", "rho=0.5").
    Raises ValueError for a system name none of these knows, or a ``row_map`` row not in the table.
    """
    t = paper_table(table)
    if row_map is not None and system in row_map:
        row = row_map[system]
        if row is not None and row not in t.rows:
            raise ValueError(f"row_map[{system!r}] = {row!r} is not a row of Table {t.number}; rows: {list(t.rows)}")
        return row
    if system in SYSTEM_ROWS:
        return SYSTEM_ROWS[system].get(t.number)
    is_sweep, row = _sweep_row(system, t)
    if is_sweep:
        return row
    raise ValueError(f"unknown system {system!r}: known systems are {list(SYSTEM_ROWS)} and sweeps like "
                     f"'d=256', 'n=3', 'rho=0.5'; pass row_map={{{system!r}: <paper row or None>}} for others")


# ---------------------------------------------------------------- ours vs paper
def _check_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Validate {system: {metric: value}}; values become float or None (NaN -> None)."""
    if not isinstance(results, Mapping):
        raise ValueError(f"results must be a dict {{system: {{metric: value}}}}, got {type(results).__name__}")
    unknown = sorted({m for r in results.values() for m in (r if isinstance(r, Mapping) else ())} - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric names {unknown}; known: {list(METRICS)}")
    out = {}
    for system, row in results.items():
        if not isinstance(row, Mapping):
            raise ValueError(f"results[{system!r}] must be a dict {{metric: value}}, got {type(row).__name__}")
        clean = {}
        for metric, value in row.items():
            if value is None:
                clean[metric] = None
                continue
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"results[{system!r}][{metric!r}] = {value!r} is not a number") from None
            clean[metric] = None if math.isnan(v) else v
        out[str(system)] = clean
    return out


def _json_value(v: float | None) -> float | str | None:
    if v is None or math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


@dataclass(frozen=True)
class ComparisonRow:
    """One row of a comparison: where it comes from, whose it is, and its values by metric name."""

    source: str                                   # "ours (synthetic)" or "paper (MEAD)"
    system: str                                   # our system name, or the paper's row label
    paper_row: str | None                         # for our rows: the matching paper row (None if none)
    values: Mapping[str, float | None]            # actual metric name -> value ("FD (analyser)" stays so)


@dataclass(frozen=True)
class ComparisonTable:
    """Our results beside one paper table; render with :meth:`to_markdown` or :meth:`to_records`."""

    title: str
    table: PaperTable
    metrics: tuple[str, ...]                      # the paper's columns shown (metric names, paper order)
    headings: tuple[str, ...]                     # one display heading per metric (with the direction arrow)
    rows: tuple[ComparisonRow, ...]
    notes: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        """Display columns: "Source", "System", then the metric headings."""
        return ["Source", "System", *self.headings]

    def _cell(self, row: ComparisonRow, metric: str) -> str:
        name = ANALYSER_FD_NAME if metric == FID_NAME and ANALYSER_FD_NAME in row.values else metric
        digits = (DIGITS if row.source != self.table.label else PAPER_DIGITS)[name]
        return format_value(row.values.get(name), name, digits)

    def display_rows(self) -> list[dict[str, str]]:
        """Rows of formatted strings keyed by :attr:`columns`."""
        out = []
        for r in self.rows:
            d = {"Source": r.source, "System": r.system}
            d.update({h: self._cell(r, m) for m, h in zip(self.metrics, self.headings)})
            out.append(d)
        return out

    def to_markdown(self) -> str:
        """A Markdown table (:func:`emohead.markdown.markdown_text`) followed by its notes."""
        from ..markdown import markdown_text

        text = markdown_text(self.display_rows(), self.columns, title=self.title)
        return text + "\n\n" + "\n".join(f"- {n}" for n in self.notes)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: source, system, paper_row, table, and each value under its true metric name
        (our "FD (analyser)" stays "FD (analyser)"); inf as "inf", missing as None."""
        out = []
        for r in self.rows:
            rec: dict[str, Any] = {"source": r.source, "system": r.system, "paper_row": r.paper_row,
                                   "table": f"Table {self.table.number} ({self.table.dataset})"}
            for metric in self.metrics:
                name = ANALYSER_FD_NAME if metric == FID_NAME and ANALYSER_FD_NAME in r.values else metric
                rec[name] = _json_value(r.values.get(name))
            out.append(rec)
        return out


def compare_with_paper(results: Mapping[str, Mapping[str, Any]], table: str | PaperTable = "I", *,
                       row_map: Mapping[str, str | None] | None = None,
                       paper_rows: Literal["matched", "all", "none"] = "matched",
                       include_human_study: bool = False, ours_label: str = OURS_LABEL,
                       evaluators_note: str = "measured with stand-in evaluators (face analyser, our SyncNet)"
                       ) -> ComparisonTable:
    """Our results {system: {metric: value}} beside the paper's ``table`` ("I", "IV", "VI", ... or a PaperTable).

    Each of our systems gives a row labelled ``ours_label`` ("ours (synthetic)"), followed by the paper's
    corresponding row (:func:`paper_row_for`) labelled "paper (MEAD)". ``paper_rows``: "matched" (only
    those), "all" (then the paper's other rows, in its order), "none". Columns are the table's, in the
    paper's order (human-study columns only if ``include_human_study``); our metrics the table lacks are
    left out. When our rows carry "FD (analyser)", the FID column is headed ``FID_VS_FD_HEADING``.
    Values may be floats, MetricResults, None or NaN (missing); inf prints as "inf". ``evaluators_note``: what
    measured our rows, for the first note (real data: ``systems.REAL_EVALUATORS_NOTE``).

    Raises ValueError for unknown metric names or systems, or if our results mix FID and FD (analyser).
    """
    t = paper_table(table)
    ours = _check_results(results)
    if paper_rows not in ("matched", "all", "none"):
        raise ValueError(f"paper_rows must be 'matched', 'all' or 'none', got {paper_rows!r}")
    matched = {system: paper_row_for(system, t, row_map) for system in ours}

    metrics = tuple(t.columns if include_human_study else t.metric_columns)
    has_fid = [s for s, r in ours.items() if FID_NAME in r]
    has_fd = [s for s, r in ours.items() if ANALYSER_FD_NAME in r]
    if has_fid and has_fd:
        raise ValueError(f"results mix {FID_NAME!r} (systems {has_fid}) and {ANALYSER_FD_NAME!r} (systems {has_fd}): "
                         "distances on different features cannot share a column; give one of them for every system")
    use_fd = bool(has_fd) and FID_NAME in metrics
    headings = tuple(f"{FID_VS_FD_HEADING if (m == FID_NAME and use_fd) else m} {arrow(m)}" for m in metrics)
    dropped = sorted({m for r in ours.values() for m in r} - set(metrics) - ({ANALYSER_FD_NAME} if use_fd else set()))
    if dropped:
        log.debug("Table %s has no column for %s; left out", t.number, dropped)

    keep = set(metrics) | ({ANALYSER_FD_NAME} if use_fd else set())
    rows: list[ComparisonRow] = []
    shown: set[str] = set()
    for system, values in ours.items():
        rows.append(ComparisonRow(ours_label, system, matched[system],
                                  MappingProxyType({m: v for m, v in values.items() if m in keep})))
        prow = matched[system]
        if paper_rows != "none" and prow is not None and prow not in shown:
            shown.add(prow)
            rows.append(ComparisonRow(t.label, prow, None, t.rows[prow]))
    if paper_rows == "all":
        rows += [ComparisonRow(t.label, label, None, vals) for label, vals in t.rows.items() if label not in shown]

    notes = [f'"{ours_label}": our numbers, {evaluators_note}; '
             f'"{t.label}": Table {t.number} of the paper, {t.where}. Not comparable in absolute value.']
    if use_fd:
        notes.append(f'"{FID_VS_FD_HEADING}": paper rows hold the paper\'s FID (Inception-v3 features); our rows '
                     f"hold {ANALYSER_FD_NAME}, the Frechet distance on the face analyser's embedding, a different scale.")
    if "M-LMD" in metrics:
        notes.append('The paper prints "M/F-LMD" as one column; it is split into M-LMD and F-LMD here.')
    title = f"Ours vs paper: Table {t.number} ({t.dataset}), {t.title.rstrip('.')}"
    return ComparisonTable(title, t, metrics, headings, tuple(rows), tuple(notes))


__all__ = ["DIGITS", "FID_VS_FD_HEADING", "HIGHER_IS_BETTER", "HUMAN_STUDY", "METRICS", "MISSING", "OURS_LABEL",
           "PAPER_DIGITS", "PAPER_TABLES", "SYSTEM_ROWS", "TABLE_I", "TABLE_II", "TABLE_IV", "TABLE_VI", "TABLE_VI_CREMAD",
           "ComparisonRow", "ComparisonTable", "PaperTable", "arrow", "compare_with_paper", "format_value",
           "paper_row_for", "paper_table"]
