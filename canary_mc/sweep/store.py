"""Results on disk: per-point tallies as they finish, then the sweep's Parquet files.

Layout of ``<out>/<experiment name>/``:

- ``points/<key>.json``: the exact integer tallies of one grid point, written atomically
  (temporary file, then rename) as soon as the point finishes. ``<key>`` hashes the
  point's resolved configuration, seed, rollouts and the canary-mc version, so a changed
  file never reuses stale work and a rerun skips what is done.
- ``summary.parquet``: one row per grid point x scenario.
- ``stages.parquet``: one row per grid point x scenario x stage.

Their columns are assembled in :mod:`canary_mc.sweep.tables`.

Both Parquet files are rebuilt from the point tallies alone, so an interrupted and
resumed sweep writes the same rows as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from canary_mc import __version__
from canary_mc.errors import ResultsError
from canary_mc.model import Experiment
from canary_mc.stats.tally import Tally

POINT_FORMAT = 2
"""Version of the point-file layout; part of every point key."""

ENGINE_FORMAT = 2
"""Version of the engine's numbers; part of every point key. Bump it with any change that
alters a result for the same configuration and seed (a stream, a kernel's arithmetic),
so saved points of the old engine are never reused."""

SUMMARY = "summary.parquet"
STAGES = "stages.parquet"
POINTS = "points"
META_PREFIX = "canary_mc."


def point_key(experiment: Experiment) -> str:
    """Content hash of a resolved grid point: what determines its numbers, and only that.

    The name, description and sweep section do not change results and are left out;
    :data:`ENGINE_FORMAT` and the canary-mc version are in, so results of another engine
    are never reused.
    """
    content = {
        "format": POINT_FORMAT,
        "engine": ENGINE_FORMAT,
        "version": __version__,
        "experiment": experiment.model_dump(mode="json", exclude={"name", "description", "sweep"}),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    A reader sees either the old file or the complete new one, never a partial write,
    even if the process is killed mid-write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files left by a sweep that was killed mid-write.

    Only one sweep may write a results folder at a time; its temporaries from a killed
    run are never renamed into place, so they are garbage.
    """
    for folder in (directory, directory / POINTS):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def write_point(directory: Path, key: str, tallies: dict[str, Tally]) -> Path:
    """Save one point's tallies atomically as ``points/<key>.json``."""
    path = directory / POINTS / f"{key}.json"
    payload = {
        "format": POINT_FORMAT,
        "key": key,
        "tallies": [[name, dataclasses.asdict(t)] for name, t in tallies.items()],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload), encoding="utf-8")
    return path


def read_point(directory: Path, key: str) -> dict[str, Tally] | None:
    """A finished point's tallies, or ``None`` if it is not on disk or not readable."""
    path = directory / POINTS / f"{key}.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != POINT_FORMAT or payload.get("key") != key:
            return None
        return {name: Tally.from_dict(fields) for name, fields in payload["tallies"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def write_parquet(frame: pd.DataFrame, path: Path, metadata: dict[str, str]) -> None:
    """Write ``frame`` atomically with ``canary_mc.*`` key-value metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged.update({f"{META_PREFIX}{k}".encode(): v.encode() for k, v in metadata.items()})
    table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``canary_mc.*`` metadata of a results Parquet file, prefix included.

    Raises
    ------
    ResultsError
        If the file is missing or is not Parquet.
    """
    path = Path(path)
    try:
        raw = pq.read_schema(path).metadata or {}
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file; run `canary-mc sweep` first") from None
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: not a readable Parquet file ({exc})") from None
    return {k.decode(): v.decode() for k, v in raw.items() if k.decode().startswith(META_PREFIX)}


def _read_table(directory: str | Path, name: str) -> pd.DataFrame:
    path = Path(directory) / name
    if not path.is_file():
        raise ResultsError(
            f"{path}: no such file; {directory} is not a sweep's results folder "
            "(run `canary-mc sweep FILE` to create one)"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: not a readable Parquet file ({exc})") from None


def read_summary(directory: str | Path) -> pd.DataFrame:
    """``<directory>/summary.parquet`` as a DataFrame; :class:`ResultsError` if absent."""
    return _read_table(directory, SUMMARY)


def read_stages(directory: str | Path) -> pd.DataFrame:
    """``<directory>/stages.parquet`` as a DataFrame; :class:`ResultsError` if absent."""
    return _read_table(directory, STAGES)
