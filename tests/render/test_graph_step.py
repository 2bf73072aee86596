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
from emohead.render.field import ExpressionField, pack_kept, render_rays
from emohead.render.graph_step import CAPACITY_ROUND, GraphedPhotoStep
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
    bg = torch.rand(96, 3, generator=torch.Generator().manual_seed(1))
    outs, grads, stats = [], [], {}
    seen: list[torch.Tensor] = []          # the points the hash grid receives, in its order
    hook = field.encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    settings = ((True, None, 1), (False, None, 1), (False, 96 * 24, 1), (False, 1600, 1), (True, None, 16),
                (False, 1600, 16))
    for compact, capacity, group in settings:
        field.zero_grad(set_to_none=True)
        out = render_rays(field, rays, code, bg, n_samples=24, stratified=True, grid=grid, jitter=jitter,
                          compact=compact, capacity=capacity, stats=stats, group=group)
        (out.rgb.square().sum() + out.depth.sum()).backward()
        outs.append(out)
        grads.append({k: p.grad.clone() for k, p in field.named_parameters()})
    kept = int(stats["kept"])
    assert 400 < kept < 1600                                 # the last capacity holds every kept sample
    assert 0.05 < float(outs[0].opacity.mean().detach()) < 0.95        # the test sees both empty and occupied samples
    hook.remove()
    # group=16 (tiles of 16 rays): the same kept points, tile by tile and depth by depth (sample index before ray)
    index = {tuple(p.tolist()): i for i, p in enumerate(seen[1])}     # every sample, ray by ray: id = ray * 24 + k
    ray_ids = [index[tuple(p.tolist())] for p in seen[0]]
    tile_ids = [index[tuple(p.tolist())] for p in seen[4]]
    assert ray_ids == sorted(ray_ids) and sorted(tile_ids) == ray_ids and tile_ids != ray_ids
    tile_key = [(i // (16 * 24), i % 24, i // 24 % 16) for i in tile_ids]  # (tile, sample index, ray in the tile)
    assert tile_key == sorted(tile_key)
    assert torch.equal(seen[5][:kept], seen[4])              # packed slots: the same order, then the empty slots
    for other in (1, 2, 3, 4, 5):
        for name in ("rgb", "opacity", "depth", "weights"):
            assert torch.allclose(getattr(outs[0], name), getattr(outs[other], name), atol=1e-6), (other, name)
        for k in grads[0]:
            assert torch.allclose(grads[0][k], grads[other][k], rtol=1e-4, atol=1e-7), (other, k)
    # too few slots: the kept samples past them are dropped (density 0), and the count says so
    short = render_rays(field, rays, code, bg, n_samples=24, stratified=True, grid=grid, jitter=jitter,
                        compact=False, capacity=kept // 2, stats=stats)
    assert int(stats["kept"]) == kept and float((short.opacity - outs[0].opacity).abs().max()) > 1e-3
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
    # batches are a function of (seed, iteration): a run stopped and resumed equals an uninterrupted one, up to the
    # CPU's summation order of the hash-table gradient (two uninterrupted runs differ by up to ~2e-4 here), far less
    # than the eager step's other batches move the weights
    train_nerf(ds, cfg, tmp_path / "r", progress=False, val_every=20, stop_at=37)
    resumed, _ = train_nerf(ds, cfg, tmp_path / "r", progress=False, val_every=20)
    eager, _ = train_nerf(ds, dataclasses.replace(cfg, train_step="eager"), tmp_path / "e", progress=False,
                          val_every=20)

    def max_diff(x, y):
        return max(float((a - b).abs().max()) for a, b in zip(x.field.state_dict().values(),
                                                                y.field.state_dict().values()))

    assert max_diff(nerf, resumed) < 1e-3 < 0.1 * max_diff(nerf, eager)
    assert history["graph_dropped_steps"] == 0 and history["graph_capacity"] >= 1
    with pytest.raises(NerfTrainingError, match="nerf.train_step='jit'"):
        train_nerf(ds, dataclasses.replace(cfg, train_step="jit"), tmp_path / "bad", progress=False)


def test_pack_kept_fills_slots_in_order_and_counts():
    keep = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1], dtype=torch.bool)
    slots, dest, count = pack_kept(keep, 6)
    assert slots.tolist() == [1, 2, 4, 7, 0, 0] and dest.tolist() == [1, 2, 4, 7, 12, 13] and int(count) == 4
    slots, dest, count = pack_kept(keep, 3)                   # too few slots: the first three, count still 4
    assert slots.tolist() == dest.tolist() == [1, 2, 4] and int(count) == 4


def test_graph_step_fits_its_capacity_to_the_kept_samples_and_counts_overflow(render_world):
    from emohead.render.batches import build_ray_table
    from emohead.render.frames import load_nerf_frames
    from emohead.render.training import build_field

    ds = render_world["ds"]
    cfg = _cfg(render_world, rays_per_batch=512, samples_per_ray=64, iterations=100, train_step="graph")
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "train", image_size=32, max_frames=12)
    table = build_ray_table(frames, "cpu")
    torch.manual_seed(0)
    field = build_field(cfg, frames.code_dim, (-torch.ones(3) * 1.6, torch.ones(3) * 1.8))
    grid = OccupancyGrid(field.box_min, field.box_max, resolution=8)
    grid.density.copy_(torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(0)) - 0.6)   # some empty
    step = GraphedPhotoStep(field, table, torch.optim.Adam(field.parameters(), lr=1e-3), cfg, 0, grid)
    for it in range(4):                                       # grid phase: 3 warm-up steps, then the fitted slots
        assert torch.isfinite(step(it, True))
    kept = int(step.max_kept)
    assert 0 < kept < step.capacity <= -(-int(1.25 * kept) // CAPACITY_ROUND) * CAPACITY_ROUND + CAPACITY_ROUND
    assert step.capacity < step.n_points and int(step.dropped_steps) == 0 and int(step.iteration) == 4
    step.capacity = CAPACITY_ROUND // 4                       # too small: the step counts it, review refits
    step(4, True)
    assert int(step.dropped_steps) == 1
    step.review()
    assert step.capacity >= int(1.25 * kept) - 1


def test_graph_step_hands_over_to_the_eager_refinement_stage(render_world, tmp_path):
    """Photometric steps in the graph step, then L_cord / L_shape steps op by op, in one run (and one optimiser)."""
    import numpy as np

    cfg = _cfg(render_world, train_step="graph")
    assert cfg.refine_start < cfg.iterations
    _, history = train_nerf(render_world["ds"], cfg, tmp_path / "nerf", analyser=render_world["analyser"],
                            progress=False)
    it = np.asarray(history["iteration"])
    cord = np.array([np.nan if v is None else v for v in history["l_cord"]])
    assert np.isnan(cord[it <= cfg.refine_start]).all() and np.isfinite(cord[it > cfg.refine_start]).all()
    assert np.isfinite(history["loss"]).all() and history["graph_dropped_steps"] == 0
