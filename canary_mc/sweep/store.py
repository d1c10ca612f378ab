"""Results on disk: per-point tallies as they finish, then the sweep's Parquet files.

Layout of ``<out>/<experiment name>/``:

- ``points/<key>.json``: the exact integer tallies of one grid point, written atomically
  (temporary file, then rename) as soon as the point finishes. ``<key>`` hashes the
  point's resolved configuration, seed, rollouts and the canary-mc version, so a changed
  file never reuses stale work and a rerun skips what is done.
- ``summary.parquet``: one row per grid point x scenario.
- ``stages.parquet``: one row per grid point x scenario x stage.

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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from canary_mc import __version__
from canary_mc.errors import ResultsError
from canary_mc.model import Experiment
from canary_mc.stats.estimate import BLAST_FIELDS, ExperimentEstimate
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


def summary_rows(
    point: int, values: dict[str, Any], estimate: ExperimentEstimate, n_steps: int
) -> list[dict[str, Any]]:
    """Rows of ``summary.parquet`` for one grid point, healthy scenario first."""
    rows = []
    for record in estimate.records():
        row = {
            "experiment": record["experiment"],
            "point": point,
            "scenario": record["scenario"],
            "healthy": record["healthy"],
            **values,
        }
        for column in SUMMARY_STATS:
            row[column] = record[column]
        row["n_steps"] = n_steps
        row["n_stages"] = len(record["stages"])
        rows.append(row)
    return rows


SUMMARY_STATS = (
    "n_rollouts",
    "rollbacks",
    "rollback_rate",
    "rollback_rate_lo",
    "rollback_rate_hi",
    "false_alarm_rate",
    "false_alarm_rate_lo",
    "false_alarm_rate_hi",
    "detection_rate",
    "detection_rate_lo",
    "detection_rate_hi",
    "completed_rate",
    "completed_rate_lo",
    "completed_rate_hi",
    "mean_steps_to_decision",
    "mean_steps_to_decision_lo",
    "mean_steps_to_decision_hi",
    "mean_minutes_to_decision",
    "mean_minutes_to_decision_lo",
    "mean_minutes_to_decision_hi",
    *BLAST_FIELDS,
    "no_data_rollbacks",
)
"""Columns of ``summary.parquet`` taken from :meth:`ExperimentEstimate.records`. The
minutes columns are null when the policy gives no ``interval``. The
blast-radius columns (``canary_requests_mean``, ``excess_errors_mean``,
``excess_errors_p95`` and their bounds) are null under the Gaussian model, which has no
request counts."""


def stage_rows(point: int, estimate: ExperimentEstimate) -> list[dict[str, Any]]:
    """Rows of ``stages.parquet`` for one grid point."""
    return [
        {
            "point": point,
            "scenario": s.scenario,
            "stage": st.stage,
            "stage_index": st.stage_index,
            "traffic_pct": st.traffic_pct,
            "rollbacks": st.rollback_fraction.events,
            "rollback_fraction": st.rollback_fraction.rate,
            "rollback_fraction_lo": st.rollback_fraction.lo,
            "rollback_fraction_hi": st.rollback_fraction.hi,
        }
        for s in estimate.scenarios
        for st in s.stages
    ]


def summary_frame(rows: list[dict[str, Any]], axes: tuple[str, ...]) -> pd.DataFrame:
    """``summary.parquet``'s table, with stable dtypes whatever the values."""
    frame = pd.DataFrame(rows)
    for column in ("experiment", "scenario"):
        frame[column] = frame[column].astype("string")
    frame["healthy"] = frame["healthy"].astype(bool)
    for column in ("point", "n_rollouts", "rollbacks", "n_steps", "n_stages", "no_data_rollbacks"):
        frame[column] = frame[column].astype(np.int64)
    for column in SUMMARY_STATS[2:]:
        if column != "no_data_rollbacks":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    for axis in axes:
        frame[axis] = axis_column(frame[axis])
    return frame


def axis_column(values: pd.Series) -> pd.Series:
    """A swept parameter's column: int64, float64, bool or string, by its values; a
    swept mapping (a whole ``policy.rule``, say) is its JSON text, keys sorted."""
    items = list(values)
    if all(isinstance(v, bool) for v in items):
        return values.astype(bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return values.astype(np.int64)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        return values.astype(np.float64)
    return values.map(lambda v: v if isinstance(v, str) else json.dumps(v, sort_keys=True)).astype(
        "string"
    )


def stages_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``stages.parquet``'s table."""
    frame = pd.DataFrame(rows)
    for column in ("scenario", "stage"):
        frame[column] = frame[column].astype("string")
    for column in ("point", "stage_index", "rollbacks"):
        frame[column] = frame[column].astype(np.int64)
    return frame


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
