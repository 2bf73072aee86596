"""Training on a tiny synthetic corpus: determinism, checkpoints, resume, reuse, CLI."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from emohead.audio2exp import (WindowSampler, evaluate, load_audio2exp, load_tracks, predict, silence_features,
                               train_audio2exp)
from emohead.cli import main


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)


def test_tracks_pair_each_clip_with_the_other_actor(a2e_world):
    ds, store, planes, profile, _ = a2e_world
    tracks = load_tracks(ds, store, split="train")
    assert len(tracks) == len(ds.clips(split="train"))
    for t in tracks:
        assert len(t.partners) == 1                      # 2 actors: one partner with the same sentence and emotion
        assert t.partners[0].shape == t.alpha.shape
        assert t.silent[:3].all()                        # clips start with silence
    sil = silence_features(tracks)
    assert {k: v.shape[0] for k, v in sil.items()} == store.dims


def test_batches_depend_only_on_seed_and_iteration_and_shard_cleanly(a2e_world):
    ds, store, planes, profile, _ = a2e_world
    tracks = load_tracks(ds, store, split="train")
    sampler = WindowSampler(tracks, planes.emotions, silence_features(tracks), window=16, context=5)
    a, b = sampler.batch(7, 3, 6), sampler.batch(7, 3, 6)
    assert np.array_equal(a.start, b.start) and np.array_equal(a.audio, b.audio)
    assert not np.array_equal(sampler.batch(7, 4, 6).audio, a.audio)
    half = sampler.batch(7, 3, 6, rows=slice(3, 6))
    np.testing.assert_array_equal(half.audio, a.audio[3:])
    np.testing.assert_array_equal(half.partner, a.partner[3:])
    assert a.audio.shape == (6, 5 + 16, store.dims["audio"]) and a.alpha.shape == (6, 16, 10)
    # the context of a window is the 5 frames before it; before frame 0 it is silence
    sil = silence_features(tracks)["audio"]
    c, st = int(a.clip[0]), int(a.start[0])
    expected = np.concatenate([np.tile(sil, (5, 1)), sampler.tracks[c].audio])[st:st + 21]
    np.testing.assert_array_equal(a.audio[0], expected)


def test_training_is_deterministic_resumes_exactly_and_is_reused(a2e_world, tmp_path):
    ds, store, planes, profile, _ = a2e_world
    cfg = profile.audio2exp
    full, hist = train_audio2exp(ds, store, planes, cfg, tmp_path / "a", seed=3, progress=False)
    again, _ = train_audio2exp(ds, store, planes, cfg, tmp_path / "b", seed=3, progress=False)
    assert_same_state(state(full), state(again))
    assert len(hist["val_rmse"]) >= 1 and np.isfinite(hist["final_val"]["rmse"])
    assert hist["loss"][-1] < hist["loss"][0]

    # interrupted after 5 of 12 iterations (checkpoint at 4 and at the stop), then resumed
    part, _ = train_audio2exp(ds, store, planes, cfg, tmp_path / "c", seed=3, progress=False, stop_at=5)
    ckpt = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)
    assert ckpt["iteration"] == 5 and not (tmp_path / "c" / "model.safetensors").exists()
    resumed, hist_c = train_audio2exp(ds, store, planes, cfg, tmp_path / "c", seed=3, progress=False)
    assert_same_state(state(full), state(resumed))
    assert hist_c["iteration"] == hist["iteration"]

    # a finished run is reused, and loads back to the same predictions
    reused, hist_r = train_audio2exp(ds, store, planes, cfg, tmp_path / "a", seed=3, progress=False)
    assert hist_r["final_val"] == hist["final_val"]
    clip = ds.clips(split="test")[0]
    loaded = load_audio2exp(tmp_path / "a")
    np.testing.assert_allclose(predict(loaded, store.get(clip.id)).alpha_tilde,
                               predict(full, store.get(clip.id)).alpha_tilde, atol=1e-6)
    # damaged model files: errors that name the file, never a raw traceback or a NaN model
    import shutil

    from safetensors.torch import load_file, save_file

    for name, damage, expected in (
            ("truncated", lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:500]),
             "model.safetensors: not a readable safetensors"),
            ("json", lambda d: (d / "model.json").write_text("{\"format\": "), "model.json: cannot read"),
            ("nan", lambda d: save_file({k: (v * float("nan") if k == "e1.weight" else v)
                                         for k, v in load_file(str(d / "model.safetensors")).items()},
                                        str(d / "model.safetensors")), "tensor 'e1.weight' .* NaN"),
            ("shape", lambda d: save_file({k: (v[:, :3].contiguous() if k == "e1.weight" else v)
                                           for k, v in load_file(str(d / "model.safetensors")).items()},
                                          str(d / "model.safetensors")), "model.safetensors: does not match")):
        folder = tmp_path / f"damaged-{name}"
        shutil.copytree(tmp_path / "a", folder)
        damage(folder)
        with pytest.raises(ValueError, match=expected):
            load_audio2exp(folder)

    # other settings: the old run is moved aside, not overwritten
    changed = dataclasses.replace(cfg, rho=0.7)
    train_audio2exp(ds, store, planes, changed, tmp_path / "a", seed=3, progress=False)
    stale = list((tmp_path / "a").glob("stale-*"))
    assert len(stale) == 1 and (stale[0] / "model.safetensors").is_file()
    meta = json.loads((tmp_path / "a" / "model.json").read_text())
    assert meta["config"]["rho"] == 0.7


def test_interrupt_writes_a_checkpoint(a2e_world, tmp_path, monkeypatch):
    ds, store, planes, profile, _ = a2e_world
    import emohead.audio2exp.training as training

    calls = {"n": 0}
    real = training.batch_loss

    def flaky(model, batch, cfg):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(model, batch, cfg)

    monkeypatch.setattr(training, "batch_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_audio2exp(ds, store, planes, profile.audio2exp, tmp_path, seed=1, progress=False)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["iteration"] == 6


@pytest.mark.parametrize("variant", ["no_alignment", "no_refinement"])
def test_ablation_variants_train(a2e_world, tmp_path, variant):
    ds, store, planes, profile, _ = a2e_world
    cfg = dataclasses.replace(profile.audio2exp, variant=variant, iterations=6)
    model, hist = train_audio2exp(ds, store, planes, cfg, tmp_path, seed=0, progress=False)
    assert np.isfinite(hist["final_val"]["rmse"])
    assert model.refines == (variant != "no_refinement")
    assert evaluate(model, load_tracks(ds, store, split="test", with_partners=False))["rmse"] == pytest.approx(
        hist["final_val"]["rmse"], rel=1e-5)


def test_cli_trains_and_reports_bad_paths(a2e_world, tmp_path, capsys):
    ds, store, planes, profile, root = a2e_world
    args = ["train-a2e", "--profile", "smoke", "--set", "audio2exp.iterations=4", "--set", "audio2exp.window=16",
            "--set", "synth.image_size=32", "--data", str(root / "data"),
            "--hyperplanes", str(root / "hyperplanes" / "hyperplanes.npz"), "--out", str(tmp_path / "a2e")]
    assert main(args) == 0
    assert (tmp_path / "a2e" / "model.safetensors").is_file()
    assert "test-split RMSE" in capsys.readouterr().out
    bad = args[:-4] + ["--features", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"),
                       "--hyperplanes", str(root / "hyperplanes" / "hyperplanes.npz")]
    assert main(bad) == 2
    assert "--features" in capsys.readouterr().err


def test_a_model_meeting_other_features_names_their_backend(a2e_world, tmp_path):
    from emohead.audio2exp import A2EDataError, check_store
    from emohead.features import FeatureStore

    ds, store, planes, profile, _ = a2e_world
    model, _ = train_audio2exp(ds, store, planes, dataclasses.replace(profile.audio2exp, iterations=2), tmp_path,
                               seed=0, progress=False)
    check_store(model, store)                                    # same widths: fine
    index = json.loads((store.root / "index.json").read_text())
    index["dims"]["text"] = 4096
    index["backends"]["text"] = "llama"
    other = tmp_path / "other_features"
    other.mkdir()
    (other / "index.json").write_text(json.dumps(index))
    with pytest.raises(A2EDataError, match=r"text features are 4096-d \(made by the 'llama' backend\).*'hashed'"):
        check_store(model, FeatureStore(other))


def test_nan_in_a_clips_alpha_stops_training_naming_the_clip(a2e_world, tmp_path, capsys):
    import shutil

    ds, store, planes, profile, root = a2e_world
    shutil.copytree(root / "data", tmp_path / "data")
    shutil.copytree(root / "features", tmp_path / "features")
    clip = ds.clips(split="train")[1]
    path = tmp_path / "data" / "clips" / clip.id / "arrays.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["alpha"][5, 0] = np.nan
    np.savez(path, **arrays)
    args = ["train-a2e", "--profile", "smoke", "--set", "audio2exp.iterations=4", "--set", "audio2exp.window=16",
            "--set", "synth.image_size=32", "--data", str(tmp_path / "data"),
            "--hyperplanes", str(root / "hyperplanes" / "hyperplanes.npz"), "--out", str(tmp_path / "a2e")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert clip.id in err and "NaN" in err and "frame 5" in err
    assert not (tmp_path / "a2e" / "model.safetensors").exists()


def test_a_corrupt_checkpoint_is_moved_aside_and_training_restarts(a2e_world, tmp_path, caplog):
    ds, store, planes, profile, _ = a2e_world
    cfg = dataclasses.replace(profile.audio2exp, iterations=8)
    reference, ref_hist = train_audio2exp(ds, store, planes, cfg, tmp_path / "ref", seed=2, progress=False)
    out = tmp_path / "run"
    train_audio2exp(ds, store, planes, cfg, out, seed=2, progress=False, stop_at=4)
    ckpt = out / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])                         # truncated, as by a full disk
    with caplog.at_level("WARNING"):
        model, hist = train_audio2exp(ds, store, planes, cfg, out, seed=2, progress=False)
    aside = list(out.glob("checkpoint.pt.corrupt-*"))
    assert len(aside) == 1 and "checkpoint.pt cannot be read" in caplog.text and aside[0].name in caplog.text
    assert hist["final_val"]["rmse"] == pytest.approx(ref_hist["final_val"]["rmse"], rel=1e-6)   # restarted at 0


def test_a_second_trainer_of_the_same_folder_fails_at_once(a2e_world, tmp_path):
    from emohead.files import FolderLock, FolderLockedError
    from emohead.reproduce import run_manifest

    ds, store, planes, profile, _ = a2e_world
    out = tmp_path / "run" / "audio2exp" / "full"
    out.mkdir(parents=True)
    with FolderLock(out):                                   # as another process training there would hold it
        with pytest.raises(FolderLockedError, match=r"full: another writer holds it \(pid"):
            train_audio2exp(ds, store, planes, dataclasses.replace(profile.audio2exp, iterations=2), out,
                            seed=0, progress=False)
        assert not (out / "checkpoint.pt").exists() and not (out / "model.safetensors").exists()
    train_audio2exp(ds, store, planes, dataclasses.replace(profile.audio2exp, iterations=2), out, seed=0,
                    progress=False)                         # released: it trains
    assert (out / "model.safetensors").is_file() and out.with_name("full.lock").is_file()
    assert not any(k.endswith(".lock") for k in run_manifest(tmp_path / "run"))   # locks are no run outputs
