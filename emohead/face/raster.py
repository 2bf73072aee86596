"""A vectorised z-buffer rasterizer in torch (CPU and CUDA) and the face-scene renderer.

:func:`rasterize` enumerates, for every (frame, triangle), the pixel centres inside the triangle's
bounding box (``repeat_interleave`` over per-triangle box sizes), keeps those whose barycentrics are
all >= 0, and resolves visibility with ``scatter_reduce(amin)`` on camera depth; ties go to the
lowest triangle id, so the result is deterministic. Barycentrics are perspective-correct
(interpolated 1/z). Pixel centres are at integer coordinates (see :mod:`emohead.face.camera`).

:func:`render_faces` builds the scene -- head mesh under each frame's pose, neck/shoulders,
background -- and shades it: per-vertex colour and normal interpolated per pixel, Lambertian key +
fill light plus ambient and a little Blinn-Phong specular, the lights fixed in camera space.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emohead.face.appearance import Appearance, apply_appearance
from emohead.face.camera import Camera
from emohead.face.morphable import MorphableModel
from emohead.face.torso import TORSO_LABEL, torso_colors, torso_mesh

log = logging.getLogger(__name__)

NEAR = 1e-3
EDGE_TOLERANCE = 1e-5                      # barycentric slack so shared edges leave no pinholes
MAX_CANDIDATES = 6_000_000                 # pixel candidates per chunk (memory bound)

KEY_LIGHT = (-0.38, -0.52, -0.76)          # camera space (x right, y down, z forward), toward the light
FILL_LIGHT = (0.60, -0.05, -0.80)
AMBIENT, KEY, FILL, SPECULAR, SHININESS = 0.40, 0.62, 0.16, 0.08, 24.0
BACKGROUND_TOP = (0.82, 0.85, 0.89)
BACKGROUND_BOTTOM = (0.56, 0.61, 0.69)


@dataclass
class Fragments:
    """Rasterizer output: triangle id [B, H, W] int64 (-1 empty), barycentrics [B, H, W, 3]
    (perspective-correct), depth [B, H, W] (camera z; inf where empty)."""

    triangle_ids: torch.Tensor
    barycentrics: torch.Tensor
    depth: torch.Tensor


@dataclass
class RenderOutput:
    """image [B, H, W, 3] in [0, 1]; depth [B, H, W] camera z (inf on background);
    parsing [B, H, W] uint8 (``PARSING_LABELS``); landmarks [B, 68, 2] pixels (x right, y down);
    triangle_ids [B, H, W] int64 (-1 background; head triangles first, then torso)."""

    image: torch.Tensor
    depth: torch.Tensor
    parsing: torch.Tensor
    landmarks: torch.Tensor
    triangle_ids: torch.Tensor


def rasterize(pixels: torch.Tensor, depth: torch.Tensor, triangles: torch.Tensor, height: int, width: int, *,
              cull_backfaces: bool = True, max_candidates: int = MAX_CANDIDATES) -> Fragments:
    """Z-buffer rasterization of B frames of one triangle list.

    pixels: [B, V, 2] projected vertices (u right, v down; pixel centres at integers);
    depth: [B, V] camera z (> 0 in front); triangles: [F, 3] int64, counter-clockwise seen from
    outside in a y-up world (hence clockwise in the y-down image when front-facing).
    """
    if pixels.ndim != 3 or pixels.shape[-1] != 2:
        raise ValueError(f"pixels must be [B, V, 2], got {tuple(pixels.shape)}")
    if depth.shape != pixels.shape[:2]:
        raise ValueError(f"depth must be [B, V] = {tuple(pixels.shape[:2])}, got {tuple(depth.shape)}")
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    dev = pixels.device
    bsz = pixels.shape[0]
    tri = triangles.to(dev)
    xy = pixels[:, tri]                                   # [B, F, 3, 2]
    z = depth[:, tri]                                     # [B, F, 3]
    x0, y0 = xy[..., 0, 0], xy[..., 0, 1]
    e1x, e1y = xy[..., 1, 0] - x0, xy[..., 1, 1] - y0
    e2x, e2y = xy[..., 2, 0] - x0, xy[..., 2, 1] - y0
    area = e1x * e2y - e2x * e1y                          # [B, F] signed, y-down image
    valid = (z > NEAR).all(-1)
    valid &= (area < -1e-9) if cull_backfaces else (area.abs() > 1e-9)
    xmin = torch.ceil(xy[..., 0].amin(-1)).clamp(min=0)
    xmax = torch.floor(xy[..., 0].amax(-1)).clamp(max=width - 1)
    ymin = torch.ceil(xy[..., 1].amin(-1)).clamp(min=0)
    ymax = torch.floor(xy[..., 1].amax(-1)).clamp(max=height - 1)
    nx = (xmax - xmin + 1).clamp(min=0)
    ny = (ymax - ymin + 1).clamp(min=0)
    valid &= (nx > 0) & (ny > 0) & torch.isfinite(area)
    bi, fi = valid.nonzero(as_tuple=True)                 # candidate triangles, frame-major order
    npix = bsz * height * width
    zbuf = torch.full((npix,), float("inf"), device=dev, dtype=pixels.dtype)
    tbuf = torch.full((npix,), -1, device=dev, dtype=torch.int64)
    bbuf = torch.zeros((npix, 3), device=dev, dtype=pixels.dtype)
    if bi.numel() == 0:
        return Fragments(tbuf.view(bsz, height, width), bbuf.view(bsz, height, width, 3), zbuf.view(bsz, height, width))
    counts = (nx[bi, fi] * ny[bi, fi]).long()
    # chunks of whole frames so each pixel's z-test happens inside one chunk
    per_frame = torch.zeros(bsz, dtype=torch.int64, device=dev).index_add_(0, bi, counts).cpu()
    bounds = [0]
    acc = 0
    for b in range(bsz):
        if acc > 0 and acc + int(per_frame[b]) > max_candidates:
            bounds.append(b)
            acc = 0
        acc += int(per_frame[b])
    bounds.append(bsz)
    first = torch.searchsorted(bi, torch.tensor(bounds, device=dev))
    inv_area = 1.0 / area[bi, fi]
    # per candidate triangle: origin, edge coefficients, box (gathered once per pixel candidate)
    coef = torch.stack([x0[bi, fi], y0[bi, fi], e2y[bi, fi] * inv_area, e2x[bi, fi] * inv_area,
                        e1y[bi, fi] * inv_area, e1x[bi, fi] * inv_area,
                        xmin[bi, fi], ymin[bi, fi], nx[bi, fi]], dim=1)                      # [T, 9]
    inv_z = 1.0 / z[bi, fi]                                                                   # [T, 3]
    big = torch.iinfo(torch.int64).max
    for c in range(len(bounds) - 1):
        lo, hi = int(first[c]), int(first[c + 1])
        if hi <= lo:
            continue
        cnt = counts[lo:hi]
        total = int(cnt.sum())
        t_of = torch.repeat_interleave(torch.arange(lo, hi, device=dev), cnt, output_size=total)  # [P]
        start = torch.cumsum(cnt, 0) - cnt
        local = torch.arange(total, device=dev) - torch.repeat_interleave(start, cnt, output_size=total)
        cf = coef.index_select(0, t_of)
        local = local.to(cf.dtype)
        row = torch.div(local, cf[:, 8], rounding_mode="floor")
        px = cf[:, 6] + (local - row * cf[:, 8])
        py = cf[:, 7] + row
        dx = px - cf[:, 0]
        dy = py - cf[:, 1]
        w1 = dx * cf[:, 2] - dy * cf[:, 3]
        w2 = dy * cf[:, 5] - dx * cf[:, 4]
        w0 = 1.0 - w1 - w2
        inside = (torch.minimum(torch.minimum(w0, w1), w2) >= -EDGE_TOLERANCE).nonzero().squeeze(1)
        t_of = t_of.index_select(0, inside)
        w = torch.stack([w0.index_select(0, inside), w1.index_select(0, inside), w2.index_select(0, inside)], 1)
        w = w * inv_z.index_select(0, t_of)                 # w_i / z_i
        iz = w.sum(1)                                        # interpolated 1/z (perspective-correct)
        zc = 1.0 / iz
        pid = (bi.index_select(0, t_of) * height + py.index_select(0, inside).long()) * width \
            + px.index_select(0, inside).long()
        zbuf.scatter_reduce_(0, pid, zc, reduce="amin", include_self=True)
        win = (zc == zbuf.index_select(0, pid)).nonzero().squeeze(1)
        pid, zc, w = pid.index_select(0, win), zc.index_select(0, win), w.index_select(0, win)
        gid = fi.index_select(0, t_of.index_select(0, win))
        tmp = torch.full((npix,), big, device=dev, dtype=torch.int64)
        tmp.scatter_reduce_(0, pid, gid, reduce="amin", include_self=True)
        final = (gid == tmp.index_select(0, pid)).nonzero().squeeze(1)
        pw = pid.index_select(0, final)
        tbuf[pw] = gid.index_select(0, final)
        bbuf[pw] = w.index_select(0, final) * zc.index_select(0, final)[:, None]
    return Fragments(tbuf.view(bsz, height, width), bbuf.view(bsz, height, width, 3), zbuf.view(bsz, height, width))


# ---------------------------------------------------------------- scene
def _as_tensor(x: Any, device: torch.device, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    try:
        return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=dtype).to(device)
    except Exception as exc:  # pragma: no cover - message only
        raise ValueError(f"{name} could not be converted to a tensor: {exc}") from exc


def vertex_normals(verts: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals: verts [B, V, 3], triangles [F, 3] -> [B, V, 3]."""
    v0, v1, v2 = (verts[:, triangles[:, i]] for i in range(3))
    fn = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)        # [B, F, 3], outward for CCW
    n = torch.zeros_like(verts)
    for i in range(3):
        n.index_add_(1, triangles[:, i], fn)
    return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def background_image(image_size: int, background: Any = None, batch: int = 1,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Background [B, H, W, 3]: None -> soft vertical gradient; [3] colour; [H, W, 3] or [B, H, W, 3] image."""
    h = w = int(image_size)
    dev = torch.device(device)
    if background is None:
        t = torch.linspace(0.0, 1.0, h, device=dev)[:, None, None]
        top = torch.tensor(BACKGROUND_TOP, device=dev)
        bot = torch.tensor(BACKGROUND_BOTTOM, device=dev)
        xs = torch.linspace(-1.0, 1.0, w, device=dev)[None, :, None]
        img = top * (1 - t) + bot * t
        img = img * (1.0 - 0.06 * xs ** 2)                    # slight vignette
        return img.expand(h, w, 3)[None].expand(batch, h, w, 3)
    bg = _as_tensor(background, dev, "background")
    if bg.dtype == torch.uint8 or bg.max() > 1.0 + 1e-6:
        bg = bg / 255.0
    if bg.shape == (3,):
        return bg.view(1, 1, 1, 3).expand(batch, h, w, 3)
    if bg.shape == (h, w, 3):
        return bg[None].expand(batch, h, w, 3)
    if bg.shape == (batch, h, w, 3):
        return bg
    raise ValueError(f"background must be None, [3], [{h}, {w}, 3] or [{batch}, {h}, {w}, 3]; got {tuple(bg.shape)}")


def _scene_static(model: MorphableModel, appearance: Appearance | None, device: torch.device) -> dict[str, torch.Tensor]:
    key = ("scene", str(device), appearance)
    cache = model._cache
    if key not in cache:
        arr = model.torch_arrays(device)
        tv, tt = torso_mesh()
        app = appearance if appearance is not None else Appearance()
        skin, shirt = np.asarray(app.skin), np.asarray(app.shirt)
        head_col = torch.as_tensor(np.array(apply_appearance(model, appearance)), device=device)
        tcol = torch.zeros((len(tv), 3), device=device)      # torso colours are per pixel
        nv = model.n_vertices
        tris = torch.cat([arr["triangles"], torch.as_tensor(tt, device=device) + nv])
        labels = torch.cat([arr["triangle_labels"],
                            torch.full((len(tt),), TORSO_LABEL, dtype=torch.uint8, device=device)])
        if len([k for k in cache if isinstance(k, tuple) and k and k[0] == "scene"]) > 16:
            for k in [k for k in cache if isinstance(k, tuple) and k and k[0] == "scene"]:
                del cache[k]
        cache[key] = {"colors": torch.cat([head_col, tcol]), "triangles": tris, "labels": labels,
                      "torso": torch.as_tensor(tv, device=device), "n_head_tris": model.n_triangles,
                      "skin": torch.as_tensor(skin, dtype=torch.float32, device=device),
                      "shirt": torch.as_tensor(shirt, dtype=torch.float32, device=device)}
    return cache[key]


def render_faces(model: MorphableModel, alpha: Any, beta: Any, R: Any, t: Any, camera: Camera, image_size: int, *,
                 appearance: Appearance | None = None, background: Any = None, torso_offset: Any = None,
                 device: torch.device | str | None = None, vertices: Any = None) -> RenderOutput:
    """Render B frames of the head (+ neck/shoulders, background).

    alpha: [B, 10] expression; beta: [S] or [B, S] identity (None: mean face); R: [B, 3, 3], t: [B, 3]
    head pose (model -> world); camera: :class:`Camera`; image_size: output is image_size^2;
    appearance: colours (None: the model's); background: None (gradient), [3] colour or an image;
    torso_offset: [B, 3] world shift of the torso or None; vertices: optional [B, N, 3] model-space
    vertices used instead of ``model.vertices(alpha, beta)`` (e.g. exact AU faces).
    Inputs may be numpy or torch; outputs are torch on ``device`` (default: the camera's).
    """
    dev = torch.device(device) if device is not None else camera.device
    cam = camera.to(dev)
    size = int(image_size)
    if size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    R_t = _as_tensor(R, dev, "R")
    t_t = _as_tensor(t, dev, "t")
    if R_t.ndim != 3 or R_t.shape[1:] != (3, 3):
        raise ValueError(f"R must be [B, 3, 3], got {tuple(R_t.shape)}")
    bsz = R_t.shape[0]
    if t_t.shape != (bsz, 3):
        raise ValueError(f"t must be [B={bsz}, 3], got {tuple(t_t.shape)}")
    if vertices is None:
        a = _as_tensor(alpha, dev, "alpha")
        if a.shape != (bsz, model.expression_basis.shape[2]):
            raise ValueError(f"alpha must be [B={bsz}, 10], got {tuple(a.shape)}")
        bt = None
        if beta is not None:
            bt = _as_tensor(beta, dev, "beta")
            if bt.shape not in ((model.n_shape,), (bsz, model.n_shape)):
                raise ValueError(f"beta must be [S={model.n_shape}] or [B={bsz}, S], got {tuple(bt.shape)}")
        verts = model.vertices(a, bt)                                   # [B, N, 3]
    else:
        verts = _as_tensor(vertices, dev, "vertices")
        if verts.shape != (bsz, model.n_vertices, 3):
            raise ValueError(f"vertices must be [B={bsz}, N={model.n_vertices}, 3], got {tuple(verts.shape)}")
    scene = _scene_static(model, appearance, dev)
    head_w = verts @ R_t.transpose(1, 2) + t_t[:, None, :]
    torso = scene["torso"][None].expand(bsz, -1, -1)
    if torso_offset is not None:
        off = _as_tensor(torso_offset, dev, "torso_offset")
        if off.shape != (bsz, 3):
            raise ValueError(f"torso_offset must be [B={bsz}, 3], got {tuple(off.shape)}")
        torso = torso + off[:, None, :]
    world = torch.cat([head_w, torso], dim=1)                          # [B, V, 3]
    pc = cam.world_to_cam_points(world)
    pix, z = cam.project(pc, camera_space=True)
    tris = scene["triangles"]
    frags = rasterize(pix, z, tris, size, size)
    normals = vertex_normals(pc, tris)                                  # camera space
    # shading of covered pixels
    tid = frags.triangle_ids.view(-1)
    cov = tid >= 0
    pidx = cov.nonzero(as_tuple=True)[0]
    bidx = torch.div(pidx, size * size, rounding_mode="floor")
    tri_p = tid.index_select(0, pidx)
    vid = tris.index_select(0, tri_p)                                   # [P, 3]
    w = frags.barycentrics.view(-1, 3).index_select(0, pidx)            # [P, 3]
    nvert = pc.shape[1]
    gvid = (bidx[:, None] * nvert + vid).view(-1)                       # frame-global vertex ids

    def interp(attr: torch.Tensor) -> torch.Tensor:                     # [B*V, C] -> [P, C]
        return (attr.index_select(0, gvid).view(-1, 3, attr.shape[-1]) * w[..., None]).sum(1)

    col = (scene["colors"].index_select(0, vid.view(-1)).view(-1, 3, 3) * w[..., None]).sum(1)
    is_torso = tri_p >= scene["n_head_tris"]
    if bool(is_torso.any()):
        sel = is_torso.nonzero().squeeze(1)
        tv = scene["torso"][vid.index_select(0, sel) - model.n_vertices]   # torso-local vertices
        local = (tv * w.index_select(0, sel)[..., None]).sum(1)
        col[sel] = torso_colors(local, scene["skin"], scene["shirt"])
    nrm = interp(normals.reshape(-1, 3))
    nrm = nrm / nrm.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    pos = interp(pc.reshape(-1, 3))
    view = -pos / pos.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    nrm = torch.where((nrm * view).sum(-1, keepdim=True) < 0, -nrm, nrm)  # two-sided lighting
    key = torch.tensor(KEY_LIGHT, device=dev, dtype=col.dtype)
    key = key / key.norm()
    fill = torch.tensor(FILL_LIGHT, device=dev, dtype=col.dtype)
    fill = fill / fill.norm()
    diffuse = AMBIENT + KEY * (nrm @ key).clamp(min=0) + FILL * (nrm @ fill).clamp(min=0)
    half = key + view
    half = half / half.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    spec = SPECULAR * (nrm * half).sum(-1).clamp(min=0) ** SHININESS
    shaded = (col * diffuse[:, None] + spec[:, None]).clamp(0.0, 1.0)
    image = background_image(size, background, bsz, dev).reshape(-1, 3).clone()
    image[pidx] = shaded.to(image.dtype)
    parsing = torch.zeros(bsz * size * size, dtype=torch.uint8, device=dev)
    parsing[pidx] = scene["labels"].index_select(0, tri_p)
    lm_pix, _ = cam.project(head_w[:, model.torch_arrays(dev)["landmark_ids"]])
    return RenderOutput(image=image.view(bsz, size, size, 3), depth=frags.depth, parsing=parsing.view(bsz, size, size),
                        landmarks=lm_pix, triangle_ids=frags.triangle_ids)
