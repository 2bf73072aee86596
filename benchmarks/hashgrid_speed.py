"""Forward + backward throughput of the hash-grid encoder backends, all in one run on one device.

    python benchmarks/hashgrid_speed.py --device cuda --results DIR            # the H200 run (16 levels, F=2, T=2^19, 2^20 points)
    python benchmarks/hashgrid_speed.py --device cpu --points 65536            # a quick check on a CPU

Rows: the PyTorch reference eager and under torch.compile, the Triton kernels, tiny-cuda-nn when
importable. Each row reports the median of --repeats timed iterations after --warmup untimed ones
(CUDA events on a GPU), the forward-only time, G points/s for forward+backward (table gradient), and
for Triton the max abs difference from the reference (outputs and table gradients, same table and points).
A backend that cannot run is listed with the reason. Target (issue): >= 1.0 G points/s forward+backward
for the fast backend on an NVIDIA H200, judged on uniform random points. One extra Triton row, on a GPU
only, feeds ray-coherent points (2^12 rays of 256 samples, each ray's samples in order, as a NeRF
renderer produces them): neighbouring points share cells, so caches and atomics see more locality.
"""
from __future__ import annotations

import argparse
import logging
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
COLUMNS = ["backend", "points", "forward (ms)", "fwd+bwd (ms)", "G points/s fwd+bwd", "max |y - y_ref|",
           "max |grad - grad_ref|", "peak memory (MiB)", "target G/s", "met", "note"]


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
            encode(x)

    def forward_backward():
        y = encode(x)
        torch.autograd.grad(y, table, grad_out)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        forward_backward()
        forward()
    fwd = statistics.median(timed(forward) for _ in range(repeats))
    both = statistics.median(timed(forward_backward) for _ in range(repeats))
    y = encode(x)
    (grad,) = torch.autograd.grad(y, table, grad_out)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"fwd": fwd, "both": both, "y": y.detach(), "grad": grad, "peak": peak}


def _row(name: str, n: int, m: dict | None, note: str = "", ref: dict | None = None, fast: bool = False) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(backend=name, points=n, note=note)
    if m is None:
        return row
    gps = n / (m["both"] * 1e-3) / 1e9
    row.update({"forward (ms)": f"{m['fwd']:.3f}", "fwd+bwd (ms)": f"{m['both']:.3f}",
                "G points/s fwd+bwd": f"{gps:.3g}",
                "peak memory (MiB)": "" if m["peak"] is None else f"{m['peak']:.0f}"})
    if ref is not None:
        row["max |y - y_ref|"] = f"{(m['y'] - ref['y']).abs().max().item():.2e}"
        row["max |grad - grad_ref|"] = f"{(m['grad'] - ref['grad']).abs().max().item():.2e}"
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
    """Time the encoder's memory operations alone on uniform points: per point and level, 4 x-pairs of corners at
    random rows of that level's table, half of them one 2F-wide access (as in the Triton kernel), the rest two
    F-wide ones; gathers for the forward, relaxed atomic adds for the backward; no hashing, weights or outputs.
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


def run(device: torch.device, n_points: int, n_levels: int, n_features: int, log2_table_size: int,
        warmup: int, repeats: int, seed: int = 0) -> list[dict]:
    cfg = dict(n_levels=n_levels, n_features=n_features, log2_table_size=log2_table_size,
               base_resolution=16, max_resolution=2048)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.rand(n_points, 3, generator=gen).to(device)
    grad_out = torch.randn(n_points, n_levels * n_features, generator=gen).to(device)
    ref_enc = HashGridEncoder(**cfg, backend="torch").to(device)
    with torch.no_grad():   # a table of O(1) entries so output differences are meaningful in absolute terms
        ref_enc.embeddings.copy_(torch.randn(ref_enc.embeddings.shape, generator=gen))
    table = ref_enc.embeddings
    rows = []

    log.info("reference, eager")
    ref = _measure(ref_enc, table, x, grad_out, warmup, repeats)
    rows.append(_row("torch reference, eager", n_points, ref))

    log.info("reference, torch.compile")
    try:
        compiled = torch.compile(ref_enc)
        rows.append(_row("torch reference, torch.compile", n_points,
                         _measure(compiled, table, x, grad_out, warmup, repeats), ref=ref))
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
        try:
            note = "Triton interpreter (CPU), not a speed figure" if device.type == "cpu" else ""
            rows.append(_row("triton", n_points, _measure(tri_enc, table, x, grad_out, warmup, repeats),
                             note=note, ref=ref, fast=device.type == "cuda"))
        except Exception as err:  # noqa: BLE001
            log.error("triton failed:\n%s", traceback.format_exc())
            rows.append(_row("triton", n_points, None, note=f"failed: {_why(err)}"))
        if device.type == "cuda":
            log.info("triton, ray-coherent points")
            try:
                x_rays = ray_points(n_points, gen).to(device)
                y = ref_enc(x_rays)
                ref_rays = {"y": y.detach(), "grad": torch.autograd.grad(y, table, grad_out)[0]}
                rows.append(_row("triton, ray-coherent points", n_points,
                                 _measure(tri_enc, table, x_rays, grad_out, warmup, repeats), ref=ref_rays,
                                 note=f"not the target row: points sorted along {-(-n_points // 256)} random rays, "
                                      "256 samples each"))
            except Exception as err:  # noqa: BLE001
                log.error("triton (rays) failed:\n%s", traceback.format_exc())
                rows.append(_row("triton, ray-coherent points", n_points, None, note=f"failed: {_why(err)}"))

    if device.type == "cuda" and n_features & (n_features - 1) == 0:
        log.info("memory ceiling")
        try:
            c = memory_ceiling(device, n_points, n_levels, n_features, log2_table_size, repeats)
            gps = n_points / (c["both"] * 1e-3) / 1e9
            row = {col: "" for col in COLUMNS}
            row.update({"backend": "memory ceiling (no arithmetic)", "points": n_points,
                        "forward (ms)": f"{c['fwd']:.3f}", "fwd+bwd (ms)": f"{c['both']:.3f}",
                        "G points/s fwd+bwd": f"{gps:.3g}",
                        "note": f"the Triton kernel's gathers ({c['fwd']:.3f} ms) and atomic adds ({c['bwd']:.3f} ms) "
                                "alone, at random rows with each level's footprint (uniform points): about the most this "
                                "gather/scatter design can reach"})
            rows.append(row)
        except Exception:  # noqa: BLE001
            log.error("memory ceiling failed:\n%s", traceback.format_exc())

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
                             note="own table layout and vertex convention: outputs not comparable"))
        except Exception as err:  # noqa: BLE001
            log.error("tcnn failed:\n%s", traceback.format_exc())
            rows.append(_row("tiny-cuda-nn", n_points, None, note=f"failed: {_why(err)}"))
    return rows


def ceiling_notes(rows: list[dict]) -> list[str]:
    """A note relating the Triton row to the memory-ceiling row, when both were measured."""
    by_name = {r["backend"]: r for r in rows}
    tri, ceil = by_name.get("triton", {}), by_name.get("memory ceiling (no arithmetic)", {})
    if not tri.get("G points/s fwd+bwd") or not ceil.get("G points/s fwd+bwd"):
        return []
    share = float(tri["G points/s fwd+bwd"]) / float(ceil["G points/s fwd+bwd"])
    return [f"Memory ceiling: a kernel that issues only the Triton kernel's loads (forward) and relaxed atomic adds "
            f"(backward), at random rows of each level's footprint, with no hashing, weights or outputs, reaches "
            f"{ceil['G points/s fwd+bwd']} G points/s; the Triton encoder reaches {share:.0%} of it. A target above "
            f"the ceiling cannot be met by any gather/scatter kernel of this design on this GPU."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--points", type=int, default=2**20)
    parser.add_argument("--levels", type=int, default=16)
    parser.add_argument("--features", type=int, default=2)
    parser.add_argument("--log2-table-size", type=int, default=19)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--name", default=None, help="result file name (default hashgrid_speed_gpu / _cpu)")
    parser.add_argument("--results", type=Path, default=None, help="folder for the JSON result (default reports/benchmarks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but torch.cuda.is_available() is False")
    if args.points < 1 or args.repeats < 1:
        parser.error("--points and --repeats must be >= 1")

    rows = run(device, args.points, args.levels, args.features, args.log2_table_size, args.warmup, args.repeats)
    for r in rows:
        print({k: v for k, v in r.items() if v != ""}, flush=True)
    name = args.name or f"hashgrid_speed_{'gpu' if device.type == 'cuda' else 'cpu'}"
    kwargs = {"results_dir": args.results} if args.results else {}
    notes = [f"Hash grid: {args.levels} levels x {args.features} features, T = 2^{args.log2_table_size}, "
             f"resolutions 16..2048, float32, uniform random points in [0,1]^3; median of {args.repeats} runs "
             f"after {args.warmup} warm-up runs. fwd+bwd = encoding plus the table gradient (no input gradient)."]
    notes += ceiling_notes(rows)
    path = save_result(name, {"title": f"Hash-grid encoder ({name})", "machine": machine(),
                              "command": "python benchmarks/hashgrid_speed.py " + " ".join(sys.argv[1:]),
                              "columns": COLUMNS, "rows": rows, "notes": notes}, **kwargs)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
