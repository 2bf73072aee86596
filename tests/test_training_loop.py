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
