"""Independent jobs in worker processes (emohead.workers): the models a run trains side by side are the models it
would train one after another."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from emohead.config import apply_overrides
from emohead.workers import Job, JobError, run_jobs


def test_jobs_run_in_other_processes_and_failures_are_named():
    here = os.getpid()
    pids = run_jobs([Job("a", os.getpid), Job("b", os.getpid)], workers=2, progress=False)
    assert list(pids) == ["a", "b"] and here not in pids.values()
    assert run_jobs([Job("a", os.getpid)], workers=1, progress=False) == {"a": here}      # one job: here
    with pytest.raises(JobError, match=r"1 of 2 jobs failed: bad: ValueError"):
        run_jobs([Job("good", int, ("7",)), Job("bad", int, ("x",))], workers=2, progress=False)
    with pytest.raises(ValueError, match="unique"):
        run_jobs([Job("a", int), Job("a", int)], workers=2, progress=False)


@pytest.mark.slow
def test_models_trained_side_by_side_equal_the_ones_trained_in_turn(render_world, tmp_path):
    """train_many with 2 workers writes the models train_audio2exp writes alone (same predictions), and a second
    call reuses them; the evaluation's missing models (variants, the [z; alpha] NeRF, the SyncNet) go to workers too."""
    from emohead.audio2exp import is_trained, predict, train_audio2exp, train_many
    from emohead.eval import NO_ALIGNMENT, NO_REFINEMENT, system_specs
    from emohead.eval.systems import _syncnet_ready, train_side_by_side
    from emohead.extract import ensure_analyser
    from emohead.render import is_trained as nerf_is_trained

    ds, store, planes, profile = render_world["ds"], render_world["store"], render_world["planes"], render_world["profile"]
    cfgs = {"reg": apply_overrides(profile, {"audio2exp.loss": "reg"}).audio2exp,
            "no_alignment": apply_overrides(profile, {"audio2exp.variant": "no_alignment"}).audio2exp}
    together = train_many(ds, store, planes, {k: (c, tmp_path / "together" / k) for k, c in cfgs.items()},
                          workers=2, progress=False)
    clip = ds.clips(split="test")[0].id
    for name, cfg in cfgs.items():
        alone, _ = train_audio2exp(ds, store, planes, cfg, tmp_path / "alone" / name, progress=False)
        a, b = predict(together[name][0], store.get(clip)), predict(alone, store.get(clip))
        np.testing.assert_allclose(a.alpha_tilde, b.alpha_tilde, atol=1e-5, err_msg=name)
        assert is_trained(ds, store, planes, cfg, tmp_path / "together" / name)
    assert not is_trained(ds, store, planes, cfgs["reg"], tmp_path / "together" / "no_alignment")

    run = tmp_path / "run"
    run.mkdir()
    for name in ("data", "features", "hyperplanes"):
        (run / name).symlink_to(render_world["root"] / name)
    prof = apply_overrides(profile, {"workers": 3, "eval.syncnet_steps": 5, "analyser.n_train": 64,
                                     "analyser.n_val": 16, "analyser.epochs": 1})
    analyser, _ = ensure_analyser(prof, run / "analyser", image_size=prof.synth.image_size, device="cpu",
                                  progress=False)
    specs = {k: v for k, v in system_specs(prof).items() if k in (NO_ALIGNMENT, NO_REFINEMENT)}
    speaker = ds.speakers[0]
    ran = train_side_by_side(prof, run, ds, store, planes, analyser, specs, speaker, device="cpu",
                             frame_size=prof.nerf.image_size, progress=False)
    assert sorted(ran) == ["audio2exp/no_alignment", "audio2exp/no_refinement", "nerf/full", "nerf/tag_alpha",
                           "syncnet"]
    assert nerf_is_trained(ds, prof.nerf, run / "nerf" / "tag_alpha", speaker=speaker, code="tag_alpha",
                           analyser=analyser)
    assert _syncnet_ready(ds, prof.eval, run, prof.nerf.image_size)
    assert train_side_by_side(prof, run, ds, store, planes, analyser, specs, speaker, device="cpu",
                              frame_size=prof.nerf.image_size, progress=False) == []
