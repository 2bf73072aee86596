"""Training batches of the head NeRF: the ray table of the training frames, rays drawn from it, the lr schedule.

What a ray is compared with (AD-NeRF's layering): the target is the real frame; the ray's background is the frame
with its head pixels replaced by the estimated background image (``background_layers``). Most rays are drawn in
a box around each frame's head (``head_rects``), some anywhere. Used by the eager step (``training.py``) and the
CUDA-graph step (``graph_step.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .field import ExpressionField, render_rays
from .frames import NerfDataError, NerfFrames, estimate_background
from .occupancy import OccupancyGrid
from .rays import pose_rays

RECT_MARGIN = 0.08
"""Margin (fraction of the frame) around each frame's head bounding box within which most rays are drawn."""
UNIFORM_FRACTION = 0.125
"""Fraction of each batch's rays drawn anywhere in the frame (keeps empty space empty)."""


class NerfTrainingError(ValueError, RuntimeError):
    """Settings or inputs the NeRF training cannot use (names them). A ValueError, so the CLI reports it as bad
    input (exit 2); still a RuntimeError for older callers."""


@dataclass
class RayTable:
    """Everything a training step draws rays from, on the training device.

    images, layers uint8 [N, H, W, 3] (layers: the frame with its head replaced by the background);
    rects long [N, 4] (y0, y1, x0, x1) around each head; origins, directions [H * W, 3] world rays of the camera.
    """

    frames: NerfFrames
    background: torch.Tensor
    layers: torch.Tensor
    rects: torch.Tensor
    origins: torch.Tensor
    directions: torch.Tensor


def background_layers(frames: NerfFrames, background: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3]: each frame with its head pixels replaced by the background (what the head covers)."""
    bg = (background.clamp(0, 1) * 255 + 0.5).to(torch.uint8).to(frames.images.device)
    return torch.where(frames.head_mask()[..., None], bg, frames.images)


def head_rects(frames: NerfFrames, margin: float = RECT_MARGIN) -> torch.Tensor:
    """long [N, 4] (y0, y1, x0, x1), exclusive ends: each frame's head bounding box grown by ``margin`` of the frame."""
    mask = frames.head_mask()                                                    # [N, H, W]
    n, h, w = mask.shape
    rows, cols = mask.any(dim=2), mask.any(dim=1)                                # [N, H], [N, W]
    if not bool(rows.any(dim=1).all()):
        bad = int((~rows.any(dim=1)).nonzero()[0, 0])
        raise NerfDataError(f"frame {bad} of clip {frames.clip_ids[bad]!r} has no head pixel in its parsing mask")
    ar_h, ar_w = torch.arange(h, device=mask.device), torch.arange(w, device=mask.device)
    m = int(round(margin * h))
    y0 = torch.where(rows, ar_h, h).amin(1) - m
    y1 = torch.where(rows, ar_h, -1).amax(1) + 1 + m
    x0 = torch.where(cols, ar_w, w).amin(1) - m
    x1 = torch.where(cols, ar_w, -1).amax(1) + 1 + m
    return torch.stack([y0.clamp(0, h - 1), y1.clamp(1, h), x0.clamp(0, w - 1), x1.clamp(1, w)], dim=1)


def build_ray_table(frames: NerfFrames, device: torch.device | str) -> RayTable:
    """The frames on ``device`` with their background layers, head rectangles and camera rays; refuses NaN codes."""
    bad = (~torch.isfinite(frames.codes).all(dim=1)).nonzero()
    if bad.numel():
        i = int(bad[0, 0])
        raise NerfDataError(f"frame {i} of clip {frames.clip_ids[i]!r} has a NaN or inf expression code")
    frames = frames.to(device)
    background = estimate_background(frames.images, frames.parsing).to(device)
    o, d = frames.camera.pixel_rays(frames.size, frames.size)
    return RayTable(frames=frames, background=background, layers=background_layers(frames, background),
                    rects=head_rects(frames), origins=o.reshape(-1, 3), directions=d.reshape(-1, 3))


def sample_rays(table: RayTable, n: int, gen: torch.Generator, tile: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(frame [n], flat pixel [n]): most rays uniform in a random frame's head rectangle, some anywhere.

    tile > 1: n / tile^2 tiles of tile x tile neighbouring pixels of one frame each, drawn by the same rule for the
    tile's corner and listed tile by tile (consecutive rays are neighbours, so their samples share hash-grid cells;
    ``nerf.ray_tile``). tile = 1 gives exactly the single-pixel batches.
    """
    if n % (tile * tile):
        raise NerfTrainingError(f"nerf.rays_per_batch={n} is not a multiple of nerf.ray_tile^2={tile * tile}")
    dev = table.layers.device
    m = n // (tile * tile)                                                       # tiles (rays when tile = 1)
    f = torch.randint(0, len(table.frames), (m,), generator=gen, device=dev)
    u = torch.rand(m, 2, generator=gen, device=dev)
    return rays_from_uniforms(table, f, u, tile)


def linear_lr(cfg, it):
    """Adam's learning rate at iteration ``it`` (an int, or a device tensor inside the CUDA-graph step): linear from
    nerf.lr to nerf.lr * nerf.final_lr_fraction over nerf.iterations (Sec. III-D gives the schedule)."""
    return cfg.lr * (1.0 - (1.0 - cfg.final_lr_fraction) * it / max(1, cfg.iterations))


def rays_from_uniforms(table: RayTable, f: torch.Tensor, u: torch.Tensor, tile: int = 1
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_rays` given its random numbers: frames f [m] and uniforms u [m, 2] of m tiles (or rays).

    Static shapes, no host waits: also what the CUDA-graph step (``graph_step.py``) runs.
    """
    dev, size, m = table.layers.device, table.frames.size, f.shape[0]
    r = table.rects[f]
    y = r[:, 0] + (u[:, 0] * (r[:, 1] - r[:, 0])).long()
    x = r[:, 2] + (u[:, 1] * (r[:, 3] - r[:, 2])).long()
    anywhere = torch.arange(m, device=dev) < int(m * UNIFORM_FRACTION)
    y = torch.where(anywhere, (u[:, 0] * size).long(), y).clamp(0, size - tile)
    x = torch.where(anywhere, (u[:, 1] * size).long(), x).clamp(0, size - tile)
    if tile > 1:                                                                 # [m] corners -> [m * tile^2] pixels
        dy, dx = torch.meshgrid(torch.arange(tile, device=dev), torch.arange(tile, device=dev), indexing="ij")
        y = (y[:, None] + dy.reshape(1, -1)).reshape(-1)
        x = (x[:, None] + dx.reshape(1, -1)).reshape(-1)
        f = f.repeat_interleave(tile * tile)
    return f, y * size + x


def render_training_rays(field: ExpressionField, table: RayTable, f: torch.Tensor, pix: torch.Tensor,
                         n_samples: int, gen: torch.Generator | None, grid: OccupancyGrid | None, fp16: bool = False,
                         *, jitter: torch.Tensor | None = None, compact: bool = True, capacity: int | None = None,
                         stats: dict | None = None, group: int = 1):
    """Render rays (frame f [R], pixel pix [R]) with stratified samples -> (RenderedRays, target rgb [R, 3]).

    The frames' codes were checked once when the table was built, so no step waits for a NaN test.
    fp16: the field's MLPs under fp16 autocast (CUDA only); the compositing stays float32.
    jitter [R, S] (the samples' places in their bins, instead of ``gen``), compact, capacity, stats, group: see
    ``render_rays`` (group = nerf.ray_tile^2 for tile batches: the field sees their samples depth by depth).
    """
    fr = table.frames
    rays = pose_rays(table.origins[pix], table.directions[pix], fr.R[f], fr.t[f], field.box_min, field.box_max)
    size = fr.size
    yy, xx = pix // size, pix % size
    bg = table.layers[f, yy, xx].float() / 255.0                                  # [R, 3]
    target = fr.images[f, yy, xx].float() / 255.0
    # no autocast weight cache: it is not allowed while a CUDA graph is captured (and saves little here)
    with torch.autocast("cuda", dtype=torch.float16, enabled=fp16, cache_enabled=False):
        out = render_rays(field, rays, fr.codes[f], bg, n_samples=n_samples, stratified=True, generator=gen,
                          grid=grid, check_codes=False, jitter=jitter, compact=compact,
                          capacity=capacity, stats=stats, group=group)
    return out, target
