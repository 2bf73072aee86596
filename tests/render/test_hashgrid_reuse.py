"""benchmarks/hashgrid_reuse.py counts the atomic-add units a block could merge; checked on hand-made points."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from hashgrid_reuse import ceiling_model, merge_units  # noqa: E402


def test_runs_cells_and_shared_rows_of_one_block():
    # one level with N = 2 (cells of side 1/2); a block of 4 points in cells A, A, B, A (B the x-neighbour of A)
    x = np.array([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.7, 0.1, 0.1], [0.3, 0.2, 0.1]])
    u = merge_units(x, [2], block=4)
    assert u["runs"] == pytest.approx(3 / 4)            # A A | B | A
    assert u["cells"] == pytest.approx(2 / 4)           # {A, B}
    assert u["rows"] == pytest.approx(12 / 8 / 4)       # A and B share a face: 8 + 8 - 4 distinct corners
    two_blocks = merge_units(x, [2], block=2)           # A A | B A: runs do not cross blocks
    assert two_blocks["runs"] == pytest.approx(3 / 4) and two_blocks["cells"] == pytest.approx(3 / 4)


def test_the_ceiling_model_reproduces_the_rows_it_was_fitted_to():
    g, a = ceiling_model({"per_corner_uniform": 0.688, "aggregated_segments": 1.13, "segments_runs": 8.96})
    assert 1 / (g + 16 * a) == pytest.approx(0.688) and 1 / (g + 8.96 * a) == pytest.approx(1.13)
    assert g > 0 and a > 0
