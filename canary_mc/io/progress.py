"""The progress display: a rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RolloutRateColumn(ProgressColumn):
    """Rollouts simulated per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rollouts/s")


@contextmanager
def rollout_progress(
    total: int, *, label: str, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield a callback that advances a bar by a number of rollouts.

    The bar is shown only when ``enabled`` and standard error is a terminal, so piped and
    CI output stays clean.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda _done: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RolloutRateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(escape(label), total=total)
        yield lambda done: progress.advance(task, done)
