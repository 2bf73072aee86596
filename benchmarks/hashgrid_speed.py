"""Forward + backward throughput of the hash-grid encoder backends, all in one run on one device.

    python benchmarks/hashgrid_speed.py --device cuda --results DIR            # the H200 run (16 levels, F=2, T=2^19, 2^20 points)
    python benchmarks/hashgrid_speed.py --device cpu --points 65536            # a quick check on a CPU

Rows: the PyTorch reference eager and under torch.compile, the Triton kernels in both designs of
emohead.render.hashgrid_triton ("per-corner": one atomic add per corner and point, the design before issue 21;
"aggregated": a run of consecutive points in one cell of a level sums its contributions before one atomic add per
corner), tiny-cuda-nn when importable. Each row reports the median of --repeats timed iterations after --warmup
untimed ones (CUDA events on a GPU), the forward-only time, G points/s for forward+backward (table gradient), and
for Triton the max abs difference from the reference (outputs and table gradients, same table and points; the run
exits with status 1 when an output is off by more than 1e-5 (1 + |y|) or a gradient entry by more than 2e-5 of the
sum of its terms' magnitudes: float32 sums of thousands of terms differ by that much between summation orders).
Encoders are called with check=False, as the renderers call them (the finite-value check waits for the GPU).

Point sets, 2^20 points each (the Triton rows run on all of them, the reference rows on uniform points):
- uniform random points in the unit cube (no coherence: the worst case);
- random segments: 256 samples in order along each of 4096 random segments through the cube (the earlier
  ray-coherent row; samples several times denser along a ray than the trainer's 64 per ray);
- camera, neighbouring pixels: rays of a 128 x 128 pixel patch of a pinhole camera looking at the cube, pixel by
  pixel, 64 stratified samples each between entry and exit (field.render_rays order, as for a rendered patch);
- camera, random pixels: the same camera's rays through random pixels (training batches: random pixels);
- camera, random 4x4 pixel tiles (hashgrid_reuse.tile_points), ray by ray and depth by depth (the order in which
  the trainer feeds tiles since issue 21's fourth round: a tile's 16 rays at one depth, then the next depth);
- with --points-file, a trained NeRF's real points (benchmarks/capture_points.py).
Target (issue 21): >= 1.0 G points/s forward+backward on ray-coherent points on an NVIDIA H200, without losing more
than 10 % on uniform points. "Memory ceiling" rows time the memory operations alone (see memory_ceiling and
design_ceiling): about the most each design can reach on this GPU.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, save_result  # noqa: E402

from emohead.render import HashGridEncoder  # noqa: E402

log = logging.getLogger("hashgrid_speed")
TARGET_GPS = 1.0
Y_TOL = 1e-5
"""Outputs match the reference when |y - y_ref| <= Y_TOL (1 + |y_ref|)."""
GRAD_TOL = 2e-5
"""Table gradients match when |g - g_ref| <= GRAD_TOL * mass + 1e-6, mass = the sum of |w dL/dy| over the terms of the
entry (float32 sums of thousands of terms in another order differ by a few 1e-6 of that mass)."""
COLUMNS = ["backend", "points", "forward (ms)", "fwd+bwd (ms)", "G points/s fwd+bwd", "vs per-corner",
           "max |y - y_ref|", "max |grad - grad_ref|", "max |grad - grad_ref| / mass", "matches reference",
           "peak memory (MiB)", "target G/s", "met", "note"]


def _timer(device: torch.device):
    """A function timing fn() in milliseconds (CUDA events on a GPU, perf_counter on a CPU)."""
    if device.type == "cuda":
        def timed(fn) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end)
    else:
        def timed(fn) -> float:
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3
    return timed


def _measure(encode, table: torch.Tensor, x: torch.Tensor, grad_out: torch.Tensor, warmup: int, repeats: int) -> dict:
    """Median forward and forward+backward times (ms) of encode(x), and its output / table gradient."""
    device = x.device
    timed = _timer(device)

    def forward():
        with torch.no_grad():
            encode(x, check=False)

    def forward_backward():
        y = encode(x, check=False)
        torch.autograd.grad(y, table, grad_out)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        forward_backward()
        forward()
    fwd = statistics.median(timed(forward) for _ in range(repeats))
    both = statistics.median(timed(forward_backward) for _ in range(repeats))
    y = encode(x, check=False)
    (grad,) = torch.autograd.grad(y, table, grad_out)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"fwd": fwd, "both": both, "y": y.detach(), "grad": grad, "peak": peak}


def _mass(ref_enc, table: torch.Tensor, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """Per table entry, the sum of |w dL/dy| over its terms: the reference's table gradient for |dL/dy| (w >= 0)."""
    return torch.autograd.grad(ref_enc(x, check=False), table, grad_out.abs())[0]


def _row(name: str, n: int, m: dict | None, note: str = "", ref: dict | None = None, fast: bool = False,
         before: dict | None = None) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(backend=name, points=n, note=note)
    if m is None:
        return row
    gps = n / (m["both"] * 1e-3) / 1e9
    row.update({"forward (ms)": f"{m['fwd']:.3f}", "fwd+bwd (ms)": f"{m['both']:.3f}",
                "G points/s fwd+bwd": f"{gps:.3g}",
                "peak memory (MiB)": "" if m["peak"] is None else f"{m['peak']:.0f}"})
    if ref is not None:
        err_y, err_g = (m["y"] - ref["y"]).abs(), (m["grad"] - ref["grad"]).abs()
        ok = bool((err_y <= Y_TOL * (1 + ref["y"].abs())).all() and (err_g <= GRAD_TOL * ref["mass"] + 1e-6).all())
        row.update({"max |y - y_ref|": f"{err_y.max().item():.2e}",
                    "max |grad - grad_ref|": f"{err_g.max().item():.2e}",
                    "max |grad - grad_ref| / mass": f"{(err_g / (ref['mass'] + 1e-30)).max().item():.1e}",
                    "matches reference": "yes" if ok else "NO"})
    if before is not None:
        row["vs per-corner"] = f"{before['both'] / m['both']:.2f}x"
    if fast:
        row.update({"target G/s": TARGET_GPS, "met": "yes" if gps >= TARGET_GPS else "no"})
    return row


def _why(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first[:200]}"


def ray_points(n_points: int, gen: torch.Generator, samples: int = 256) -> torch.Tensor:
    """[n_points, 3] points along random segments through the unit cube, `samples` per segment, in ray order."""
    n_rays = -(-n_points // samples)
    start, end = torch.rand(n_rays, 1, 3, generator=gen), torch.rand(n_rays, 1, 3, generator=gen)
    s = torch.linspace(0.0, 1.0, samples)[None, :, None]                    # [1, S, 1]
    return (start + s * (end - start)).reshape(-1, 3)[:n_points].contiguous()


def camera_points(n_points: int, gen: torch.Generator, samples: int = 64, neighbouring: bool = True,
                  image: int = 512, distance: float = 2.5) -> torch.Tensor:
    """[n_points, 3] samples along camera rays through the unit cube, in the order the NeRF feeds them.

    A pinhole camera `distance` from the cube's centre, looking at it from an oblique direction, with a focal length
    that makes the cube about `image` pixels wide. Rays through the centres of a square patch of neighbouring pixels in
    row-major order (neighbouring=True: a rendered patch or image, field.render_rays) or through random pixels whose
    rays meet the cube (the trainer's batches, training.sample_rays); each ray clipped to the cube (slab test) and
    sampled like rays.sample_along_rays(stratified=True): one uniform sample in each of `samples` equal bins, ray by
    ray, samples in order along the ray.
    """
    n_rays = -(-n_points // samples)
    centre = torch.full((3,), 0.5)
    back = torch.tensor([0.35, -0.25, 1.0])
    back = back / back.norm()                                              # from the cube towards the camera
    origin = centre + distance * back
    right = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), back)
    right = right / right.norm()
    up = torch.linalg.cross(back, right)
    focal = image * distance / 1.0
    if neighbouring:
        side = int(math.ceil(math.sqrt(n_rays)))
        jj, ii = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy")
        px, py = jj.reshape(-1).float() - side / 2 + 0.5, ii.reshape(-1).float() - side / 2 + 0.5
    else:
        px = (torch.rand(8 * n_rays, generator=gen) - 0.5) * image
        py = (torch.rand(8 * n_rays, generator=gen) - 0.5) * image
    d = (px[:, None] * right + py[:, None] * up - focal * back) / focal     # [R, 3] (not normalised: slab test only)
    inv = 1.0 / d
    t0, t1 = (0.0 - origin) * inv, (1.0 - origin) * inv
    near, far = torch.minimum(t0, t1).amax(-1), torch.maximum(t0, t1).amin(-1)
    hit = far > near
    if int(hit[:n_rays].sum()) < n_rays and neighbouring:
        raise ValueError("camera_points: the pixel patch is wider than the cube's image")
    d, near, far = d[hit][:n_rays], near[hit][:n_rays], far[hit][:n_rays]
    u = (torch.arange(samples) + torch.rand(d.shape[0], samples, generator=gen)) / samples   # stratified  [R, S]
    t = near[:, None] + u * (far - near)[:, None]
    pts = origin + t[..., None] * d[:, None, :]                              # [R, S, 3]
    return pts.reshape(-1, 3)[:n_points].clamp(0.0, 1.0).contiguous()


def point_sets(n_points: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The four point sets of the module docstring, on the CPU."""
    return {"uniform": torch.rand(n_points, 3, generator=gen),
            "random segments, 256 samples": ray_points(n_points, gen),
            "camera, neighbouring pixels, 64 samples": camera_points(n_points, gen, neighbouring=True),
            "camera, random pixels, 64 samples": camera_points(n_points, gen, neighbouring=False)}


def _ceiling_kernel_source():
    """The memory-ceiling kernel, defined lazily (Triton is imported only where it runs)."""
    import triton
    import triton.language as tl

    @triton.jit
    def ceiling_kernel(table_ptr, out_ptr, rows_ptr, n_items, per_level, T: tl.constexpr, F: tl.constexpr,
                       BLOCK: tl.constexpr, ATOMIC: tl.constexpr):
        # one item = one x-pair of corners of one point at one level, items level-major like the encoder's grid
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_items
        h = offs.to(tl.uint32) * 747796405 + 2891336453            # PCG-style hash: random rows, no index loads
        h = ((h >> ((h >> 28) + 4)) ^ h) * 277803737
        h = (h >> 22) ^ h
        h2 = h * 2654435761
        level = offs // per_level
        n_rows = tl.load(rows_ptr + level, mask=mask, other=T).to(tl.uint32)   # rows this level's accesses touch
        row0 = (h % n_rows).to(tl.int32)
        row1 = ((h2 >> 7) % n_rows).to(tl.int32)
        paired = (h2 & 1) == 0                                       # half the pairs share one aligned 2F slot
        table = table_ptr + level.to(tl.int64)[:, None] * (T * F)
        fcols = tl.arange(0, F)[None, :]
        pcols = tl.arange(0, 2 * F)[None, :]
        slot = table + ((row0 & -2) * F)[:, None] + pcols
        p0 = table + (row0 * F)[:, None] + fcols
        p1 = table + (row1 * F)[:, None] + fcols
        m_slot = (mask & paired)[:, None]
        m_single = (mask & ~paired)[:, None]
        if ATOMIC:
            tl.atomic_add(slot, tl.full((BLOCK, 2 * F), 1.0, tl.float32), mask=m_slot, sem="relaxed")
            tl.atomic_add(p0, tl.full((BLOCK, F), 1.0, tl.float32), mask=m_single, sem="relaxed")
            tl.atomic_add(p1, tl.full((BLOCK, F), 1.0, tl.float32), mask=m_single, sem="relaxed")
        else:
            acc = tl.sum(tl.load(slot, mask=m_slot, other=0.0), axis=1)
            acc += tl.sum(tl.load(p0, mask=m_single, other=0.0) + tl.load(p1, mask=m_single, other=0.0), axis=1)
            tl.store(out_ptr + tl.program_id(0), tl.sum(acc, axis=0))

    return ceiling_kernel


def memory_ceiling(device: torch.device, n_points: int, n_levels: int, n_features: int, log2_table_size: int,
                   repeats: int) -> dict:
    """Time the per-corner design's memory operations alone on uniform points: per point and level, 4 x-pairs of
    corners at random rows of that level's table, half of them one 2F-wide access (as in the Triton kernel), the rest
    two F-wide ones; gathers for the forward, relaxed atomic adds for the backward; no hashing, weights or outputs.
    Each level touches as many rows as the Triton kernel's does there: (N_l + 1)^3 on a dense level (its gradient
    spread over the kernel's K_l replicas), T on a hashed one. Returns {"fwd": ms, "bwd": ms, "both": ms}."""
    import triton

    from emohead.render.hashgrid import dense_levels, level_resolutions
    from emohead.render.hashgrid_triton import _level_meta

    kernel = _ceiling_kernel_source()
    table_size = 2 ** log2_table_size
    resolutions = level_resolutions(n_levels, 16, 2048)
    dense = dense_levels(resolutions, table_size)
    _, replicas = _level_meta(tuple(resolutions), tuple(dense), table_size, torch.device("cpu"))
    vertices = [min(table_size, (r + 1) ** 3) if d else table_size for r, d in zip(resolutions, dense)]
    rows = {"fwd": torch.tensor(vertices, dtype=torch.int32, device=device),
            "bwd": torch.tensor([min(table_size, v * k) for v, k in zip(vertices, replicas)], dtype=torch.int32,
                                device=device)}
    table = torch.zeros(n_levels, table_size, n_features, device=device)
    per_level = n_points * 4
    n_items, block = per_level * n_levels, 512
    out = torch.empty(triton.cdiv(n_items, block), device=device)
    timed = _timer(device)
    result = {}
    for key, atomic in (("fwd", False), ("bwd", True)):
        def launch():
            kernel[(triton.cdiv(n_items, block),)](table, out, rows[key], n_items, per_level, T=table_size, F=n_features,
                                                   BLOCK=block, ATOMIC=atomic, num_warps=4)
        for _ in range(3):
            launch()
        result[key] = statistics.median(timed(launch) for _ in range(repeats))
    result["both"] = result["fwd"] + result["bwd"]
    return result


def _design_ceiling_source():
    """The design-ceiling kernel (see design_ceiling), defined lazily."""
    import triton
    import triton.language as tl

    @triton.jit
    def design_ceiling_kernel(x_ptr, table_ptr, out_ptr, meta_ptr, n_points, n_levels, max_runs,
                              T: tl.constexpr, F: tl.constexpr, BLOCK_N: tl.constexpr, LEVELS: tl.constexpr,
                              BACKWARD: tl.constexpr, AGGREGATE: tl.constexpr):
        # the encoder kernel's launch grid, cells, rows, replicas, x-pairs and runs; constant values, no weights,
        # no segmented sums, no outputs (one float per program keeps the forward's loads alive)
        pid = tl.program_id(0)
        lane = tl.arange(0, BLOCK_N)
        offs = pid * BLOCK_N + lane
        mask = offs < n_points
        fcols = tl.arange(0, F)
        pcols = tl.arange(0, 2 * F)
        x0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 0, mask=mask, other=0.0), 0.0), 1.0)
        x1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 1, mask=mask, other=0.0), 0.0), 1.0)
        x2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 2, mask=mask, other=0.0), 0.0), 1.0)
        has_next = (offs + 1) < n_points
        xn0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 3, mask=has_next, other=0.0), 0.0), 1.0)
        xn1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 4, mask=has_next, other=0.0), 0.0), 1.0)
        xn2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 5, mask=has_next, other=0.0), 0.0), 1.0)
        last = (lane == BLOCK_N - 1) | (~has_next)
        total = tl.zeros((BLOCK_N,), dtype=tl.float32)
        for i in range(LEVELS):
            level = tl.program_id(1) * LEVELS + i
            res = tl.load(meta_ptr + level)
            dense = tl.load(meta_ptr + n_levels + level) != 0
            res_f = res.to(tl.float32)
            r = (res + 1).to(tl.uint32)
            cx = tl.minimum(tl.floor(x0 * res_f).to(tl.int32), res - 1)
            cy = tl.minimum(tl.floor(x1 * res_f).to(tl.int32), res - 1)
            cz = tl.minimum(tl.floor(x2 * res_f).to(tl.int32), res - 1)
            ux = cx.to(tl.uint32)
            table = table_ptr + level.to(tl.int64) * (T * F)
            emit = mask
            replica = tl.zeros((BLOCK_N,), dtype=tl.uint32)
            if BACKWARD:
                replica += (pid % tl.load(meta_ptr + 2 * n_levels + level)).to(tl.uint32) * (r * r * r)
                if AGGREGATE:
                    same_next = ((tl.minimum(tl.floor(xn0 * res_f).to(tl.int32), res - 1) == cx)
                                 & (tl.minimum(tl.floor(xn1 * res_f).to(tl.int32), res - 1) == cy)
                                 & (tl.minimum(tl.floor(xn2 * res_f).to(tl.int32), res - 1) == cz))
                    run_end = last | (~same_next)
                    n_runs = tl.sum((run_end & mask).to(tl.int32), axis=0)
                    emit = mask & (run_end | (n_runs > max_runs))
            for c in tl.static_range(4):
                vy = (cy + (c & 1)).to(tl.uint32)
                vz = (cz + ((c >> 1) & 1)).to(tl.uint32)
                hyz = (vy * 2654435761) ^ (vz * 805459861)
                fyz = vy * r + vz * r * r
                idx0 = ((tl.where(dense, ux + fyz, ux ^ hyz) & (T - 1)) + replica).to(tl.int32)
                idx1 = ((tl.where(dense, ux + 1 + fyz, (ux + 1) ^ hyz) & (T - 1)) + replica).to(tl.int32)
                paired = (idx0 ^ idx1) == 1
                slot = table + tl.multiple_of((idx0 & -2) * F, 2 * F)[:, None] + pcols[None, :]
                p0 = table + tl.multiple_of(idx0 * F, F)[:, None] + fcols[None, :]
                p1 = table + tl.multiple_of(idx1 * F, F)[:, None] + fcols[None, :]
                m_slot = (emit & paired)[:, None]
                m_single = (emit & (~paired))[:, None]
                if BACKWARD:
                    tl.atomic_add(slot, tl.full((BLOCK_N, 2 * F), 1.0, tl.float32), mask=m_slot, sem="relaxed")
                    tl.atomic_add(p0, tl.full((BLOCK_N, F), 1.0, tl.float32), mask=m_single, sem="relaxed")
                    tl.atomic_add(p1, tl.full((BLOCK_N, F), 1.0, tl.float32), mask=m_single, sem="relaxed")
                else:
                    total += tl.sum(tl.load(slot, mask=m_slot, other=0.0), axis=1)
                    total += tl.sum(tl.load(p0, mask=m_single, other=0.0) + tl.load(p1, mask=m_single, other=0.0),
                                    axis=1)
        if not BACKWARD:
            tl.store(out_ptr + pid * tl.num_programs(1) + tl.program_id(1), tl.sum(total, axis=0))

    return design_ceiling_kernel


def design_ceiling(x: torch.Tensor, encoder: HashGridEncoder, design: str, repeats: int) -> dict:
    """Time a Triton design's memory operations alone, at the rows it touches for these points.

    The design's launch grids (block, levels per program), the x-pairs of corners at the table rows of the real points
    (with the backward's gradient replicas on dense levels), half-and-half 2F-wide / F-wide accesses as they fall;
    the forward's gathers and the backward's relaxed atomic adds, for the aggregated design only at the run ends it
    picks (one per run of points in one cell, on the levels it aggregates). Left out: weights, segmented sums, the
    encoding's stores and its [L, N, F] -> [N, L F] copy, the zeroing of the gradient and the replica fold.
    Returns {"fwd": ms, "bwd": ms, "both": ms}.
    """
    import triton

    from emohead.render import hashgrid_triton as ht

    kernel = _design_ceiling_source()
    n = x.shape[0]
    n_levels, table_size, n_features = encoder.embeddings.shape
    meta, _ = ht._level_meta(tuple(encoder.resolutions), tuple(encoder.dense), table_size, x.device)
    table = torch.zeros(n_levels, table_size, n_features, device=x.device)
    timed = _timer(x.device)
    result = {}
    for key, cfg in zip(("fwd", "bwd"), ht.DESIGNS[design]):
        backward, levels = key == "bwd", math.gcd(cfg.levels, n_levels)
        aggregate = backward and cfg.aggregate > 0
        grid = (triton.cdiv(n, cfg.block), n_levels // levels)
        out = torch.empty(grid[0] * grid[1], device=x.device)

        def launch():
            kernel[grid](x, table, out, meta, n, n_levels, int(cfg.aggregate * cfg.block), T=table_size,
                         F=n_features, BLOCK_N=cfg.block, LEVELS=levels, BACKWARD=backward, AGGREGATE=aggregate,
                         num_warps=cfg.num_warps)
        for _ in range(3):
            launch()
        result[key] = statistics.median(timed(launch) for _ in range(repeats))
    result["both"] = result["fwd"] + result["bwd"]
    return result


def _list_atomic_source():
    """A kernel issuing one relaxed atomic add of W floats at each offset of a list (see merge_ceiling)."""
    import triton
    import triton.language as tl

    @triton.jit
    def list_atomic_kernel(table_ptr, offs_ptr, out_ptr, n_items, W: tl.constexpr, BLOCK: tl.constexpr,
                           ATOMIC: tl.constexpr):
        # ATOMIC=False: only the list's reads (one int32 per add), to take them out of the ceiling
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = i < n_items
        off = tl.multiple_of(tl.load(offs_ptr + i, mask=m, other=0), W)
        if ATOMIC:
            tl.atomic_add(table_ptr + off[:, None] + tl.arange(0, W)[None, :], tl.full((BLOCK, W), 1.0, tl.float32),
                          mask=m[:, None], sem="relaxed")
        else:
            tl.store(out_ptr + tl.program_id(0), tl.sum(off, axis=0))

    return list_atomic_kernel


def merge_items(x: torch.Tensor, encoder: HashGridEncoder, block: int, levels_per_program: int = 8
                ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The atomic adds of a backward that merged every shared table row inside each block of ``block`` points.

    Per level and block: the distinct corner rows of its points (rows of the real points, with the gradient replicas
    of dense levels as the Triton kernel picks them, block index mod K_l); two rows of one aligned 2F slot become one
    2F-wide add, a lone row one F-wide add. Returns (offsets of the 2F-wide adds, offsets of the F-wide adds), both
    int64 element offsets into the [L, T, F] gradient in the order a (block, level group) launch grid would issue
    them (block fastest, as in the Triton kernel), and the corner rows per point in units of one point's 8 corner
    rows at one level (16 = nothing shared, as in benchmarks/hashgrid_reuse.py).
    """
    from emohead.render import hashgrid_triton as ht
    from emohead.render.hashgrid import _CORNERS, grid_index

    n = x.shape[0]
    n_levels, table_size, n_features = encoder.embeddings.shape
    _, replicas = ht._level_meta(tuple(encoder.resolutions), tuple(encoder.dense), table_size, torch.device("cpu"))
    block = min(block, n)
    n_blocks = -(-n // block)
    blk = torch.arange(n, device=x.device) // block
    corners = _CORNERS.to(x.device)
    wide, narrow, order_w, order_n, rows = [], [], [], [], 0
    for level, (res, dense) in enumerate(zip(encoder.resolutions, encoder.dense)):
        cell = (x.clamp(0.0, 1.0) * res).floor().clamp(0, res - 1).long()
        idx = grid_index(cell[:, None, :] + corners, res, table_size, dense)          # [N, 8]
        if dense:
            idx = idx + (blk % replicas[level])[:, None] * (res + 1) ** 3
        key = torch.unique(blk[:, None] * table_size + idx)                              # distinct (block, row)
        rows += key.numel()
        slot, count = torch.unique_consecutive(key >> 1, return_counts=True)
        lone = key[torch.isin(key >> 1, slot[count == 1])]
        pair = slot[count == 2]
        base = level * table_size * n_features
        group = (level // levels_per_program) * n_blocks
        wide.append(base + (pair * 2 % table_size) * n_features)
        order_w.append(((group + pair * 2 // table_size) * n_levels + level) * table_size + pair * 2 % table_size)
        narrow.append(base + (lone % table_size) * n_features)
        order_n.append(((group + lone // table_size) * n_levels + level) * table_size + lone % table_size)
    wide_t, narrow_t = torch.cat(wide), torch.cat(narrow)
    wide_t = wide_t[torch.argsort(torch.cat(order_w))].contiguous()
    narrow_t = narrow_t[torch.argsort(torch.cat(order_n))].contiguous()
    return wide_t, narrow_t, rows / 8 / n


def merge_ceiling(x: torch.Tensor, encoder: HashGridEncoder, block: int, repeats: int) -> dict:
    """The memory ceiling of any backward that merges shared rows inside blocks of ``block`` points (block >= n: the
    whole batch, i.e. any design at all, a global sort included).

    Its gathers: the forward's, as design_ceiling times them (merging cannot remove them: the encoding needs every
    corner of every point). Its atomics: exactly the adds of merge_items (each distinct row of a block once, pairs
    of one slot as one 2F-wide add), from a precomputed list, so no design of that block size issues fewer; the list's
    own reads (4 bytes per add, coalesced) are timed alone as well and taken out: "bwd" is the list kernel's time
    minus its reads alone, an optimistic figure (reads and atomics overlap), so the ceiling errs high. Returns
    {"fwd", "bwd", "both", "list", "reads": ms, "units": corner rows per point / 8, "adds": atomic adds per point}.
    """
    import triton

    kernel = _list_atomic_source()
    n = x.shape[0]
    n_levels, table_size, n_features = encoder.embeddings.shape
    wide, narrow, units = merge_items(x, encoder, block)
    if n_levels * table_size * n_features >= 2**31:
        raise ValueError("merge_ceiling: the gradient has more than 2^31 entries (int32 offsets)")
    wide, narrow = wide.to(torch.int32), narrow.to(torch.int32)
    table = torch.zeros(n_levels, table_size, n_features, device=x.device)
    timed = _timer(x.device)
    launch_block = 512
    out = torch.empty(triton.cdiv(max(wide.numel(), narrow.numel(), 1), launch_block), dtype=torch.int32,
                      device=x.device)
    times = {}
    for key, atomic in (("list", True), ("reads", False)):
        def launch():
            for offs, width in ((wide, 2 * n_features), (narrow, n_features)):
                if offs.numel():
                    kernel[(triton.cdiv(offs.numel(), launch_block),)](table, offs, out, offs.numel(), W=width,
                                                                        BLOCK=launch_block, ATOMIC=atomic,
                                                                        num_warps=4)
        for _ in range(3):
            launch()
        times[key] = statistics.median(timed(launch) for _ in range(repeats))
    fwd = design_ceiling(x, encoder, "aggregated", repeats)["fwd"]
    bwd = max(times["list"] - times["reads"], 0.0)
    return {"fwd": fwd, "bwd": bwd, "both": fwd + bwd, "list": times["list"], "reads": times["reads"],
            "units": units, "adds": (wide.numel() + narrow.numel()) / n}


MERGE_BLOCKS = (128, 512, 4096, 0)
"""Block sizes of the merge ceilings (0: the whole batch)."""


def _ceiling_row(name: str, n: int, c: dict, note: str) -> dict:
    row = {col: "" for col in COLUMNS}
    row.update({"backend": name, "points": n, "forward (ms)": f"{c['fwd']:.3f}", "fwd+bwd (ms)": f"{c['both']:.3f}",
                "G points/s fwd+bwd": f"{n / (c['both'] * 1e-3) / 1e9:.3g}", "note": note})
    return row


class _design:
    """Context manager: hashgrid_triton.DESIGN = name inside (the encoder picks it up at each call)."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        from emohead.render import hashgrid_triton

        self.module, self.saved = hashgrid_triton, hashgrid_triton.DESIGN
        hashgrid_triton.DESIGN = self.name

    def __exit__(self, *exc):
        self.module.DESIGN = self.saved


DESIGN_ROWS = (("per-corner", "triton per-corner (before)"), ("aggregated", "triton aggregated (after)"))


def run(device: torch.device, n_points: int, n_levels: int, n_features: int, log2_table_size: int,
        warmup: int, repeats: int, seed: int = 0, compile_reference: bool = True,
        extra_sets: dict[str, torch.Tensor] | None = None, only_sets: list[str] | None = None,
        merge_blocks: tuple[int, ...] = MERGE_BLOCKS) -> list[dict]:
    """All rows of one run. extra_sets: more named [N, 3] point sets (e.g. captured from a trained NeRF, see
    benchmarks/capture_points.py; cut to n_points); only_sets: keep the point sets whose name contains one of these
    strings (uniform is always kept); merge_blocks: block sizes of the merge-ceiling rows (0 = the whole batch)."""
    cfg = dict(n_levels=n_levels, n_features=n_features, log2_table_size=log2_table_size,
               base_resolution=16, max_resolution=2048)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.rand(n_points, 3, generator=gen).to(device)
    grad_out = torch.randn(n_points, n_levels * n_features, generator=gen).to(device)
    ref_enc = HashGridEncoder(**cfg, backend="torch").to(device)
    with torch.no_grad():   # a table of O(1) entries so output differences are meaningful in absolute terms
        ref_enc.embeddings.copy_(torch.randn(ref_enc.embeddings.shape, generator=gen))
    table = ref_enc.embeddings
    sets = point_sets(n_points, gen)
    sets["uniform"] = x.cpu()
    from hashgrid_reuse import tile_points           # (hashgrid_reuse imports this module: import here)
    tiles = tile_points(n_points, gen)
    sets["camera, random 4x4 pixel tiles, 64 samples"] = tiles
    if n_points % (16 * 64) == 0:                     # the same points depth by depth within each tile (render_rays group)
        sets["camera, random 4x4 pixel tiles, 64 samples, depth by depth"] = (
            tiles.view(-1, 16, 64, 3).transpose(1, 2).reshape(-1, 3).contiguous())
    for name, pts in (extra_sets or {}).items():
        if pts.shape[0] < n_points:
            raise ValueError(f"point set {name!r} has {pts.shape[0]} points, fewer than --points {n_points}")
        sets[name] = pts[:n_points].float().contiguous()
    if only_sets:
        sets = {k: v for k, v in sets.items() if k == "uniform" or any(s in k for s in only_sets)}
    rows = []

    log.info("reference, eager")
    ref = _measure(ref_enc, table, x, grad_out, warmup, repeats)
    ref["mass"] = _mass(ref_enc, table, x, grad_out)
    rows.append(_row("torch reference, eager", n_points, ref, note="uniform"))

    if compile_reference:
        log.info("reference, torch.compile")
        try:
            compiled = torch.compile(ref_enc)
            rows.append(_row("torch reference, torch.compile", n_points,
                             _measure(compiled, table, x, grad_out, warmup, repeats), ref=ref, note="uniform"))
        except Exception as err:  # noqa: BLE001 - a benchmark records why a row is missing
            log.warning("torch.compile failed: %s", _why(err))
            rows.append(_row("torch reference, torch.compile", n_points, None, note=f"skipped: {_why(err)}"))

    log.info("triton")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tri_enc = HashGridEncoder(**cfg, backend="triton").to(device)
    if tri_enc.backend != "triton":
        reason = "; ".join(str(w.message) for w in caught) or "backend unavailable"
        rows.append(_row("triton", n_points, None, note=f"skipped: {reason}"))
    elif device.type == "cpu" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        rows.append(_row("triton", n_points, None, note="skipped: CPU device (set TRITON_INTERPRET=1 for the slow interpreter)"))
    else:
        tri_enc.embeddings = table     # the same parameter: outputs and gradients are directly comparable
        note = "Triton interpreter (CPU), not a speed figure; " if device.type == "cpu" else ""
        for set_name, pts in sets.items():
            if device.type == "cpu" and set_name != "uniform":
                continue                                        # the interpreter is slow: one point set
            pts = pts.to(device)
            if set_name == "uniform":
                set_ref = ref
            else:
                y = ref_enc(pts, check=False)
                set_ref = {"y": y.detach(), "grad": torch.autograd.grad(y, table, grad_out)[0],
                           "mass": _mass(ref_enc, table, pts, grad_out)}
            before = None
            for design, label in DESIGN_ROWS:
                log.info("triton %s, %s", design, set_name)
                try:
                    with _design(design):
                        m = _measure(tri_enc, table, pts, grad_out, warmup, repeats)
                    rows.append(_row(f"{label}, {set_name}", n_points, m, note=note + set_name, ref=set_ref,
                                     fast=device.type == "cuda" and design == "aggregated", before=before))
                    before = m if design == "per-corner" else before
                except Exception as err:  # noqa: BLE001
                    log.error("triton %s (%s) failed:\n%s", design, set_name, traceback.format_exc())
                    rows.append(_row(f"{label}, {set_name}", n_points, None, note=f"failed: {_why(err)}"))

        if device.type == "cuda" and n_features & (n_features - 1) == 0:
            log.info("memory ceilings")
            try:
                c = memory_ceiling(device, n_points, n_levels, n_features, log2_table_size, repeats)
                rows.append(_ceiling_row(
                    "memory ceiling (no arithmetic), per-corner, random rows", n_points, c,
                    f"uniform; the per-corner kernel's gathers ({c['fwd']:.3f} ms) and atomic adds ({c['bwd']:.3f} ms) "
                    "alone, at random rows with each level's footprint (the earlier ceiling row)"))
            except Exception:  # noqa: BLE001
                log.error("memory ceiling failed:\n%s", traceback.format_exc())
            for set_name, pts in sets.items():
                for design in ("per-corner", "aggregated"):
                    try:
                        c = design_ceiling(pts.to(device), tri_enc, design, repeats)
                        rows.append(_ceiling_row(
                            f"memory ceiling (no arithmetic), {design}, {set_name}", n_points, c,
                            f"{set_name}; the {design} kernel's gathers ({c['fwd']:.3f} ms) and atomic adds "
                            f"({c['bwd']:.3f} ms) alone, at the rows these points touch"))
                    except Exception:  # noqa: BLE001
                        log.error("design ceiling failed:\n%s", traceback.format_exc())
                for block in merge_blocks:
                    label = f"block {block}" if block else "whole batch"
                    try:
                        c = merge_ceiling(pts.to(device), tri_enc, block or n_points, repeats)
                        rows.append(_ceiling_row(
                            f"memory ceiling (no arithmetic), any merge, {label}, {set_name}", n_points, c,
                            f"{set_name}; the forward's gathers ({c['fwd']:.3f} ms) and one atomic add per distinct "
                            f"row of a {label} ({c['bwd']:.3f} ms = {c['list']:.3f} ms from a list less "
                            f"{c['reads']:.3f} ms of its reads alone; {c['adds']:.1f} adds per point, "
                            f"{c['units']:.2f} units of 8 rows, 16 = none shared): no design merging inside such "
                            "blocks issues fewer"))
                    except Exception:  # noqa: BLE001
                        log.error("merge ceiling failed:\n%s", traceback.format_exc())

    log.info("tiny-cuda-nn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tcnn_enc = HashGridEncoder(**cfg, backend="tcnn")
        except Exception as err:  # noqa: BLE001
            tcnn_enc, caught = None, [_why(err)]
    if tcnn_enc is None or tcnn_enc.backend != "tcnn":
        reason = "; ".join(str(getattr(w, "message", w)) for w in caught) or "backend unavailable"
        rows.append(_row("tiny-cuda-nn", n_points, None, note=f"skipped: {reason}"))
    else:
        try:
            m = _measure(tcnn_enc, tcnn_enc.tcnn.params, x, grad_out, warmup, repeats)
            rows.append(_row("tiny-cuda-nn", n_points, m, fast=True,
                             note="uniform; own table layout and vertex convention: outputs not comparable"))
        except Exception as err:  # noqa: BLE001
            log.error("tcnn failed:\n%s", traceback.format_exc())
            rows.append(_row("tiny-cuda-nn", n_points, None, note=f"failed: {_why(err)}"))
    return rows


def summary_notes(rows: list[dict]) -> list[str]:
    """Notes relating each aggregated row to its per-corner row and to the design's memory ceiling."""
    by_name = {r["backend"]: r for r in rows}
    notes = []
    prefix = "triton aggregated (after), "
    for set_name in [r["backend"][len(prefix):] for r in rows if r["backend"].startswith(prefix)]:
        after = by_name.get(f"triton aggregated (after), {set_name}", {})
        before = by_name.get(f"triton per-corner (before), {set_name}", {})
        ceiling = by_name.get(f"memory ceiling (no arithmetic), aggregated, {set_name}", {})
        if not after.get("G points/s fwd+bwd") or not before.get("G points/s fwd+bwd"):
            continue
        text = (f"{set_name}: aggregated {after['G points/s fwd+bwd']} G points/s fwd+bwd, per-corner "
                f"{before['G points/s fwd+bwd']} ({after.get('vs per-corner', '')})")
        if ceiling.get("G points/s fwd+bwd"):
            share = float(after["G points/s fwd+bwd"]) / float(ceiling["G points/s fwd+bwd"])
            text += (f"; the aggregated design's memory operations alone reach {ceiling['G points/s fwd+bwd']}, "
                     f"the encoder {share:.0%} of that")
        merged = [(r["backend"].split(", ")[2], r["G points/s fwd+bwd"]) for r in rows
                  if r["backend"].startswith("memory ceiling (no arithmetic), any merge, ")
                  and r["backend"].endswith(", " + set_name) and r.get("G points/s fwd+bwd")]
        if merged:
            text += "; ceilings of any merging design: " + ", ".join(f"{b} {g}" for b, g in merged)
        notes.append(text + ".")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--points", type=int, default=2**20)
    parser.add_argument("--levels", type=int, default=16)
    parser.add_argument("--features", type=int, default=2)
    parser.add_argument("--log2-table-size", type=int, default=19)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile reference row")
    parser.add_argument("--points-file", type=Path, default=None,
                        help="npz of more point sets (benchmarks/capture_points.py: a trained NeRF's real samples)")
    parser.add_argument("--sets", nargs="*", default=None, help="keep only the point sets whose name contains one of "
                        "these strings (uniform is always kept)")
    parser.add_argument("--merge-blocks", type=int, nargs="*", default=list(MERGE_BLOCKS),
                        help="block sizes of the merge-ceiling rows on a GPU (0: the whole batch)")
    parser.add_argument("--name", default=None, help="result file name (default hashgrid_speed_gpu / _cpu)")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON result (default reports/benchmarks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but torch.cuda.is_available() is False")
    if args.points < 1 or args.repeats < 1:
        parser.error("--points and --repeats must be >= 1")

    extra = {}
    if args.points_file:
        import numpy as np

        with np.load(args.points_file, allow_pickle=False) as z:
            extra = {str(name): torch.from_numpy(z[f"set{i}"]) for i, name in enumerate(z["names"])}
    rows = run(device, args.points, args.levels, args.features, args.log2_table_size, args.warmup, args.repeats,
               compile_reference=not args.no_compile, extra_sets=extra, only_sets=args.sets,
               merge_blocks=tuple(args.merge_blocks))
    for r in rows:
        print({k: v for k, v in r.items() if v != ""}, flush=True)
    name = args.name or f"hashgrid_speed_{'gpu' if device.type == 'cuda' else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    notes = [f"Hash grid: {args.levels} levels x {args.features} features, T = 2^{args.log2_table_size}, "
             f"resolutions 16..2048, float32; median of {args.repeats} runs after {args.warmup} warm-up runs. "
             "fwd+bwd = encoding plus the table gradient (no input gradient); encoder called with check=False. "
             "Point sets: see the note column and benchmarks/hashgrid_speed.py. Target (issue 21): >= 1.0 G points/s "
             "fwd+bwd on ray-coherent points, at most 10 % slower than per-corner on uniform points."]
    notes += summary_notes(rows)
    path = save_result(name, {"title": f"Hash-grid encoder ({name})", "machine": machine(),
                              "command": "python benchmarks/hashgrid_speed.py " + " ".join(sys.argv[1:]),
                              "columns": COLUMNS, "rows": rows, "notes": notes}, **kwargs)
    log.info("wrote %s", path)
    bad = [r["backend"] for r in rows if r["backend"].startswith("triton") and r.get("matches reference") == "NO"]
    if bad:
        log.error("outputs or gradients off the reference (see Y_TOL, GRAD_TOL): %s", bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
