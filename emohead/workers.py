"""Independent jobs at once, one worker process each: the ablation models of a run train side by side on one GPU.

A small model leaves a big GPU mostly idle: the audio-expression module trains at about 80 it/s on an H200,
its step bound by Python and kernel launches, not by the GPU. Several such trainings in separate processes fill
the GPU between each other's launches (``Profile.workers``; 1 runs the jobs here, one after another).

A job is a top-level function and picklable arguments (a worker is a fresh, spawned Python that imports emohead).
Trainers write their result to a finished run folder, so a job returns only plain data (a history) and the
caller reads the model back from disk: what a job produces does not depend on where it ran. One failed job does
not stop the others (what they finish stays on disk); :class:`JobError` then names every job that failed.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

log = logging.getLogger(__name__)


class JobError(RuntimeError):
    """One or more jobs failed; the message names each with its error."""


@dataclass(frozen=True)
class Job:
    """``fn(*args, **kwargs)`` under a name that progress and errors report."""

    name: str
    fn: Callable[..., Any]
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def _init_worker(threads: int) -> None:
    """Each worker gets its share of the CPU's threads (torch would otherwise start one per core in every worker)."""
    import torch

    torch.set_num_threads(threads)


def run_jobs(jobs: Sequence[Job], workers: int = 1, *, desc: str = "jobs", progress: bool = True) -> dict[str, Any]:
    """Run ``jobs``, up to ``workers`` at once in spawned processes -> {job name: its return value}.

    workers <= 1, or a single job: here, in order. Raises :class:`JobError` after every job has ended if any
    failed (the others' results are lost to the caller, not to disk).
    """
    from tqdm.auto import tqdm

    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    bar = tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress or not jobs)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            try:
                results[job.name] = job.fn(*job.args, **dict(job.kwargs))
            except Exception as err:                              # noqa: BLE001 - reported with the job's name
                errors[job.name] = err
            bar.update(1)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        n = min(workers, len(jobs))
        threads = max(1, (os.cpu_count() or 1) // n)
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(job.fn, *job.args, **dict(job.kwargs)): job.name for job in jobs}
            try:
                for fut in as_completed(futures):
                    name = futures[fut]
                    try:
                        results[name] = fut.result()
                        log.info("%s: %s done", desc, name)
                    except Exception as err:                      # noqa: BLE001 - reported with the job's name
                        errors[name] = err
                    bar.update(1)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    if errors:
        raise JobError(f"{desc}: {len(errors)} of {len(jobs)} jobs failed: " +
                       "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in errors.items())) \
            from next(iter(errors.values()))
    return {name: results[name] for name in names}
