"""Where grid points run: one small interface, several executors.

An executor takes batches of work and yields each batch's result as soon as it is done,
in any order. The runner writes every result atomically as it arrives, so what an
executor computes is never lost when the sweep is stopped; and because each point's
numbers depend only on its content, the executor never changes them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process gets when its parent dies."""

PARENT_POLL_SECONDS = 1.0
"""How often a worker checks that its parent is alive (where ``prctl`` is missing)."""


class WorkerLost(Exception):
    """A worker process died mid-task (killed by a signal, e.g. the out-of-memory killer).

    Attributes
    ----------
    task : object
        The task it was running, or one of those lost with it.
    """

    def __init__(self, task: Any) -> None:
        super().__init__("a worker process died")
        self.task = task


def die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the process ``parent_pid`` dies (SIGKILL included).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. Everywhere, also a daemon thread that
    exits the worker once its parent PID changes, which covers other systems and the
    race of the parent dying before ``prctl`` ran. A worker left behind would hold its
    memory (about 170 MB) for good.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="canary-mc-parent-watch", daemon=True).start()


class Executor(Protocol):
    """Runs ``fn`` on every task; yields results as they finish, in any order.

    ``task_seconds`` is how long a task should run: enough to make the executor's
    per-task overhead small, and no more, since a stopped sweep loses running tasks.
    An executor is a context manager: resources (a cluster, a connection) live between
    entering and exiting it.
    """

    task_seconds: float

    @property
    def parallelism(self) -> int:
        """Tasks that can run at once."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...


class _NoResources:
    """Context-manager methods for executors that hold nothing between maps."""

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class SerialExecutor(_NoResources):
    """Runs every task in this process, in order: for debugging and tiny sweeps.

    No overhead per task, so every point is its own task and is saved as it finishes.
    """

    task_seconds = 0.0
    parallelism = 1

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class ProcessExecutor(_NoResources):
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

    @property
    def parallelism(self) -> int:
        return self.workers

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        pending: dict[Future[R], T] = {}
        queue = iter(tasks)
        try:
            for task in queue:
                pending[pool.submit(fn, task)] = task
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise WorkerLost(task) from None
                    yield result
                    task = next(queue, None)
                    if task is not None:
                        pending[pool.submit(fn, task)] = task
        finally:
            for future in list(pending):
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    """Cores this process may use (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


EXECUTORS = ("serial", "process", "dask")


def make_executor(name: str, workers: int, scheduler: str | None = None) -> Executor:
    """The executor called ``name``: ``serial``, ``process`` or ``dask``.

    ``process`` with one worker runs in this process (no pool to start); ``dask``
    connects to ``scheduler`` or starts a local cluster of ``workers`` processes.
    """
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers) if workers > 1 else SerialExecutor()
    if name == "dask":
        from canary_mc.sweep.dask_executor import DaskExecutor

        return DaskExecutor(scheduler, workers)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
