"""The CUDA-graph training step (nerf.train_step='graph') and its counter-based random numbers, on a CPU.

A CPU runs the step's maths eagerly (no graph), so what is tested here is what a GPU captures: static-shape
rendering equal to the compacting renderer, random numbers that are a function of (seed, iteration), training that
learns, and resume.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from emohead.render import train_nerf
from emohead.render.counter_rng import CounterRng, mix32
from emohead.render.field import ExpressionField, render_rays
from emohead.render.occupancy import OccupancyGrid
from emohead.render.rays import ray_box, HeadRays
from emohead.render.training import NerfTrainingError


def test_counter_uniforms_are_a_function_of_seed_iteration_and_stream():
    rng = CounterRng(7, "cpu", 1 << 16)
    key5 = rng.key(torch.tensor(5))
    u = rng.uniform(key5, "sample", (256, 64))
    assert u.dtype == torch.float32 and u.shape == (256, 64) and 0 <= float(u.min()) and float(u.max()) < 1
    assert torch.equal(u, CounterRng(7, "cpu", 1 << 16).uniform(key5, "sample", (256, 64)))   # reproducible
    flat = u.flatten()
    assert abs(float(flat.mean()) - 0.5) < 0.01 and abs(float(flat.std()) - 12 ** -0.5) < 0.01
    # uniform: every tenth of [0, 1) holds its share (16,384 draws; 5 sigma is about 0.012)
    shares = torch.histc(flat, bins=10, min=0, max=1) / flat.numel()
    assert float((shares - 0.1).abs().max()) < 0.012
    others = [rng.uniform(rng.key(torch.tensor(6)), "sample", (256, 64)),       # next iteration
              rng.uniform(key5, "pixel", (256, 64)),                          # another stream
              CounterRng(8, "cpu", 1 << 16).uniform(CounterRng(8, "cpu", 1).key(torch.tensor(5)), "sample",
                                                    (256, 64))]              # another seed
    for v in others:
        assert float(torch.corrcoef(torch.stack([flat, v.flatten()]))[0, 1]) ** 2 < 1e-3
        assert float((flat == v.flatten()).float().mean()) < 1e-3
    # neighbouring indices are independent too (mean |u_i+1 - u_i| of independent uniforms is 1/3)
    assert abs(float((flat[1:] - flat[:-1]).abs().mean()) - 1 / 3) < 0.01
    assert int(mix32(torch.tensor(0xFFFFFFFF)).max()) < 2 ** 32
    with pytest.raises(ValueError, match="at most"):
        CounterRng(0, "cpu", 10).uniform(key5, "sample", (4, 4))


def _rays(n, gen):
    o = torch.tensor([0.0, 0.0, -3.0]).expand(n, 3)
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen) * 0.15 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    lo, hi = -torch.ones(3), torch.ones(3)
    near, far, hit = ray_box(o, d, lo, hi)
    return HeadRays(origins=o, directions=d, near=near, far=far, hit=hit), lo, hi


def test_static_rendering_equals_compacting_in_colour_and_gradient():
    """compact=False (every sample to the field, density zeroed in empty cells) = compact=True, values and grads."""
    gen = torch.Generator().manual_seed(0)
    rays, lo, hi = _rays(96, gen)
    torch.manual_seed(0)
    field = ExpressionField(lo, hi, expr_dim=4, hash_levels=4, hash_log2_size=10, max_resolution=32, hidden=16)
    grid = OccupancyGrid(lo, hi, resolution=8)
    grid.density.copy_((torch.rand(8, 8, 8, generator=gen) > 0.4).float())        # a grid with empty cells
    code = torch.randn(96, 4, generator=gen)
    jitter = torch.rand(96, 24, generator=gen)
    outs, grads = [], []
    for compact in (True, False):
        field.zero_grad(set_to_none=True)
        out = render_rays(field, rays, code, torch.rand(96, 3, generator=torch.Generator().manual_seed(1)),
                          n_samples=24, stratified=True, grid=grid, jitter=jitter, compact=compact)
        (out.rgb.square().sum() + out.depth.sum()).backward()
        outs.append(out)
        grads.append({k: p.grad.clone() for k, p in field.named_parameters()})
    assert 0.05 < float(outs[0].opacity.mean().detach()) < 0.95        # the test sees both empty and occupied samples
    for name in ("rgb", "opacity", "depth", "weights"):
        assert torch.allclose(getattr(outs[0], name), getattr(outs[1], name), atol=1e-6), name
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-7), k
    with pytest.raises(ValueError, match="jitter must be"):
        render_rays(field, rays, code, torch.zeros(3), n_samples=24, jitter=jitter[:, :5])


def _cfg(world, **changes):
    return dataclasses.replace(world["profile"].nerf, **changes)


def test_graph_step_trains_resumes_and_is_checked(render_world, tmp_path):
    ds = render_world["ds"]
    cfg = _cfg(render_world, iterations=80, refine_start=80, rays_per_batch=256, samples_per_ray=12,
               checkpoint_every=200, lr=2e-2, train_step="graph", grid_every=8)
    nerf, history = train_nerf(ds, cfg, tmp_path / "g", progress=False, val_every=20)
    assert history["l_photo"][-1] < 0.5 * history["l_photo"][0]
    assert history["val_psnr"][-1] > history["val_psnr"][0] + 2.0
    # batches are a function of (seed, iteration): a run stopped and resumed equals an uninterrupted one
    train_nerf(ds, cfg, tmp_path / "r", progress=False, val_every=20, stop_at=37)
    resumed, _ = train_nerf(ds, cfg, tmp_path / "r", progress=False, val_every=20)
    for (k, a), (_, b) in zip(nerf.field.state_dict().items(), resumed.field.state_dict().items()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), k
    # the graph step draws other batches than the eager one (the setting is in the fingerprint)
    eager, _ = train_nerf(ds, dataclasses.replace(cfg, train_step="eager"), tmp_path / "e", progress=False,
                          val_every=20)
    assert not torch.allclose(eager.field.density_mlp[0].weight, nerf.field.density_mlp[0].weight)
    with pytest.raises(NerfTrainingError, match="nerf.train_step='jit'"):
        train_nerf(ds, dataclasses.replace(cfg, train_step="jit"), tmp_path / "bad", progress=False)
