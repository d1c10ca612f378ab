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


class PointRateColumn(ProgressColumn):
    """Rollouts simulated per second, from the ``rollouts`` field of a points task."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        rollouts = task.fields.get("rollouts", 0)
        if not elapsed or not rollouts:
            return Text("")
        return Text(f"{rollouts / elapsed:,.0f} rollouts/s")


@contextmanager
def point_progress(
    total_points: int, *, label: str, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield a callback ``done(rollouts)`` that marks one grid point finished.

    The bar counts points (done / total), shows rollouts per second and an ETA, and is
    shown only when ``enabled`` and standard error is a terminal.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda _rollouts: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        PointRateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(escape(label), total=total_points, rollouts=0)

        def done(rollouts: int) -> None:
            total = progress.tasks[task].fields["rollouts"] + rollouts
            progress.update(task, advance=1, rollouts=total)

        yield done
