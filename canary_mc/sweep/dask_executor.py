"""The Dask executor: grid points on a Dask distributed cluster (``--executor dask``).

Only this module imports Dask, and only when the executor is entered, so canary-mc works
without the optional ``dask`` extra. The runner's code path is the same as for the other
executors: tasks go out, results come back to this process, which saves each point
atomically and draws the progress bar. A task's numbers depend only on its content, so a
task Dask reruns after a worker died gives the same numbers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from canary_mc.errors import CanaryMCError, ConfigError
from canary_mc.heap import keep_freed_memory

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
"""Environment variable naming the scheduler when ``--scheduler`` is not given."""

INSTALL_HINT = (
    "--executor dask needs the optional Dask extra; install it with "
    "`pip install 'canary-mc[dask]'` (or `.venv/bin/pip install -e '.[dask]'` in a clone)"
)

RETRIES = 3
"""Times Dask reruns a task that raised, or whose worker died."""


class MissingExtraError(CanaryMCError):
    """An optional dependency needed by the chosen option is not installed."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(INSTALL_HINT) from None
    return distributed


class DaskExecutor:
    """Runs tasks on a Dask cluster: an existing one, or a ``LocalCluster`` it starts.

    Parameters
    ----------
    scheduler : str, optional
        Address such as ``tcp://10.0.0.5:8786``; default: ``$DASK_SCHEDULER_ADDRESS``, and
        without it a ``LocalCluster`` of ``workers`` single-threaded worker processes,
        shut down on exit.
    workers : int
        Size of the local cluster (ignored when connecting to a scheduler).

    Use it as a context manager: entering connects (or starts the cluster), exiting
    disconnects (and stops it). Tasks last about :attr:`task_seconds` each, so Dask's
    per-task overhead (milliseconds) stays a small fraction of the run.
    """

    task_seconds = 2.0

    def __init__(self, scheduler: str | None, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
        self.workers = workers
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        distributed = _distributed()
        if self.scheduler is None:
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster)
        else:
            try:
                self._client = distributed.Client(self.scheduler, timeout="15s")
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a bad address
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {self.scheduler}: {exc}"
                ) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    @property
    def parallelism(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        info = self._client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        if self._client is None:
            raise RuntimeError("enter the DaskExecutor (with ...) before mapping tasks")
        distributed = _distributed()
        queue = iter(tasks)
        window = 2 * self.parallelism
        running = distributed.as_completed()
        for task in queue:
            running.add(self._submit(fn, task))
            if running.count() >= window:
                break
        try:
            for future in running:
                result = future.result()
                future.release()
                yield result
                task = next(queue, _DONE)
                if task is not _DONE:
                    running.add(self._submit(fn, task))
        finally:
            for future in running.futures:
                future.cancel()

    def _submit(self, fn: Callable[[T], R], task: T) -> Any:
        # pure=False: every submission is its own task, even for equal arguments.
        return self._client.submit(HeapReuse(fn), task, pure=False, retries=RETRIES)


@dataclass(frozen=True)
class HeapReuse:
    """Runs a task after :func:`canary_mc.heap.keep_freed_memory` in this worker.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which also turns off
    glibc's adaptive mmap threshold: every megabyte chunk array was then mapped, faulted
    in and unmapped anew, and a sweep ran 1.8x slower on a Dask worker than in a plain
    process (measured: 13.0 s against 7.3 s). Calling ``mallopt`` in the task overrides
    the variable.
    """

    fn: Callable[..., Any]

    def __call__(self, task: Any) -> Any:
        keep_freed_memory()
        return self.fn(task)


_DONE = object()
