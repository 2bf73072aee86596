"""Occupancy grid for empty-space skipping (instant-ngp, Müller et al. 2022, Sec. 4; RAD-NeRF).

A G^3 grid over the head box keeps a running estimate of the largest density in each cell, over expressions:
``refresh`` evaluates the field at one jittered point per cell for a few expression codes and updates
density <- max(decay * density, new). Cells below ``threshold`` are empty; samples that fall in them are
not sent to the field during rendering. Refreshed every few training iterations.
"""
from __future__ import annotations

import torch
from torch import nn


class OccupancyGrid(nn.Module):
    """density [G, G, G] (EMA of the max density per cell) over [box_min, box_max]; ``occupied(x) -> [N] bool``."""

    def __init__(self, box_min: torch.Tensor, box_max: torch.Tensor, resolution: int = 64, *, decay: float = 0.95,
                 threshold: float = 0.01):
        super().__init__()
        if resolution < 1 or not 0 <= decay < 1:
            raise ValueError(f"resolution must be >= 1 and decay in [0, 1); got {resolution}, {decay}")
        self.resolution, self.decay, self.threshold = resolution, decay, threshold
        self.register_buffer("box_min", torch.as_tensor(box_min, dtype=torch.float32).clone())
        self.register_buffer("box_max", torch.as_tensor(box_max, dtype=torch.float32).clone())
        # start "everything occupied" so that nothing is skipped before the first refresh
        self.register_buffer("density", torch.full((resolution,) * 3, float("inf")))

    def cell_index(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat cell index [N] of head-frame points x [N, 3], and whether they lie in the box [N]."""
        u = (x - self.box_min) / (self.box_max - self.box_min)
        inside = ((u >= 0) & (u <= 1)).all(dim=-1)
        ijk = (u.clamp(0, 1 - 1e-6) * self.resolution).long()
        g = self.resolution
        return (ijk[:, 0] * g + ijk[:, 1]) * g + ijk[:, 2], inside

    def occupied(self, x: torch.Tensor) -> torch.Tensor:
        """[N] bool: the point lies in the box and its cell's density estimate exceeds the threshold."""
        idx, inside = self.cell_index(x)
        return inside & (self.density.reshape(-1)[idx] > self.threshold)

    @torch.no_grad()
    def refresh(self, field, codes: torch.Tensor, *, generator: torch.Generator | None = None,
                chunk: int = 1 << 18, check: bool = True) -> float:
        """Update the estimate from ``field.max_density`` at one jittered point per cell over the codes [K, m].

        Each chunk of points is encoded once for all K codes; ``check=False`` skips the codes' NaN test (it waits
        for the GPU; the trainer's codes were checked once). Returns the fraction of occupied cells.
        """
        g = self.resolution
        dev = self.density.device
        ar = torch.arange(g, device=dev, dtype=torch.float32)
        cells = torch.stack(torch.meshgrid(ar, ar, ar, indexing="ij"), dim=-1).reshape(-1, 3)     # [G^3, 3]
        jitter = torch.rand(cells.shape, generator=generator, device=dev)
        x = self.box_min + (cells + jitter) / g * (self.box_max - self.box_min)
        codes = codes.reshape(-1, codes.shape[-1])
        new = torch.cat([field.max_density(x[s:s + chunk], codes, check=check and s == 0).float()
                         for s in range(0, x.shape[0], chunk)])
        old = self.density.reshape(-1)
        old = torch.where(torch.isinf(old), torch.zeros_like(old), old)
        self.density.copy_(torch.maximum(self.decay * old, new).reshape(g, g, g))
        return float((self.density > self.threshold).float().mean())
