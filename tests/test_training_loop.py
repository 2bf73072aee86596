"""The shared checkpoint / interrupt skeleton of the trainers."""
from __future__ import annotations

import pytest

from emohead.training_loop import CheckpointedLoop


def test_checkpoints_every_n_and_at_the_end_and_on_interrupt():
    history = {"seconds": 0.0}
    saved, seen = [], []
    loop = CheckpointedLoop(history, saved.append, checkpoint_every=3, where="ckpt.pt")

    def step(it, bar):
        seen.append(it)
        if it == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run(0, 10, 10, step, desc="t", progress=False)
    assert seen == list(range(8)) and saved == [3, 6, 7]       # iteration 7 did not finish: resume from 7
    assert history["seconds"] > 0.0
    seen.clear()
    loop.run(7, 10, 10, step=lambda it, bar: seen.append(it), desc="t", progress=False)
    assert seen == [7, 8, 9] and saved == [3, 6, 7, 9, 10]      # every 3rd iteration, then the end
    with pytest.raises(ValueError, match="checkpoint_every"):
        CheckpointedLoop(history, saved.append, checkpoint_every=0, where="x")


def test_ctrl_c_lets_the_step_finish_and_checkpoints_between_steps():
    import os
    import signal

    history = {"seconds": 0.0}
    saved, seen = [], []
    loop = CheckpointedLoop(history, saved.append, checkpoint_every=3, where="ckpt.pt")

    def step(it, bar):
        seen.append((it, "start"))
        if it == 7:
            os.kill(os.getpid(), signal.SIGINT)          # Ctrl-C arrives in the middle of the step ...
        seen.append((it, "end"))                         # ... which still finishes (the optimizer update)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        loop.run(0, 10, 10, step, desc="t", progress=False)
    assert seen[-2:] == [(7, "start"), (7, "end")] and len(seen) == 16
    assert saved == [3, 6, 8]                            # written after step 7 completed: resume from 8
    assert signal.getsignal(signal.SIGINT) is before     # the handler is restored


def test_the_checkpoint_before_the_last_is_kept_and_used_when_the_last_is_damaged(tmp_path, caplog):
    import torch

    from emohead.training_loop import RunFolder, read_checkpoint

    run = RunFolder(tmp_path, "meta.json", ("checkpoint.pt",))
    for it in (2, 4, 6):
        run.write_checkpoint({"iteration": it})
    ckpt, prev = tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"
    assert torch.load(prev, weights_only=True)["iteration"] == 4
    ckpt.write_bytes(ckpt.read_bytes()[:100])                       # damaged: the one before it takes its place
    with caplog.at_level("WARNING"):
        assert read_checkpoint(ckpt)["iteration"] == 4
    assert "checkpoint.prev.pt (iteration 4)" in caplog.text and len(list(tmp_path.glob("checkpoint.pt.corrupt-*"))) == 1
    assert run.read_checkpoint()["iteration"] == 4 and not prev.exists()
    run.write_checkpoint({"iteration": 6})
    ckpt.unlink()                                                   # a crash between the two renames of a write
    assert read_checkpoint(ckpt)["iteration"] == 4
    ckpt.write_bytes(b"junk")                                       # damaged, and nothing before it
    assert read_checkpoint(ckpt) is None
