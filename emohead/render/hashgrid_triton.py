"""Triton kernels for the hash-grid encoding (same maths as :func:`emohead.render.hashgrid.hashgrid_reference`).

One kernel, launched on a grid (point blocks, level groups), does the forward pass (gather the 8
corners, blend trilinearly, store) or, with ``BACKWARD=True``, the table gradient (scatter w * dL/dy
into the table with ``tl.atomic_add``). Two designs of the backward (``DESIGNS``; ``DESIGN`` or the ``design``
argument of :func:`hashgrid_triton` picks one; the forward is the same in both):

- "per-corner" (the design before issue 21): every point adds into its 8 corner rows at every level;
- "aggregated" (default): within a program, consecutive points that lie in one cell of a level (a "run": along a
  ray the samples in a coarse cell are consecutive, and a segment meets a convex cell at most once) share that
  cell's 8 rows; their contributions are summed first and only the run's last lane issues the atomic adds.

Design notes for speed (numbers: NVIDIA H200, Triton 3.6, 2^20 points, 16 levels, F = 2, T = 2^19; see
benchmarks/hashgrid_speed.py and benchmarks/hashgrid_sweep.py, results in reports/benchmarks/):

- the point-block index varies fastest in the launch grid, so the blocks in flight at any moment
  work on a few levels and their tables (4 MiB each) stay in L2;
- corners come in x-pairs (cx, y, z), (cx + 1, y, z). Their rows are idx0 and idx1 = idx0 ^ 1 whenever
  cx is even on a hashed level (pi_1 = 1) or idx0 is even on a dense one, i.e. half the time; then both
  sit in one aligned 2F-wide slot and cost one 16-byte load / one F32x4 atomic instead of two (backward
  kernel 1.39 -> 1.06 ms, forward 0.54 -> 0.52 ms);
- the forward writes a level-major [L, N, F] buffer (coalesced stores) and transposes it to [N, L F]:
  storing [N, L F] from the kernel directly costs more than the transpose (0.85 vs 0.52 ms + copy; the issue-21
  sweep measured 2, 4, 8 and 16 levels per program storing [N, L F] again: 0.76-1.20 ms for the whole forward,
  against 0.49-0.82 ms with the transpose, over the four point sets);
  the backward reads dL/dy as [N, L F] directly, 4 or 8 levels per program, so every program reads whole
  32-byte sectors (1.08 ms, vs 1.06 ms + a transpose-copy of dL/dy);
- coarse dense levels, where thousands of points share a row, scatter into K replicas of their rows
  that one small kernel per level sums afterwards;
- the hash runs in uint32 exactly as instant-ngp (products wrap); a level's table offset is the only
  int64 arithmetic.

The aggregated backward, per program (128 points, 4 warps, 8 levels) and level: each point also loads the
previous and next point (L1 hits) and compares their cells with its own, which marks run starts and ends; a
level whose points form more than ``aggregate * block`` runs (0.75 * 128) takes the per-corner path, so uniform
points pay only for the comparisons. Otherwise one ``tl.associative_scan`` over 9 [B, F] tensors (w dL/dy of the
8 corners and the run-start flags; combine: restart the sum at a run start) leaves each run's totals in its last
lane, which issues the same paired / single atomics as the per-corner path. Sums run in another order than the
reference's, but each run's sum is an exact segmented sum (no prefix differences). Two details matter: one scan
for all 8 corners in one [B, F] layout (a scan per x-pair with the [B, 2F] slot tensor and the [B, F] single-row
pointers made Triton rematerialise the scan in both layouts: 706 shuffles and 55 barriers in the PTX of a
256-point, 4-warp program against 218 and 5); one point per thread (ptxas: 88 registers for 128 points on 4 warps;
2 points per thread took 200 and halve the resident warps: 256 points on 4 warps was 0.1-0.2 ms slower on the
ray-ordered sets). Otherwise the sweep over blocks, warps, levels per program and thresholds (0.25-1.0) moved the
backward by about its run-to-run noise (a few per cent).

The ceiling is the memory system, not arithmetic: the H200 serves about 137 G random 8-byte gathers/s
and about 95 G random atomic adds/s, the same for F32, F32x2, F16x2 and BF16x2 operations (F32x4: 71 G/s).
2^20 points x 16 levels x 8 corners = 134 M scattered adds take >= 1.06 ms even with the x-pairs, so
fp16/bf16 gradient accumulation would lose precision for no speed, and an fp16 copy of the table for the
forward measured 0.514 vs 0.519 ms. Storing the corner indices in the forward for the backward would move
512 MiB (16 x 8 x 4 bytes per point) to save integer arithmetic that is already hidden behind the memory
traffic, so it is not done. benchmarks/hashgrid_speed.py measures each design's ceiling in its "memory ceiling"
rows: the design's own gathers and atomic adds alone (same grid, rows of the real points, replicas, and for the
aggregated design only the atomics at run ends), without weights, scans, stores, transposes or the fold.

Measured (H200, one run of `python benchmarks/hashgrid_speed.py --device cuda --warmup 5 --repeats 50`, fwd+bwd
G points/s, median of 50; memory ceiling of the aggregated design):
    point set (2^20 points)                      per-corner  aggregated  ratio  ceiling (aggregated)
    uniform                                      0.564       0.543       0.96x  0.657
    random segments, 256 samples per segment     0.582       0.706       1.21x  1.13
    camera, neighbouring pixels, 64 samples      0.549       0.600       1.09x  0.775
    camera, random pixels, 64 samples            0.582       0.603       1.03x  0.756

(reports/benchmarks/hashgrid_speed_gpu_aggregated.json; the forward is the same kernel in both designs, 0.47-0.66
ms of the fwd+bwd times; run-to-run noise of single rows is a few per cent, see hashgrid_sweep_gpu*.json). The
per-corner design's own ceiling on uniform points is 0.688 (0.644 with random rows, the earlier ceiling row).

Issue 21 asked for >= 1.0 G points/s on ray-coherent points: not reached. Aggregation removes the atomics of the
coarse levels, but in ray order the fine levels (from N_l ~ 300 on the segments, from N_l ~ 80 on 64-sample camera
rays) see a new cell at almost every sample, so their atomic adds remain. On the random-segments set (samples
several times denser along a ray than the trainer's 64 per ray) the aggregated design's memory operations alone
take 0.927 ms, i.e. 1.13 G points/s before any arithmetic, the [L, N, F] -> [N, L F] copy, the zeroing and the
fold; on camera rays with 64 samples (the renderer's and trainer's order) they allow 0.76-0.78 G points/s. Going
past that needs fewer atomic adds at the fine levels, e.g. sorting a block's points by cell so that samples of
neighbouring rays merge too (counted on the CPU in blocks of 256 points of the camera patch: distinct rows per
corner reference, summed over the 16 levels, 8.6, against 13.8 runs per point; 16 = no reuse). Not built, because
it could not reach the target where it matters: on a trained NeRF's real training batches
(benchmarks/capture_points.py) the measured ceiling of ANY backward that merges shared rows inside blocks of up to
4,096 points, with no arithmetic at all, is 0.91-0.96 G points/s (benchmarks/hashgrid_speed.py merge_ceiling;
docs/performance.md has the table). Tile batches (nerf.ray_tile) would leave room but cost 2.2 dB on head pixels.

Float32 only. No gradient w.r.t. the input points (a NeRF does not need it); the autograd function
returns None for x. Kernels are compiled at first use; when ``TRITON_INTERPRET=1`` and the tensors
live on the CPU they run in Triton's interpreter instead (slow; for tests). Caveat (Triton 3.6): do not
use the interpreter and compiled kernels in one process; the interpreter's patches of triton.language
leak and a later compile fails with "'ir.value' object has no attribute 'dtype'" (and vice versa).
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.runtime.jit import JITFunction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassConfig:
    """Launch settings of one pass on the GPU (chosen by a sweep on an H200, see the module docstring)."""

    block: int          # points per program
    num_warps: int
    level_major: bool   # the encoding / its gradient as a level-major [L, N, F] buffer, else [N, L F]
    levels: int         # levels per program (rounded to a divisor of L)
    aggregate: float = 0.0
    """Backward only. 0: one atomic add per corner and point (the per-corner design). > 0: in a program, a level
    whose points form at most ``aggregate * block`` runs (consecutive points in one cell) sums each run's
    contributions with a segmented scan and issues one atomic add per corner and run; other levels as with 0."""


DESIGNS: dict[str, tuple[PassConfig, PassConfig]] = {
    # (forward, backward). "per-corner": the design before issue 21, kept for comparison (benchmarks/hashgrid_speed.py)
    "per-corner": (PassConfig(block=512, num_warps=4, level_major=True, levels=1),
                   PassConfig(block=256, num_warps=4, level_major=False, levels=4)),
    "aggregated": (PassConfig(block=512, num_warps=4, level_major=True, levels=1),
                   PassConfig(block=128, num_warps=4, level_major=False, levels=8, aggregate=0.75)),
}
DESIGN = "aggregated"
"""The design ``hashgrid_triton`` uses unless told otherwise (a key of DESIGNS)."""
INTERPRET_BLOCK = 4096
"""Largest block in the CPU interpreter, which runs programs one at a time: few wide ones are faster."""
FOLD_BLOCK = 1024
"""Floats per program of the replica fold on the GPU."""
FP_FUSION = False
"""No FMA contraction: x*N_l - floor(x*N_l) rounds like the PyTorch reference (see tests)."""


def _seg_add8(a0, a1, a2, a3, a4, a5, a6, a7, sa, b0, b1, b2, b3, b4, b5, b6, b7, sb):
    """Combine of a segmented sum of 8 tensors (tl.associative_scan): sb marks b as the first element of a run."""
    return (tl.where(sb, b0, a0 + b0), tl.where(sb, b1, a1 + b1), tl.where(sb, b2, a2 + b2),
            tl.where(sb, b3, a3 + b3), tl.where(sb, b4, a4 + b4), tl.where(sb, b5, a5 + b5),
            tl.where(sb, b6, a6 + b6), tl.where(sb, b7, a7 + b7), sa | sb)


_SEG_ADD8 = JITFunction(_seg_add8)
"""Device function for the scan; the interpreter calls its ``.fn``, the compiler inlines it."""


def _hashgrid_kernel(
    x_ptr,              # [N, 3] float32, contiguous
    emb_ptr,            # [L, T, F] float32 table (forward) or its gradient (backward), contiguous
    feat_ptr,           # encoding (forward, written) or dL/d encoding (backward, read); entry (n, l, f) at
    stride_n,           #   feat_ptr + n * stride_n + l * stride_l + f
    stride_l,
    meta_ptr,           # [3, L] int32: N_l, 1 for a densely indexed level, gradient replicas (backward)
    n_points,
    n_levels,
    max_runs,           # backward with AGGREGATE: aggregate a level when its points form at most this many runs
    T: tl.constexpr,            # table size, a power of two
    F: tl.constexpr,            # features per entry, a power of two
    BLOCK_N: tl.constexpr,      # points per program
    LEVELS: tl.constexpr,       # levels per program (program_id(1) picks the group); divides L
    BACKWARD: tl.constexpr,
    AGGREGATE: tl.constexpr,    # backward: sum the contributions of a run of points in one cell before the atomics
):
    pid = tl.program_id(0)
    lane = tl.arange(0, BLOCK_N)
    offs = pid * BLOCK_N + lane                                               # point ids  [B]
    mask = offs < n_points
    fcols = tl.arange(0, F)                                                   # [F]
    pcols = tl.arange(0, 2 * F)                                               # [2F]: row pcols // F, feature pcols % F
    mask2 = mask[:, None]                                                     # [B, 1], broadcast over F
    # x clamped to the unit cube; masked-off lanes read 0 (a valid vertex) and are never stored
    x0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 0, mask=mask, other=0.0), 0.0), 1.0)
    x1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 1, mask=mask, other=0.0), 0.0), 1.0)
    x2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 2, mask=mask, other=0.0), 0.0), 1.0)
    feat_rows = feat_ptr + offs[:, None].to(tl.int64) * stride_n + fcols[None, :]       # [B, F]
    if BACKWARD and AGGREGATE:
        # the previous and next point (L1 hits): a run of points ends where the next one lies in another cell
        has_next = (offs + 1) < n_points
        has_prev = mask & (offs > 0)
        xn0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 3, mask=has_next, other=0.0), 0.0), 1.0)
        xn1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 4, mask=has_next, other=0.0), 0.0), 1.0)
        xn2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 + 5, mask=has_next, other=0.0), 0.0), 1.0)
        xp0 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 - 3, mask=has_prev, other=0.0), 0.0), 1.0)
        xp1 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 - 2, mask=has_prev, other=0.0), 0.0), 1.0)
        xp2 = tl.minimum(tl.maximum(tl.load(x_ptr + offs * 3 - 1, mask=has_prev, other=0.0), 0.0), 1.0)
        first = lane == 0                                                     # runs do not cross programs
        last = (lane == BLOCK_N - 1) | (~has_next)

    level_start = tl.program_id(1) * LEVELS
    for i in range(LEVELS):                                                   # LEVELS divides L
        level = level_start + i
        res = tl.load(meta_ptr + level)                                       # N_l
        dense = tl.load(meta_ptr + n_levels + level) != 0
        res_f = res.to(tl.float32)
        r = (res + 1).to(tl.uint32)                                           # vertices per axis (dense index)
        # x_l = x N_l, cell = floor(x_l) (the last cell for x = 1), w_l = x_l - floor(x_l)  (instant-ngp Sec. 3)
        px = x0 * res_f
        py = x1 * res_f
        pz = x2 * res_f
        cx = tl.minimum(tl.floor(px).to(tl.int32), res - 1)
        cy = tl.minimum(tl.floor(py).to(tl.int32), res - 1)
        cz = tl.minimum(tl.floor(pz).to(tl.int32), res - 1)
        wx = px - cx.to(tl.float32)
        wy = py - cy.to(tl.float32)
        wz = pz - cz.to(tl.float32)
        ux = cx.to(tl.uint32)

        table = emb_ptr + level.to(tl.int64) * (T * F)                        # this level's table
        feat = feat_rows + level.to(tl.int64) * stride_l                      # [B, F]
        if BACKWARD:
            grad = tl.load(feat, mask=mask2, other=0.0)                       # dL/dy_l  [B, F]
            # coarse dense levels: program pid adds into replica pid % K of the level (rows K R^3 <= T),
            # so thousands of points do not queue on the same few rows; the replicas are summed afterwards
            replica = (pid % tl.load(meta_ptr + 2 * n_levels + level)).to(tl.uint32) * (r * r * r)
            if AGGREGATE:
                # consecutive points in one cell (a run) share its 8 corner rows: along a ray the samples of a
                # coarse cell are consecutive. Same cell as the next / previous point, by the same arithmetic:
                same_next = ((tl.minimum(tl.floor(xn0 * res_f).to(tl.int32), res - 1) == cx)
                             & (tl.minimum(tl.floor(xn1 * res_f).to(tl.int32), res - 1) == cy)
                             & (tl.minimum(tl.floor(xn2 * res_f).to(tl.int32), res - 1) == cz))
                same_prev = ((tl.minimum(tl.floor(xp0 * res_f).to(tl.int32), res - 1) == cx)
                             & (tl.minimum(tl.floor(xp1 * res_f).to(tl.int32), res - 1) == cy)
                             & (tl.minimum(tl.floor(xp2 * res_f).to(tl.int32), res - 1) == cz))
                run_end = last | (~same_next)
                run_start = first | (~same_prev)
                n_runs = tl.sum((run_end & mask).to(tl.int32), axis=0)
                agg = n_runs <= max_runs                                      # few runs: worth the scans
                emit = mask & (run_end | (n_runs > max_runs))                 # lanes that issue atomics  [B]
                # w dL/dy of the 8 corners, v<dx><c> for corner (cx + dx, cy + dy, cz + dz), (dy, dz) = bits of c
                # (the same products as the per-corner path: ((wx' wy') wz') dL/dy)
                v00 = (((1.0 - wx) * (1.0 - wy)) * (1.0 - wz))[:, None] * grad
                v10 = ((wx * (1.0 - wy)) * (1.0 - wz))[:, None] * grad
                v01 = (((1.0 - wx) * wy) * (1.0 - wz))[:, None] * grad
                v11 = ((wx * wy) * (1.0 - wz))[:, None] * grad
                v02 = (((1.0 - wx) * (1.0 - wy)) * wz)[:, None] * grad
                v12 = ((wx * (1.0 - wy)) * wz)[:, None] * grad
                v03 = (((1.0 - wx) * wy) * wz)[:, None] * grad
                v13 = ((wx * wy) * wz)[:, None] * grad
                if agg:     # inclusive segmented sums, all corners in one scan: a run's last lane holds its totals
                    starts = tl.broadcast_to(run_start[:, None], (BLOCK_N, F))
                    v00, v10, v01, v11, v02, v12, v03, v13, starts = tl.associative_scan(
                        (v00, v10, v01, v11, v02, v12, v03, v13, starts), 0, _SEG_ADD8)
        else:
            acc = tl.zeros((BLOCK_N, F), dtype=tl.float32)
        for c in tl.static_range(4):                                          # (dy, dz) = bits of c
            dy = c & 1
            dz = (c >> 1) & 1
            vy = (cy + dy).to(tl.uint32)
            vz = (cz + dz).to(tl.uint32)
            # rows of the corners v0 = (cx, vy, vz) and v1 = (cx + 1, vy, vz):
            # hashed, eq. (4): (v_x * 1 ^ v_y * 2654435761 ^ v_z * 805459861) mod T, uint32 products wrap like instant-ngp
            # dense: v_x + v_y R + v_z R^2
            hyz = (vy * 2654435761) ^ (vz * 805459861)
            fyz = vy * r + vz * r * r
            idx0 = tl.where(dense, ux + fyz, ux ^ hyz) & (T - 1)              # [B]
            idx1 = tl.where(dense, ux + 1 + fyz, (ux + 1) ^ hyz) & (T - 1)
            if BACKWARD:
                idx0 += replica
                idx1 += replica
            idx0 = idx0.to(tl.int32)
            idx1 = idx1.to(tl.int32)
            wyz = (wy if dy else 1.0 - wy)
            w0 = ((1.0 - wx) * wyz) * (wz if dz else 1.0 - wz)                 # trilinear weight of v0  [B]
            w1 = (wx * wyz) * (wz if dz else 1.0 - wz)                         # ... of v1
            # paired: idx1 = idx0 ^ 1, both rows in the aligned slot of rows (idx0 & ~1, idx0 | 1), one 2F-wide
            # access; otherwise one F-wide access per row. Masked-off lanes issue no memory request.
            paired = (idx0 ^ idx1) == 1
            odd = (idx0 & 1) != 0
            w_slot = tl.join(tl.where(odd, w1, w0), tl.where(odd, w0, w1))     # weights of the slot's rows  [B, 2]
            slot_ptrs = table + tl.multiple_of((idx0 & -2) * F, 2 * F)[:, None] + pcols[None, :]   # [B, 2F]
            if BACKWARD and AGGREGATE:                                        # dL/dtheta += sum over a run of w dL/dy
                if c == 0:
                    s0, s1 = v00, v10
                elif c == 1:
                    s0, s1 = v01, v11
                elif c == 2:
                    s0, s1 = v02, v12
                else:
                    s0, s1 = v03, v13
                vals = tl.reshape(tl.permute(tl.join(tl.where(odd[:, None], s1, s0), tl.where(odd[:, None], s0, s1)),
                                             (0, 2, 1)), (BLOCK_N, 2 * F))       # the slot's rows in order  [B, 2F]
                ptrs0 = table + tl.multiple_of(idx0 * F, F)[:, None] + fcols[None, :]                  # [B, F]
                ptrs1 = table + tl.multiple_of(idx1 * F, F)[:, None] + fcols[None, :]
                tl.atomic_add(slot_ptrs, vals, mask=(emit & paired)[:, None], sem="relaxed")
                tl.atomic_add(ptrs0, s0, mask=(emit & (~paired))[:, None], sem="relaxed")
                tl.atomic_add(ptrs1, s1, mask=(emit & (~paired))[:, None], sem="relaxed")
            else:
                ptrs0 = table + tl.multiple_of(idx0 * F, F)[:, None] + fcols[None, :]                  # [B, F]
                ptrs1 = table + tl.multiple_of(idx1 * F, F)[:, None] + fcols[None, :]
                slot_mask = mask2 & paired[:, None]
                single_mask = mask2 & (~paired)[:, None]
                if BACKWARD:                                                  # dL/dtheta += w dL/dy
                    vals = tl.reshape(w_slot[:, :, None] * grad[:, None, :], (BLOCK_N, 2 * F))
                    tl.atomic_add(slot_ptrs, vals, mask=slot_mask, sem="relaxed")
                    tl.atomic_add(ptrs0, w0[:, None] * grad, mask=single_mask, sem="relaxed")
                    tl.atomic_add(ptrs1, w1[:, None] * grad, mask=single_mask, sem="relaxed")
                else:
                    slot = tl.reshape(tl.load(slot_ptrs, mask=slot_mask, other=0.0), (BLOCK_N, 2, F))
                    acc += tl.sum(slot * w_slot[:, :, None], axis=1)
                    acc += w0[:, None] * tl.load(ptrs0, mask=single_mask, other=0.0)
                    acc += w1[:, None] * tl.load(ptrs1, mask=single_mask, other=0.0)
        if not BACKWARD:
            tl.store(feat, acc, mask=mask2)


def _fold_kernel(
    grad_ptr,           # one level's [T, F] float32 gradient holding K replicas of its first R^3 rows
    size,               # R^3 F, floats per replica
    K: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Replica 0 = the sum of the K replicas; replicas 1..K-1 are zeroed (rows past R^3 get no gradient)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < size
    total = tl.load(grad_ptr + offs, mask=mask, other=0.0)
    for j in range(1, K):
        total += tl.load(grad_ptr + j * size + offs, mask=mask, other=0.0)
    # a load and a store of one address may sit in different threads of the program: all loads first
    tl.debug_barrier()
    tl.store(grad_ptr + offs, total, mask=mask)
    for j in range(1, K):
        tl.store(grad_ptr + j * size + offs, tl.zeros((BLOCK,), dtype=tl.float32), mask=mask)


@lru_cache(maxsize=4)
def _kernel(interpret: bool, fold: bool = False):
    """A kernel, JIT-compiled for the GPU or wrapped for the CPU interpreter (both may coexist)."""
    fn = _fold_kernel if fold else _hashgrid_kernel
    if interpret:
        from triton.runtime.interpreter import InterpretedFunction

        return InterpretedFunction(fn)
    from triton.runtime.jit import JITFunction

    return JITFunction(fn)


def _interpret(t: Tensor) -> bool:
    return t.device.type != "cuda" or os.environ.get("TRITON_INTERPRET", "0") == "1"


def _launch(x: Tensor, emb: Tensor, feat: Tensor, meta: Tensor, cfg: PassConfig, backward: bool) -> None:
    """Run the kernel; feat is [N, L*F] (row stride L*F) or level-major [L, N, F], contiguous either way."""
    n = x.shape[0]
    n_levels, table_size, n_features = emb.shape
    if feat.dim() == 3:                                   # [L, N, F]
        stride_n, stride_l = feat.stride(1), feat.stride(0)
    else:                                                 # [N, L*F]
        stride_n, stride_l = feat.stride(0), n_features
    if _interpret(x):   # the interpreter runs one program at a time in numpy: few, wide programs are much faster
        block, levels, kwargs = min(triton.next_power_of_2(max(n, 16)), INTERPRET_BLOCK), n_levels, {}
    else:
        block, levels = cfg.block, math.gcd(cfg.levels, n_levels)
        kwargs = {"num_warps": cfg.num_warps, "enable_fp_fusion": FP_FUSION}
    aggregate = backward and cfg.aggregate > 0
    max_runs = int(cfg.aggregate * block) if aggregate else 0
    grid = (triton.cdiv(n, block), n_levels // levels)
    _kernel(_interpret(x))[grid](x, emb, feat, stride_n, stride_l, meta, n, n_levels, max_runs, T=table_size,
                                 F=n_features, BLOCK_N=block, LEVELS=levels, BACKWARD=backward,
                                 AGGREGATE=aggregate, **kwargs)


def _fold_replicas(grad_emb: Tensor, replicas: tuple[int, ...], resolutions: tuple[int, ...]) -> None:
    """Sum the gradient replicas of the coarse dense levels into their rows, in place."""
    interpret = _interpret(grad_emb)
    for level, k in enumerate(replicas):
        if k > 1:
            size = (resolutions[level] + 1) ** 3 * grad_emb.shape[2]
            block = min(triton.next_power_of_2(size), INTERPRET_BLOCK) if interpret else FOLD_BLOCK
            _kernel(interpret, fold=True)[(triton.cdiv(size, block),)](grad_emb[level], size, K=k, BLOCK=block)


MAX_REPLICAS = 64
"""Cap on the gradient replicas of a coarse dense level (see the kernel)."""


@lru_cache(maxsize=64)
def _level_meta(resolutions: tuple[int, ...], dense: tuple[bool, ...], table_size: int,
                device: torch.device) -> tuple[Tensor, tuple[int, ...]]:
    """[3, L] int32 on device (N_l, dense flag, gradient replicas K_l) and the K_l as Python ints."""
    replicas = tuple(max(1, min(MAX_REPLICAS, table_size // (res + 1) ** 3)) if d else 1
                     for res, d in zip(resolutions, dense))
    meta = torch.tensor([list(resolutions), [int(d) for d in dense], list(replicas)], dtype=torch.int32)
    return meta.to(device), replicas


def _level_major(y: Tensor, n_levels: int, n_features: int) -> Tensor:
    """[N, L F] -> contiguous [L, N, F]; F = 2 moves each (f0, f1) pair as one int64 (3x faster on a GPU)."""
    n = y.shape[0]
    if n_features == 2:
        return y.contiguous().view(torch.int64).t().contiguous().view(torch.float32).view(n_levels, n, 2)
    return y.reshape(n, n_levels, n_features).transpose(0, 1).contiguous()


def _point_major(feat: Tensor) -> Tensor:
    """[L, N, F] -> [N, L F]."""
    n_levels, n, n_features = feat.shape
    if n_features == 2:
        return feat.view(torch.int64).view(n_levels, n).t().contiguous().view(torch.float32).view(n, 2 * n_levels)
    return feat.permute(1, 0, 2).reshape(n, n_levels * n_features)


class _HashGridFunction(torch.autograd.Function):
    """y = enc(x; theta) with d/dtheta by atomics; d/dx is not computed (None)."""

    @staticmethod
    def forward(ctx, x: Tensor, embeddings: Tensor, resolutions: tuple[int, ...], dense: tuple[bool, ...],
                design: str) -> Tensor:
        forward_cfg, backward_cfg = DESIGNS[design]
        n, (n_levels, table_size, n_features) = x.shape[0], embeddings.shape
        meta, replicas = _level_meta(resolutions, dense, table_size, x.device)
        shape = (n_levels, n, n_features) if forward_cfg.level_major else (n, n_levels * n_features)
        feat = torch.empty(shape, device=x.device, dtype=torch.float32)       # [L, N, F] or [N, L F]
        if n > 0:
            _launch(x, embeddings, feat, meta, forward_cfg, backward=False)
        ctx.save_for_backward(x, meta)
        ctx.table_shape, ctx.resolutions, ctx.replicas = embeddings.shape, resolutions, replicas
        ctx.backward_cfg = backward_cfg
        return _point_major(feat) if forward_cfg.level_major else feat         # [N, L F]

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, meta = ctx.saved_tensors
        grad_emb = None
        if ctx.needs_input_grad[1]:
            n_levels, _, n_features = ctx.table_shape
            grad_emb = torch.zeros(ctx.table_shape, device=x.device, dtype=torch.float32)   # [L, T, F]
            if x.shape[0] > 0:
                grad = grad_out.float().contiguous()                                        # [N, L F]
                if ctx.backward_cfg.level_major:
                    grad = _level_major(grad, n_levels, n_features)                         # [L, N, F]
                _launch(x, grad_emb, grad, meta, ctx.backward_cfg, backward=True)
                _fold_replicas(grad_emb, ctx.replicas, ctx.resolutions)
        return None, grad_emb, None, None, None


def hashgrid_triton(x: Tensor, embeddings: Tensor, resolutions: Sequence[int], dense: Sequence[bool],
                    design: str | None = None) -> Tensor:
    """Triton hash-grid encoding, same arguments as ``hashgrid_reference``.

    x: [N, 3]; embeddings: [L, T, F] float32 on x's device -> [N, L F] float32.
    Differentiable w.r.t. ``embeddings`` only (x gets no gradient).
    design: a key of DESIGNS, default the module's DESIGN ("aggregated"; "per-corner" is the design before it).
    """
    design = DESIGN if design is None else design
    if design not in DESIGNS:
        raise ValueError(f"hashgrid_triton: design must be one of {sorted(DESIGNS)}, got {design!r}")
    if embeddings.dtype != torch.float32:
        raise TypeError(f"HashGridEncoder(backend='triton'): the table must be float32, got {embeddings.dtype}")
    if embeddings.device != x.device:
        raise ValueError(f"HashGridEncoder(backend='triton'): x is on {x.device} but the table on {embeddings.device}")
    n_levels, table_size, n_features = embeddings.shape
    if table_size & (table_size - 1) or table_size * n_features >= 2**31:
        raise ValueError("HashGridEncoder(backend='triton'): T must be a power of two with T * F < 2^31")
    x = x.detach().to(torch.float32).contiguous()
    return _HashGridFunction.apply(x, embeddings.contiguous(), tuple(int(r) for r in resolutions),
                                   tuple(bool(d) for d in dense), design)
