"""Hash-grid encoder: vertex lookups, continuity, gradients, Triton vs reference, fallbacks, input checks."""
from __future__ import annotations

import importlib.util
import math
import sys
import warnings

import pytest
import torch

from emohead.render import HashGridEncoder, hashgrid_reference, level_resolutions
from emohead.render.hashgrid import dense_levels

from .conftest import HAS_CUDA, HAS_TRITON, MIXING, run_in_clean_interpreter  # noqa: F401


def _hash(v: tuple[int, int, int], table_size: int) -> int:
    """eq. (4) of instant-ngp with Python integers, independent of the code under test."""
    h = (v[0] * 1) ^ ((v[1] * 2654435761) % 2**32) ^ ((v[2] * 805459861) % 2**32)
    return h % table_size


def _small(backend: str = "torch", **kw) -> HashGridEncoder:
    """Level 0: N=4, dense (125 <= 256 rows); level 1: N=64, hashed. Random N(0,1) table."""
    cfg = dict(n_levels=2, n_features=2, log2_table_size=8, base_resolution=4, max_resolution=64, backend=backend)
    cfg.update(kw)
    enc = HashGridEncoder(**cfg)
    with torch.no_grad():
        enc.embeddings.copy_(torch.randn(enc.embeddings.shape, generator=torch.Generator().manual_seed(0)))
    return enc


def _device_params():
    return [pytest.param("cuda", id="triton-cuda", marks=pytest.mark.skipif(
                not HAS_CUDA, reason="CUDA is not available (the CPU interpreter variant covers the kernels)")),
            pytest.param("cpu", id="triton-interpreter-cpu", marks=pytest.mark.skipif(HAS_CUDA, reason=MIXING))]


# --- levels and layout --------------------------------------------------------------------------------------


def test_level_resolutions_follow_eq_2_3():
    res = level_resolutions(16, 16, 2048)
    b = math.exp((math.log(2048) - math.log(16)) / 15)
    assert res[0] == 16 and res[-1] == 2048                      # the epsilon guard keeps 2047.999.. at 2048
    assert res == [math.floor(16 * b**lv + 1e-6) for lv in range(16)]
    assert all(a < c for a, c in zip(res, res[1:]))
    assert level_resolutions(1, 8, 8) == [8]
    assert dense_levels([4, 5, 6], 216) == [True, True, False]   # (N+1)^3 <= T


def test_shape_dtype_and_state_dict():
    enc = HashGridEncoder(n_levels=3, n_features=4, log2_table_size=6, base_resolution=2, max_resolution=8)
    y = enc(torch.rand(7, 3))
    assert y.shape == (7, 12) and y.dtype == torch.float32 and enc.output_dim == 12
    assert list(enc.state_dict()) == ["embeddings"] and enc.embeddings.shape == (3, 64, 4)
    assert enc.embeddings.abs().max() <= 1e-4                    # instant-ngp init U(-1e-4, 1e-4)
    assert enc(torch.rand(0, 3)).shape == (0, 12)


# --- vertex lookups -----------------------------------------------------------------------------------------


def _vertex_cases():
    # (level, vertex) pairs: a dense level-0 vertex, one on the upper face x = 1, hashed level-1 vertices
    return [(0, (1, 2, 3)), (0, (4, 0, 4)), (1, (5, 17, 33)), (1, (64, 63, 1))]


def _check_vertex_lookup(enc: HashGridEncoder, device: str) -> None:
    table = enc.embeddings.detach().cpu()
    for level, v in _vertex_cases():
        res = enc.resolutions[level]
        x = torch.tensor([[c / res for c in v]], device=device)            # exact: res is a power of two
        y = enc(x).detach().cpu()[0, 2 * level:2 * level + 2]
        if enc.dense[level]:
            row = v[0] + v[1] * (res + 1) + v[2] * (res + 1) ** 2
        else:
            row = _hash(v, enc.table_size)
        torch.testing.assert_close(y, table[level, row], rtol=0, atol=1e-6)


def test_vertex_lookup_returns_table_entry():
    enc = _small()
    assert enc.dense == [True, False]
    _check_vertex_lookup(enc, "cpu")


def test_vertex_lookup_non_power_of_two_resolution():
    enc = _small(base_resolution=6, max_resolution=40, log2_table_size=9)   # N = 6 dense, 40 hashed; v/N inexact
    assert enc.dense == [True, False]
    table = enc.embeddings.detach()
    for level, v in [(0, (1, 5, 3)), (1, (7, 39, 22))]:
        res = enc.resolutions[level]
        y = enc(torch.tensor([[c / res for c in v]]))[0, 2 * level:2 * level + 2].detach()
        row = v[0] + v[1] * (res + 1) + v[2] * (res + 1) ** 2 if enc.dense[level] else _hash(v, enc.table_size)
        torch.testing.assert_close(y, table[level, row], rtol=0, atol=1e-5)


def test_trilinear_interpolation_reproduces_trilinear_functions():
    # trilinear interpolation is exact for f = c0 + c.v + v_x v_y v_z: fill the dense level with such a field
    enc = _small()
    res, r = enc.resolutions[0], enc.resolutions[0] + 1
    v = torch.stack(torch.meshgrid(*[torch.arange(r)] * 3, indexing="ij"), -1).reshape(-1, 3).float()  # [R^3, 3]
    rows = (v[:, 0] + v[:, 1] * r + v[:, 2] * r * r).long()
    with torch.no_grad():
        enc.embeddings[0, rows, 0] = 1 + 2 * v[:, 0] - v[:, 1] + 0.5 * v[:, 2]
        enc.embeddings[0, rows, 1] = v[:, 0] * v[:, 1] * v[:, 2]
    x = torch.rand(100, 3, generator=torch.Generator().manual_seed(5))
    p = x * res
    y = enc(x).detach()
    torch.testing.assert_close(y[:, 0], 1 + 2 * p[:, 0] - p[:, 1] + 0.5 * p[:, 2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y[:, 1], p[:, 0] * p[:, 1] * p[:, 2], rtol=1e-5, atol=1e-4)


# --- continuity ---------------------------------------------------------------------------------------------


def test_interpolation_is_continuous_inside_and_across_cells():
    enc = _small().double()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 3, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    step = 1e-7
    lipschitz = 3 * sum(enc.resolutions) * enc.embeddings.detach().abs().max().item()   # |dy/dx| bound, all levels
    with torch.no_grad():
        y0 = enc(x)
        for d in range(3):
            dx = torch.zeros(3, dtype=torch.float64)
            dx[d] = step
            assert (enc(x + dx) - y0).abs().max() <= lipschitz * step
        # straddle vertex planes of the finest level: just below and above x = k / N_max
        res = enc.resolutions[-1]
        k = torch.tensor([[3.0, 17.0, 40.0], [11.0, 63.0, 1.0]], dtype=torch.float64)
        below, above = enc(k / res - step), enc(k / res + step)
        assert (above - below).abs().max() <= lipschitz * 2 * step * math.sqrt(3)
        # ... while distinct random points do differ (the bound above is not vacuous)
        assert (enc(x[:32]) - enc(x[32:])).abs().max() > 1000 * lipschitz * step


# --- gradients ----------------------------------------------------------------------------------------------


def test_table_gradient_matches_finite_differences():
    enc = HashGridEncoder(n_levels=3, n_features=2, log2_table_size=6, base_resolution=2, max_resolution=12)
    x = torch.rand(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    table = torch.randn(enc.embeddings.shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: hashgrid_reference(x, t, enc.resolutions, enc.dense), (table,))


def test_input_gradient_matches_finite_differences():
    enc = HashGridEncoder(n_levels=3, n_features=2, log2_table_size=6, base_resolution=2, max_resolution=12)
    table = torch.randn(enc.embeddings.shape, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(200, 3, generator=gen, dtype=torch.float64)
    # keep points well inside a cell at every level: the encoding is only piecewise smooth
    frac = torch.stack([(x * r) % 1.0 for r in enc.resolutions])
    x = x[((frac > 0.05) & (frac < 0.95)).all(0).all(-1)][:5].clone().requires_grad_(True)
    assert x.shape[0] == 5
    assert torch.autograd.gradcheck(lambda p: hashgrid_reference(p, table, enc.resolutions, enc.dense), (x,))


# --- Triton vs reference ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", _device_params())
def test_triton_matches_reference(device, monkeypatch, request):
    if not HAS_TRITON:
        pytest.skip("triton is not importable (pip install triton to test the kernels)")
    if device == "cpu" and run_in_clean_interpreter(request):
        return
    if device == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")       # the interpreter is slow: few points, small tables
        # several programs per level, the last one partial: exercises masking and the gradient replicas
        monkeypatch.setattr("emohead.render.hashgrid_triton.INTERPRET_BLOCK", 64)
        cfg, n = dict(n_levels=4, log2_table_size=10, base_resolution=2, max_resolution=64), 300
    else:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        cfg, n = dict(n_levels=16, log2_table_size=19, base_resolution=16, max_resolution=2048), 100_003
    enc = HashGridEncoder(n_features=2, backend="triton", **cfg).to(device)
    assert enc.backend == "triton"
    assert any(enc.dense) and not all(enc.dense)          # both index kinds are exercised
    with torch.no_grad():
        enc.embeddings.normal_()
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(n, 3, generator=gen) * 1.2 - 0.1       # some points outside the cube (clamped)
    x[:4] = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.25, 1.0], [1.0, 0.0, 0.5]])
    x = x.to(device)
    g = torch.randn(n, enc.output_dim, generator=gen).to(device)

    y = enc(x)
    (y * g).sum().backward()
    grad_triton = enc.embeddings.grad.clone()
    enc.embeddings.grad = None
    y_ref = hashgrid_reference(x, enc.embeddings, enc.resolutions, enc.dense)
    (y_ref * g).sum().backward()

    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_triton, enc.embeddings.grad, rtol=1e-5, atol=1e-4 if device == "cuda" else 1e-5)
    assert grad_triton.abs().sum() > 0


def _ray_points(n: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """[n, 3] points in ray order: `samples` consecutive points along each of several random segments in the cube."""
    n_rays = -(-n // samples)
    start, end = torch.rand(n_rays, 1, 3, generator=gen), torch.rand(n_rays, 1, 3, generator=gen)
    s = torch.linspace(0.0, 1.0, samples)[None, :, None]
    return (start + s * (end - start)).reshape(-1, 3)[:n].contiguous()


def _with_designs(monkeypatch):
    """Add backward designs that aggregate every level ("always") and none ("never") to DESIGNS."""
    from emohead.render import hashgrid_triton

    forward, backward = hashgrid_triton.DESIGNS["aggregated"]
    for name, fraction in (("always", 1.0), ("never", 1e-9)):
        monkeypatch.setitem(hashgrid_triton.DESIGNS, name,
                            (forward, hashgrid_triton.PassConfig(**{**backward.__dict__, "aggregate": fraction})))
    return hashgrid_triton


@pytest.mark.parametrize("device", _device_params())
def test_triton_aggregated_backward_matches_reference_on_rays(device, monkeypatch, request):
    # points in ray order (what renderers and the trainer feed): at coarse levels runs of consecutive points share a
    # cell, and the aggregated backward sums each run before its atomics. Every design must equal the reference,
    # including a last, partial program and points outside the cube (clamped: runs on the faces).
    if not HAS_TRITON:
        pytest.skip("triton is not importable (pip install triton to test the kernels)")
    if device == "cpu" and run_in_clean_interpreter(request):
        return
    if device == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        monkeypatch.setattr("emohead.render.hashgrid_triton.INTERPRET_BLOCK", 64)
        cfg, n, samples = dict(n_levels=4, log2_table_size=10, base_resolution=2, max_resolution=64), 300, 40
    else:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        cfg, n, samples = dict(n_levels=16, log2_table_size=19, base_resolution=16, max_resolution=2048), 100_003, 256
    hashgrid_triton = _with_designs(monkeypatch)
    enc = HashGridEncoder(n_features=2, backend="triton", **cfg)
    assert any(enc.dense) and not all(enc.dense)
    gen = torch.Generator().manual_seed(7)
    table = torch.randn(enc.embeddings.shape, generator=gen).to(device).requires_grad_(True)
    x = _ray_points(n, samples, gen) * 1.2 - 0.1
    x, g = x.to(device), torch.randn(n, enc.output_dim, generator=gen).to(device)
    y_ref = hashgrid_reference(x, table, enc.resolutions, enc.dense)
    (grad_ref,) = torch.autograd.grad(y_ref, table, g)
    for design in ("aggregated", "always", "never", "per-corner"):
        y = hashgrid_triton.hashgrid_triton(x, table, enc.resolutions, enc.dense, design=design)
        (grad,) = torch.autograd.grad(y, table, g)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5, msg=design)
        torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-4 if device == "cuda" else 1e-5, msg=design)


def test_triton_aggregated_backward_issues_one_atomic_per_run(triton_device, monkeypatch):
    # count the table entries the backward's atomic adds touch (interpreter): per point, level and corner x-pair
    # 2F floats with the per-corner design; with every level aggregated, 2F floats per pair and run of consecutive
    # points (in one program) that lie in one cell of the level, and nothing else
    if triton_device == "cuda":
        pytest.skip("counts the atomics in Triton's CPU interpreter")
    from triton.runtime import interpreter

    hashgrid_triton = _with_designs(monkeypatch)
    block = 32
    monkeypatch.setattr(hashgrid_triton, "INTERPRET_BLOCK", block)
    counted = []
    rmw = interpreter.InterpreterBuilder.create_atomic_rmw

    def counting_rmw(self, op, ptr, val, mask, sem, scope):
        counted.append(int(mask.data.sum()))
        return rmw(self, op, ptr, val, mask, sem, scope)

    monkeypatch.setattr(interpreter.InterpreterBuilder, "create_atomic_rmw", counting_rmw)
    enc = HashGridEncoder(n_levels=3, n_features=2, log2_table_size=10, base_resolution=2, max_resolution=32)
    n, f = 150, enc.n_features
    x = _ray_points(n, 50, torch.Generator().manual_seed(8))
    table = enc.embeddings.detach().clone().requires_grad_(True)
    touched = {}
    for design in ("per-corner", "always"):
        counted.clear()
        y = hashgrid_triton.hashgrid_triton(x, table, enc.resolutions, enc.dense, design=design)
        torch.autograd.grad(y.sum(), table)
        touched[design] = sum(counted)
    runs = 0
    for res in enc.resolutions:    # a run ends where the next point lies in another cell or the program ends
        cell = torch.minimum((x * float(res)).floor(), torch.tensor(res - 1.0))
        end = torch.ones(n, dtype=torch.bool)
        end[:-1] = (cell[1:] != cell[:-1]).any(-1)
        end[block - 1::block] = True
        runs += int(end.sum())
    assert touched["per-corner"] == n * enc.n_levels * 4 * 2 * f
    assert touched["always"] == runs * 4 * 2 * f
    assert runs < 0.5 * n * enc.n_levels        # the rays make long runs: far fewer atomics


def test_triton_fold_sums_gradient_replicas(triton_device, monkeypatch):
    # level 0 (N = 2, dense, 27 rows) scattered into K = 5 replicas: the fold sums them into rows 0..26 and
    # zeroes the replica rows; level 1 (K = 1) is left alone. Several programs per level on the CPU interpreter.
    from emohead.render import hashgrid_triton

    monkeypatch.setattr(hashgrid_triton, "INTERPRET_BLOCK", 16)
    k, rows = 5, 27
    grad = torch.randn(2, 256, 2, generator=torch.Generator().manual_seed(6))
    expected = grad.clone()
    expected[0, :rows] = grad[0, :k * rows].reshape(k, rows, 2).sum(0)
    expected[0, rows:k * rows] = 0
    folded = grad.to(triton_device)
    hashgrid_triton._fold_replicas(folded, (k, 1), (2, 100))
    torch.testing.assert_close(folded.cpu(), expected, rtol=1e-6, atol=1e-6)


def test_triton_vertex_lookup(triton_device):
    enc = _small(backend="triton").to(triton_device)
    assert enc.backend == "triton"
    _check_vertex_lookup(enc, triton_device)


def test_triton_gives_no_input_gradient(triton_device):
    enc = _small(backend="triton").to(triton_device)
    x = torch.rand(5, 3, device=triton_device, requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient w.r.t. x"):
        enc(x)
    y = enc(x.detach())                                   # the table still gets its gradient
    y.sum().backward()
    assert enc.embeddings.grad is not None and enc.embeddings.grad.abs().sum() > 0
    with torch.no_grad():                                 # inference with a grad-requiring x is fine
        assert enc(x).shape == (5, 4)


# --- fallbacks and input checks -----------------------------------------------------------------------------


def test_triton_falls_back_without_triton(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)      # makes `import triton` raise ImportError
    with pytest.warns(UserWarning, match="backend 'triton' unavailable: triton is not importable"):
        enc = _small(backend="triton")
    assert enc.backend == "torch" and enc.requested_backend == "triton"
    assert enc(torch.rand(3, 3)).shape == (3, 4)


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not importable")
def test_triton_falls_back_without_cuda(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        enc = _small(backend="triton")
    assert enc.backend == "torch"


def test_tcnn_falls_back_when_unavailable(monkeypatch):
    if importlib.util.find_spec("tinycudann") is not None:
        monkeypatch.setitem(sys.modules, "tinycudann", None)
    with pytest.warns(UserWarning, match="backend 'tcnn' unavailable: tinycudann is not importable"):
        enc = _small(backend="tcnn")
    assert enc.backend == "torch" and enc.tcnn is None


@pytest.mark.skipif(not HAS_CUDA or importlib.util.find_spec("tinycudann") is None,
                    reason="tinycudann and CUDA are needed for the tcnn backend")
def test_tcnn_backend_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = HashGridEncoder(n_levels=4, log2_table_size=12, backend="tcnn")
    assert enc.backend == "tcnn" and enc.embeddings is None
    y = enc(torch.rand(1000, 3, device="cuda"))
    assert y.shape == (1000, 8) and y.dtype == torch.float32
    y.square().sum().backward()
    assert torch.isfinite(enc.tcnn.params.grad).all()


def test_unknown_backend_and_bad_settings():
    with pytest.raises(ValueError, match="backend must be one of"):
        HashGridEncoder(backend="cuda")
    with pytest.raises(ValueError, match="max_resolution"):
        HashGridEncoder(base_resolution=64, max_resolution=32)
    with pytest.raises(ValueError, match="log2_table_size"):
        HashGridEncoder(log2_table_size=40)


@pytest.mark.parametrize("bad, problem", [
    (torch.rand(5, 2), "shape"),
    (torch.rand(5, 3, 1), "shape"),
    (torch.rand(3), "shape"),
    (torch.randint(0, 2, (5, 3)), "floating-point"),
    (torch.tensor([[0.1, float("nan"), 0.2]]), "NaN or infinite"),
    (torch.tensor([[0.1, 0.3, float("inf")]]), "NaN or infinite"),
])
def test_bad_input_raises(bad, problem):
    enc = _small()
    with pytest.raises(ValueError, match=f"HashGridEncoder: .*{problem}"):
        enc(bad)
