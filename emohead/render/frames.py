"""The NeRF's training data: one person's frames, head masks, poses, expression codes and camera (Sec. III-C).

Like AD-NeRF and RAD-NeRF, the head NeRF is trained on one person's video. Each frame gives

* the image with everything but the head blacked out (the head NeRF renders on black with its opacity,
  and is later composited over the torso and the background, ``compositing.py``);
* the rigid head pose (R, t) and the camera, which place the rays in the head frame (``rays.py``);
* the expression code the field is conditioned on: the frame's 3DMM alpha (eq. 9's alpha^ at training
  time), or [z; alpha] for the ``no_refinement`` variant, whose renderer sees the tag z beside alpha~;
* the clip's emotion tag (for L_cord) and the person's identity beta_id (for L_shape).

The background image is estimated from the video as in AD-NeRF: the per-pixel median of the frames
where that pixel is labelled background.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..emotion.editing import tag_code
from ..face.camera import Camera
from ..face.morphable import PARSING_LABELS
from .rays import PoseError, check_pose

log = logging.getLogger(__name__)

HEAD_LABELS: tuple[int, ...] = tuple(PARSING_LABELS[k] for k in ("skin", "brows", "eyes", "lips", "mouth", "hair"))
"""Parsing labels the head NeRF renders (everything but torso and background)."""


class NerfDataError(ValueError):
    """Training data the NeRF cannot use (names the dataset, clip or setting)."""


@dataclass
class NerfFrames:
    """N frames of one person at H x W.

    images [N, H, W, 3] uint8; parsing [N, H, W] uint8 labels; R [N, 3, 3], t [N, 3] head poses;
    codes [N, m] expression codes; tags [N] emotion index into ``emotions``; beta_id [S];
    clip_ids / frame_index: where each frame came from.
    """

    images: torch.Tensor
    parsing: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    codes: torch.Tensor
    tags: torch.Tensor
    beta_id: torch.Tensor
    camera: Camera
    emotions: tuple[str, ...]
    clip_ids: list[str]
    frame_index: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    @property
    def code_dim(self) -> int:
        return int(self.codes.shape[1])

    def to(self, device: torch.device | str) -> "NerfFrames":
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), (torch.Tensor, Camera))}
        return replace(self, **moved)

    def head_mask(self, idx: torch.Tensor | slice | int = slice(None)) -> torch.Tensor:
        """[.., H, W] bool: pixels the head NeRF must reproduce."""
        p = self.parsing[idx]
        return torch.isin(p, torch.tensor(HEAD_LABELS, dtype=p.dtype, device=p.device))

    def head_targets(self, idx: torch.Tensor | slice | int = slice(None)) -> torch.Tensor:
        """[.., H, W, 3] float in [0, 1]: the frames with all but the head set to black."""
        img = self.images[idx].float() / 255.0
        return img * self.head_mask(idx)[..., None]


def scaled_camera(camera: Camera, scale: float) -> Camera:
    """The same camera for an image resized by ``scale`` (pixel centres at integers)."""
    k = camera.intrinsics.clone()
    k[0, 0] *= scale
    k[1, 1] *= scale
    k[0, 2] = (k[0, 2] + 0.5) * scale - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * scale - 0.5
    return Camera(k, camera.world_to_camera.clone())


def resize_frames(images: np.ndarray, parsing: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-resize images uint8 [T, S, S, 3] and nearest-resize parsing [T, S, S] to ``size``."""
    if images.shape[1] == size:
        return images, parsing
    if size % images.shape[1] == 0:     # an integer upscale: area and nearest both repeat each pixel k x k times
        k = size // images.shape[1]
        return (np.repeat(np.repeat(images, k, axis=1), k, axis=2),
                np.repeat(np.repeat(parsing, k, axis=1), k, axis=2))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="area").round().clamp(0, 255).to(torch.uint8)
    p = torch.from_numpy(parsing)[:, None].float()
    p = F.interpolate(p, size=(size, size), mode="nearest").to(torch.uint8)[:, 0]
    return x.permute(0, 2, 3, 1).numpy(), p.numpy()


def frame_landmarks(ds: Any, frames: NerfFrames) -> np.ndarray:
    """The dataset's 68 landmarks [N, 68, 2] of each of ``frames``, in its pixels (``frames.size``, centres at
    integers)."""
    out = np.empty((len(frames), 68, 2), np.float32)
    per_clip: dict[str, np.ndarray] = {}
    for k, (cid, i) in enumerate(zip(frames.clip_ids, frames.frame_index)):
        if cid not in per_clip:
            rec = ds.clip(cid)
            per_clip[cid] = (ds.arrays(rec, ["landmarks"])["landmarks"] + 0.5) * (frames.size / rec.image_size) - 0.5
        out[k] = per_clip[cid][int(i)]
    return out


def clip_camera(arrays: dict[str, np.ndarray], where: str) -> Camera:
    """The clip's camera from its intrinsics and (optional) world_to_camera arrays."""
    k = torch.as_tensor(np.asarray(arrays["intrinsics"], np.float32))
    if "world_to_camera" in arrays:
        w2c = torch.as_tensor(np.asarray(arrays["world_to_camera"], np.float32))
    else:   # real data: camera at the origin looking down +z (OpenCV axes), poses relative to it
        w2c = torch.eye(4)
    if not (torch.isfinite(k).all() and torch.isfinite(w2c).all()):
        raise NerfDataError(f"{where}: the camera (intrinsics / world_to_camera) contains NaN or inf")
    return Camera(k, w2c)


def training_codes(alpha: np.ndarray, tag: int, code: str) -> np.ndarray:
    """The codes a NeRF trains on: [T, m] alpha, or [T, m + 1] [z; alpha] for the no_refinement variant ('tag_alpha')."""
    alpha = np.asarray(alpha, np.float32)
    if code == "alpha":
        return alpha
    if code == "tag_alpha":
        return tag_code(float(tag), alpha)
    raise NerfDataError(f"expression code kind must be 'alpha' or 'tag_alpha', got {code!r}")


def load_nerf_frames(ds: Any, speaker: str, split: str, *, image_size: int | None = None, code: str = "alpha",
                     emotions: Sequence[str] | None = None, max_frames: int = 0,
                     clip_ids: Sequence[str] | None = None, alpha_source: Callable[[Any, str], np.ndarray] | None = None,
                     progress: bool = False) -> NerfFrames:
    """Frames of ``speaker`` in ``split`` (or the given ``clip_ids``) of a ProcessedDataset.

    image_size: resize to this (<= the stored size); max_frames > 0 keeps that many, evenly spaced.
    Poses are checked here, so a NaN or a non-rotation names its clip and frame. ``alpha_source(ds, clip_id)``
    -> [T, m] replaces the stored alpha (real data: the analysis written by ``emohead extract``).
    """
    from tqdm.auto import tqdm

    records = [ds.clip(c) for c in clip_ids] if clip_ids is not None else ds.clips(split=split, speaker=speaker)
    if not records:
        raise NerfDataError(f"{ds.root}: no {split!r} clips of speaker {speaker!r} to train the NeRF on "
                            f"(speakers: {list(ds.speakers)})")
    emotions = tuple(emotions or ds.emotions)
    sizes = {r.image_size for r in records}
    if len(sizes) != 1:
        by_size = {s: [r.id for r in records if r.image_size == s] for s in sorted(sizes)}
        listed = "; ".join(f"{s} px: {ids[:3]}{' ...' if len(ids) > 3 else ''}" for s, ids in by_size.items())
        raise NerfDataError(f"{ds.root}: clips of {speaker!r} have several frame sizes (one NeRF needs one): {listed}")
    stored = sizes.pop()
    size = int(image_size or stored)
    if size > stored:
        raise NerfDataError(f"nerf.image_size={size} is larger than the frames of {speaker!r} ({stored} px)")
    total = sum(r.n_frames for r in records)
    keep_all = max_frames <= 0 or max_frames >= total
    chosen = set(range(total)) if keep_all else set(np.linspace(0, total - 1, max_frames).round().astype(int))
    parts: dict[str, list] = {k: [] for k in ("images", "parsing", "R", "t", "codes", "tags", "clip", "frame")}
    camera = None
    offset = 0
    for rec in tqdm(records, desc=f"loading {speaker} frames", unit="clip", disable=not progress):
        where = f"{ds.root} clip {rec.id!r}"
        take = np.array([i for i in range(rec.n_frames) if offset + i in chosen], dtype=int)
        offset += rec.n_frames
        if len(take) == 0:
            continue
        if rec.emotion not in emotions:
            raise NerfDataError(f"{where}: emotion {rec.emotion!r} is not one of the model's {list(emotions)}")
        arrays = ds.arrays(rec, ["alpha", "pose_R", "pose_t", "parsing", "intrinsics"]
                           + (["world_to_camera"] if _has(ds, rec, "world_to_camera") else []))
        cam = clip_camera(arrays, where)
        if camera is None:
            camera = cam
        elif not (torch.allclose(cam.intrinsics, camera.intrinsics) and
                  torch.allclose(cam.world_to_camera, camera.world_to_camera)):
            raise NerfDataError(f"{where}: its camera differs from the other clips'; one NeRF needs one camera")
        for i in take:
            try:
                check_pose(torch.as_tensor(arrays["pose_R"][i]), torch.as_tensor(arrays["pose_t"][i]),
                           where=f"{where} frame {i}")
            except PoseError as err:
                raise NerfDataError(str(err)) from None
        images, parsing = resize_frames(ds.frames(rec)[take], arrays["parsing"][take], size)
        parts["images"].append(images)
        parts["parsing"].append(parsing)
        parts["R"].append(arrays["pose_R"][take])
        parts["t"].append(arrays["pose_t"][take])
        alpha = arrays["alpha"] if alpha_source is None else np.asarray(alpha_source(ds, rec.id), np.float32)
        if len(alpha) != rec.n_frames:
            raise NerfDataError(f"{where}: the expression source gave {len(alpha)} frames, the clip has {rec.n_frames}")
        if not np.isfinite(alpha[take]).all():
            first = int(take[~np.isfinite(alpha[take]).all(axis=1)][0])
            raise NerfDataError(f"{where}: the expression parameters (alpha) contain NaN or inf "
                                f"(first at frame {first})")
        parts["codes"].append(training_codes(alpha[take], emotions.index(rec.emotion), code))
        parts["tags"].append(np.full(len(take), emotions.index(rec.emotion)))
        parts["clip"] += [rec.id] * len(take)
        parts["frame"].append(take)
    assert camera is not None
    cat = {k: np.concatenate(v) for k, v in parts.items() if k != "clip"}
    return NerfFrames(images=torch.from_numpy(cat["images"]), parsing=torch.from_numpy(cat["parsing"].astype(np.uint8)),
                      R=torch.from_numpy(cat["R"].astype(np.float32)), t=torch.from_numpy(cat["t"].astype(np.float32)),
                      codes=torch.from_numpy(cat["codes"].astype(np.float32)),
                      tags=torch.from_numpy(cat["tags"].astype(np.int64)),
                      beta_id=torch.as_tensor(np.asarray(ds.beta_id(speaker), np.float32)),
                      camera=scaled_camera(camera, size / stored), emotions=emotions, clip_ids=parts["clip"],
                      frame_index=cat["frame"])


def _has(ds: Any, rec: Any, name: str) -> bool:
    with np.load(ds.path(rec, "arrays")) as npz:
        return name in npz.files


def estimate_background(images: torch.Tensor, parsing: torch.Tensor, *, max_frames: int = 200) -> torch.Tensor:
    """AD-NeRF's background: per-pixel median over frames where the pixel is background -> float [H, W, 3].

    images uint8 [N, H, W, 3], parsing [N, H, W]. Pixels never seen as background take the median
    colour of all background pixels.
    """
    step = max(1, len(images) // max_frames)
    img = images[::step].float() / 255.0
    bg = parsing[::step] == PARSING_LABELS["background"]
    if not bg.any():
        raise NerfDataError("no pixel is labelled background in any frame: cannot estimate the background")
    vals = torch.where(bg[..., None], img, torch.full_like(img, float("nan")))
    med = vals.nanmedian(dim=0).values                                         # [H, W, 3]
    fill = img[bg].median(dim=0).values
    return torch.where(torch.isnan(med), fill.expand_as(med), med)


def head_box(model: Any = None, margin: float = 1.15) -> tuple[torch.Tensor, torch.Tensor]:
    """(box_min [3], box_max [3]) in head coordinates: the face model's bounds over extreme expressions and identities x margin.

    model: a MorphableModel (default: the procedural model of the synthetic world).
    """
    from ..face.procedural import build_procedural_model

    model = model or build_procedural_model()
    base = np.asarray(model.mean, np.float32)                                   # [N, 3]
    pts = [base]
    for basis in (np.asarray(model.expression_basis, np.float32), np.asarray(model.shape_basis, np.float32)):
        for k in range(basis.shape[-1]):                                        # [N, 3, K]
            for s in (-3.0, 3.0):
                pts.append(base + basis[..., k] * s)
    allp = np.concatenate(pts)
    lo, hi = allp.min(0), allp.max(0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2 * margin
    return torch.as_tensor(centre - half), torch.as_tensor(centre + half)
