"""Atomic, umask-honouring writes: a reader sees the old file or the whole new one.

Every file canary-mc writes (point tallies, Parquet, plots, ``report.md``, ``bench.json``)
goes through :func:`atomic_path`: the content is written to a temporary file beside the
target, then renamed over it. The temporary is created with mode ``0o666`` and the
process's umask applied by the kernel, as ``open`` does, so results are as readable as any
other file the user writes (not ``0600`` as ``tempfile.mkstemp`` makes them). Write errors
(not a folder, read-only, disk full) become :class:`~canary_mc.errors.OutputError`
naming the path, and leave neither a partial target nor a temporary behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from canary_mc.errors import OutputError

TEMPORARY_SUFFIX = ".tmp"
"""Temporaries are ``.<name>.<random>.tmp`` beside their target."""


def _create_temporary(path: Path) -> Path:
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    Parent folders are created. A reader sees either the old file or the complete new
    one, never a partial write, even if the process is killed mid-write.

    Raises
    ------
    OutputError
        If the folder, the temporary or the rename cannot be written (``OSError`` of the
        writer inside the block included), naming ``path``.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(path, exc) from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def check_writable(directory: str | Path) -> None:
    """Create ``directory`` if needed and prove a file can be written and renamed there.

    Called before any work, so a run into an unwritable place fails at once.

    Raises
    ------
    OutputError
        Naming the folder and the reason (``Not a directory``, ``Read-only file system``,
        ``Permission denied``, ``No space left on device``).
    """
    directory = Path(directory)
    probe = directory / f".canary-mc-probe-{os.getpid()}"
    with atomic_path(probe) as tmp:
        tmp.write_bytes(b"probe")
    try:
        probe.unlink()
    except OSError as exc:
        raise OutputError(directory, exc) from None
