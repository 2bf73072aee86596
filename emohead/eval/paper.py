"""The paper's result tables as data (Sec. IV-B, Appendix D and F), and the vocabulary of their metrics.

Tables I, II, IV and VI of the paper are transcribed from the paper's text (the extracted text carries no page
numbers, so each table cites its section). Values are floats; "-" in the paper is ``None``. The paper prints
landmark distances as one column "M/F-LMD"; here they are two columns, "M-LMD" then "F-LMD", at that column's
place, so every column is one metric with one direction. Our numbers beside these: :mod:`.tables`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .faces import EXPRESSION_RMSE
from .frechet import ANALYSER_FD_NAME, FID_NAME

# ---------------------------------------------------------------- metric names and directions
METRICS: tuple[str, ...] = ("SSIM", "PSNR", "M-LMD", "F-LMD", FID_NAME, ANALYSER_FD_NAME, "AUE", "Sync", "ER", "RMSE",
                            EXPRESSION_RMSE)
"""Metric names our results may carry (the names :class:`~emohead.eval.result.MetricResult` uses), in the
paper's column order (Table I), plus "RMSE" of predicted expression parameters (Table VI) and, on real data,
the 3DDFA_V2 expression RMSE of generated vs real video (no paper column)."""
HUMAN_STUDY: tuple[str, ...] = ("Fidelity", "Coherence", "Empathy")
"""Human-study columns of Tables I-II (0-5 scores); we have no counterpart, so comparisons leave them out."""
HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType({
    "SSIM": True, "PSNR": True, "M-LMD": False, "F-LMD": False, FID_NAME: False, ANALYSER_FD_NAME: False,
    "AUE": False, "Sync": True, "ER": True, "RMSE": False, EXPRESSION_RMSE: False, "Fidelity": True, "Coherence": True, "Empathy": True})
"""Direction per column, as the arrows in the paper's table headings."""
DIGITS: Mapping[str, int] = MappingProxyType({
    "SSIM": 3, "PSNR": 3, "M-LMD": 3, "F-LMD": 3, FID_NAME: 1, ANALYSER_FD_NAME: 3, "AUE": 2, "Sync": 2,
    "ER": 2, "RMSE": 3, EXPRESSION_RMSE: 3, "Fidelity": 1, "Coherence": 1, "Empathy": 1})
"""Decimals printed per metric for our rows (the paper's, except RMSE and FD (analyser), whose synthetic values are small)."""
PAPER_DIGITS: Mapping[str, int] = MappingProxyType({**DIGITS, "RMSE": 2})
"""Decimals printed for the paper's rows: as the paper prints them."""

OURS_LABEL = "ours (synthetic)"
"""Source label of our rows: numbers from the synthetic world with stand-in evaluators."""
FID_VS_FD_HEADING = f"{FID_NAME} (paper) / {ANALYSER_FD_NAME} (ours)"
"""Heading of the FID column when our rows hold "FD (analyser)" values (never a bare "FID")."""
MISSING = "–"
"""How a missing value (None, NaN, the paper's "-") is printed."""


def arrow(metric: str) -> str:
    """"↑" if higher is better for ``metric``, else "↓" (ValueError for an unknown name)."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    return "↑" if HIGHER_IS_BETTER[metric] else "↓"


def format_value(value: Any, metric: str | None = None, digits: int | None = None) -> str:
    """A table cell: "–" for None/NaN, "inf"/"-inf", else fixed decimals (``DIGITS[metric]`` by default)."""
    if value is None:
        return MISSING
    v = float(value)
    if math.isnan(v):
        return MISSING
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if digits is None:
        digits = DIGITS.get(metric, 3) if metric is not None else 3
    return f"{v:.{digits}f}"


# ---------------------------------------------------------------- the paper's tables
@dataclass(frozen=True)
class PaperTable:
    """One of the paper's result tables: rows {label: {column: value or None}} in the paper's order."""

    number: str                                   # the paper's table number, e.g. "IV"
    title: str                                    # the paper's caption
    dataset: str                                  # "MEAD" or "CREMA-D"
    where: str                                    # section of the paper holding the table
    note: str                                     # transcription notes (labels, splits, ambiguities)
    columns: tuple[str, ...]                      # metric names in the paper's column order
    rows: Mapping[str, Mapping[str, float | None]]

    def __post_init__(self) -> None:
        for c in self.columns:
            arrow(c)  # every column is a known metric
        frozen = {}
        for label, row in self.rows.items():
            extra = set(row) - set(self.columns)
            if extra:
                raise ValueError(f"Table {self.number}, row {label!r}: columns {sorted(extra)} not in {self.columns}")
            frozen[label] = MappingProxyType({c: row.get(c) for c in self.columns})
        object.__setattr__(self, "rows", MappingProxyType(frozen))

    @property
    def label(self) -> str:
        """Source label of the paper's rows, e.g. "paper (MEAD)"."""
        return f"paper ({self.dataset})"

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The columns other than the human study's."""
        return tuple(c for c in self.columns if c not in HUMAN_STUDY)

    def value(self, row: str, column: str) -> float | None:
        """The paper's number in ``row`` and ``column`` (None where the paper prints "-")."""
        if row not in self.rows:
            raise ValueError(f"Table {self.number} has no row {row!r}; rows: {list(self.rows)}")
        if column not in self.columns:
            raise ValueError(f"Table {self.number} has no column {column!r}; columns: {list(self.columns)}")
        return self.rows[row][column]

    def higher_is_better(self, column: str) -> bool:
        """Direction of ``column`` (True: higher is better)."""
        if column not in self.columns:
            raise ValueError(f"Table {self.number} has no column {column!r}; columns: {list(self.columns)}")
        return HIGHER_IS_BETTER[column]

    def to_markdown(self) -> str:
        """The table as the paper prints it (M-LMD and F-LMD as separate columns)."""
        heads = ["Setting"] + [f"{c} {arrow(c)}" for c in self.columns]
        lines = [f"**Table {self.number} ({self.dataset}): {self.title}**", "",
                 "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for label, row in self.rows.items():
            cells = [format_value(row[c], c, PAPER_DIGITS[c]) for c in self.columns]
            lines.append("| " + " | ".join([label, *cells]) + " |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


_MAIN_COLUMNS = ("SSIM", "PSNR", "M-LMD", "F-LMD", FID_NAME, "AUE", "Sync", "ER") + HUMAN_STUDY
_COLUMNS_IV = ("SSIM", "PSNR", "M-LMD", "F-LMD", FID_NAME, "AUE", "Sync", "ER")
_COLUMNS_VI = ("RMSE", "M-LMD", "F-LMD", "AUE", "ER")


def _rows(columns: Sequence[str], data: Sequence[tuple]) -> dict[str, dict[str, float | None]]:
    out = {}
    for label, *values in data:
        if len(values) != len(columns):
            raise ValueError(f"row {label!r}: {len(values)} values for {len(columns)} columns")
        out[label] = dict(zip(columns, values))
    return out


_ = None  # the paper's "-"

# Table I, Sec. IV-B ("Quantitative comparison and human evaluation on MEAD dataset").
# Paper headings: SSIM↑ PSNR↑ M/F-LMD↓ FID↓ AUE↓ Sync.↑ ER↑ Fidelity↑ Coherence↑ Empathy↑.
TABLE_I = PaperTable(
    number="I", dataset="MEAD", where="Sec. IV-B (Quantitative Analysis)",
    title="Quantitative comparison and human evaluation on MEAD dataset.",
    note=('The paper prints "Ours" for EmoHead and "Groundtruth"; M/F-LMD is split into M-LMD, F-LMD; '
          "Sync is the paper's \"Sync.\"."),
    columns=_MAIN_COLUMNS,
    rows=_rows(_MAIN_COLUMNS, [
        #  label           SSIM   PSNR    M-LMD  F-LMD  FID   AUE   Sync  ER     Fid  Coh  Emp
        ("SadTalker",     0.606, 19.042, 2.038, 2.335, 69.2, 2.86, 5.68, 52.11, 3.2, 3.8, 3.2),
        ("LivePortrait",  0.720, 26.161, 1.314, 1.572, 59.5, 2.05, 6.96, 61.82, 3.3, 3.5, 2.9),
        ("EAMM",          0.610, 18.867, 2.525, 2.814, 31.3, 2.35, 1.76, 31.08, 2.7, 2.9, 3.5),
        ("EAT",           0.652, 20.007, 1.750, 1.668, 34.6, 1.48, 7.98, 64.40, 2.7, 3.8, 4.0),
        ("EDTalk-V",      0.769, 22.771, 1.102, 1.060, 38.5, 1.56, 6.89, 68.85, 2.8, 3.1, 3.7),
        ("EmoHead",       0.891, 28.262, 1.031, 0.981, 30.9, 1.41, 8.08, 73.28, 4.6, 4.3, 4.2),
        ("Ground truth",  _,     _,      _,     _,     _,    _,    7.36, 79.65, 4.9, 4.7, 4.4),
    ]))

# Table II, Sec. IV-B ("Quantitative comparison and human evaluation on CREMA-D dataset"); same headings.
TABLE_II = PaperTable(
    number="II", dataset="CREMA-D", where="Sec. IV-B (Quantitative Analysis)",
    title="Quantitative comparison and human evaluation on CREMA-D dataset.",
    note=TABLE_I.note,
    columns=_MAIN_COLUMNS,
    rows=_rows(_MAIN_COLUMNS, [
        ("SadTalker",     0.688, 25.572, 2.851, 2.156, 63.7, 2.01, 5.99, 69.59, 3.4, 3.7, 3.8),
        ("LivePortrait",  0.873, 28.985, 1.411, 1.503, 33.6, 1.94, 6.02, 70.13, 3.5, 3.6, 3.6),
        ("EAMM",          0.650, 21.910, 2.751, 2.824, 35.6, 2.19, 3.22, 40.72, 3.2, 3.1, 3.3),
        ("EAT",           0.794, 23.712, 1.925, 1.791, 32.3, 1.98, 5.70, 61.76, 3.1, 3.7, 3.5),
        ("EDTalk-V",      0.753, 27.641, 1.228, 1.137, 40.5, 1.81, 5.57, 54.46, 3.0, 2.9, 3.2),
        ("EmoHead",       0.914, 31.621, 1.191, 1.035, 29.3, 1.55, 6.11, 75.98, 4.5, 4.7, 4.3),
        ("Ground truth",  _,     _,      _,     _,     _,    _,    7.09, 82.51, 4.9, 4.8, 4.8),
    ]))

# Table IV, Appendix D ("Ablation Studies of Quantitative Analysis"): ablations on MEAD.
# Headings: SSIM↑ PSNR↑ M/F-LMD↓ FID↓ AUE↓ Sync.↑ ER↑. Parts: components; 3DMM source; d = d_h; n.
TABLE_IV = PaperTable(
    number="IV", dataset="MEAD", where="Appendix D (Ablation Studies of Quantitative Analysis)",
    title="Quantitative comparison of ablation studies on MEAD dataset.",
    note=('The paper prints "Ours", "Ours (FaceVerse) [40]", "Ours (MorphableDiffusion) [38]", "Ours (3DDFA) [12]" '
          '(here "EmoHead ..."). "w/o audio expression alignment": [v; e; g] concatenated into a plain '
          'self-attention transformer; "w/o hyperplane refinement": renderer input [z; alpha~], z an integer tag. '
          "FaceVerse uses 50-d, MorphableDiffusion 100-d, 3DDFA 10-d expression parameters. "
          "EmoHead, EmoHead (3DDFA), d = 512 and n = 5 are the same model (identical numbers)."),
    columns=_COLUMNS_IV,
    rows=_rows(_COLUMNS_IV, [
        #  label                              SSIM   PSNR    M-LMD  F-LMD  FID   AUE   Sync  ER
        ("w/o audio expression alignment",   0.730, 25.191, 1.149, 1.082, 89.6, 1.95, 6.19, 63.44),
        ("w/o hyperplane refinement",        0.872, 27.410, 1.291, 1.203, 59.2, 1.86, 7.25, 61.29),
        ("EmoHead",                          0.891, 28.262, 1.031, 0.981, 30.9, 1.41, 8.08, 73.28),
        ("EmoHead (FaceVerse)",              0.872, 27.740, 1.175, 1.225, 43.3, 1.52, 7.39, 61.88),
        ("EmoHead (MorphableDiffusion)",     0.886, 27.731, 1.130, 1.066, 38.1, 1.55, 7.01, 70.31),
        ("EmoHead (3DDFA)",                  0.891, 28.262, 1.031, 0.981, 30.9, 1.41, 8.08, 73.28),
        ("d, d_h = 256, 256",                0.717, 27.018, 1.092, 1.119, 33.7, 1.66, 6.58, 66.26),
        ("d, d_h = 512, 512",                0.891, 28.262, 1.031, 0.981, 30.9, 1.41, 8.08, 73.28),
        ("d, d_h = 768, 768",                0.872, 28.155, 1.087, 1.121, 31.3, 1.36, 7.05, 72.57),
        ("d, d_h = 1024, 1024",              0.852, 27.719, 1.093, 1.139, 33.5, 1.44, 7.96, 70.61),
        ("n = 3",                            0.803, 26.114, 1.072, 1.087, 34.6, 1.56, 6.77, 69.31),
        ("n = 5",                            0.891, 28.262, 1.031, 0.981, 30.9, 1.41, 8.08, 73.28),
        ("n = 8",                            0.869, 27.256, 1.064, 0.991, 31.6, 1.49, 7.58, 72.17),
        ("n = 12",                           0.885, 28.223, 1.105, 1.076, 32.9, 1.45, 7.96, 74.42),
    ]))

_VI_NOTE = ("The loss checkmark columns (L_reg, L_reg^const, L_cord, L_shape) are lost in the extracted text; "
            'rows 3-5 are read as "+ L_cord", "+ L_shape", "+ L_cord + L_shape" from the text of Appendix F '
            "(L_cord raises ER; adding L_shape lowers AUE). RMSE is of the audio-expression module's parameters; "
            "the other columns are of rendered video. The chosen weights {1, 1e-3, 1e-9} print M-LMD 1.034 on MEAD, "
            "where the \"+ L_cord + L_shape\" row and Table I print 1.031 (transcribed as printed).")

# Table VI, Appendix F ("Loss Implementation"), MEAD half. Headings: RMSE↓ M/F-LMD↓ AUE↓ ER↑.
# Parts: losses; rho of L_reg^const (eq. 13); weights {lambda_photo, lambda_cord, lambda_shape} (eq. 15).
TABLE_VI = PaperTable(
    number="VI", dataset="MEAD", where="Appendix F (Loss Implementation)",
    title="Ablation Studies of loss implementation.",
    note=_VI_NOTE,
    columns=_COLUMNS_VI,
    rows=_rows(_COLUMNS_VI, [
        #  label                                   RMSE  M-LMD  F-LMD  AUE   ER
        ("L_reg",                                  0.45, _,     _,     _,    _),
        ("L_reg^const",                            0.27, _,     _,     _,    _),
        ("+ L_cord",                               _,    1.176, 1.099, 1.52, 66.53),
        ("+ L_shape",                              _,    1.104, 1.051, 1.73, 63.71),
        ("+ L_cord + L_shape",                     _,    1.031, 0.981, 1.41, 73.28),
        ("rho = 0.2",                              0.35, _,     _,     _,    _),
        ("rho = 0.5",                              0.27, _,     _,     _,    _),
        ("rho = 0.7",                              0.29, _,     _,     _,    _),
        ("rho = 1",                                0.31, _,     _,     _,    _),
        ("lambda = {1, 1e-2, 1e-9}",               _,    1.158, 1.094, 1.56, 74.33),
        ("lambda = {1, 1e-3, 1e-8}",               _,    1.004, 0.853, 1.43, 72.11),
        ("lambda = {1, 5e-3, 5e-9}",               _,    1.085, 1.098, 1.49, 72.48),
        ("lambda = {1, 1e-2, 1e-8}",               _,    1.091, 1.072, 1.55, 69.79),
        ("lambda = {1, 1e-3, 1e-9}",               _,    1.034, 0.981, 1.41, 73.28),
    ]))

# Table VI, Appendix F, CREMA-D half (same rows). The rho = 1 row prints one "-" too few (ER missing).
TABLE_VI_CREMAD = PaperTable(
    number="VI", dataset="CREMA-D", where="Appendix F (Loss Implementation)",
    title="Ablation Studies of loss implementation.",
    note=_VI_NOTE.replace(" The chosen weights", " On MEAD the chosen weights"),
    columns=_COLUMNS_VI,
    rows=_rows(_COLUMNS_VI, [
        ("L_reg",                                  0.39, _,     _,     _,    _),
        ("L_reg^const",                            0.16, _,     _,     _,    _),
        ("+ L_cord",                               _,    1.233, 1.179, 1.79, 69.80),
        ("+ L_shape",                              _,    1.208, 1.095, 1.58, 61.23),
        ("+ L_cord + L_shape",                     _,    1.191, 1.035, 1.55, 75.98),
        ("rho = 0.2",                              0.22, _,     _,     _,    _),
        ("rho = 0.5",                              0.16, _,     _,     _,    _),
        ("rho = 0.7",                              0.25, _,     _,     _,    _),
        ("rho = 1",                                0.27, _,     _,     _,    _),
        ("lambda = {1, 1e-2, 1e-9}",               _,    1.271, 1.096, 1.61, 75.01),
        ("lambda = {1, 1e-3, 1e-8}",               _,    1.215, 1.050, 1.56, 71.45),
        ("lambda = {1, 5e-3, 5e-9}",               _,    1.155, 1.007, 1.70, 73.69),
        ("lambda = {1, 1e-2, 1e-8}",               _,    1.187, 1.066, 1.73, 70.92),
        ("lambda = {1, 1e-3, 1e-9}",               _,    1.191, 1.035, 1.55, 75.98),
    ]))
del _

PAPER_TABLES: Mapping[str, PaperTable] = MappingProxyType({
    "I": TABLE_I, "II": TABLE_II, "IV": TABLE_IV, "VI": TABLE_VI, "VI (CREMA-D)": TABLE_VI_CREMAD})
"""The transcribed tables by key ("I", "II", "IV", "VI" (MEAD half), "VI (CREMA-D)")."""


def paper_table(table: str | PaperTable) -> PaperTable:
    """A :class:`PaperTable` by key ("I", "IV", ...) or itself."""
    if isinstance(table, PaperTable):
        return table
    key = str(table).removeprefix("Table ").strip()
    if key not in PAPER_TABLES:
        raise ValueError(f"unknown paper table {table!r}; known: {', '.join(PAPER_TABLES)}")
    return PAPER_TABLES[key]
