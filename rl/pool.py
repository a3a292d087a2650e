"""Worker pools: where self-play episode generation and arena games run.

Why an interface this small: episode generation and the arena are embarrassingly parallel
(independent shards / players on pinned episodes), so all they need is "run these picklable
tasks, give me the results in task order". `LocalPool` runs them here (the reference: tests,
small runs, and the daemon's scheduled subprocess); `ProcessPool` runs them in local worker
processes; `RayPool` runs them as Ray tasks (a local Ray, or a cluster's address), and neither
`rl.selfplay` nor the arenas change. Results must not depend on the pool: every task carries
its own seed, and a test holds the in-process and process pools to identical results.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")


class WorkerPool(Protocol):
    """Runs independent tasks, returns results in task order (local, processes, or Ray)."""

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> list[ResultT]: ...


class LocalPool:
    """In-process pool: the reference implementation and the default."""

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> list[ResultT]:
        """Run each task here, in order."""
        return [fn(task) for task in tasks]


def _init_worker(torch_threads: int) -> None:
    """Each worker computes on `torch_threads` threads: N workers x 1 thread fill N cores
    without the oversubscription that N x (all cores) threads cause."""
    import torch

    torch.set_num_threads(torch_threads)


class ProcessPool:
    """Local worker processes (`spawn`: no forked torch or sqlite state). `fn` and the tasks
    must pickle (module-level functions, dataclasses of arrays and payloads). Start-up costs
    ~1-2 s per worker (importing torch), so it pays off only for tasks of several seconds."""

    def __init__(self, workers: int | None = None, torch_threads: int = 1) -> None:
        self.workers = max(1, workers or (os.cpu_count() or 1))
        self.torch_threads = torch_threads

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> list[ResultT]:
        """Run the tasks on up to `workers` processes; results in task order."""
        if not tasks:
            return []
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=context,
                                 initializer=_init_worker,
                                 initargs=(self.torch_threads,)) as executor:
            return list(executor.map(fn, tasks))


class RayPool:
    """Ray tasks (the scale-out engine: ADR-050's walk-forward fans out on it too). Joins
    the Ray already initialized in this process, else starts one: local with `address`
    None, or the cluster at `address`. Each task asks for one CPU; results come back in
    task order. `fn` and the tasks must pickle, as for `ProcessPool`."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address, self.num_cpus = address, num_cpus

    def map(self, fn: Callable[[TaskT], ResultT], tasks: Sequence[TaskT]) -> list[ResultT]:
        """Run the tasks on Ray; results in task order."""
        if not tasks:
            return []
        import ray  # only when asked for: importing ray costs seconds

        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, log_to_driver=False)
        remote = ray.remote(num_cpus=1)(fn)
        return list(ray.get([remote.remote(task) for task in tasks]))


def make_pool(workers: int) -> WorkerPool:
    """`LocalPool` for 0 or 1 workers, else a `ProcessPool` of that many."""
    return LocalPool() if workers <= 1 else ProcessPool(workers)
