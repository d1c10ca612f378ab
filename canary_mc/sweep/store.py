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
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from canary_mc import __version__
from canary_mc.errors import ResultsError
from canary_mc.io.atomic import atomic_path
from canary_mc.model import Experiment
from canary_mc.stats.tally import Tally

POINT_FORMAT = 3
"""Version of the point-file layout; part of every point key. 3: with a checksum."""

ENGINE_FORMAT = 3
"""Version of the engine's numbers; part of every point key. Bump it with any change that
alters a result for the same configuration and seed (a stream, a kernel's arithmetic),
so saved points of the old engine are never reused. 2: rollbacks per metric; 3: exact
latency scores, spending corrections, equal-size Mann-Whitney samples on counts."""

SUMMARY = "summary.parquet"
STAGES = "stages.parquet"
POINTS = "points"
META_PREFIX = "canary_mc."
PAIR = "pair"
"""Metadata key of both Parquet files: a hash of both tables, so a summary and a stages
file written by different runs (a crash between the two writes) are told apart."""


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


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files left by a sweep that was killed mid-write.

    Call it only while holding the folder's lock (:mod:`canary_mc.sweep.lock`): then no
    other sweep is writing there, and temporaries of a killed run are garbage.
    """
    for folder in (directory, directory / POINTS):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def _checksum(key: str, tallies: Any) -> str:
    """Hash of a point file's content, the layout and the engine format."""
    content = {"format": POINT_FORMAT, "engine": ENGINE_FORMAT, "key": key, "tallies": tallies}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def point_path(directory: Path, key: str) -> Path:
    """Where a point's tallies are saved: ``points/<key>.json``."""
    return directory / POINTS / f"{key}.json"


def write_point(directory: Path, key: str, tallies: dict[str, Tally]) -> Path:
    """Save one point's tallies atomically as ``points/<key>.json``, with a checksum."""
    path = point_path(directory, key)
    rows = [[name, dataclasses.asdict(t)] for name, t in tallies.items()]
    payload = {
        "format": POINT_FORMAT,
        "key": key,
        "checksum": _checksum(key, rows),
        "tallies": rows,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload), encoding="utf-8")
    return path


def load_point(
    directory: Path, key: str, experiment: Experiment
) -> tuple[dict[str, Tally] | None, str | None]:
    """A saved point's tallies if they can be trusted, else why not.

    A point is trusted when its file parses, its checksum matches its content, the
    layout and the engine format, and every tally keeps the invariants of
    :func:`tally_problem` for ``experiment``.

    Returns
    -------
    tallies : dict of str to Tally, or None
        ``None`` when the point must be computed.
    problem : str or None
        Why a point file on disk is not used; ``None`` when it is used or absent.
    """
    path = point_path(directory, key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc})"
    try:
        payload = json.loads(text)
    except ValueError:
        return None, "not valid JSON (a truncated write?)"
    if not isinstance(payload, dict) or payload.get("format") != POINT_FORMAT:
        return None, f"not a point file of format {POINT_FORMAT}"
    rows = payload.get("tallies")
    if payload.get("key") != key or payload.get("checksum") != _checksum(key, rows):
        return None, "its checksum does not match its content"
    names = list(experiment.evaluated_scenarios)
    if not isinstance(rows, list) or [r[0] if isinstance(r, list) else r for r in rows] != names:
        return None, f"its scenarios are not {', '.join(names)}"
    tallies = {}
    for name, fields in rows:
        problem = tally_problem(fields, experiment)
        if problem is not None:
            return None, f"scenario {name!r}: {problem}"
        tallies[name] = Tally.from_dict(fields)
    return tallies, None


TALLY_COUNTS = (
    "n_rollouts",
    "rollbacks",
    "steps_sum",
    "steps_sq_sum",
    "no_data_rollbacks",
)
TALLY_PARTS = ("rollbacks_by_stage", "metric_rollbacks", "blast")
BLAST_COUNTS = (
    "canary_requests_sum",
    "canary_requests_sq_sum",
    "excess_errors_sum",
    "excess_errors_sq_sum",
)


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def tally_problem(fields: Any, experiment: Experiment) -> str | None:
    """What breaks the invariants of one scenario's saved tally, or ``None``.

    The tally, as a JSON mapping, must hold non-negative integers only; ``n_rollouts``
    equal to the point's rollouts; rollbacks at most that, equal to the sum over stages
    (one per stage of the policy) and to the sum over reasons (one per metric of the
    policy, and no data); every rollout's steps
    between 1 and the policy's ``max_steps``; and, exactly under the counts model, a
    blast-radius tally whose histogram holds every rollout and gives its sums.
    """
    if not isinstance(fields, dict) or set(fields) != {*TALLY_COUNTS, *TALLY_PARTS}:
        return "its fields are not those of a tally"
    for name in TALLY_COUNTS:
        if not _count(fields[name]):
            return f"{name} must be a non-negative integer, got {fields[name]!r}"
    n, rollbacks = fields["n_rollouts"], fields["rollbacks"]
    by_stage = fields["rollbacks_by_stage"]
    n_stages = len(experiment.policy.stages)
    if not (
        isinstance(by_stage, list) and len(by_stage) == n_stages and all(map(_count, by_stage))
    ):
        return f"rollbacks_by_stage must be {n_stages} non-negative integers, got {by_stage!r}"
    by_metric = fields["metric_rollbacks"]
    n_metrics = len(experiment.policy.checks)
    if not (
        isinstance(by_metric, list) and len(by_metric) == n_metrics and all(map(_count, by_metric))
    ):
        return f"metric_rollbacks must be {n_metrics} non-negative integers, got {by_metric!r}"
    if experiment.precision is None and n != experiment.rollouts:
        return f"n_rollouts is {n}, the point has {experiment.rollouts}"
    if experiment.precision is not None and not 1 <= n <= experiment.max_rollouts:
        return f"n_rollouts is {n}, beyond the point's max_rollouts {experiment.max_rollouts}"
    reasons = sum(by_metric) + fields["no_data_rollbacks"]
    if not rollbacks <= n or sum(by_stage) != rollbacks or reasons != rollbacks:
        return (
            f"rollbacks ({rollbacks}) must be at most n_rollouts ({n}) and equal their sum "
            f"over stages ({sum(by_stage)}) and over reasons ({reasons})"
        )
    top = experiment.policy.max_steps
    steps, squares = fields["steps_sum"], fields["steps_sq_sum"]
    if not (n <= steps <= n * top and steps <= squares <= n * top * top):
        return f"steps_sum {steps} and steps_sq_sum {squares} are impossible for {n} rollouts"
    return _blast_problem(fields["blast"], n, experiment.noise.model == "counts")


def _blast_problem(blast: Any, n: int, counts_model: bool) -> str | None:
    if blast is None:
        return "a blast-radius tally is missing" if counts_model else None
    if not counts_model:
        return "a blast-radius tally under the Gaussian model"
    if not isinstance(blast, dict) or set(blast) != {*BLAST_COUNTS, "excess_errors_histogram"}:
        return "its blast-radius fields are not those of a blast tally"
    if not all(_count(blast[name]) for name in BLAST_COUNTS):
        return "blast-radius sums must be non-negative integers"
    pairs = blast["excess_errors_histogram"]
    if not (
        isinstance(pairs, list)
        and all(isinstance(p, list) and len(p) == 2 and all(map(_count, p)) for p in pairs)
    ):
        return "the excess-error histogram must be pairs of non-negative integers"
    if sum(c for _, c in pairs) != n:
        return f"the excess-error histogram holds {sum(c for _, c in pairs)} rollouts, not {n}"
    if sum(v * c for v, c in pairs) != blast["excess_errors_sum"] or (
        sum(v * v * c for v, c in pairs) != blast["excess_errors_sq_sum"]
    ):
        return "the excess-error histogram does not give its sums"
    return None


def write_parquet(frame: pd.DataFrame, path: Path, metadata: dict[str, str]) -> None:
    """Write ``frame`` atomically with ``canary_mc.*`` key-value metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged.update({f"{META_PREFIX}{k}".encode(): v.encode() for k, v in metadata.items()})
    table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def pair_id(summary: pd.DataFrame, stages: pd.DataFrame) -> str:
    """Hash of the two tables of one run, stored in both files (:data:`PAIR`).

    A content hash rather than a random id, so a resumed sweep writes the same bytes.
    """
    digest = hashlib.blake2b(digest_size=16)
    for frame in (summary, stages):
        digest.update(",".join(frame.columns).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def check_pair(directory: str | Path) -> None:
    """Refuse a ``summary.parquet`` and ``stages.parquet`` that were not written together.

    Raises
    ------
    ResultsError
        If their :data:`PAIR` metadata differ, or only one file has it.
    """
    directory = Path(directory)
    key = f"{META_PREFIX}{PAIR}"
    ids = [read_metadata(directory / name).get(key) for name in (SUMMARY, STAGES)]
    if ids[0] != ids[1]:
        raise ResultsError(
            f"{directory}: {SUMMARY} and {STAGES} come from different runs "
            f"({ids[0] or 'no id'} and {ids[1] or 'no id'}), as after a crash between "
            "their writes; run the sweep again to rewrite both"
        )


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
