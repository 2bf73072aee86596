"""Fused inference MLPs (Triton): the kernels against the field's own float32 layers, and a march with them."""
from __future__ import annotations

import pytest
import torch

from emohead.render.field import ExpressionField, direction_encoding

from .conftest import HAS_TRITON

pytestmark = pytest.mark.skipif(not HAS_TRITON, reason="triton is not importable")


def _field(hidden: int = 64, seed: int = 0) -> ExpressionField:
    torch.manual_seed(seed)
    field = ExpressionField(torch.zeros(3), torch.ones(3), expr_dim=10, hash_levels=8, hash_log2_size=10,
                            max_resolution=64, hidden=hidden)
    with torch.no_grad():
        for p in [*field.density_mlp.parameters(), *field.color_mlp.parameters()]:
            p.normal_(0.0, 0.3)                         # weights of a trained scale, not the tiny init
    return field


@pytest.mark.parametrize("hidden", [64, 16])
def test_fused_mlps_match_the_float32_layers(triton_device, hidden):
    from emohead.render.mlp_triton import FusedMlps, reference_color, reference_density

    dev = triton_device
    field = _field(hidden).to(dev)
    n, rays = 300, 37                                   # not multiples of any block: masked tails
    gen = torch.Generator().manual_seed(1)
    enc = torch.randn(n, field.encoder.output_dim, generator=gen).to(dev)
    codes = torch.randn(rays, 10, generator=gen).to(dev)
    code_rows = torch.randint(0, rays, (n,), generator=gen).to(dev)
    mlps = FusedMlps.from_field(field)
    with torch.no_grad():
        raw = mlps.density(enc, codes, code_rows)
        ref = reference_density(field, enc, codes, code_rows)
        assert raw.dtype == torch.float16 and raw.shape == (n, 16)
        # fp16 inputs and hidden layer, float32 accumulation: within a few fp16 steps of the result's size
        assert (raw.float() - ref).abs().max() <= 4e-3 * ref.abs().max() + 2e-3
        sh = direction_encoding(torch.nn.functional.normalize(torch.randn(rays, 3, generator=gen), dim=-1)).to(dev)
        sel = torch.randint(0, n, (211,), generator=gen).to(dev)
        ray_rows = torch.randint(0, rays, (211,), generator=gen).to(dev)
        rgb = mlps.color(raw, sel, sh, codes, ray_rows)
        ref_rgb = reference_color(field, raw, sel, sh, codes, ray_rows)
    assert rgb.dtype == torch.float32 and rgb.shape == (211, 3)
    assert (rgb - ref_rgb).abs().max() <= 2e-3                   # 1/2 of a uint8 level
    assert ref_rgb.std() > 0.05                                  # the comparison is not between constants
    empty = mlps.density(enc[:0], codes, code_rows[:0])
    assert empty.shape == (0, 16)


def test_fused_mlps_refuse_other_shapes():
    from emohead.render.mlp_triton import FusedMlpError, FusedMlps

    field = ExpressionField(torch.zeros(3), torch.ones(3), hash_levels=4, hash_log2_size=8, max_resolution=32,
                            geo_features=7)
    assert "geometry features 7" in FusedMlps.supports(field)
    with pytest.raises(FusedMlpError, match="geometry features 7"):
        FusedMlps.from_field(field)


def test_march_with_fused_mlps_matches_float32(triton_device):
    """precision='fused' renders the same pixels as the float32 march, within one uint8 level."""
    from emohead.render.march import march_rays
    from emohead.render.occupancy import OccupancyGrid
    from emohead.render.rays import HeadRays, ray_box

    dev = triton_device
    lo, hi = torch.full((3,), -1.0), torch.full((3,), 1.0)
    torch.manual_seed(3)
    field = ExpressionField(lo, hi, hash_levels=8, hash_log2_size=10, max_resolution=64, hidden=16)
    with torch.no_grad():
        field.density_mlp[-1].bias[0] = 1.0                     # a fairly dense field
        field.encoder.embeddings.normal_(0.0, 0.5)
        for p in field.color_mlp.parameters():
            p.normal_(0.0, 0.5)
    field = field.to(dev)
    grid = OccupancyGrid(lo, hi, 8).to(dev)
    grid.density.fill_(1.0)
    side = torch.linspace(-2.5, 2.5, 20)                        # a 20 x 20 pinhole view; the corners miss the box
    yy, xx = torch.meshgrid(side, side, indexing="ij")
    d = torch.nn.functional.normalize(torch.stack([xx, yy, torch.full_like(xx, 3.0)], -1).reshape(-1, 3), dim=-1)
    o = torch.tensor([0.0, 0.0, -3.0]).expand_as(d)
    near, far, hit = ray_box(o, d, lo, hi)
    rays = HeadRays(o.to(dev), d.to(dev), near.to(dev), far.to(dev), hit.to(dev))
    bg = torch.tensor([0.2, 0.4, 0.6], device=dev)
    code = torch.randn(10).to(dev)
    stats = {}, {}
    ref = march_rays(field, rays, code, bg, n_samples=16, grid=grid, step=8, precision="fp32", stats=stats[0])
    fused = march_rays(field, rays, code, bg, n_samples=16, grid=grid, step=8, precision="fused", stats=stats[1])
    assert stats[0]["density_points"] > 100 and 0 < stats[0]["rays_hit"] < 400
    assert stats[1]["density_points"] == stats[0]["density_points"]
    assert (fused.rgb - ref.rgb).abs().max() <= 1.0 / 255
    assert (fused.opacity - ref.opacity).abs().max() <= 1.0 / 255
    assert ref.opacity.max() > 0.5 and ref.rgb.std() > 0.02      # a visible head, not an empty frame
