"""NeRF training: ray tables, two-stage training, resume, reuse, errors; the trained model's files and rendering."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emohead.config import apply_overrides
from emohead.render import load_nerf, train_nerf
from emohead.render.field import render_rays
from emohead.render.frames import NerfDataError, load_nerf_frames
from emohead.render.march import march_rays
from emohead.render.model import NerfModelError
from emohead.render.rays import head_rays
from emohead.render.training import (NerfTrainingError, background_layers, build_ray_table, head_rects, sample_rays)


def _cfg(world, **changes):
    return dataclasses.replace(world["profile"].nerf, **changes)


def test_ray_table_layers_rects_and_sampling(render_world):
    ds = render_world["ds"]
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "train", image_size=32, max_frames=12)
    table = build_ray_table(frames, "cpu")
    mask = frames.head_mask()
    # behind the head: the background; elsewhere: the frame itself
    bg = (table.background * 255 + 0.5).to(torch.uint8)
    assert torch.equal(table.layers[mask], bg.expand_as(table.layers)[mask])
    assert torch.equal(table.layers[~mask], frames.images[~mask])
    # every head pixel lies inside its frame's rectangle
    rects = head_rects(frames, margin=0.0)
    ys, xs = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    for i in range(len(frames)):
        y0, y1, x0, x1 = rects[i].tolist()
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
        assert not (mask[i] & ~inside).any()
    f, pix = sample_rays(table, 4000, torch.Generator().manual_seed(0))
    assert f.min() >= 0 and f.max() < len(frames) and pix.min() >= 0 and pix.max() < 32 * 32
    r = table.rects[f]
    y, x = pix // 32, pix % 32
    in_rect = ((y >= r[:, 0]) & (y < r[:, 1]) & (x >= r[:, 2]) & (x < r[:, 3])).float().mean()
    assert in_rect > 0.85                      # 7/8 of the rays are drawn around the head


def test_photometric_training_improves_psnr(render_world, tmp_path):
    """The smoke-sized scene is learnt on CPU: held-out PSNR rises well above the untrained field's."""
    # 120 iterations: validation at 20, 40, ... rises 17.7 -> 21.3 dB (60 iterations gave only +2.5 dB: too close)
    cfg = _cfg(render_world, iterations=120, refine_start=120, rays_per_batch=256, samples_per_ray=12,
               checkpoint_every=200, lr=2e-2)
    nerf, history = train_nerf(render_world["ds"], cfg, tmp_path / "nerf", progress=False, val_every=20)
    assert history["l_photo"][-1] < 0.5 * history["l_photo"][0]
    assert history["val_psnr"][-1] > history["val_psnr"][0] + 3.0
    assert history["final_val"]["psnr"] > 15.0
    assert all(v is None for v in history["l_cord"])            # no refinement stage was asked for
    for name in ("nerf.safetensors", "nerf.json", "history.json", "checkpoint.pt"):
        assert (tmp_path / "nerf" / name).is_file()


def test_refinement_stage_uses_cord_and_shape_losses(render_world, tmp_path):
    nerf, history = train_nerf(render_world["ds"], _cfg(render_world), tmp_path / "nerf",
                               analyser=render_world["analyser"], progress=False)
    it = np.asarray(history["iteration"])
    cord = np.array([np.nan if v is None else v for v in history["l_cord"]])
    assert np.isnan(cord[it <= 4]).all() and np.isfinite(cord[it > 4]).all()
    assert all(-1.0 <= c <= 1.0 for c in cord[it > 4])           # -cosine of unit vectors
    assert all(v is not None and v >= 0 for v, i in zip(history["l_shape"], it) if i > 4)
    with pytest.raises(NerfTrainingError, match="needs a face analyser"):
        train_nerf(render_world["ds"], _cfg(render_world), tmp_path / "other", progress=False)


def test_resume_equals_an_uninterrupted_run_and_finished_runs_are_reused(render_world, tmp_path):
    ds, analyser, cfg = render_world["ds"], render_world["analyser"], _cfg(render_world)
    full, _ = train_nerf(ds, cfg, tmp_path / "a", analyser=analyser, progress=False)
    train_nerf(ds, cfg, tmp_path / "b", analyser=analyser, progress=False, stop_at=5)
    assert (tmp_path / "b" / "checkpoint.pt").is_file() and not (tmp_path / "b" / "nerf.json").exists()
    resumed, _ = train_nerf(ds, cfg, tmp_path / "b", analyser=analyser, progress=False)
    # equal up to the summation order of the hash table's scatter-add gradient (not deterministic on CPU)
    for (k, a), (_, b) in zip(full.field.state_dict().items(), resumed.field.state_dict().items()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), k
    assert torch.allclose(full.grid.density, resumed.grid.density, rtol=1e-3, atol=1e-5)
    # a finished run is reused (same object contents, no retraining), another config moves it aside
    before = (tmp_path / "a" / "nerf.safetensors").stat().st_mtime_ns
    train_nerf(ds, cfg, tmp_path / "a", analyser=analyser, progress=False)
    assert (tmp_path / "a" / "nerf.safetensors").stat().st_mtime_ns == before
    train_nerf(ds, dataclasses.replace(cfg, iterations=6, refine_start=6), tmp_path / "a", progress=False)
    assert len(list(tmp_path.glob("a/stale-*/nerf.safetensors"))) == 1


def test_saved_model_renders_the_same_frames(render_world, tmp_path):
    ds = render_world["ds"]
    cfg = _cfg(render_world, refine_start=8)
    nerf, _ = train_nerf(ds, cfg, tmp_path / "nerf", progress=False)
    loaded = load_nerf(tmp_path / "nerf")
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "test", image_size=32, max_frames=2)
    a = nerf.render_frames(frames.codes, frames.R, frames.t)                      # torch tensors
    b = loaded.render_frames(frames.codes.numpy(), frames.R.numpy(), frames.t.numpy())   # numpy arrays
    assert a.shape == (2, 32, 32, 3) and np.array_equal(a, b)
    assert loaded.emotions == nerf.emotions and loaded.meta["speaker"] == ds.extra["target_speaker"]
    # novel view: turning the head changes the picture
    turned = loaded.render_frames(frames.codes[:1], frames.R[:1], frames.t[:1], yaw=25.0)
    assert np.abs(turned[0].astype(int) - b[0].astype(int)).mean() > 0.5
    with pytest.raises(ValueError, match=r"\[T, 10\]"):
        loaded.render_frames(np.zeros((1, 11)), frames.R[:1], frames.t[:1])
    _compositing_paths_agree(loaded, ds)
    with pytest.raises(ValueError, match="NaN"):
        loaded.render_head(np.zeros(10), np.full((3, 3), np.nan), np.zeros(3))
    with pytest.raises(NerfModelError, match="not a trained NeRF folder"):
        load_nerf(tmp_path / "missing")
    _damaged_files_are_named(tmp_path / "nerf")


def _compositing_paths_agree(nerf, ds):
    """Compositing on the model's device (torch, batched) gives the pixels of the NumPy reference, frame by frame;
    iter_frames yields the same frames in batches."""
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "test", image_size=32, max_frames=5)
    args = (frames.codes.numpy(), frames.R.numpy(), frames.t.numpy(), frames.images.numpy(), frames.parsing.numpy())
    cpu = nerf.render_frames(*args, compositing="cpu")
    dev = nerf.render_frames(*args, batch=2)
    assert dev.shape == (5, 32, 32, 3) and np.abs(dev.astype(int) - cpu.astype(int)).max() <= 1
    chunks = list(nerf.iter_frames(*args, batch=2))
    assert [len(c) for c in chunks] == [2, 2, 1] and np.array_equal(np.concatenate(chunks), dev)
    # source frames at another size are resized first, in both paths
    big = np.repeat(np.repeat(frames.images.numpy(), 2, axis=1), 2, axis=2)
    big_parsing = np.repeat(np.repeat(frames.parsing.numpy(), 2, axis=1), 2, axis=2)
    a = nerf.render_frames(*args[:3], big, big_parsing, compositing="cpu")
    b = nerf.render_frames(*args[:3], big, big_parsing)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    with pytest.raises(NerfModelError, match="compositing"):
        nerf.render_frames(*args, compositing="gpu")


def _damaged_files_are_named(folder):
    """Truncated weights or description, a pickle in place of safetensors, a NaN hash table: errors naming the file."""
    import pickle
    import shutil

    from safetensors.torch import load_file, save_file

    cases = {}
    for name in ("truncated", "pickled", "nan", "json", "shape"):
        cases[name] = folder.with_name(f"nerf-{name}")
        shutil.copytree(folder, cases[name])
    weights = cases["truncated"] / "nerf.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with open(cases["pickled"] / "nerf.safetensors", "wb") as fh:
        pickle.dump({"field.table": [1, 2]}, fh)
    state = load_file(str(folder / "nerf.safetensors"))
    table = "field.encoder.embeddings"                                 # the hash table
    state[table] = torch.full_like(state[table], float("nan"))
    save_file(state, str(cases["nan"] / "nerf.safetensors"))
    state[table] = torch.zeros(7, 3)                                    # a hash table of the wrong shape
    save_file(state, str(cases["shape"] / "nerf.safetensors"))
    meta = cases["json"] / "nerf.json"
    meta.write_text(meta.read_text()[:40])
    for name, expected in (("truncated", r"nerf.safetensors: not a readable safetensors"),
                           ("pickled", r"nerf.safetensors: not a readable safetensors"),
                           ("nan", rf"nerf.safetensors: tensor '{table}' of the NeRF holds NaN"),
                           ("json", r"nerf.json: cannot read the NeRF description"),
                           ("shape", r"nerf.safetensors: does not match .*nerf.json")):
        with pytest.raises(NerfModelError, match=expected):
            load_nerf(cases[name])


def test_march_equals_render_rays_with_early_termination(render_world):
    ds = render_world["ds"]
    torch.manual_seed(0)
    from emohead.render.field import ExpressionField
    from emohead.render.frames import head_box

    lo, hi = head_box()
    field = ExpressionField(lo, hi, hash_levels=4, hash_log2_size=10, max_resolution=64, hidden=16)
    with torch.no_grad():
        field.density_mlp[-1].bias[0] = 1.0                     # a fairly dense field
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "test", image_size=32, max_frames=1)
    rays = head_rays(frames.camera, frames.R[0], frames.t[0], 32, 32, lo, hi)
    bg = torch.tensor([0.2, 0.4, 0.6])
    with torch.no_grad():
        ref = render_rays(field, rays, frames.codes[0], bg, n_samples=32)
    fast = march_rays(field, rays, frames.codes[0], bg, n_samples=32, step=5, min_transmittance=1e-6, min_weight=0.0)
    assert torch.allclose(fast.rgb, ref.rgb, atol=1e-5) and torch.allclose(fast.opacity, ref.opacity, atol=1e-5)
    assert torch.allclose(fast.depth, ref.depth, atol=1e-4)
    # skipping the colour of samples weighing <= min_weight moves a pixel by at most S * min_weight
    skim = march_rays(field, rays, frames.codes[0], bg, n_samples=32, step=7, min_transmittance=1e-6, min_weight=1e-3)
    err = (skim.rgb - ref.rgb).abs().max().item()
    assert 0.0 < err <= 32 * 1e-3
    with pytest.raises(ValueError, match="precision"):
        march_rays(field, rays, frames.codes[0], bg, precision="int8")


def test_occupied_span_march_equals_the_full_march(render_world):
    """skip_empty: cells looked up first, each ray marched over its occupied span only -> the same pixels."""
    ds = render_world["ds"]
    torch.manual_seed(1)
    from emohead.render.field import ExpressionField
    from emohead.render.frames import head_box
    from emohead.render.occupancy import OccupancyGrid

    lo, hi = head_box()
    field = ExpressionField(lo, hi, hash_levels=4, hash_log2_size=10, max_resolution=64, hidden=16)
    with torch.no_grad():
        field.density_mlp[-1].bias[0] = 1.0
    grid = OccupancyGrid(lo, hi, 8)
    grid.density.copy_(torch.rand(8, 8, 8) * (torch.rand(8, 8, 8) > 0.6))      # 60 % of the cells empty
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "test", image_size=32, max_frames=1)
    rays = head_rays(frames.camera, frames.R[0], frames.t[0], 32, 32, lo, hi)
    bg = torch.tensor([0.2, 0.4, 0.6])
    with torch.no_grad():
        ref = render_rays(field, rays, frames.codes[0], bg, n_samples=32, grid=grid)
    counts = {}, {}
    full = march_rays(field, rays, frames.codes[0], bg, n_samples=32, grid=grid, step=5, min_transmittance=1e-6,
                      min_weight=0.0, stats=counts[0])
    span = march_rays(field, rays, frames.codes[0], bg, n_samples=32, grid=grid, step=5, min_transmittance=1e-6,
                      min_weight=0.0, skip_empty=True, stats=counts[1])
    for out in (full, span):
        assert torch.allclose(out.rgb, ref.rgb, atol=1e-5) and torch.allclose(out.opacity, ref.opacity, atol=1e-5)
        assert torch.allclose(out.depth, ref.depth, atol=1e-4)
    assert counts[1]["rays_hit"] == counts[0]["rays_hit"] > 0
    assert counts[1]["density_points"] <= counts[0]["density_points"]       # never more field evaluations


class _NanPoseDataset:
    """A dataset proxy whose first training clip has a NaN in one head pose."""

    def __init__(self, ds):
        self._ds = ds
        self.bad = ds.clips(split="train", speaker=ds.extra["target_speaker"])[0].id

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def arrays(self, rec, names=None):
        out = dict(self._ds.arrays(rec, names))
        if getattr(rec, "id", rec) == self.bad and "pose_R" in out:
            out["pose_R"] = out["pose_R"].copy()
            out["pose_R"][3, 0, 0] = np.nan
        return out


def test_bad_inputs_are_rejected_with_their_names(render_world, tmp_path):
    ds = render_world["ds"]
    proxy = _NanPoseDataset(ds)
    with pytest.raises(NerfDataError, match=rf"{proxy.bad}.*frame 3.*NaN"):
        load_nerf_frames(proxy, ds.extra["target_speaker"], "train", image_size=32)
    with pytest.raises(NerfTrainingError, match="refine_start"):
        train_nerf(ds, _cfg(render_world, refine_start=99), tmp_path / "n", progress=False)
    with pytest.raises(NerfTrainingError, match="speaker 'nobody'"):
        train_nerf(ds, _cfg(render_world, refine_start=8), tmp_path / "n", speaker="nobody", progress=False)
    with pytest.raises(NerfDataError, match="larger than the frames"):
        load_nerf_frames(ds, ds.extra["target_speaker"], "train", image_size=64)
    cfg = apply_overrides(render_world["profile"], {"nerf.coord_backend": "clip", "nerf.clip_path": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="nerf.clip_path"):
        train_nerf(ds, cfg.nerf, tmp_path / "n", analyser=render_world["analyser"], progress=False)


def test_resize_frames_integer_upscale_equals_torch_area_and_nearest():
    """The integer-upscale fast path (pixel repetition) gives exactly torch's area / nearest resampling."""
    import torch
    import torch.nn.functional as F

    from emohead.render.frames import resize_frames

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    parsing = rng.integers(0, 4, (3, 16, 16), dtype=np.uint8)
    for size in (32, 64, 24):                                      # 24: not an integer factor (the torch path)
        got_i, got_p = resize_frames(images, parsing, size)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        want_i = F.interpolate(x, size=(size, size), mode="area").round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        want_p = F.interpolate(torch.from_numpy(parsing)[:, None].float(), size=(size, size),
                               mode="nearest").to(torch.uint8)[:, 0].numpy()
        assert got_i.shape == (3, size, size, 3) and np.array_equal(got_i, want_i), size
        assert np.array_equal(got_p, want_p), size


def test_ray_table_refuses_a_nan_code_naming_its_clip_and_frame(render_world):
    ds = render_world["ds"]
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "train", image_size=32, max_frames=6)
    frames.codes[4, 2] = float("nan")
    with pytest.raises(NerfDataError, match=rf"frame 4 of clip '{frames.clip_ids[4]}'.*NaN"):
        build_ray_table(frames, "cpu")


def test_fingerprint_leaves_out_later_fields_at_their_defaults(render_world):
    """A NeRF trained before ``train_precision`` existed keeps its fingerprint; another precision changes it."""
    from emohead.render.training import LATER_FIELDS, fingerprint
    from emohead.training_loop import fingerprint as run_fingerprint

    ds, cfg = render_world["ds"], _cfg(render_world)
    assert cfg.train_precision == LATER_FIELDS["train_precision"] == "fp32"
    assert set(LATER_FIELDS) == {"train_precision", "ray_tile", "train_step"}
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in LATER_FIELDS}
    with open(ds.manifest_path, "rb") as fh:
        manifest = fh.read()
    earlier = run_fingerprint({"cfg": settings, "seed": 0, "speaker": "s", "code": "alpha", "extra": None}, manifest)
    assert fingerprint(cfg, 0, ds, "s", "alpha") == earlier
    assert fingerprint(dataclasses.replace(cfg, train_precision="tf32"), 0, ds, "s", "alpha") != earlier
    assert fingerprint(dataclasses.replace(cfg, ray_tile=4), 0, ds, "s", "alpha") != earlier
    assert fingerprint(dataclasses.replace(cfg, train_step="graph"), 0, ds, "s", "alpha") != earlier


def test_mlp_inputs_are_concatenated_under_autograd_and_split_without(monkeypatch):
    """Training (autograd) takes one product per layer; rendering takes the parts without a concatenated copy;
    both compute the same MLP."""
    from emohead.render import field as field_module

    f = field_module.ExpressionField(torch.zeros(3), torch.ones(3), hash_levels=4, hash_log2_size=8,
                                     max_resolution=32, hidden=16)
    x, code = torch.rand(50, 3), torch.randn(10)
    calls = []
    real = field_module.linear_of_parts
    monkeypatch.setattr(field_module, "linear_of_parts", lambda *a: calls.append(1) or real(*a))
    sigma_grad, geo_grad = f.density(x, code)
    assert calls == []
    with torch.no_grad():
        sigma, geo = f.density(x, code)
    assert calls == [1]
    assert torch.allclose(sigma, sigma_grad.detach(), atol=1e-6) and torch.allclose(geo, geo_grad.detach(), atol=1e-6)


def test_tile_sampling_draws_whole_tiles_of_one_frame(render_world):
    ds = render_world["ds"]
    frames = load_nerf_frames(ds, ds.extra["target_speaker"], "train", image_size=32, max_frames=12)
    table = build_ray_table(frames, "cpu")
    single = sample_rays(table, 256, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(single, sample_rays(table, 256, torch.Generator().manual_seed(3),
                                                                     tile=1)))
    f, pix = sample_rays(table, 4000, torch.Generator().manual_seed(0), tile=4)
    f, y, x = f.view(-1, 16), (pix // 32).view(-1, 16), (pix % 32).view(-1, 16)
    assert (f == f[:, :1]).all()                                              # one frame per tile
    assert torch.equal(y - y[:, :1], torch.arange(4).repeat_interleave(4).expand_as(y))
    assert torch.equal(x - x[:, :1], torch.arange(4).repeat(4).expand_as(x))
    assert pix.min() >= 0 and pix.max() < 32 * 32
    r = table.rects[f[:, 0]]
    in_rect = ((y[:, 0] >= r[:, 0]) & (y[:, 0] < r[:, 1]) & (x[:, 0] >= r[:, 2]) & (x[:, 0] < r[:, 3])).float().mean()
    assert in_rect > 0.8
    with pytest.raises(NerfTrainingError, match="multiple of nerf.ray_tile"):
        sample_rays(table, 100, torch.Generator(), tile=4)
