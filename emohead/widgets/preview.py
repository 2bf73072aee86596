"""Fast renderers behind the emotion mixer: one frame per slider move, a clip for export.

Both take the same inputs, the renderer's codes and a driving track's head poses, and give composited uint8 frames:

- :class:`NerfPreview`: the trained head NeRF of the person (Sec. III-C), alpha^ + pose -> head over the track's
  torso and the background. The real thing; interactive on a GPU.
- :class:`MeshPreview`: the synthetic world's mesh renderer (``emohead.face.render_faces``) drawing the target
  actor's face from alpha^ directly, under the frame's head pose turned by the yaw. No training needed and about
  20-40 ms per 256 px frame on a 2-core CPU, so the mixer stays interactive anywhere (``benchmarks/widget_speed.py``).

Novel views use the same convention as :meth:`emohead.render.HeadNerf.render_heads`: x_world = R R_yaw x_model + t.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

RENDERER_MODES = ("auto", "nerf", "mesh")


class Preview(Protocol):
    """What the mixer needs from a renderer."""

    name: str            # "nerf" or "mesh", shown in the mixer's status line
    image_size: int      # frames are image_size x image_size
    interactive: bool    # fast enough to re-render while a slider is dragged

    def render(self, codes: np.ndarray, R: np.ndarray, t: np.ndarray, *, yaw: Sequence[float] | float = 0.0,
               frames: np.ndarray | None = None, parsing: np.ndarray | None = None) -> np.ndarray:
        """codes [B, k]; R [B, 3, 3]; t [B, 3]; yaw degrees (one or [B]); torso layer frames [B, S, S, 3] and
        parsing [B, S, S] (used by the NeRF; ignored by the mesh) -> uint8 [B, H, W, 3]."""
        ...


@contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """torch.set_num_threads(n) inside the block, the previous setting after it (None: no change)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def yaw_matrices(yaw: Sequence[float] | float, n: int) -> np.ndarray:
    """[n, 3, 3] rotations about the head's vertical axis (degrees; one value or one per frame)."""
    from ..render.model import yaw_rotation

    yaws = np.broadcast_to(np.asarray(yaw, np.float32), (n,))
    return torch.stack([yaw_rotation(float(y)) for y in yaws]).numpy()


class MeshPreview:
    """The target actor of the synthetic world drawn from alpha^ by the z-buffer mesh renderer.

    codes [B, m] are alpha^ (eq. 9); codes [B, m + 1] of the no_refinement variant are [z; alpha~], of which the
    mesh can only show alpha~ (the tag acts through the NeRF alone). The torso follows the head like in the
    synthetic clips (shifted by 0.35 t); the background is the world's gradient.

    ``threads``: torch intra-op threads while rendering on a CPU (None: leave torch's setting). One frame is a few
    hundred small ops; with several threads each op waits for the slowest, and on a busy CPU (another process on
    the other core) a 256 px frame went from 14 ms with one thread to 0.2-1.1 s with two (measured on this machine).
    """

    name = "mesh"
    interactive = True   # a frame in tens of ms on a CPU

    def __init__(self, face_model: Any, actor: Any, image_size: int, *, device: str | torch.device = "cpu",
                 batch: int = 8, threads: int | None = 1):
        from ..face.camera import default_camera

        if int(image_size) < 8:
            raise ValueError(f"preview image_size must be at least 8 px, got {image_size}")
        self.face_model, self.actor, self.image_size = face_model, actor, int(image_size)
        self.device = torch.device(device)
        self.camera = default_camera(self.image_size, device=self.device)
        self.batch = max(1, int(batch))
        self.threads = threads
        self.m = int(face_model.expression_basis.shape[2])

    def alphas(self, codes: np.ndarray) -> np.ndarray:
        """The expression the mesh shows for codes [B, m] or [B, m + 1] -> [B, m]."""
        codes = np.atleast_2d(np.asarray(codes, np.float32))
        if codes.shape[1] == self.m + 1:       # [z; alpha~] (no_refinement variant)
            return codes[:, 1:]
        if codes.shape[1] != self.m:
            raise ValueError(f"mesh preview: codes must be [B, {self.m}] (alpha^) or [B, {self.m + 1}], "
                             f"got {codes.shape}")
        return codes

    @torch.no_grad()
    def render(self, codes: np.ndarray, R: np.ndarray, t: np.ndarray, *, yaw: Sequence[float] | float = 0.0,
               frames: np.ndarray | None = None, parsing: np.ndarray | None = None) -> np.ndarray:
        from ..face.raster import render_faces

        alpha = self.alphas(codes)
        n = len(alpha)
        R = np.asarray(R, np.float32).reshape(n, 3, 3) @ yaw_matrices(yaw, n)     # x_world = R R_yaw x + t
        t = np.asarray(t, np.float32).reshape(n, 3)
        out = np.empty((n, self.image_size, self.image_size, 3), np.uint8)
        with intra_op_threads(self.threads if self.device.type == "cpu" else None):
            for s in range(0, n, self.batch):
                e = min(n, s + self.batch)
                img = render_faces(self.face_model, alpha[s:e], self.actor.beta_id, R[s:e], t[s:e], self.camera,
                                   self.image_size, appearance=self.actor.appearance, torso_offset=0.35 * t[s:e],
                                   device=self.device).image
                out[s:e] = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        return out


class NerfPreview:
    """A trained :class:`emohead.render.HeadNerf`: codes + poses -> head over the track's torso and background."""

    name = "nerf"

    def __init__(self, nerf: Any):
        self.nerf = nerf
        self.image_size = nerf.image_size

    @property
    def interactive(self) -> bool:
        """Fast enough to re-render while a slider is dragged: on a GPU (a CPU takes about a second per frame)."""
        return self.nerf.device.type == "cuda"

    def render(self, codes: np.ndarray, R: np.ndarray, t: np.ndarray, *, yaw: Sequence[float] | float = 0.0,
               frames: np.ndarray | None = None, parsing: np.ndarray | None = None) -> np.ndarray:
        codes = np.atleast_2d(np.asarray(codes, np.float32))
        n = len(codes)
        return self.nerf.render_frames(codes, np.asarray(R, np.float32).reshape(n, 3, 3),
                                       np.asarray(t, np.float32).reshape(n, 3), frames, parsing, yaw=yaw)


def mesh_preview(synth_cfg: Any, image_size: int, *, device: str | torch.device = "cpu") -> MeshPreview:
    """The mesh preview of the world's target person (actor 0 of ``synth_cfg``'s seed), as notebook 03 renders it."""
    from ..face import build_procedural_model
    from ..synth import make_actors

    face_model = build_procedural_model()
    target = make_actors(1, synth_cfg.seed, face_model.au_names, face_model.shape_basis.shape[2])[0]
    return MeshPreview(face_model, target, image_size, device=device)


def choose_preview(mode: str, nerf_dir: str | Path | None, synth_cfg: Any, image_size: int, *, a2e: Any = None,
                   device: str | torch.device = "cpu") -> Preview:
    """The renderer for the mixer.

    mode 'nerf': the trained NeRF in ``nerf_dir`` (error if missing); 'mesh': the mesh fallback at ``image_size``;
    'auto': the NeRF when ``nerf_dir`` holds one (and it reads ``a2e``'s codes), else the mesh.
    """
    from ..render.model import NERF_META, NERF_WEIGHTS, NerfModelError, load_nerf
    from ..pipeline import check_pairing

    if mode not in RENDERER_MODES:
        raise ValueError(f"renderer mode must be one of {RENDERER_MODES}, got {mode!r}")
    have_nerf = nerf_dir is not None and all((Path(nerf_dir) / f).is_file() for f in (NERF_META, NERF_WEIGHTS))
    if mode == "nerf" or (mode == "auto" and have_nerf):
        nerf = load_nerf(nerf_dir if nerf_dir is not None else "", device)
        if a2e is not None:
            try:
                check_pairing(a2e, nerf)
            except NerfModelError as err:
                if mode == "nerf":
                    raise
                log.warning("not using the NeRF in %s: %s", nerf_dir, err)
                return mesh_preview(synth_cfg, image_size, device=device)
        log.info("emotion mixer renders with the NeRF in %s (%d px)", nerf_dir, nerf.image_size)
        return NerfPreview(nerf)
    log.info("emotion mixer renders with the mesh fallback (%d px)", image_size)
    return mesh_preview(synth_cfg, image_size, device=device)
