"""Launch-setting sweep of the Triton hash-grid kernels (emohead.render.hashgrid_triton) on a GPU.

    python benchmarks/hashgrid_sweep.py --results DIR          # 16 levels, F = 2, T = 2^19, 2^20 points per set

Each variant is a (forward, backward) pair of PassConfigs registered in hashgrid_triton.DESIGNS for the run; for
each of the point sets of benchmarks/hashgrid_speed.py it reports the forward and forward+backward medians (CUDA
events, encoder called with check=False) and whether outputs and table gradients match the PyTorch reference
(the tolerances of benchmarks/hashgrid_speed.py; the sweeps in reports/benchmarks/hashgrid_sweep_gpu*.json were
run with torch.allclose(rtol = atol = 1e-4) instead, which every variant passed). The chosen settings go into
hashgrid_triton.DESIGNS; benchmarks/hashgrid_speed.py reports them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hashgrid_speed import GRAD_TOL, Y_TOL, _design, _mass, _measure, point_sets  # noqa: E402
from report import machine, save_result  # noqa: E402

from emohead.render import HashGridEncoder  # noqa: E402
from emohead.render import hashgrid_triton as ht  # noqa: E402

log = logging.getLogger("hashgrid_sweep")
P = ht.PassConfig


def variants() -> dict[str, tuple]:
    """name -> (forward PassConfig, backward PassConfig)."""
    old_fwd, old_bwd = ht.DESIGNS["per-corner"]
    agg = P(256, 8, False, 4, aggregate=0.5)
    out = {"per-corner": (old_fwd, old_bwd)}
    for a in (0.25, 0.5, 0.75, 0.9, 1.0):
        out[f"bwd b256 w8 L4 agg{a}"] = (old_fwd, P(256, 8, False, 4, aggregate=a))
    for block, warps, levels in ((128, 4, 4), (256, 4, 4), (256, 8, 2), (256, 8, 8), (128, 4, 8), (512, 16, 4)):
        out[f"bwd b{block} w{warps} L{levels} agg0.5"] = (old_fwd, P(block, warps, False, levels, aggregate=0.5))
    out["bwd b128 w4 L8 agg0.75"] = (old_fwd, P(128, 4, False, 8, aggregate=0.75))
    for block, warps, major, levels in ((256, 4, True, 1), (1024, 8, True, 1), (512, 4, False, 2),
                                        (256, 4, False, 4), (512, 4, False, 4), (256, 8, False, 4),
                                        (256, 4, False, 8), (256, 4, False, 16)):
        out[f"fwd b{block} w{warps} {'LNF' if major else 'NLF'} L{levels}"] = (P(block, warps, major, levels), agg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2**20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default=None, help="comma-separated variant names (default all)")
    parser.add_argument("--name", default="hashgrid_sweep_gpu")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    device = torch.device("cuda")
    gen = torch.Generator().manual_seed(0)
    cfg = dict(n_levels=16, n_features=2, log2_table_size=19, base_resolution=16, max_resolution=2048)
    ref_enc = HashGridEncoder(**cfg, backend="torch").to(device)
    with torch.no_grad():
        ref_enc.embeddings.copy_(torch.randn(ref_enc.embeddings.shape, generator=gen))
    table = ref_enc.embeddings
    tri = HashGridEncoder(**cfg, backend="triton").to(device)
    tri.embeddings = table
    grad_out = torch.randn(args.points, 32, generator=gen).to(device)
    sets = {k: v.to(device) for k, v in point_sets(args.points, gen).items()}
    refs = {}
    for k, x in sets.items():
        y = ref_enc(x, check=False)
        refs[k] = (y.detach(), torch.autograd.grad(y, table, grad_out)[0], _mass(ref_enc, table, x, grad_out))
    todo = variants()
    if args.only:
        todo = {k: todo[k] for k in args.only.split(",")}
    rows = []
    for name, (fwd, bwd) in todo.items():
        ht.DESIGNS[name] = (fwd, bwd)
        for set_name, x in sets.items():
            try:
                with _design(name):
                    m = _measure(tri, table, x, grad_out, args.warmup, args.repeats)
                y_ref, g_ref, mass = refs[set_name]
                ok = bool(((m["y"] - y_ref).abs() <= Y_TOL * (1 + y_ref.abs())).all()
                          and ((m["grad"] - g_ref).abs() <= GRAD_TOL * mass + 1e-6).all())
                row = {"variant": name, "points": set_name, "forward (ms)": f"{m['fwd']:.3f}",
                       "fwd+bwd (ms)": f"{m['both']:.3f}", "bwd (ms)": f"{m['both'] - m['fwd']:.3f}",
                       "G points/s fwd+bwd": f"{args.points / m['both'] * 1e-6:.3g}",
                       "matches reference": "yes" if ok else "NO"}
            except Exception as err:  # noqa: BLE001 - a sweep records why a variant failed
                log.exception("%s on %s failed", name, set_name)
                row = {"variant": name, "points": set_name,
                       "matches reference": f"failed: {type(err).__name__}: {err}"[:300]}
            print(row, flush=True)
            rows.append(row)
            m = None
    columns = ["variant", "points", "forward (ms)", "fwd+bwd (ms)", "bwd (ms)", "G points/s fwd+bwd",
               "matches reference"]
    rows = [{c: r.get(c, "") for c in columns} for r in rows]
    kwargs = {"results_dir": args.results} if args.results else {}
    path = save_result(args.name, {"title": "Hash-grid Triton launch-setting sweep", "machine": machine(),
                                   "command": "python benchmarks/hashgrid_sweep.py " + " ".join(sys.argv[1:]),
                                   "columns": columns, "rows": rows,
                                   "notes": ["16 levels x 2 features, T = 2^19, 2^20 points per set; median of "
                                             f"{args.repeats} runs after {args.warmup} warm-up runs."]}, **kwargs)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
