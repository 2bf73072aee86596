"""The photometric training step (eq. 15) as one CUDA graph: ``nerf.train_step = "graph"``.

Why: on an H200 the eager step (``training.py``) is bound by the CPU that launches its few hundred kernels, not by
the GPU (docs/performance.md). A CUDA graph launches them all at once, but it replays fixed kernels on fixed
buffers, so the step is rewritten without anything whose size or value the host must know:

- the random numbers come from a counter-based hash of (seed, iteration) (``counter_rng.py``), with the iteration
  in a device tensor that the graph advances; batches stay a function of (seed, iteration), so a resumed run
  draws what an uninterrupted one would (they are not the eager step's numbers, only the same distribution);
- no ``nonzero``: before the occupancy grid is used every sample goes to the field; once it is, the samples it
  keeps are packed into a fixed number of slots (``field.pack_kept``), the capacity: the most samples kept in
  the warm-up steps plus a quarter, rounded up. The graph records how many were kept; at each log point
  (:meth:`GraphedPhotoStep.review`, where the trainer waits for the GPU anyway) the capacity is refitted and the
  step captured again when the kept samples came near it or fell far below. A step that kept more than the
  capacity drops the excess (density 0) and is counted (``dropped_steps``, in the training history);
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

from .batches import linear_lr, rays_from_uniforms, render_training_rays
from .counter_rng import CounterRng
from .losses import l_photo
from .occupancy import OccupancyGrid

WARMUP_STEPS = 3
"""Eager steps of each phase before its graph is captured."""
CAPACITY_MARGIN = 1.25
"""Slots for the kept samples: this times the most kept lately, rounded up to CAPACITY_ROUND."""
CAPACITY_ROUND = 1 << 13
REFIT_ABOVE = 0.95
"""Refit the capacity when a step kept more than this fraction of it (or fewer than 1 / CAPACITY_MARGIN^2)."""


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
        self.n_points = n_rays * n_samples
        self.rng = CounterRng(seed, self.device, max(self.n_points, 2 * n_rays))
        self.iteration = torch.zeros((), dtype=torch.int64, device=self.device)
        self.lr = torch.tensor(float(cfg.lr), dtype=torch.float32, device=self.device)
        self.max_kept = torch.zeros((), dtype=torch.int64, device=self.device)      # since the last review
        self.dropped_steps = torch.zeros((), dtype=torch.int64, device=self.device)
        self.capacity: int | None = None                 # slots for kept samples, once the grid phase is warm
        self._next: int | None = None                     # the iteration self.iteration holds, as the host knows it
        self._graph: tuple[bool, torch.cuda.CUDAGraph, torch.Tensor] | None = None     # (phase, graph, loss)
        self._warm = {False: 0, True: 0}
        self.captures = 0                                 # graphs recorded so far (a new capacity records another)

    def __call__(self, it: int, use_grid: bool) -> torch.Tensor:
        if self._next != it:                              # first call, a resume, or eager steps in between
            self.iteration.fill_(it)
        self._next = it + 1
        if self._warm[use_grid] < WARMUP_STEPS:           # eager, every kept sample in a slot
            self._warm[use_grid] += 1
            self._set_float_lr(it)
            loss = self._eager(use_grid, self.n_points if use_grid else None)
            if use_grid and self._warm[use_grid] == WARMUP_STEPS:
                self.review(force=True)
            return loss
        capacity = self.capacity if use_grid else None
        if not self.use_graph:
            self._set_float_lr(it)
            return self._eager(use_grid, capacity)
        if self._graph is None or self._graph[0] != use_grid:
            self._capture(use_grid, capacity)
        _, graph, loss = self._graph
        graph.replay()
        return loss.clone()                               # the next replay overwrites the captured loss

    def review(self, force: bool = False) -> None:
        """Refit the kept samples' capacity to the most kept since the last review (waits for the GPU: call it where
        the host waits anyway). A new capacity is captured at the next step."""
        if self.capacity is None and not force:
            return
        kept = int(self.max_kept)
        self.max_kept.zero_()
        if (force or kept > REFIT_ABOVE * self.capacity or kept * CAPACITY_MARGIN ** 2 < self.capacity):
            fitted = -(-int(kept * CAPACITY_MARGIN) // CAPACITY_ROUND) * CAPACITY_ROUND
            self.capacity = max(CAPACITY_ROUND, min(self.n_points, fitted))
            if self._graph is not None and self._graph[0]:
                self._graph = None                        # captured again, with the new capacity, at the next step

    def _set_float_lr(self, it: int) -> None:
        lr = linear_lr(self.cfg, it)
        for group in self.optimiser.param_groups:
            group["lr"] = lr

    def _eager(self, use_grid: bool, capacity: int | None) -> torch.Tensor:
        """One step op by op (on a GPU on a side stream, as the warm-up before a capture must be)."""
        if not self.use_graph:
            return self._step(use_grid, capacity)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            loss = self._step(use_grid, capacity)
        torch.cuda.current_stream(self.device).wait_stream(side)
        return loss

    def _step(self, use_grid: bool, capacity: int | None) -> torch.Tensor:
        self.optimiser.zero_grad(set_to_none=True)
        loss = self._forward_backward(use_grid, capacity)
        self.optimiser.step()
        self.iteration.add_(1)
        return loss

    def _capture(self, use_grid: bool, capacity: int | None) -> None:
        """Record one step (lr, forward, backward, Adam, iteration + 1) as a CUDA graph; drops the previous one."""
        self._graph = None                                # one live graph: its memory goes back first
        for group in self.optimiser.param_groups:
            group["lr"] = self.lr                         # read by the fused Adam kernel at replay time
        self.optimiser.zero_grad(set_to_none=True)        # the captured backward allocates the gradients
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        with torch.cuda.graph(graph):
            self.lr.copy_(linear_lr(self.cfg, self.iteration.to(torch.float32)))         # on the device
            loss = self._forward_backward(use_grid, capacity)
            self.optimiser.step()
            self.iteration.add_(1)
        self._graph = (use_grid, graph, loss)
        self.captures += 1

    def _forward_backward(self, use_grid: bool, capacity: int | None) -> torch.Tensor:
        """Draw the batch of self.iteration, render it, back-propagate lambda_photo L_photo; returns it (detached).

        capacity: slots for the samples the grid keeps (with use_grid); None sends every sample to the field.
        """
        cfg, table = self.cfg, self.table
        tile = cfg.ray_tile
        m = cfg.rays_per_batch // (tile * tile)
        key = self.rng.key(self.iteration)
        n_frames = len(table.frames)
        f = (self.rng.uniform(key, "frame", (m,)) * n_frames).long().clamp_max(n_frames - 1)
        u = self.rng.uniform(key, "pixel", (m, 2))
        f, pix = rays_from_uniforms(table, f, u, tile)
        jitter = self.rng.uniform(key, "sample", (cfg.rays_per_batch, cfg.samples_per_ray))
        stats: dict = {}
        out, target = render_training_rays(self.field, table, f, pix, cfg.samples_per_ray, None,
                                           self.grid if use_grid else None, self.fp16, jitter=jitter,
                                           compact=False, capacity=capacity if use_grid else None, stats=stats,
                                           group=tile * tile)
        if "kept" in stats:
            kept = stats["kept"]
            self.max_kept.copy_(torch.maximum(self.max_kept, kept))
            self.dropped_steps.add_((kept > capacity).long())
        loss = cfg.lambda_photo * l_photo(out.rgb, target)                                  # eq. 15
        (loss * self.loss_scale).backward()
        return loss.detach()
