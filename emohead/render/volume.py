"""Volume rendering, eq. 11-12 (the NeRF quadrature of Mildenhall et al. 2020).

Along a ray r(s) = o + s d with samples s_1 < ... < s_S in [t_n, t_f]:

    delta_k = s_{k+1} - s_k   (the last interval ends at t_f)
    alpha_k = 1 - exp(-sigma_k delta_k)
    T_k     = prod_{j<k} (1 - alpha_j)                    transmittance up to sample k
    w_k     = T_k alpha_k                                 so sum_k w_k = 1 - T_{S+1} <= 1
    C(r)    = sum_k w_k c_k + (1 - sum_k w_k) c_background

so an empty field (sigma = 0) shows the background, and an opaque first sample shows its own colour.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RenderedRays:
    """rgb [R, 3]; opacity [R] (= sum of weights); depth [R] (expected s, background at far); weights [R, S]."""

    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    weights: torch.Tensor


def render_weights(sigma: torch.Tensor, s: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
    """Weights w_k [R, S] from densities sigma [R, S] >= 0 at depths s [R, S]; far [R] closes the last interval."""
    deltas = torch.cat([s[:, 1:] - s[:, :-1], (far[:, None] - s[:, -1:]).clamp_min(0.0)], dim=1)   # [R, S]
    alpha = 1.0 - torch.exp(-sigma.clamp_min(0.0) * deltas)                                      # eq. 12
    # T_k = prod_{j<k} (1 - alpha_j): an exclusive cumulative product (in log space for stability)
    log_keep = torch.log1p(-alpha.clamp(max=1.0 - 1e-7))
    transmittance = torch.exp(torch.cumsum(log_keep, dim=1) - log_keep)
    return transmittance * alpha


def composite(sigma: torch.Tensor, color: torch.Tensor, s: torch.Tensor, far: torch.Tensor,
              background: torch.Tensor) -> RenderedRays:
    """eq. 11: C(r) = sum_k w_k c_k + (1 - sum_k w_k) background. color [R, S, 3], background [R, 3] or [3]."""
    w = render_weights(sigma, s, far)
    opacity = w.sum(dim=1)
    rgb = (w[..., None] * color).sum(dim=1) + (1.0 - opacity)[:, None] * background
    depth = (w * s).sum(dim=1) + (1.0 - opacity) * far
    return RenderedRays(rgb=rgb, opacity=opacity, depth=depth, weights=w)
