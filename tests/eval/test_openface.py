"""OpenFace CSV reading and AUE from two CSVs."""
from __future__ import annotations

import numpy as np
import pytest

from emohead.eval import EvalError, openface_au_error, read_openface_aus
from emohead.eval.openface import openface_au_name

HEADER = ("frame, face_id, timestamp, confidence, success, AU01_r, AU02_r, AU10_r, AU45_r, AU01_c, AU45_c")


def _write(path, rows):
    path.write_text(HEADER + "\n" + "\n".join(", ".join(str(v) for v in r) for r in rows) + "\n")
    return path


def test_read_openface_columns_names_and_success(tmp_path):
    p = _write(tmp_path / "gen.csv", [[1, 0, 0.00, 0.98, 1, 0.5, 1.0, 2.0, 0.0, 1, 0],
                                      [2, 0, 0.04, 0.10, 0, 9.0, 9.0, 9.0, 9.0, 1, 1],
                                      [3, 0, 0.08, 0.97, 1, 1.5, 0.0, 0.0, 3.0, 1, 1]])
    aus = read_openface_aus(p)
    assert aus.names == ("AU1", "AU2", "AU10", "AU45")          # _c columns ignored
    assert aus.frame.tolist() == [1, 3]                          # success 0 dropped
    np.testing.assert_allclose(aus.values, [[0.5, 1.0, 2.0, 0.0], [1.5, 0.0, 0.0, 3.0]])
    assert len(read_openface_aus(p, successful_only=False).frame) == 3
    assert openface_au_name(" AU04_r") == "AU4" and openface_au_name("AU04_c") is None


def test_aue_from_two_csvs(tmp_path):
    rows = [[i, 0, 0.04 * i, 0.9, 1, 0.5 * i, 1.0, 2.0, 0.0, 1, 0] for i in range(1, 5)]
    gen = _write(tmp_path / "gen.csv", rows)
    assert openface_au_error(gen, gen).value == 0.0
    shifted = [r[:5] + [v + 1.0 for v in r[5:9]] + r[9:] for r in rows[1:]]     # frame 1 missing, +1 everywhere
    real = _write(tmp_path / "real.csv", shifted)
    res = openface_au_error(gen, real)
    assert res.name == "AUE" and res.value == pytest.approx(1.0) and len(res.per_item) == 3


def test_bad_csvs_name_the_file(tmp_path):
    with pytest.raises(EvalError, match="missing.csv"):
        read_openface_aus(tmp_path / "missing.csv")
    bad = tmp_path / "noau.csv"
    bad.write_text("frame, success, gaze_0_x\n1, 1, 0.3\n")
    with pytest.raises(EvalError, match="noau.csv"):
        read_openface_aus(bad)
