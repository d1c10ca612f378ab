"""One writer per results folder: an advisory lock file, ``<folder>/.lock``.

Two sweeps into the same folder would compute every point twice, and one would delete
the other's temporary files. The lock is ``fcntl.flock`` on a file that records the
holder's PID; the kernel releases it when the holder exits, however it exits (a crash,
SIGKILL), so a stale lock file never blocks anyone. On a platform without ``fcntl`` no
lock is taken.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from canary_mc.errors import LockedError, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"

POLL_SECONDS = 0.2
"""How often a waiting run retries the lock (it also learns the holder's PID this way)."""


def holder_pid(directory: Path) -> int | None:
    """The PID written in a folder's lock file, if any (the holder, or the last one)."""
    try:
        return int((Path(directory) / LOCK_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


@contextmanager
def results_lock(
    directory: str | Path, *, wait: bool = False, on_wait: Callable[[int | None], Any] | None = None
) -> Iterator[None]:
    """Hold the lock of a results folder for the duration of the block.

    Parameters
    ----------
    directory : path
        The results folder; created if missing.
    wait : bool
        Wait for the holder to finish instead of failing.
    on_wait : callable, optional
        Called once, with the holder's PID, when the lock is busy and ``wait`` is set.

    Raises
    ------
    LockedError
        If another process holds the lock and ``wait`` is false; names its PID.
    OutputError
        If the lock file cannot be created.
    """
    directory = Path(directory)
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = directory / LOCK_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(path, exc) from None
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = holder_pid(directory)
                if not wait:
                    who = f"process {pid}" if pid is not None else "another process"
                    raise LockedError(
                        f"{directory} is being written by {who} (lock {path}); wait for it "
                        "to finish, or pass --wait"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(pid)
                told = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
