"""Read a sweep's results folder (``summary.parquet``, ``stages.parquet``) for plotting.

The files are read with :mod:`canary_mc.sweep.store`; this module checks that they hold
the columns and metadata the plots need, so a bad folder fails with one clear message
rather than deep inside a plot. Everything downstream works on :class:`SweepResults`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from canary_mc.errors import ResultsError
from canary_mc.sweep.store import (
    STAGES,
    SUMMARY,
    check_pair,
    read_metadata,
    read_stages,
    read_summary,
)

SUMMARY_COLUMNS = (
    "experiment",
    "point",
    "scenario",
    "healthy",
    "n_rollouts",
    "rollbacks",
    "rollback_rate",
    "false_alarm_rate",
    "false_alarm_rate_lo",
    "false_alarm_rate_hi",
    "detection_rate",
    "detection_rate_lo",
    "detection_rate_hi",
    "completed_rate",
    "mean_steps_to_decision",
    "mean_steps_to_decision_lo",
    "mean_steps_to_decision_hi",
    "n_steps",
)
"""Columns of ``summary.parquet`` the plots and the report read."""

STAGES_COLUMNS = (
    "point",
    "scenario",
    "stage",
    "stage_index",
    "traffic_pct",
    "rollback_fraction",
)
"""Columns of ``stages.parquet`` the plots read."""

METADATA_KEYS = ("canary_mc.axes", "canary_mc.scenarios", "canary_mc.healthy_scenario")
"""Key-value metadata the plots need; the other ``canary_mc.*`` keys are shown if present."""


@dataclass(frozen=True)
class SweepResults:
    """One sweep's results, as read from its folder.

    Attributes
    ----------
    directory : Path
        The results folder.
    summary : DataFrame
        ``summary.parquet``: one row per grid point x scenario.
    stages : DataFrame
        ``stages.parquet``: one row per grid point x scenario x stage.
    metadata : dict of str to str
        The files' ``canary_mc.*`` key-value metadata.
    axes : tuple of str
        Swept dotted paths, in file order.
    scenarios : tuple of str
        Scenario names, healthy first.
    healthy_scenario : str
    """

    directory: Path
    summary: pd.DataFrame
    stages: pd.DataFrame
    metadata: dict[str, str]
    axes: tuple[str, ...]
    scenarios: tuple[str, ...]
    healthy_scenario: str

    @property
    def experiment(self) -> str:
        """The experiment's name."""
        return str(self.summary["experiment"].iloc[0])

    @property
    def config(self) -> dict[str, Any]:
        """The resolved experiment (``canary_mc.config``), or ``{}`` when absent."""
        text = self.metadata.get("canary_mc.config")
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}


def _checked(frame: pd.DataFrame, path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)}")
    if frame.empty:
        raise ResultsError(f"{path}: no rows")
    return frame


def _json_list(metadata: dict[str, str], key: str, path: Path) -> tuple[str, ...]:
    try:
        value = json.loads(metadata[key])
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ResultsError(f"{path}: metadata {key} must be a JSON list of names")
    return tuple(value)


def read_results(directory: Path) -> SweepResults:
    """Read and check a sweep's results folder.

    Parameters
    ----------
    directory : Path
        Folder holding ``summary.parquet`` and ``stages.parquet``.

    Returns
    -------
    SweepResults

    Raises
    ------
    ResultsError
        If the folder or a file is missing, unreadable, or lacks a column or metadata key
        the plots need; the message names the file and what is missing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ResultsError(f"results folder {directory} does not exist")
    summary_path = directory / SUMMARY
    summary = _checked(read_summary(directory), summary_path, SUMMARY_COLUMNS)
    stages = _checked(read_stages(directory), directory / STAGES, STAGES_COLUMNS)
    check_pair(directory)
    metadata = read_metadata(summary_path)
    missing = [k for k in METADATA_KEYS if k not in metadata]
    if missing:
        raise ResultsError(f"{summary_path}: missing metadata {', '.join(missing)}")
    axes = _json_list(metadata, "canary_mc.axes", summary_path)
    scenarios = _json_list(metadata, "canary_mc.scenarios", summary_path)
    absent = [a for a in axes if a not in summary.columns]
    if absent:
        raise ResultsError(f"{summary_path}: no column for swept axis {', '.join(absent)}")
    healthy = metadata["canary_mc.healthy_scenario"]
    if healthy not in set(summary["scenario"]):
        raise ResultsError(f"{summary_path}: no rows for the healthy scenario {healthy!r}")
    return SweepResults(
        directory=directory,
        summary=summary,
        stages=stages,
        metadata=metadata,
        axes=axes,
        scenarios=scenarios,
        healthy_scenario=healthy,
    )
