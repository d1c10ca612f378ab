"""Where grid points run: one small interface, several executors.

An executor takes batches of work and yields each batch's result as soon as it is done,
in any order. The runner writes every result atomically as it arrives, so what an
executor computes is never lost when the sweep is stopped; and because each point's
numbers depend only on its content, the executor never changes them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` on every task; yields results as they finish, in any order.

    ``task_seconds`` is how long a task should run: enough to make the executor's
    per-task overhead small, and no more, since a stopped sweep loses running tasks.
    """

    task_seconds: float

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...


class SerialExecutor:
    """Runs every task in this process, in order: for debugging and tiny sweeps.

    No overhead per task, so every point is its own task and is saved as it finishes.
    """

    task_seconds = 0.0

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class ProcessExecutor:
    """A local pool of ``workers`` processes, started with ``spawn``.

    ``spawn`` gives each worker a clean interpreter: no inherited locks from threads in
    the parent (the progress display runs one), and the same behaviour on every OS.
    At most ``2 * workers`` tasks are in flight, so results stream back steadily and an
    interrupt loses at most the tasks then running.
    """

    task_seconds = 1.0

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        pending: set[Future[R]] = set()
        queue = iter(tasks)
        try:
            for task in queue:
                pending.add(pool.submit(fn, task))
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    task = next(queue, None)
                    if task is not None:
                        pending.add(pool.submit(fn, task))
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """Cores this process may use (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_executor(name: str, workers: int) -> Executor:
    """The executor called ``name``: ``serial`` or ``process``."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers) if workers > 1 else SerialExecutor()
    raise ValueError(f"unknown executor {name!r}; expected serial or process")
