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


def test_merge_ceiling_lists_each_distinct_row_of_a_block_once_in_launch_order():
    """hashgrid_speed.merge_items: the adds a backward merging every shared row inside a block would issue."""
    import torch

    from hashgrid_speed import merge_items

    from emohead.render import HashGridEncoder

    # one dense level, N = 2 (3^3 = 27 rows, x-pairs (2k, 2k+1)); the 4 points of the hand-made block above
    enc = HashGridEncoder(n_levels=1, n_features=2, log2_table_size=6, base_resolution=2, max_resolution=2,
                          backend="torch")
    x = torch.tensor([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.7, 0.1, 0.1], [0.3, 0.2, 0.1]])
    wide, narrow, units = merge_items(x, enc, block=4)
    assert units == pytest.approx(12 / 8 / 4)          # as merge_units' "rows": cells A and B share a face
    rows = sorted([int(o) // 2 for o in narrow] + [r for o in wide for r in (int(o) // 2, int(o) // 2 + 1)])
    assert len(rows) == len(set(rows)) == 12 and len(wide) + len(narrow) < 12       # each row once, pairs merged
    assert all(int(o) % 4 == 0 for o in wide)          # a wide add covers an aligned slot of two rows
    # two blocks: each block's rows once, block 0's adds before block 1's (the launch grid's order)
    wide2, narrow2, units2 = merge_items(x, enc, block=2)
    assert units2 == pytest.approx((8 + 12) / 8 / 4)    # block A A: 8 rows; block B A: 12 rows
    assert len(wide2) * 2 + len(narrow2) == 20


def test_merge_ceiling_units_match_the_counts_on_camera_rays():
    import torch

    from hashgrid_speed import camera_points, merge_items

    from emohead.render import HashGridEncoder

    enc = HashGridEncoder(n_levels=6, n_features=2, log2_table_size=19, base_resolution=4, max_resolution=512,
                          backend="torch")
    x = camera_points(4096, torch.Generator().manual_seed(0))
    _, _, units = merge_items(x, enc, block=256)
    counted = merge_units(x.numpy().astype(np.float64), enc.resolutions, 256)["rows"]
    assert not all(enc.dense) and counted * 0.99 <= units <= counted   # hashed levels: collisions only merge more
