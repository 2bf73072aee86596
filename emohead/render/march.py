"""Fast inference rendering: ray marching in chunks with empty-space skipping and early termination.

The quadrature is eq. 11-12 exactly as in ``volume.py``; only the order of work differs. Samples are
visited ``step`` at a time front to back, and only on rays that meet the head box:

- samples in empty cells of the occupancy grid are never sent to the field (density 0);
- the colour MLP runs only where a sample's weight w_k = T_k alpha_k exceeds ``min_weight`` (each skipped
  sample changes the pixel by at most its weight);
- a ray stops once its transmittance T falls below ``min_transmittance`` (the rest can change the colour by at
  most that much);
- optionally (``skip_empty``) the cells of all S samples are looked up once, before marching: rays that cross
  only empty cells are dropped, and each other ray marches from its first occupied sample and stops after its last
  one (the skipped samples have density 0 and add exactly nothing).

Most of a 512 x 512 frame misses the head box or terminates at the skin, so the field sees a small fraction of
the H x W x S samples.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import torch

from .field import density_activation, direction_encoding
from .rays import HeadRays, sample_along_rays
from .volume import RenderedRays


def _sample_fractions(n_samples: int, device: torch.device) -> torch.Tensor:
    """The bin centres of ``sample_along_rays`` on [0, 1], plus 1.0 (the far end) -> [S + 1]."""
    zero, one = torch.zeros(1, device=device), torch.ones(1, device=device)
    return torch.cat([sample_along_rays(zero, one, n_samples)[0], one])


@torch.no_grad()
def march_rays(field, rays: HeadRays, code: torch.Tensor, background: torch.Tensor, *, n_samples: int = 64,
               grid=None, step: int = 16, min_transmittance: float = 1e-4, min_weight: float = 1e-5,
               skip_empty: bool = False, precision: str = "fp32", stats: dict | None = None) -> RenderedRays:
    """Render rays [R] with codes [R, m] (or one [m]); returns rgb, opacity, depth ([R, ...]); weights is empty.

    Equal to ``render_rays`` (same samples, bin centres) up to ``min_transmittance`` + S * ``min_weight`` per ray
    (the defaults keep a pixel within 1e-4 + 64e-5 of it, invisible in 8-bit output). The codes are checked for
    NaN once here, not at every chunk (each check waits for the GPU).

    skip_empty (with a grid): every sample's cell is looked up once, up front; rays with no occupied sample are
    dropped, and each remaining ray marches from its first occupied sample to its last (empty samples add exactly
    nothing, so only the summation order differs). Off by default: on the H200 benchmark's head it sent as many
    points to the field (nearly every ray that meets the box meets the head) and ran 3-5 % slower.
    precision: the MLPs' matrix products in 'fp32', 'tf32' (TensorFloat-32), 'fp16' (autocast; densities and
    colours still leave as float32) or 'fused' (fp16 in one Triton kernel per MLP, ``mlp_triton.py``): on CUDA
    only, a CPU computes in float32 ('fused' runs its kernels in Triton's CPU interpreter when TRITON_INTERPRET=1).
    stats: a dict that receives counts (rays, rays_hit, lookups, density_points, color_points, chunks).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not torch.isfinite(code).all():
        raise ValueError("expression code contains NaN or inf")
    n, dev = rays.origins.shape[0], rays.origins.device
    codes = code.expand(n, -1) if code.dim() == 1 else code
    hit = rays.hit.nonzero()[:, 0]                                            # work only on rays meeting the box
    o, d, near, far, codes = rays.origins[hit], rays.directions[hit], rays.near[hit], rays.far[hit], codes[hit]
    span = far - near                                                         # [H]
    frac = _sample_fractions(n_samples, dev)                                  # [S + 1]
    counts = {"rays": n, "rays_hit": hit.numel(), "lookups": 0, "density_points": 0, "color_points": 0,
              "chunks": 0} if stats is not None else None
    mlps = _fused_mlps(field, precision, dev)
    with _mlp_precision("fp16" if precision == "fused" and mlps is None else precision, dev):
        if grid is not None and skip_empty:
            rgb_h, depth_h, trans_h = _march_occupied(field, grid, o, d, near, far, span, codes, frac, n_samples,
                                                      step, min_transmittance, min_weight, counts, mlps)
        else:
            rgb_h, depth_h, trans_h = _march_all(field, grid, o, d, near, far, span, codes, frac, n_samples,
                                                 step, min_transmittance, min_weight, counts, mlps)
    if counts is not None:
        stats.update({k: int(v) for k, v in counts.items()})
    rgb = torch.zeros(n, 3, device=dev)
    depth = torch.zeros(n, device=dev)
    trans = torch.ones(n, device=dev)
    rgb[hit], depth[hit], trans[hit] = rgb_h, depth_h, trans_h
    bg = background.expand(n, 3) if background.dim() == 1 else background
    return RenderedRays(rgb=rgb + trans[:, None] * bg, opacity=1.0 - trans, depth=depth + trans * rays.far,
                        weights=torch.empty(n, 0, device=dev))


PRECISIONS = ("fp32", "tf32", "fp16", "fused")


def _fused_mlps(field, precision: str, device: torch.device):
    """The field's weights packed for the fused kernels when ``precision='fused'`` can run here, else None (then a
    GPU without Triton marches as with 'fp16', and a CPU in float32)."""
    if precision != "fused":
        return None
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        return None                                       # a CPU computes in float32, as for 'fp16'
    try:
        from .mlp_triton import FusedMlps                 # imports triton: only when asked for
    except ImportError as err:
        warnings.warn(f"precision='fused' needs Triton ({err}); marching with fp16 autocast instead", stacklevel=3)
        return None
    reason = FusedMlps.supports(field)
    if reason is not None:
        raise ValueError(f"precision='fused': {reason}; use precision='fp16'")
    return FusedMlps.from_field(field)


@contextlib.contextmanager
def _mlp_precision(precision: str, device: torch.device):
    """The MLPs' matmul precision for the duration of a march (only on CUDA; a CPU always computes in float32)."""
    if device.type != "cuda" or precision in ("fp32", "fused"):
        yield
    elif precision == "tf32":
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    else:
        with torch.autocast("cuda", dtype=torch.float16):
            yield


def _field_step(field, pts, codes, ray_of, sh, kidx, deltas, trans_before, rgb_h, min_weight, counts, mlps=None):
    """Densities at the samples ``kidx`` of a [C, A] chunk -> weights [C, A]; adds their colour into rgb_h (eq. 11-12).

    mlps: a ``FusedMlps`` of the field (fused kernels), or None (the field's own MLPs).
    Returns (w [C, A], alpha [C, A], T_k [C, A]).
    """
    c = deltas.shape[0]
    sigma = torch.zeros(pts.shape[0], device=pts.device)
    geo = None
    if kidx.numel() and mlps is not None:
        u, inside = field.normalise(pts[kidx])
        geo = mlps.density(field.encoder(u, check=False), codes, ray_of[kidx])         # [K, 1 + G] fp16
        sigma[kidx] = density_activation(geo[:, 0], inside)
    elif kidx.numel():
        sig_k, geo = field.density(pts[kidx], codes[ray_of[kidx]], check=False)
        sigma[kidx] = sig_k.float()
    alpha = 1.0 - torch.exp(-sigma.view(c, -1) * deltas)                       # eq. 12
    log_keep = torch.log1p(-alpha.clamp(max=1.0 - 1e-7))
    t_excl = trans_before * torch.exp(torch.cumsum(log_keep, dim=0) - log_keep)    # T_k  [C, A]
    w = t_excl * alpha                                                        # [C, A]
    if geo is not None:                                                       # colour where the weight matters
        sel = (w.reshape(-1)[kidx] > min_weight).nonzero()[:, 0]
        if sel.numel():
            cidx, rays_c = kidx[sel], ray_of[kidx[sel]]
            if mlps is not None:                                              # geo rows and per-ray rows by index
                col = mlps.color(geo, sel, sh, codes, rays_c)
            else:
                col = field.color(pts[cidx], sh[rays_c], codes[rays_c], geo[sel], check=False, encoded_d=True)
            rgb_h.index_add_(0, rays_c, w.reshape(-1)[cidx, None] * col.float())   # eq. 11
            if counts is not None:
                counts["color_points"] += sel.numel()
        if counts is not None:
            counts["density_points"] += kidx.numel()
    return w, alpha, t_excl


def _march_all(field, grid, o, d, near, far, span, codes, frac, n_samples, step, min_transmittance, min_weight,
               counts, mlps=None):
    """Every ray that meets the box, samples k0:k0+step of all live rays at a time (the first version)."""
    dev = o.device
    rgb_h = torch.zeros(o.shape[0], 3, device=dev)
    depth_h = torch.zeros(o.shape[0], device=dev)
    trans_h = torch.ones(o.shape[0], device=dev)                              # T before the chunk
    live = torch.arange(o.shape[0], device=dev)                               # rays still marching
    sh = direction_encoding(d)                                                # [H, 9]: once per ray, not per sample
    # chunks are sample-major [C, A] (C samples of A rays): the scan over samples then runs along dim 0, which
    # PyTorch does fast; a scan along a short innermost dim (16) took a fifth of a frame's GPU time on an H200
    for k0 in range(0, n_samples, step):
        if live.numel() == 0:
            break
        k1 = min(n_samples, k0 + step)
        c = k1 - k0
        s_ext = near[live] + frac[k0:k1 + 1, None] * span[live]              # [C + 1, A]: samples and the next one
        sk = s_ext[:c]                                                        # [C, A]
        deltas = s_ext[1:] - sk                                               # the last interval ends at far
        if k1 == n_samples:
            deltas[-1] = (far[live] - sk[-1]).clamp_min(0.0)
        pts = (o[live] + sk[..., None] * d[live]).reshape(-1, 3)              # [C A, 3]
        ray_of = live.repeat(c)                                               # [C A]
        kidx = grid.occupied(pts).nonzero()[:, 0] if grid is not None else torch.arange(pts.shape[0], device=dev)
        if counts is not None:
            counts["lookups"] += pts.shape[0]
            counts["chunks"] += 1
        w, alpha, t_excl = _field_step(field, pts, codes, ray_of, sh, kidx, deltas, trans_h[live], rgb_h,
                                       min_weight, counts, mlps)
        depth_h[live] += (w * sk).sum(dim=0)
        trans_h[live] = t_excl[-1] * (1.0 - alpha[-1])
        live = live[trans_h[live] > min_transmittance]
    return rgb_h, depth_h, trans_h


def _march_occupied(field, grid, o, d, near, far, span, codes, frac, n_samples, step, min_transmittance,
                    min_weight, counts, mlps=None, lookup_chunk: int = 16):
    """Occupancy of every sample up front; march each ray from its first occupied sample to its last."""
    dev = o.device
    n_rays = o.shape[0]
    occ = torch.empty(n_samples, n_rays, dtype=torch.bool, device=dev)       # [S, H]: sample k of ray a occupied
    for k0 in range(0, n_samples, lookup_chunk):                              # bounded memory: [chunk, H, 3] points
        k1 = min(n_samples, k0 + lookup_chunk)
        s = near + frac[k0:k1, None] * span                                   # [c, H], as in the march below
        occ[k0:k1] = grid.occupied((o + s[..., None] * d).reshape(-1, 3)).view(k1 - k0, n_rays)
    if counts is not None:
        counts["lookups"] += n_samples * n_rays
    ks = torch.arange(n_samples, device=dev)[:, None]
    first = torch.where(occ, ks, n_samples).amin(dim=0)                      # [H]; S where none is occupied
    last = torch.where(occ, ks, -1).amax(dim=0)                               # [H]; -1 where none is
    rgb_h = torch.zeros(n_rays, 3, device=dev)
    depth_h = torch.zeros(n_rays, device=dev)
    trans_h = torch.ones(n_rays, device=dev)
    live = (last >= 0).nonzero()[:, 0]                                        # rays that meet something
    sh = direction_encoding(d)
    offsets = torch.arange(step, device=dev)[:, None]                         # [C, 1]
    j0 = 0
    while live.numel():
        kk = first[live] + j0 + offsets                                       # [C, A]: each ray's own sample index
        valid = kk <= last[live]                                              # past its last occupied: empty
        kc = kk.clamp(max=n_samples - 1)
        nr, sp = near[live], span[live]
        sk = nr + frac[kc] * sp                                               # same expression as _march_all's
        nxt = nr + frac[kc + 1] * sp
        deltas = torch.where(kc == n_samples - 1, (far[live] - sk).clamp_min(0.0), nxt - sk)
        pts = (o[live] + sk[..., None] * d[live]).reshape(-1, 3)              # [C A, 3]
        ray_of = live.repeat(step)
        kidx = (occ[kc, live] & valid).reshape(-1).nonzero()[:, 0]
        if counts is not None:
            counts["chunks"] += 1
        w, alpha, t_excl = _field_step(field, pts, codes, ray_of, sh, kidx, deltas, trans_h[live], rgb_h,
                                       min_weight, counts, mlps)
        depth_h[live] += (w * sk).sum(dim=0)
        trans_h[live] = t_excl[-1] * (1.0 - alpha[-1])
        j0 += step
        live = live[(trans_h[live] > min_transmittance) & (first[live] + j0 <= last[live])]
    return rgb_h, depth_h, trans_h
