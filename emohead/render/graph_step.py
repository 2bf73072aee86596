"""The photometric training step (eq. 15) as one CUDA graph: ``nerf.train_step = "graph"``.

Why: on an H200 the eager step (``training.py``) is bound by the CPU that launches its few hundred kernels, not by
the GPU (docs/performance.md). A CUDA graph launches them all at once, but it replays fixed kernels on fixed
buffers, so the step is rewritten without anything whose size or value the host must know:

- the random numbers come from a counter-based hash of (seed, iteration) (``counter_rng.py``), with the iteration
  in a device tensor that the graph advances; batches stay a function of (seed, iteration), so a resumed run
  draws what an uninterrupted one would (they are not the eager step's numbers, only the same distribution);
- every sample goes to the field and the occupancy grid only zeroes the density of those in empty cells
  (``render_rays(compact=False)``: same colours and gradients as compacting them out, no ``nonzero``);
- the learning rate of the linear schedule is computed on the device from the iteration;
- Adam is the fused, capturable kernel.

The first ``WARMUP_STEPS`` steps of each phase (without / with the occupancy grid) run eagerly on a side stream
(they are real steps; lazy initialisation, Triton compilation and Adam's state happen there), then the step is
captured once and replayed. Without CUDA (tests, CI) the same step runs eagerly, so its maths is tested on a CPU.
The refinement stage (L_cord, L_shape on a rendered patch) stays eager.
"""
from __future__ import annotations

from typing import Any

import torch

from .batches import rays_from_uniforms, render_training_rays
from .counter_rng import CounterRng
from .losses import l_photo
from .occupancy import OccupancyGrid

WARMUP_STEPS = 3
"""Eager steps of each phase before its graph is captured."""


class GraphedPhotoStep:
    """Runs photometric training steps of ``field`` (one call = one step) -> the step's loss, a 0-d device tensor.

    table: the trainer's RayTable; cfg: NerfConfig (rays_per_batch, samples_per_ray, ray_tile, lr schedule,
    lambda_photo); grid: the occupancy grid, refreshed in place by the trainer between steps.
    """

    def __init__(self, field: torch.nn.Module, table: Any, optimiser: torch.optim.Optimizer, cfg: Any, seed: int,
                 grid: OccupancyGrid, *, fp16: bool = False, loss_scale: float = 1.0):
        self.field, self.table, self.optimiser, self.cfg, self.grid = field, table, optimiser, cfg, grid
        self.fp16, self.loss_scale = fp16, loss_scale
        self.device = table.layers.device
        self.use_graph = self.device.type == "cuda"
        if self.use_graph and not all(g.get("capturable") for g in optimiser.param_groups):
            raise ValueError("GraphedPhotoStep on CUDA needs an optimiser built with capturable=True")
        n_rays, n_samples = cfg.rays_per_batch, cfg.samples_per_ray
        self.rng = CounterRng(seed, self.device, max(n_rays * n_samples, 2 * n_rays))
        self.iteration = torch.zeros((), dtype=torch.int64, device=self.device)
        self.lr = torch.tensor(float(cfg.lr), dtype=torch.float32, device=self.device)
        self._next: int | None = None                     # the iteration self.iteration holds, as the host knows it
        self._graphs: dict[bool, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._eager_steps = {False: 0, True: 0}
        self._pool = None

    def __call__(self, it: int, use_grid: bool) -> torch.Tensor:
        if self._next != it:                              # first call, a resume, or eager steps in between
            self.iteration.fill_(it)
        self._next = it + 1
        if not self.use_graph:
            self._set_float_lr(it)
            return self._eager(use_grid)
        if use_grid not in self._graphs and self._eager_steps[use_grid] < WARMUP_STEPS:
            self._eager_steps[use_grid] += 1
            self._set_float_lr(it)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                loss = self._eager(use_grid)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return loss
        if use_grid not in self._graphs:
            self._capture(use_grid)
        graph, loss = self._graphs[use_grid]
        graph.replay()
        return loss.clone()                               # the next replay overwrites the captured loss

    def _set_float_lr(self, it: int) -> None:
        lr = self.cfg.lr * (1.0 - (1.0 - self.cfg.final_lr_fraction) * it / max(1, self.cfg.iterations))
        for group in self.optimiser.param_groups:
            group["lr"] = lr

    def _eager(self, use_grid: bool) -> torch.Tensor:
        self.optimiser.zero_grad(set_to_none=True)
        loss = self._forward_backward(use_grid)
        self.optimiser.step()
        self.iteration.add_(1)
        return loss

    def _capture(self, use_grid: bool) -> None:
        """Record one step (forward, backward, lr, Adam, iteration + 1) as a CUDA graph."""
        for group in self.optimiser.param_groups:
            group["lr"] = self.lr                         # read by the fused Adam kernel at replay time
        self.optimiser.zero_grad(set_to_none=True)        # the captured backward allocates the gradients
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        with torch.cuda.graph(graph, pool=self._pool):
            cfg = self.cfg
            frac = self.iteration.to(torch.float32) / max(1, cfg.iterations)
            self.lr.copy_(cfg.lr * (1.0 - (1.0 - cfg.final_lr_fraction) * frac))        # linear schedule
            loss = self._forward_backward(use_grid)
            self.optimiser.step()
            self.iteration.add_(1)
        self._pool = graph.pool()
        self._graphs[use_grid] = (graph, loss)

    def _forward_backward(self, use_grid: bool) -> torch.Tensor:
        """Draw the batch of self.iteration, render it, back-propagate lambda_photo L_photo; returns it (detached)."""
        cfg, table = self.cfg, self.table
        tile = cfg.ray_tile
        m = cfg.rays_per_batch // (tile * tile)
        key = self.rng.key(self.iteration)
        n_frames = len(table.frames)
        f = (self.rng.uniform(key, "frame", (m,)) * n_frames).long().clamp_max(n_frames - 1)
        u = self.rng.uniform(key, "pixel", (m, 2))
        f, pix = rays_from_uniforms(table, f, u, tile)
        jitter = self.rng.uniform(key, "sample", (cfg.rays_per_batch, cfg.samples_per_ray))
        out, target = render_training_rays(self.field, table, f, pix, cfg.samples_per_ray, None,
                                           self.grid if use_grid else None, self.fp16, jitter=jitter,
                                           compact=False)
        loss = cfg.lambda_photo * l_photo(out.rgb, target)                                  # eq. 15
        (loss * self.loss_scale).backward()
        return loss.detach()
