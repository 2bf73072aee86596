"""Two gloo processes on the CPU: sharded feature extraction and DistributedDataParallel training.

One ``torch.multiprocessing.spawn`` of 2 ranks runs everything (process start-up dominates the time);
each rank records, through an audit hook, every file it opened for writing or renamed into place, so
the tests can tell which rank wrote what. The single-process references run in the pytest process.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2exp.conftest import a2e_world  # noqa: F401  (the tiny corpus with features and hyperplanes)
from emohead import distributed as dist

WORLD = 2
THREADS = 1        # the references run with the workers' thread count: only the DDP reduction may round differently
BATCH = 5          # odd on purpose: rows split 3 + 2, the loss normalisation must not assume equal shares
SEED = 3


def test_shards_and_rows_are_disjoint_and_cover_everything():
    items = list(range(11))
    shares = [dist.shard(items, r, 3) for r in range(3)]
    assert sorted(sum(shares, [])) == items and shares[0] == [0, 3, 6, 9]
    for B, w in ((5, 2), (8, 3), (3, 3), (64, 2)):
        sl = [dist.rows(B, r, w) for r in range(w)]
        assert [s.start for s in sl] == [0] + [s.stop for s in sl[:-1]] and sl[-1].stop == B
        assert max(s.stop - s.start for s in sl) - min(s.stop - s.start for s in sl) <= 1
    # one process: everything is a no-op
    assert not dist.is_initialized() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.rows(5) == slice(0, 5) and dist.all_gather_object("x") == ["x"]
    assert str(dist.local_device("cuda")) == "cuda"


def test_shard_parts_of_the_loss_sum_to_the_global_loss():
    from emohead.audio2exp.losses import l_reg, l_reg_const, l_reg_const_part, l_reg_part

    g = torch.Generator().manual_seed(0)
    t, p, q = (torch.randn(7, 4, 10, generator=g) for _ in range(3))
    has = torch.tensor([1, 0, 1, 1, 0, 1, 1], dtype=torch.bool)
    for cut in (1, 3, 6):
        a, b = slice(0, cut), slice(cut, 7)
        torch.testing.assert_close(l_reg_part(t[a], p[a], 7) + l_reg_part(t[b], p[b], 7), l_reg(t, p))
        n_p = int(has.sum())
        torch.testing.assert_close(l_reg_const_part(t[a], p[a], q[a], has[a], 0.5, 7, n_p)
                                   + l_reg_const_part(t[b], p[b], q[b], has[b], 0.5, 7, n_p),
                                   l_reg_const(t, p, q, has, 0.5))


# -- the two-process run -----------------------------------------------------------------------------
def _profile():
    from emohead.config import load_profile

    return load_profile("smoke", {"synth.image_size": 32, "audio2exp.iterations": 12,
                                  "audio2exp.checkpoint_every": 4, "audio2exp.batch_size": BATCH,
                                  "audio2exp.window": 16})


def _sgd_setup(ds, store, planes, cfg):
    """A model, a plain SGD optimiser (its step is proportional to the gradient, scale included) and the sampler."""
    from emohead.audio2exp import FeatureInfo, WindowSampler, build_model, load_tracks, silence_features
    from emohead.audio2exp.data import feature_stats

    train = load_tracks(ds, store, split="train")
    silence = silence_features(train)
    sampler = WindowSampler(train, planes.emotions, silence, window=cfg.window, context=cfg.n_neighbors)
    model = build_model(cfg, FeatureInfo(dims=store.dims, backends=store.backends), planes.normals,
                        planes.emotions, SEED)
    model.set_statistics(feature_stats(train), silence)
    return model, torch.optim.SGD(model.parameters(), lr=0.01), sampler


def _record_writes(root: Path, log: list[str]) -> None:
    """Audit hook: every path under ``root`` this process opens for writing or renames onto."""
    root_s = str(root)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & write_flags)
        elif event == "os.rename":
            path, writing = args[1], True
        else:
            return
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            p = os.fsdecode(os.fspath(path))
            if p.startswith(root_s):
                log.append(os.path.relpath(p, root_s))

    import sys

    sys.addaudithook(hook)


def _worker(rank: int, port: int, root: str, out: str) -> None:
    from emohead.audio2exp import TrainStep, train_audio2exp
    from emohead.data import ProcessedDataset
    from emohead.emotion import EmotionHyperplanes
    from emohead.features import FeatureStore, extract_dataset

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(THREADS)
    root_p, out_p = Path(root), Path(out)
    writes: list[str] = []
    _record_writes(out_p, writes)
    assert dist.init_from_env("cpu") and dist.world_size() == WORLD and dist.rank() == rank
    profile = _profile()
    ds = ProcessedDataset(root_p / "data")
    result: dict = {}

    # (a) sharded extraction, a cached rerun, and a rerun after one rank's file was lost
    store = extract_dataset(ds, profile.features, out_p / "features", progress=False)
    result["first"], result["clips_seen"] = store.last_run, len(store)
    result["first_writes"] = list(writes)
    store = extract_dataset(ds, profile.features, out_p / "features", progress=False)
    result["cached"] = store.last_run
    dist.barrier()
    if rank == 0:
        (out_p / "features" / f"{ds.records[1].id}.npz").unlink()    # clip 1 belongs to rank 1
    dist.barrier()
    store = extract_dataset(ds, profile.features, out_p / "features", progress=False)
    result["after_loss"] = store.last_run

    # (b) DDP: two plain SGD steps (they see the gradient's scale, which Adam would hide); then the real trainer
    feats = FeatureStore(root_p / "features")
    planes = EmotionHyperplanes.load(root_p / "hyperplanes" / "hyperplanes.npz")
    model, opt, sampler = _sgd_setup(ds, feats, planes, profile.audio2exp)
    step = TrainStep(model, opt, sampler, profile.audio2exp, torch.device("cpu"), SEED)
    result["rows"] = [step.rows.start, step.rows.stop]
    for it in range(2):
        step(it)
    if rank == 0:
        torch.save(model.state_dict(), out_p / "sgd_state.pt")
    dist.barrier()
    before = len(writes)
    model, hist = train_audio2exp(ds, feats, planes, profile.audio2exp, out_p / "a2e", seed=SEED, progress=False,
                                  val_every=6)
    result["a2e_writes"] = writes[before:]
    result["history_loss"] = hist["loss"]
    torch.save(model.state_dict(), out_p / f"a2e_state_rank{rank}.pt")
    (out_p / f"result_rank{rank}.json").write_text(json.dumps(result))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def worker_threads():
    """Run the one-process reference with the workers' thread count (BLAS splits change float rounding)."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def two_ranks(a2e_world, tmp_path_factory):
    """Run the 2-rank job once; returns (results per rank, its output folder)."""
    import torch.multiprocessing as mp

    root = a2e_world[4]
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(root), str(out)), nprocs=WORLD, join=True)
    results = [json.loads((out / f"result_rank{r}.json").read_text()) for r in range(WORLD)]
    return results, out


def test_sharded_extraction_covers_every_clip_once_and_matches_one_process(a2e_world, two_ranks, tmp_path):
    from emohead.features import FeatureStore, extract_dataset

    ds, _, _, profile, _ = a2e_world
    results, out = two_ranks
    ids = [r.id for r in ds.records]
    written = [sorted(Path(w).stem for w in r["first_writes"] if w.startswith("features/") and w.endswith(".npz")
                      and not Path(w).name.startswith(".")) for r in results]
    assert written[0] == sorted(ids[0::2]) and written[1] == sorted(ids[1::2])   # disjoint, deterministic
    assert sorted(written[0] + written[1]) == sorted(ids)                        # every clip exactly once
    assert "features/index.json" in results[0]["first_writes"]
    assert not any(w.endswith("index.json") for w in results[1]["first_writes"])  # rank 0 writes the index
    for r in results:
        assert r["clips_seen"] == len(ids)
        assert r["first"] == {"computed": len(ids), "cached": 0}
        assert r["cached"] == {"computed": 0, "cached": len(ids)}
        assert r["after_loss"] == {"computed": 1, "cached": len(ids) - 1}

    single = extract_dataset(ds, profile.features, tmp_path / "single", progress=False)
    sharded = FeatureStore(out / "features")
    assert sharded.clip_ids == single.clip_ids == sorted(ids)
    assert sharded.dims == single.dims and sharded.settings == single.settings
    for cid in ids:
        assert sharded.stored_key(cid) == single.stored_key(cid)
        a, b = sharded.get(cid), single.get(cid)
        for name in ("audio", "emotion", "text"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{cid} {name}")
        assert a.words == b.words


def test_ddp_step_equals_the_one_process_step_of_the_global_batch(a2e_world, two_ranks, worker_threads):
    from emohead.audio2exp import TrainStep

    ds, store, planes, _, _ = a2e_world
    profile = _profile()                       # the fixture's, with the odd global batch
    results, out = two_ranks
    assert [r["rows"] for r in results] == [[0, 3], [3, 5]]
    model, opt, sampler = _sgd_setup(ds, store, planes, profile.audio2exp)
    step = TrainStep(model, opt, sampler, profile.audio2exp, torch.device("cpu"), SEED)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    for it in range(2):
        step(it)
    ddp = torch.load(out / "sgd_state.pt", weights_only=True)
    for k, v in model.state_dict().items():
        if k.startswith(("normals", "anchors", "mean_", "std_", "silence_")):
            assert torch.equal(ddp[k], v), k                       # buffers: never trained
            continue
        moved = (v - init[k]).abs().max()
        assert moved > 1e-6, k                                      # the steps moved every weight
        # the DDP update equals the one-process update of the whole batch (relative to the update's size)
        assert float((ddp[k] - v).abs().max()) <= 1e-3 * float(moved), k


def test_ddp_training_equals_one_process_and_only_rank_0_writes(a2e_world, two_ranks, tmp_path, worker_threads):
    from emohead.audio2exp import train_audio2exp

    ds, store, planes, _, _ = a2e_world
    profile = _profile()
    results, out = two_ranks
    single, hist = train_audio2exp(ds, store, planes, profile.audio2exp, tmp_path / "single", seed=SEED,
                                   progress=False, val_every=6)
    ref = single.state_dict()
    for r in range(WORLD):
        state = torch.load(out / f"a2e_state_rank{r}.pt", weights_only=True)
        for k, v in ref.items():
            torch.testing.assert_close(state[k], v, atol=1e-5, rtol=1e-4, msg=f"rank {r}: {k}")
    np.testing.assert_allclose(results[0]["history_loss"], hist["loss"], rtol=1e-5)
    assert results[1]["history_loss"] == results[0]["history_loss"]     # rank 1 returns rank 0's history

    names = {Path(w).name for w in results[0]["a2e_writes"]}
    assert {"checkpoint.pt", "model.safetensors", "model.json", "history.json"} <= names
    assert results[1]["a2e_writes"] == []                                 # rank 1 wrote nothing
    saved = json.loads((out / "a2e" / "history.json").read_text())
    assert saved["world_size"] == WORLD and saved["iteration"] == hist["iteration"]
    assert saved["val_iteration"] == hist["val_iteration"] == [6, 12]
    np.testing.assert_allclose(saved["val_rmse"], hist["val_rmse"], rtol=1e-4)


def test_torchrun_runs_the_train_a2e_command_on_two_processes(a2e_world, tmp_path):
    """`torchrun --nproc_per_node 2 -m emohead train-a2e ...`: one summary line, rank 0's files, world size 2."""
    import subprocess
    import sys

    root = a2e_world[4]
    out = tmp_path / "a2e"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD),
           "-m", "emohead", "train-a2e", "--profile", "smoke", "--set", "audio2exp.iterations=6",
           "--set", "audio2exp.batch_size=3", "--set", "audio2exp.window=16", "--data", str(root / "data"),
           "--features", str(root / "features"), "--hyperplanes", str(root / "hyperplanes" / "hyperplanes.npz"),
           "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("audio-expression model") == 1            # printed by rank 0 only
    history = json.loads((out / "history.json").read_text())
    assert history["world_size"] == WORLD and history["iteration"][-1] == 6
    assert (out / "model.safetensors").is_file() and not list(out.glob(".*tmp*"))
