"""A trained head NeRF and how to render frames with it (Sec. III-C).

:class:`HeadNerf` bundles what rendering needs: the expression-conditioned field, its occupancy grid, the
camera, the background image estimated from the training video, and the emotions / code kind the field was
trained with. A frame is rendered in three steps:

1. rays of every pixel in the head frame under the frame's pose (R, t), optionally turned by a yaw for novel
   views (x_world = R R_yaw x_model + t);
2. ray marching with empty-space skipping (``march.py``; eq. 11-12) on black, giving the head's colour
   premultiplied by its opacity and the opacity itself;
3. compositing: head over the source frame's segmented torso over the background (``compositing.py``), in torch
   ops on the model's device for a batch of frames at once (NumPy frame by frame: ``compositing="cpu"``).

Files: ``nerf.safetensors`` (field, grid density, background) and ``nerf.json`` (everything else).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..face.camera import Camera
from ..files import load_safetensors_checked, read_json_file, save_safetensors_atomic, write_json_atomic
from .compositing import composite_frame, composite_frames_torch, to_uint8
from .field import ExpressionField, FieldInputError
from .march import march_rays
from .occupancy import OccupancyGrid
from .rays import check_poses, frame_rays

NERF_WEIGHTS = "nerf.safetensors"
NERF_META = "nerf.json"


RENDER_MARCH: dict[str, Any] = {"precision": "fused"}
"""How :class:`HeadNerf` marches by default: on a GPU each MLP in one fused fp16 Triton kernel (``mlp_triton.py``;
on an H200, 195 finished 512 px frames/s against 108 with fp16 autocast and 82 in float32, within one uint8 level
of float32: benchmarks/video_speed.py); a CPU computes in float32. ``march={"precision": "fp16"}`` is the autocast
path, ``{"precision": "fp32"}`` renders in float32 anywhere."""


class NerfModelError(ValueError):
    """A NeRF folder or rendering request that cannot be used (names the file or argument)."""


def yaw_rotation(degrees: float) -> torch.Tensor:
    """[3, 3] rotation about the head's vertical (y) axis; positive turns the face to the viewer's left."""
    a = math.radians(float(degrees))
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float32)


def _float_tensor(x: Any, device: torch.device) -> torch.Tensor:
    """A float32 tensor on ``device`` from a tensor (any device) or anything numpy reads."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, np.float32)).to(device)


@dataclass
class HeadNerf:
    """A trained head NeRF of one person.

    background [H, W, 3] float in [0, 1] at the training resolution; camera for H x W frames;
    code_kind 'alpha' (alpha^, 10-d) or 'tag_alpha' ([z; alpha~], the no_refinement variant).
    """

    field: ExpressionField
    grid: OccupancyGrid
    background: torch.Tensor
    camera: Camera
    emotions: tuple[str, ...]
    code_kind: str = "alpha"
    n_samples: int = 64
    meta: dict[str, Any] = dc_field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return int(self.background.shape[0])

    @property
    def code_dim(self) -> int:
        return int(self.field.expr_dim)

    @property
    def device(self) -> torch.device:
        return self.background.device

    def to(self, device: torch.device | str) -> "HeadNerf":
        self.field.to(device)
        self.grid.to(device)
        self.background = self.background.to(device)
        self.camera = self.camera.to(device)
        return self

    def check_codes(self, codes: Any, n_frames: int | None = None, where: str = "codes") -> torch.Tensor:
        """Codes [T, m] (or one [m]) as a float tensor on the model's device; clear errors otherwise."""
        c = _float_tensor(codes, self.device)
        c = c[None] if c.dim() == 1 else c
        if c.dim() != 2 or c.shape[1] != self.code_dim:
            raise FieldInputError(f"{where}: expression codes must be [T, {self.code_dim}] for this NeRF "
                                  f"(code kind {self.code_kind!r}), got {tuple(c.shape)}")
        if n_frames is not None and c.shape[0] != n_frames:
            raise NerfModelError(f"{where}: {c.shape[0]} codes for {n_frames} frames")
        if not torch.isfinite(c).all():
            raise FieldInputError(f"{where}: expression codes contain NaN or inf")
        return c

    @torch.no_grad()
    def render_heads(self, codes: Any, R: Any, t: Any, *, yaw: Any = 0.0, min_transmittance: float = 1e-4,
                     march: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """B frames' heads on black in one pass: (rgb [B, H, W, 3] premultiplied by opacity, opacity [B, H, W]).

        codes [B, m]; R [B, 3, 3], t [B, 3] head poses; ``yaw`` degrees (one, or [B]) turns the head for novel views.
        ``march``: options of :func:`march_rays` over ``RENDER_MARCH`` (step, skip_empty, precision, stats).
        """
        c = self.check_codes(codes)
        b = c.shape[0]
        R = _float_tensor(R, self.device).reshape(b, 3, 3)
        t = _float_tensor(t, self.device).reshape(b, 3)
        check_poses(R, t, where="render pose")
        yaws = np.broadcast_to(np.asarray(yaw, np.float32), (b,))
        if yaws.any():
            R = R @ torch.stack([yaw_rotation(float(y)) for y in yaws]).to(self.device)
        size = self.image_size
        o, d = self.camera.pixel_rays(size, size)                                     # world rays [H, W, 3]
        rays = frame_rays(o.reshape(-1, 3), d.reshape(-1, 3), R, t, self.field.box_min, self.field.box_max)
        per_ray = torch.arange(b, device=self.device).repeat_interleave(size * size)  # frame of each ray
        out = march_rays(self.field, rays, c[per_ray], torch.zeros(3, device=self.device), n_samples=self.n_samples,
                         grid=self.grid, min_transmittance=min_transmittance, **{**RENDER_MARCH, **(march or {})})
        return out.rgb.view(b, size, size, 3), out.opacity.view(b, size, size)

    def render_head(self, code: Any, R: Any, t: Any, *, yaw: float = 0.0, min_transmittance: float = 1e-4
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's head on black: (rgb [H, W, 3] premultiplied by opacity, opacity [H, W]), float on device."""
        rgb, op = self.render_heads(self.check_codes(code)[:1], _float_tensor(R, self.device)[None],
                                    _float_tensor(t, self.device)[None], yaw=yaw, min_transmittance=min_transmittance)
        return rgb[0], op[0]

    def _source_layers(self, frames: Any, parsing: Any) -> tuple[Any, Any]:
        """Source frames [B, S, S, 3] and parsing [B, S, S] at the model's resolution (resized on the host if so)."""
        size = self.image_size
        if frames.shape[1] != size:
            from .frames import resize_frames
            as_np = (lambda a: a.cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a))
            frames, parsing = resize_frames(as_np(frames), as_np(parsing), size)
        return frames, parsing

    def compose(self, head_rgb: torch.Tensor, opacity: torch.Tensor, frame: np.ndarray | None,
                parsing: np.ndarray | None) -> np.ndarray:
        """Head over the frame's segmented torso over the background -> uint8 [H, W, 3], in NumPy on the host.

        frame / parsing None: the head over the background alone (no torso). The reference for
        :meth:`compose_batch`, and the renderer's "cpu" compositing.
        """
        size = self.image_size
        bg = self.background.cpu().numpy()
        if frame is None or parsing is None:
            frame = np.zeros((size, size, 3), np.uint8)
            parsing = np.zeros((size, size), np.uint8)
        if frame.shape[0] != size:
            frame, parsing = (a[0] for a in self._source_layers(frame[None], parsing[None]))
        return to_uint8(composite_frame(head_rgb.cpu().numpy(), opacity.cpu().numpy(), frame, parsing, bg))

    def compose_batch(self, head_rgb: torch.Tensor, opacity: torch.Tensor, frames: Any = None,
                      parsing: Any = None) -> torch.Tensor:
        """B heads over their frames' segmented torso over the background, on the model's device -> uint8
        [B, H, W, 3] there (:func:`composite_frames_torch`; the same pixels as :meth:`compose`).

        frames uint8 [B, S, S, 3] and parsing [B, S, S] (NumPy or tensors, any device), or None: no torso.
        """
        if frames is None or parsing is None:
            frames = parsing = None
        else:
            frames, parsing = self._source_layers(frames, parsing)
            frames, parsing = (torch.as_tensor(a).to(self.device, non_blocking=True) for a in (frames, parsing))
        return composite_frames_torch(head_rgb, opacity, frames, parsing, self.background)

    def default_batch(self) -> int:
        """Frames ray-marched together by default: about four million rays per pass on a GPU (16 frames of 512 px:
        on an H200 4 frames per pass ran 20 % slower), a million on a CPU."""
        rays = 1 << 22 if self.device.type == "cuda" else 1 << 20
        return max(1, rays // (self.image_size ** 2))

    def iter_frames(self, codes: Any, R: Any, t: Any, frames: np.ndarray | None = None,
                    parsing: np.ndarray | None = None, *, yaw: Sequence[float] | float = 0.0, batch: int | None = None,
                    compositing: str = "device", march: dict[str, Any] | None = None) -> Iterator[np.ndarray]:
        """Composited frames as uint8 [b, H, W, 3] host arrays, ``batch`` frames at a time, in order (arguments as
        :meth:`render_frames`). Each batch is rendered and composited on the model's device and copied to the
        host once ('device'), or composited frame by frame in NumPy ('cpu', the first version)."""
        if compositing not in ("device", "cpu"):
            raise NerfModelError(f"compositing must be 'device' or 'cpu', got {compositing!r}")
        c = self.check_codes(codes)
        n = c.shape[0]
        batch = int(batch or self.default_batch())
        if batch < 1:
            raise NerfModelError(f"batch must be >= 1 frame, got {batch}")
        R, t = _float_tensor(R, self.device), _float_tensor(t, self.device)
        if tuple(R.shape) != (n, 3, 3) or tuple(t.shape) != (n, 3):
            raise NerfModelError(f"poses must be R [{n}, 3, 3] and t [{n}, 3] for {n} codes, "
                                 f"got {tuple(R.shape)} and {tuple(t.shape)}")
        if frames is not None and (parsing is None or len(frames) != n or len(parsing) != n):
            raise NerfModelError(f"source frames and parsing must both have {n} entries")
        yaws = np.broadcast_to(np.asarray(yaw, np.float32), (n,))
        for s in range(0, n, batch):
            e = min(n, s + batch)
            rgb, op = self.render_heads(c[s:e], R[s:e], t[s:e], yaw=yaws[s:e], march=march)
            src = (None, None) if frames is None else (frames[s:e], parsing[s:e])
            if compositing == "device":
                yield self.compose_batch(rgb, op, *src).cpu().numpy()          # one copy to the host per batch
            else:
                yield np.stack([self.compose(rgb[i], op[i], None if frames is None else src[0][i],
                                             None if frames is None else src[1][i]) for i in range(e - s)])

    def render_frames(self, codes: Any, R: Any, t: Any, frames: np.ndarray | None = None,
                      parsing: np.ndarray | None = None, *, yaw: Sequence[float] | float = 0.0,
                      progress: bool = False, desc: str = "rendering", batch: int | None = None,
                      compositing: str = "device", march: dict[str, Any] | None = None) -> np.ndarray:
        """T composited frames uint8 [T, H, W, 3].

        codes [T, m]; R [T, 3, 3]; t [T, 3]; frames uint8 [T, S, S, 3] and parsing [T, S, S] of the source video
        (torso layer; None: no torso); yaw: degrees, one value or one per frame; ``batch`` frames are ray-marched
        and composited together (default :meth:`default_batch`). compositing: 'device' (torch ops where
        the model lives, one copy to the host per batch) or 'cpu' (NumPy, frame by frame: the first version, kept
        for comparison); both give the same pixels up to float rounding (within one uint8 level).
        Streaming into a video without holding every frame: :meth:`iter_frames`.
        """
        from tqdm.auto import tqdm

        n = self.check_codes(codes).shape[0]
        out = np.empty((n, self.image_size, self.image_size, 3), np.uint8)
        bar = tqdm(total=n, desc=desc, unit="frame", disable=not progress)
        s = 0
        for chunk in self.iter_frames(codes, R, t, frames, parsing, yaw=yaw, batch=batch, compositing=compositing,
                                      march=march):
            out[s:s + len(chunk)] = chunk
            s += len(chunk)
            bar.update(len(chunk))
        bar.close()
        return out


# ---------------------------------------------------------------- files
def save_nerf(nerf: HeadNerf, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write nerf.safetensors and nerf.json into ``out_dir`` (atomically); returns the folder."""
    out_dir = Path(out_dir)
    state = {f"field.{k}": v for k, v in nerf.field.state_dict().items()}
    state["grid.density"] = nerf.grid.density
    state["background"] = nerf.background
    save_safetensors_atomic(out_dir / NERF_WEIGHTS, state)
    f = nerf.field
    meta = dict(nerf.meta)
    meta.update({
        "field": {"expr_dim": f.expr_dim, "hash_levels": f.encoder.n_levels, "hash_features": f.encoder.n_features,
                  "hash_log2_size": f.encoder.log2_table_size, "max_resolution": f.encoder.max_resolution,
                  "hidden": f.density_mlp[0].out_features, "geo_features": f.geo_features},
        "grid": {"resolution": nerf.grid.resolution, "decay": nerf.grid.decay, "threshold": nerf.grid.threshold},
        "camera": {"intrinsics": nerf.camera.intrinsics.cpu().tolist(),
                   "world_to_camera": nerf.camera.world_to_camera.cpu().tolist()},
        "backend": f.encoder.requested_backend, "emotions": list(nerf.emotions), "code_kind": nerf.code_kind, "n_samples": nerf.n_samples,
        "image_size": nerf.image_size, **(extra or {})})
    write_json_atomic(out_dir / NERF_META, meta)
    return out_dir


def load_nerf(path: str | Path, device: torch.device | str = "cpu", *, backend: str | None = None) -> HeadNerf:
    """Read a folder written by :func:`save_nerf` (or by ``emohead train-nerf``).

    backend: hash-grid implementation to render with (default: the one it was trained with; falls back to
    'torch' with a warning where unavailable).
    """
    path = Path(path)
    meta_path, weights_path = path / NERF_META, path / NERF_WEIGHTS
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise NerfModelError(f"{p} does not exist: {path} is not a trained NeRF folder "
                                 f"(run `emohead train-nerf --out {path}` first)")
    try:
        meta = read_json_file(meta_path, "NeRF description")
        state = load_safetensors_checked(weights_path, "NeRF", allow_inf=("grid.density",))   # unseen cells: inf
    except ValueError as err:
        raise NerfModelError(str(err)) from None
    try:
        nerf = _build_nerf(meta, state, backend)
    except (KeyError, RuntimeError, TypeError) as err:        # missing keys, tensors of the wrong shape
        raise NerfModelError(f"{weights_path}: does not match {meta_path} ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:300]}); re-train it or restore both files together") from None
    return nerf.to(device)


def _build_nerf(meta: dict, state: dict, backend: str | None) -> "HeadNerf":
    """A HeadNerf from a description and its tensors (KeyError / RuntimeError when they do not fit)."""
    f = meta["field"]
    field = ExpressionField(state["field.box_min"], state["field.box_max"], expr_dim=f["expr_dim"],
                            hash_levels=f["hash_levels"], hash_features=f["hash_features"],
                            hash_log2_size=f["hash_log2_size"], max_resolution=f["max_resolution"],
                            hidden=f["hidden"], geo_features=f["geo_features"],
                            backend=backend or meta.get("backend", "torch"))
    field.load_state_dict({k[len("field."):]: v for k, v in state.items() if k.startswith("field.")})
    g = meta["grid"]
    grid = OccupancyGrid(field.box_min, field.box_max, g["resolution"], decay=g["decay"], threshold=g["threshold"])
    grid.density.copy_(state["grid.density"])
    cam = Camera(torch.tensor(meta["camera"]["intrinsics"]), torch.tensor(meta["camera"]["world_to_camera"]))
    nerf = HeadNerf(field=field.eval(), grid=grid, background=state["background"], camera=cam,
                    emotions=tuple(meta["emotions"]), code_kind=meta["code_kind"], n_samples=int(meta["n_samples"]),
                    meta=meta)
    return nerf
