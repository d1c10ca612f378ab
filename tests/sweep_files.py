"""Synthetic sweep results folders that follow the sweep output contract to the letter.

Counts are given by hand (a function of each grid point), so every rate a plot or the
report shows is ``count / n`` of a number written in the test. Wilson intervals come
from scipy, not from canary-mc.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

# Two stages; a rollback lands in the first stage for a third of the rollbacks (rounded
# down), in the second for the rest. Rolled back in stage 0: 1 step; otherwise 2 steps.
STAGES = (("canary-5pct", 5.0), ("full-100pct", 100.0))

Counts = Callable[[Mapping[str, Any]], int]


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def stage_split(k: int) -> tuple[int, int]:
    """Rollbacks in stage 0 and stage 1."""
    return k // 3, k - k // 3


def mean_steps(k: int, n: int) -> float:
    first, _ = stage_split(k)
    return (first * 1 + (n - first) * 2) / n


def _column(values: Sequence[Any]) -> pd.Series:
    if all(isinstance(v, str) for v in values):
        return pd.Series(values, dtype=object)
    if all(float(v).is_integer() for v in values):
        return pd.Series(values, dtype="int64")
    return pd.Series(values, dtype="float64")


def write_sweep(
    directory: Path,
    *,
    axes: Mapping[str, Sequence[Any]],
    healthy: Counts,
    regressions: Mapping[str, Counts],
    n: int = 1000,
    experiment: str = "synthetic",
    seed: int = 7,
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``summary.parquet`` and ``stages.parquet`` of a grid over ``axes``.

    Points are the Cartesian product of the axes in the given order (the last fastest);
    ``healthy`` and each of ``regressions`` map a point's ``{path: value}`` to its number
    of rollbacks out of ``n``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    names = list(axes)
    scenarios = {"healthy": healthy, **regressions}
    summary: dict[str, list[Any]] = {c: [] for c in ("experiment", "point", "scenario", "healthy")}
    summary.update({a: [] for a in names})
    stage_rows: list[dict[str, Any]] = []
    for point, values in enumerate(itertools.product(*axes.values())):
        at = dict(zip(names, values, strict=True))
        k_healthy = healthy(at)
        fa = (k_healthy / n, *wilson(k_healthy, n))
        for scenario, counts in scenarios.items():
            k = counts(at)
            rate = (k / n, *wilson(k, n))
            done = (1 - k / n, *wilson(n - k, n))
            mean = mean_steps(k, n)
            is_healthy = scenario == "healthy"
            row = {
                "experiment": experiment,
                "point": point,
                "scenario": scenario,
                "healthy": is_healthy,
                **at,
                "n_rollouts": n,
                "rollbacks": k,
                "rollback_rate": rate[0],
                "rollback_rate_lo": rate[1],
                "rollback_rate_hi": rate[2],
                "false_alarm_rate": fa[0],
                "false_alarm_rate_lo": fa[1],
                "false_alarm_rate_hi": fa[2],
                "detection_rate": np.nan if is_healthy else rate[0],
                "detection_rate_lo": np.nan if is_healthy else rate[1],
                "detection_rate_hi": np.nan if is_healthy else rate[2],
                "completed_rate": done[0],
                "completed_rate_lo": done[1],
                "completed_rate_hi": done[2],
                "mean_steps_to_decision": mean,
                "mean_steps_to_decision_lo": mean - 0.01,
                "mean_steps_to_decision_hi": mean + 0.01,
                "n_steps": len(STAGES),
                "n_stages": len(STAGES),
            }
            for column, value in row.items():
                summary.setdefault(column, []).append(value)
            for index, ((stage, traffic), count) in enumerate(
                zip(STAGES, stage_split(k), strict=True)
            ):
                lo, hi = wilson(count, n)
                stage_rows.append(
                    {
                        "point": point,
                        "scenario": scenario,
                        "stage": stage,
                        "stage_index": index,
                        "traffic_pct": traffic,
                        "rollbacks": count,
                        "rollback_fraction": count / n,
                        "rollback_fraction_lo": lo,
                        "rollback_fraction_hi": hi,
                    }
                )
    frame = pd.DataFrame(summary)
    for a in names:
        frame[a] = _column(list(frame[a]))
    metadata = {
        "canary_mc.version": "0.1.0",
        "canary_mc.seed": str(seed),
        "canary_mc.created": "2025-01-01T00:00:00Z",
        "canary_mc.experiment_path": f"experiments/{experiment}.yaml",
        "canary_mc.experiment_file": f"name: {experiment}\n",
        "canary_mc.config": json.dumps(
            dict(config) if config is not None else {"name": experiment}
        ),
        "canary_mc.axes": json.dumps(names),
        "canary_mc.scenarios": json.dumps(list(scenarios)),
        "canary_mc.healthy_scenario": "healthy",
    }
    for name, table in (("summary", frame), ("stages", pd.DataFrame(stage_rows))):
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata(
            {
                **(arrow.schema.metadata or {}),
                **{k.encode(): v.encode() for k, v in metadata.items()},
            }
        )
        pq.write_table(arrow, directory / f"{name}.parquet")
    return directory
