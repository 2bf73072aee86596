"""Rays of a frame in the head's own frame, clipped to the head bounding box (Sec. III-C).

The NeRF lives in the canonical head frame (the morphable model's coordinates). A frame's rigid head pose
(R, t) maps model points to world points, x_world = R x_model + t (``emohead.face.camera``), so a camera
ray r(s) = o + s d in world space is, in the head frame, r_m(s) = R^T (o - t) + s R^T d: the same ray
parameter s, since R is a rotation. Rays are clipped to an axis-aligned head box [box_min, box_max]
(slab test), which gives each ray its near and far bounds t_n, t_f of eq. 11.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..face.camera import Camera


class PoseError(ValueError):
    """A head pose that cannot be rendered (names the frame and the problem)."""


@dataclass
class HeadRays:
    """Rays in the head frame: origins, unit directions [R, 3]; near, far [R]; hit [R] bool (meets the box)."""

    origins: torch.Tensor
    directions: torch.Tensor
    near: torch.Tensor
    far: torch.Tensor
    hit: torch.Tensor


def check_pose(R: torch.Tensor, t: torch.Tensor, where: str = "pose") -> None:
    """Raise PoseError unless R is a finite [3, 3] rotation and t a finite [3] vector."""
    if tuple(R.shape) != (3, 3) or tuple(t.shape) != (3,):
        raise PoseError(f"{where}: R must be [3, 3] and t [3], got {tuple(R.shape)} and {tuple(t.shape)}")
    if not (torch.isfinite(R).all() and torch.isfinite(t).all()):
        raise PoseError(f"{where}: the head pose contains NaN or inf")
    eye = R.double() @ R.double().T
    if not torch.allclose(eye, torch.eye(3, dtype=torch.float64, device=R.device), atol=1e-3):
        raise PoseError(f"{where}: R is not a rotation (R R^T differs from I by {float((eye - torch.eye(3, dtype=eye.dtype, device=eye.device)).abs().max()):.3g})")


def check_poses(R: torch.Tensor, t: torch.Tensor, where: str = "pose") -> None:
    """``check_pose`` for B poses at once (R [B, 3, 3], t [B, 3]) with one wait for the GPU; names the first bad one."""
    if R.dim() != 3 or tuple(R.shape[1:]) != (3, 3) or tuple(t.shape) != (R.shape[0], 3):
        raise PoseError(f"{where}: R must be [B, 3, 3] and t [B, 3], got {tuple(R.shape)} and {tuple(t.shape)}")
    eye = torch.eye(3, dtype=torch.float64, device=R.device)
    finite = torch.isfinite(R).flatten(1).all(1) & torch.isfinite(t).all(1)                  # [B]
    off = (R.double() @ R.double().transpose(1, 2) - eye).abs().flatten(1).amax(1)          # [B]
    bad = ~finite | ~(off <= 1e-3)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        check_pose(R[i], t[i], where=f"{where} {i}")


def ray_box(origins: torch.Tensor, directions: torch.Tensor, box_min: torch.Tensor, box_max: torch.Tensor,
            eps: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test: (near [R], far [R], hit [R]) of rays [R, 3] against the box; near >= 0 (the camera may be inside)."""
    safe = torch.where(directions.abs() < eps, torch.full_like(directions, eps), directions)
    inv = 1.0 / safe
    t0 = (box_min - origins) * inv
    t1 = (box_max - origins) * inv
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    hit = far > near
    return near, torch.where(hit, far, near), hit


def head_rays(camera: Camera, R: torch.Tensor, t: torch.Tensor, height: int, width: int,
              box_min: torch.Tensor, box_max: torch.Tensor, *, pixels: torch.Tensor | None = None) -> HeadRays:
    """Rays of the pixels of one frame (all, or the flat indices ``pixels`` [R]) in the head frame."""
    R = torch.as_tensor(R, dtype=torch.float32, device=camera.device)
    t = torch.as_tensor(t, dtype=torch.float32, device=camera.device)
    check_pose(R, t)
    o, d = camera.pixel_rays(height, width)                       # world, [H, W, 3]
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    if pixels is not None:
        o, d = o[pixels], d[pixels]
    return pose_rays(o, d, R, t, box_min, box_max)


def pose_rays(origins: torch.Tensor, directions: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
              box_min: torch.Tensor, box_max: torch.Tensor) -> HeadRays:
    """World rays [N, 3] -> head-frame rays under one pose (R [3, 3], t [3]) or one pose per ray ([N, 3, 3], [N, 3]).

    Poses are not checked here (``check_pose`` them where they enter, once per frame).
    """
    if R.dim() == 2:
        o_m = (origins - t) @ R                                   # R^T (o - t), row vectors
        d_m = directions @ R                                      # R^T d (unit length kept)
    else:
        o_m = torch.einsum("ni,nij->nj", origins - t, R)
        d_m = torch.einsum("ni,nij->nj", directions, R)
    near, far, hit = ray_box(o_m, d_m, box_min.to(o_m), box_max.to(o_m))
    return HeadRays(origins=o_m, directions=d_m, near=near, far=far, hit=hit)


def frame_rays(origins: torch.Tensor, directions: torch.Tensor, R: torch.Tensor, t: torch.Tensor,
               box_min: torch.Tensor, box_max: torch.Tensor) -> HeadRays:
    """The same world rays [P, 3] under B poses (R [B, 3, 3], t [B, 3]) -> head-frame rays [B P], frame-major.

    What ``pose_rays`` gives for the rays repeated B times with one pose per ray, as one batched matrix product per
    frame instead of a [B P, 3, 3] gather of the poses.
    """
    o_m = torch.bmm(origins[None] - t[:, None], R).reshape(-1, 3)            # R^T (o - t), row vectors
    d_m = torch.bmm(directions[None].expand(R.shape[0], -1, -1), R).reshape(-1, 3)
    near, far, hit = ray_box(o_m, d_m, box_min.to(o_m), box_max.to(o_m))
    return HeadRays(origins=o_m, directions=d_m, near=near, far=far, hit=hit)


def sample_along_rays(near: torch.Tensor, far: torch.Tensor, n_samples: int, *, stratified: bool = False,
                      generator: torch.Generator | None = None, jitter: torch.Tensor | None = None) -> torch.Tensor:
    """Sample depths s [R, S] in [near, far]: bin centres, or one uniform sample per bin when ``stratified``.

    jitter [R, S] in [0, 1): the stratified samples' positions within their bins, given (instead of drawn from
    ``generator``; the CUDA-graph training step draws its own, ``counter_rng.py``).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    edges = torch.linspace(0.0, 1.0, n_samples + 1, device=near.device, dtype=near.dtype)
    if jitter is not None:
        if tuple(jitter.shape) != (near.shape[0], n_samples):
            raise ValueError(f"jitter must be [R, S] = [{near.shape[0]}, {n_samples}], got {tuple(jitter.shape)}")
        u = jitter.to(near.dtype)
    elif stratified:
        u = torch.rand(near.shape[0], n_samples, generator=generator, device=near.device, dtype=near.dtype)
    else:
        u = torch.full((near.shape[0], n_samples), 0.5, device=near.device, dtype=near.dtype)
    frac = edges[:-1] + u * (edges[1:] - edges[:-1])              # [R, S] in [0, 1)
    return near[:, None] + frac * (far - near)[:, None]
