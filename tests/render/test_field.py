"""The expression-conditioned field: shapes, conditioning, input checks, and a tiny scene that overfits on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emohead.face import build_procedural_model, default_camera, render_faces
from emohead.render.field import ExpressionField, FieldInputError, render_rays
from emohead.render.rays import head_rays

BOX_MIN, BOX_MAX = torch.tensor([-1.6, -2.2, -1.6]), torch.tensor([1.6, 1.8, 1.8])


def small_field(expr_dim: int = 10) -> ExpressionField:
    torch.manual_seed(0)
    return ExpressionField(BOX_MIN, BOX_MAX, expr_dim=expr_dim, hash_levels=6, hash_log2_size=12,
                           max_resolution=128, hidden=32)


def test_density_and_colour_depend_on_the_expression():
    field = small_field()
    x = torch.rand(100, 3) * (BOX_MAX - BOX_MIN) + BOX_MIN
    d = torch.nn.functional.normalize(torch.randn(100, 3), dim=1)
    a, b = torch.zeros(10), torch.ones(10)
    sigma_a, geo_a = field.density(x, a)
    sigma_b, _ = field.density(x, b)
    assert sigma_a.shape == (100,) and geo_a.shape == (100, 15) and (sigma_a >= 0).all()
    assert not torch.allclose(sigma_a, sigma_b)
    rgb = field.color(x, d, a)
    assert rgb.shape == (100, 3) and (rgb >= 0).all() and (rgb <= 1).all()
    outside = torch.tensor([[5.0, 0.0, 0.0]])
    assert field.density(outside, a)[0].item() == 0.0


def test_wrong_expression_width_and_nan_are_rejected():
    field = small_field()
    x = torch.zeros(4, 3)
    with pytest.raises(FieldInputError, match="width 11; this field was built for 10"):
        field.density(x, torch.zeros(11))
    with pytest.raises(FieldInputError, match="NaN"):
        field.density(x, torch.full((10,), float("nan")))
    assert small_field(expr_dim=11).density(x, torch.zeros(4, 11))[0].shape == (4,)


def test_a_tiny_scene_overfits_on_cpu():
    """One 20 px frame of the mesh renderer; the field learns it (photometric loss falls by over 5x)."""
    size = 20
    cam = default_camera(size)
    R, t = torch.eye(3), torch.zeros(3)
    face = build_procedural_model()
    target = render_faces(face, torch.zeros(1, 10), None, R[None], t[None], cam, size,
                          background=torch.tensor([0.9, 0.9, 0.9])).image[0].reshape(-1, 3)
    rays = head_rays(cam, R, t, size, size, BOX_MIN, BOX_MAX)
    field = small_field()
    opt = torch.optim.Adam(field.parameters(), lr=2e-2)
    bg = torch.tensor([0.9, 0.9, 0.9])
    code = torch.zeros(10)
    losses = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        out = render_rays(field, rays, code, bg, n_samples=24, stratified=True, generator=gen)
        loss = ((out.rgb - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) / 5
    with torch.no_grad():
        final = render_rays(field, rays, code, bg, n_samples=24)
    psnr = -10 * torch.log10(((final.rgb - target) ** 2).mean())
    assert psnr > 20


def test_occupancy_grid_marks_dense_cells_and_skipping_keeps_the_image():
    from emohead.render.occupancy import OccupancyGrid

    class HalfField:
        """Density 5 where x > 0, else 0."""

        def density(self, x, code, check=True):
            return 5.0 * (x[:, 0] > 0).float(), torch.zeros(x.shape[0], 15)

        def max_density(self, x, codes, check=True):
            return self.density(x, codes[0], check=check)[0]

    grid = OccupancyGrid(BOX_MIN, BOX_MAX, resolution=8)
    assert grid.occupied(torch.zeros(1, 3)).all()                  # before any refresh nothing is skipped
    frac = grid.refresh(HalfField(), torch.zeros(2, 10), generator=torch.Generator().manual_seed(0))
    assert frac == pytest.approx(0.5)
    assert grid.occupied(torch.tensor([[1.0, 0.0, 0.0]])).item() and not grid.occupied(torch.tensor([[-1.0, 0.0, 0.0]])).item()
    assert not grid.occupied(torch.tensor([[9.0, 0.0, 0.0]])).item()   # outside the box

    # skipping samples in empty cells leaves the rendering unchanged, and the field sees fewer points
    class Counting(HalfField):
        seen = 0

        def density(self, x, code, check=True):
            Counting.seen += x.shape[0]
            return super().density(x, code, check=check)

        def color(self, x, d, code, features=None, check=True):
            return torch.tensor([1.0, 0.0, 0.0]).expand(x.shape[0], 3)

    size = 12
    rays = head_rays(default_camera(size), torch.eye(3), torch.zeros(3), size, size, BOX_MIN, BOX_MAX)
    full = render_rays(Counting(), rays, torch.zeros(10), torch.ones(3), n_samples=16)
    seen_full, Counting.seen = Counting.seen, 0
    skipped = render_rays(Counting(), rays, torch.zeros(10), torch.ones(3), n_samples=16, grid=grid)
    torch.testing.assert_close(skipped.rgb, full.rgb, atol=1e-6, rtol=0)
    assert (full.opacity > 0.5).any() and (full.opacity < 0.01).any()     # not a trivial image
    assert Counting.seen < 0.7 * seen_full


def test_linear_of_parts_equals_the_layer_on_the_concatenation():
    from emohead.render.field import linear_of_parts

    torch.manual_seed(0)
    layer = torch.nn.Linear(7, 5)
    a, b, c = torch.randn(11, 3), torch.randn(11, 2), torch.randn(11, 2)
    torch.testing.assert_close(linear_of_parts(layer, [a, b, c]), layer(torch.cat([a, b, c], -1)))
    with pytest.raises(FieldInputError, match="6 columns.*takes 7"):
        linear_of_parts(layer, [a, b, c[:, :1]])


def test_max_density_encodes_once_and_equals_the_max_over_codes():
    """The grid refresh's max over K codes equals K density calls, and the hash grid runs once, not K times."""
    torch.manual_seed(0)
    field = ExpressionField(BOX_MIN, BOX_MAX, expr_dim=4, hash_levels=4, hash_log2_size=10, max_resolution=32,
                            hidden=16)
    x = torch.rand(500, 3) * (BOX_MAX - BOX_MIN) * 1.2 + BOX_MIN - 0.1 * (BOX_MAX - BOX_MIN)   # some outside
    codes = torch.randn(5, 4)
    calls = []
    field.encoder.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        got = field.max_density(x, codes)
        assert len(calls) == 1
        ref = torch.stack([field.density(x, c)[0] for c in codes]).amax(0)
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-7) and float(ref.max()) > 0
    with torch.no_grad():                                             # one code [m] works as [1, m]
        assert torch.allclose(field.max_density(x, codes[2]), field.density(x, codes[2])[0])
    with pytest.raises(Exception, match="NaN"):
        field.max_density(x, torch.full((2, 4), float("nan")))
