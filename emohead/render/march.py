"""Fast inference rendering: ray marching in chunks with empty-space skipping and early termination.

The quadrature is eq. 11-12 exactly as in ``volume.py``; only the order of work differs. Samples are
visited ``step`` at a time front to back; a ray stops once its transmittance T falls below
``min_transmittance`` (it can change the colour by at most that much), and samples in empty cells of
the occupancy grid are never sent to the field. Most of a 512 x 512 frame misses the head box or
terminates at the skin, so the field sees a small fraction of the H x W x S samples.
"""
from __future__ import annotations

import torch

from .rays import HeadRays, sample_along_rays
from .volume import RenderedRays


@torch.no_grad()
def march_rays(field, rays: HeadRays, code: torch.Tensor, background: torch.Tensor, *, n_samples: int = 64,
               grid=None, step: int = 16, min_transmittance: float = 1e-4) -> RenderedRays:
    """Render rays [R] with codes [R, m] (or one [m]); returns rgb, opacity, depth ([R, ...]); weights is empty.

    Equal to ``render_rays`` (same samples, bin centres) up to ``min_transmittance`` per ray. The codes are checked
    for NaN once here, not at every chunk (each check waits for the GPU).
    """
    if not torch.isfinite(code).all():
        raise ValueError("expression code contains NaN or inf")
    n, dev = rays.origins.shape[0], rays.origins.device
    s = sample_along_rays(rays.near, rays.far, n_samples)                                        # [R, S]
    deltas = torch.cat([s[:, 1:] - s[:, :-1], (rays.far[:, None] - s[:, -1:]).clamp_min(0.0)], dim=1)
    codes = code.expand(n, -1) if code.dim() == 1 else code
    rgb = torch.zeros(n, 3, device=dev)
    depth = torch.zeros(n, device=dev)
    trans = torch.ones(n, device=dev)                                                            # T before the chunk
    alive = rays.hit.clone()
    for k0 in range(0, n_samples, step):
        idx = alive.nonzero()[:, 0]
        if idx.numel() == 0:
            break
        k1 = min(n_samples, k0 + step)
        sk = s[idx, k0:k1]                                                                       # [A, C]
        pts = rays.origins[idx, None] + sk[..., None] * rays.directions[idx, None]               # [A, C, 3]
        flat = pts.reshape(-1, 3)
        keep = grid.occupied(flat) if grid is not None else torch.ones(flat.shape[0], dtype=torch.bool, device=dev)
        sigma = torch.zeros(flat.shape[0], device=dev)
        color = torch.zeros(flat.shape[0], 3, device=dev)
        kidx = keep.nonzero()[:, 0]
        if kidx.numel():
            ray_of = idx.repeat_interleave(k1 - k0)[kidx]
            sig_k, geo = field.density(flat[kidx], codes[ray_of], check=False)
            sigma[kidx] = sig_k.float()
            color[kidx] = field.color(flat[kidx], rays.directions[ray_of], codes[ray_of], geo, check=False).float()
        sigma = sigma.view(-1, k1 - k0)
        alpha = 1.0 - torch.exp(-sigma * deltas[idx, k0:k1])                                     # eq. 12
        log_keep = torch.log1p(-alpha.clamp(max=1.0 - 1e-7))
        t_excl = trans[idx, None] * torch.exp(torch.cumsum(log_keep, dim=1) - log_keep)          # T_k
        w = t_excl * alpha                                                                       # [A, C]
        rgb[idx] += (w[..., None] * color.view(-1, k1 - k0, 3)).sum(dim=1)                       # eq. 11
        depth[idx] += (w * sk).sum(dim=1)
        trans[idx] = t_excl[:, -1] * (1.0 - alpha[:, -1])
        alive[idx] = trans[idx] > min_transmittance
    opacity = 1.0 - trans
    bg = background.expand(n, 3) if background.dim() == 1 else background
    return RenderedRays(rgb=rgb + trans[:, None] * bg, opacity=opacity, depth=depth + trans * rays.far,
                        weights=torch.empty(n, 0, device=dev))
