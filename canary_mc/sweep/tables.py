"""The columns of ``summary.parquet`` and ``stages.parquet``: rows from estimates, then
DataFrames with the dtypes a pandas user expects.

- ``scenario`` is an ordered categorical in file order (``healthy`` first when added), so
  ``sort_values``, ``groupby`` and plots keep that order.
- Counts are int64; rates and means float64; nothing is a float only because it may be
  missing under the other noise model.
- The ``mean_minutes_to_decision`` columns appear when the policy gives an ``interval``.
- Columns that only the counts model fills (blast radius, rollbacks without data) are
  absent under the Gaussian model rather than always null.
- Rollbacks by reason are one ``rollbacks_<reason>`` column per reason the estimate
  counts, so a new reason (a metric) adds its column without new code here.
- ``rule`` names the decision rule's kind on every row, and the rule's scalar parameters
  that differ between points get flat ``policy.rule.<name>`` columns.
- ``stages.parquet`` carries the same swept and rule columns, so it needs no join.

``docs/experiment-files.md`` ("Output") lists every column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from canary_mc.model import Experiment
from canary_mc.stats.estimate import BLAST_FIELDS, ExperimentEstimate

RATE_STATS = (
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
)
"""Float columns taken from :meth:`ExperimentEstimate.records` under both models."""

MINUTE_STATS = (
    "mean_minutes_to_decision",
    "mean_minutes_to_decision_lo",
    "mean_minutes_to_decision_hi",
)
"""Time to decision in minutes: present when the policy gives ``policy.interval``."""

INTEGER_BLAST_FIELDS = ("excess_errors_p95", "excess_errors_p95_lo", "excess_errors_p95_hi")
"""Blast-radius statistics that are integers (a quantile of integer counts)."""

REASON_PREFIX = "rollbacks_"
"""Prefix of the rollbacks-by-reason columns: ``rollbacks_error``, ``rollbacks_latency``."""

NO_DATA = "no_data"
"""The reason of a rollback at a step without data (counts model, ``policy.no_data: fail``)."""

RULE = "rule"
"""Column naming the decision rule's kind (``threshold``, ``ztest``, ...)."""

RULE_PREFIX = "policy.rule."
"""Prefix of the flat columns of the rule's scalar parameters."""


def rule_values(experiment: Experiment) -> dict[str, Any]:
    """``{"rule": kind, "policy.rule.<name>": value, ...}`` for the rule's scalars."""
    dumped = experiment.policy.rule.model_dump(mode="json")
    flat = {
        f"{RULE_PREFIX}{name}": value
        for name, value in dumped.items()
        if name != "kind" and not isinstance(value, dict | list)
    }
    return {RULE: dumped["kind"], **flat}


def summary_rows(
    point: int, values: dict[str, Any], estimate: ExperimentEstimate, experiment: Experiment
) -> list[dict[str, Any]]:
    """Rows of ``summary.parquet`` for one grid point, in scenario order."""
    counts_model = experiment.noise.model == "counts"
    timed = experiment.policy.interval_minutes is not None
    rows = []
    for record in estimate.records():
        reasons = dict(record["rollbacks_by_reason"])
        if counts_model:
            reasons[NO_DATA] = record["no_data_rollbacks"]
        row = {
            "experiment": record["experiment"],
            "point": point,
            "scenario": record["scenario"],
            "healthy": record["healthy"],
            **values,
            **rule_values(experiment),
            "n_rollouts": record["n_rollouts"],
            "rollbacks": record["rollbacks"],
            **{column: record[column] for column in RATE_STATS},
            **({column: record[column] for column in MINUTE_STATS} if timed else {}),
            **{f"{REASON_PREFIX}{reason}": count for reason, count in reasons.items()},
            **({name: record[name] for name in BLAST_FIELDS} if counts_model else {}),
            "n_steps": experiment.policy.n_steps,
            "n_stages": len(record["stages"]),
        }
        rows.append(row)
    return rows


def stage_rows(
    point: int, values: dict[str, Any], estimate: ExperimentEstimate, experiment: Experiment
) -> list[dict[str, Any]]:
    """Rows of ``stages.parquet`` for one grid point, with its swept and rule values."""
    swept = {**values, **rule_values(experiment)}
    return [
        {
            "point": point,
            "scenario": s.scenario,
            "healthy": s.healthy,
            **swept,
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


def value_column(values: pd.Series) -> pd.Series:
    """A column of configuration values, typed by what they are.

    int64, float64, bool or string; a mapping or list (a whole swept ``policy.rule``) is
    its JSON text, keys sorted. With missing values (a parameter one rule has and
    another lacks): nullable ``Int64``/``boolean``, NaN in float64, or ``<NA>`` text.
    """
    present = [v for v in values if v is not None]
    missing = len(present) < len(values)
    if present and all(isinstance(v, bool) for v in present):
        return values.astype("boolean" if missing else bool)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values.astype("Int64" if missing else np.int64)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return values.astype(np.float64)
    return values.map(
        lambda v: v if v is None or isinstance(v, str) else json.dumps(v, sort_keys=True)
    ).astype("string")


def _config_columns(frame: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """Type the swept columns, and keep the rule's parameter columns that vary."""
    for axis in axes:
        frame[axis] = value_column(frame[axis])
    frame[RULE] = frame[RULE].astype("string")
    kept = []
    for column in [c for c in frame.columns if c.startswith(RULE_PREFIX) and c not in axes]:
        per_point = frame.drop_duplicates("point")[column].astype("string")
        if per_point.nunique(dropna=False) <= 1:
            frame = frame.drop(columns=column)
        else:
            frame[column] = value_column(frame[column].astype(object).where(frame[column].notna()))
            kept.append(column)
    # the varied parameters right after the rule's kind
    rest = [c for c in frame.columns if c not in kept]
    at = rest.index(RULE) + 1
    return frame[rest[:at] + kept + rest[at:]]


def _scenario_column(values: pd.Series, scenarios: Sequence[str]) -> pd.Categorical:
    return pd.Categorical(values, categories=list(scenarios), ordered=True)


def summary_frame(
    rows: list[dict[str, Any]], axes: Sequence[str], scenarios: Sequence[str]
) -> pd.DataFrame:
    """``summary.parquet``'s table, with stable dtypes whatever the values.

    Parameters
    ----------
    rows : list of dict
        From :func:`summary_rows`, every point's.
    axes : sequence of str
        The swept dotted paths.
    scenarios : sequence of str
        Scenario names in file order (the categories of ``scenario``).
    """
    frame = pd.DataFrame(rows)
    frame["experiment"] = frame["experiment"].astype("string")
    frame["scenario"] = _scenario_column(frame["scenario"], scenarios)
    frame["healthy"] = frame["healthy"].astype(bool)
    integers = [
        "point",
        "n_rollouts",
        "rollbacks",
        *(c for c in frame.columns if c.startswith(REASON_PREFIX)),
        *(c for c in INTEGER_BLAST_FIELDS if c in frame.columns),
        "n_steps",
        "n_stages",
    ]
    for column in integers:
        frame[column] = frame[column].astype(np.int64)
    floats = [
        *RATE_STATS,
        *(c for c in MINUTE_STATS if c in frame),
        *(c for c in BLAST_FIELDS if c in frame and c not in integers),
    ]
    for column in floats:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    return _config_columns(frame, axes)


def stages_frame(
    rows: list[dict[str, Any]], axes: Sequence[str], scenarios: Sequence[str]
) -> pd.DataFrame:
    """``stages.parquet``'s table (arguments as :func:`summary_frame`)."""
    frame = pd.DataFrame(rows)
    frame["scenario"] = _scenario_column(frame["scenario"], scenarios)
    frame["healthy"] = frame["healthy"].astype(bool)
    frame["stage"] = frame["stage"].astype("string")
    for column in ("point", "stage_index", "rollbacks"):
        frame[column] = frame[column].astype(np.int64)
    return _config_columns(frame, axes)


__all__ = [
    "RULE",
    "rule_values",
    "stage_rows",
    "stages_frame",
    "summary_frame",
    "summary_rows",
    "value_column",
]
