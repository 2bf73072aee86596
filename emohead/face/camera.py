"""Pinhole camera and head pose conventions shared by the rasterizer and the NeRF.

World coordinates are the model's: y up, +z toward the default camera, metres-free units
(1 unit ~ 10 cm). A head pose (R [3, 3], t [3]) maps model points to world points:
``x_world = R x_model + t``.

Camera: a pinhole with **OpenCV axes** -- x right, y down, z forward (along the optical axis).
``world_to_camera`` ([4, 4]) maps homogeneous world points to camera points; ``intrinsics``
K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] maps a camera point (X, Y, Z) to the pixel
``(u, v) = (fx X / Z + cx, fy Y / Z + cy)``. Pixel coordinates: u right, v down, and the **centre** of
pixel (row i, column j) is at (u, v) = (j, i) (OpenCV); the image spans [-0.5, W - 0.5].
A ray through pixel (i, j): origin = camera centre, direction = R_cw K^-1 [j, i, 1]^T
(:meth:`Camera.pixel_rays`).

:func:`default_camera` frames the head in the upper ~60 % of a square image with the shoulders
below: the camera sits on the +z axis looking toward -z (world), slightly below the head centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DEFAULT_DISTANCE = 10.5
DEFAULT_FOCAL_FACTOR = 2.70      # focal length in units of the image size (~22 deg field of view)
DEFAULT_LOOK_Y = -0.65           # world height of the image centre at the head's depth


@dataclass(frozen=True)
class Camera:
    """intrinsics [3, 3] and world_to_camera [4, 4] (float32 tensors on one device)."""

    intrinsics: torch.Tensor
    world_to_camera: torch.Tensor

    def __post_init__(self) -> None:
        if tuple(self.intrinsics.shape) != (3, 3):
            raise ValueError(f"intrinsics must be [3, 3], got {tuple(self.intrinsics.shape)}")
        if tuple(self.world_to_camera.shape) != (4, 4):
            raise ValueError(f"world_to_camera must be [4, 4], got {tuple(self.world_to_camera.shape)}")

    @property
    def device(self) -> torch.device:
        return self.intrinsics.device

    def to(self, device: torch.device | str) -> "Camera":
        return Camera(self.intrinsics.to(device), self.world_to_camera.to(device))

    @property
    def camera_to_world(self) -> torch.Tensor:
        """[4, 4] inverse of world_to_camera."""
        return torch.linalg.inv(self.world_to_camera.double()).to(self.world_to_camera.dtype)

    @property
    def position(self) -> torch.Tensor:
        """[3] camera centre in world coordinates."""
        return self.camera_to_world[:3, 3]

    def world_to_cam_points(self, points: torch.Tensor) -> torch.Tensor:
        """[..., 3] world -> [..., 3] camera coordinates (OpenCV axes)."""
        m = self.world_to_camera.to(points.dtype)
        return points @ m[:3, :3].T + m[:3, 3]

    def project(self, points: Any, *, camera_space: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Project points [..., 3] (world, or camera if camera_space) -> (pixels [..., 2], depth [...]).

        depth is the camera-space Z (distance along the optical axis).
        """
        p = torch.as_tensor(points, dtype=self.intrinsics.dtype, device=self.device)
        if p.shape[-1] != 3:
            raise ValueError(f"points must have last dimension 3, got {tuple(p.shape)}")
        pc = p if camera_space else self.world_to_cam_points(p)
        z = pc[..., 2]
        k = self.intrinsics
        zs = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
        u = k[0, 0] * pc[..., 0] / zs + k[0, 1] * pc[..., 1] / zs + k[0, 2]
        v = k[1, 1] * pc[..., 1] / zs + k[1, 2]
        return torch.stack([u, v], dim=-1), z

    def pixel_rays(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """World-space rays through pixel centres: origins [H, W, 3], unit directions [H, W, 3]."""
        dev, dt = self.device, self.intrinsics.dtype
        jj, ii = torch.meshgrid(torch.arange(width, device=dev, dtype=dt),
                                torch.arange(height, device=dev, dtype=dt), indexing="xy")
        pix = torch.stack([jj, ii, torch.ones_like(jj)], dim=-1)             # [H, W, 3]
        d_cam = pix @ torch.linalg.inv(self.intrinsics).T
        c2w = self.camera_to_world
        d = d_cam @ c2w[:3, :3].T
        d = d / d.norm(dim=-1, keepdim=True)
        o = c2w[:3, 3].expand_as(d)
        return o, d


def default_camera(image_size: int, device: torch.device | str = "cpu", *,
                   distance: float = DEFAULT_DISTANCE, focal_factor: float = DEFAULT_FOCAL_FACTOR,
                   look_y: float = DEFAULT_LOOK_Y) -> Camera:
    """Camera for a square ``image_size`` image: head in the upper ~60 %, shoulders visible below."""
    if int(image_size) <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    f = focal_factor * image_size
    c = (image_size - 1) / 2.0
    k = torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]], dtype=torch.float32, device=device)
    # world -> camera: x_c = x_w, y_c = -(y_w - look_y), z_c = distance - z_w
    w2c = torch.tensor([[1.0, 0.0, 0.0, 0.0],
                        [0.0, -1.0, 0.0, look_y],
                        [0.0, 0.0, -1.0, distance],
                        [0.0, 0.0, 0.0, 1.0]], dtype=torch.float32, device=device)
    return Camera(k, w2c)


def rotation_from_euler(yaw: Any, pitch: Any = 0.0, roll: Any = 0.0, *, degrees: bool = True) -> np.ndarray:
    """Head rotation R [..., 3, 3] = R_y(yaw) R_x(pitch) R_z(roll) in model/world axes (numpy float32).

    yaw > 0 turns the face toward the viewer's right (+x), pitch > 0 tilts the face down,
    roll > 0 tilts the head toward the subject's right shoulder (counter-clockwise in the image).
    """
    y, p, r = (np.asarray(a, dtype=np.float64) for a in (yaw, pitch, roll))
    if degrees:
        y, p, r = np.deg2rad(y), np.deg2rad(p), np.deg2rad(r)
    y, p, r = np.broadcast_arrays(y, p, r)
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    o, z = np.ones_like(y), np.zeros_like(y)
    ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1), np.stack([-sy, z, cy], -1)], -2)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1), np.stack([z, sp, cp], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    return (ry @ rx @ rz).astype(np.float32)


def field_of_view_deg(camera: Camera, image_size: int) -> float:
    """Vertical field of view of a camera for a square image, in degrees."""
    f = float(camera.intrinsics[1, 1])
    return math.degrees(2.0 * math.atan(0.5 * image_size / f))
