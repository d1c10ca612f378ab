"""From read series to the per-interval arrays the fits use, reporting what is wrong.

:func:`prepare` puts every series on one time grid and reports, as :class:`Finding`\\ s,
the things a fit should not silently absorb: gaps, counter resets, NaN and infinite
values, and histogram buckets that are not cumulative. Problems that make the data
unusable (timestamps on different grids, negative counts, more errors than requests,
two series for one role, too few intervals) raise :class:`~canary_mc.errors.FitInputError`
naming the file.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from canary_mc.errors import FitInputError
from canary_mc.fit.readers import BUCKETS, ERRORS, GAUGE, QUANTILE, REQUESTS, RawSeries

MIN_INTERVALS = 30
"""Fewest usable intervals each of requests/errors, a latency fit and a gauge needs."""


@dataclass(frozen=True)
class Finding:
    """Something noticed in the data and handled (never silently).

    Attributes
    ----------
    series : str
        ``file: name``.
    kind : str
        ``gap``, ``counter_reset``, ``nan``, ``inf``, ``non_monotone_buckets``.
    message : str
    """

    series: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.series}: {self.message}"


@dataclass(frozen=True)
class FitData:
    """Every series on one grid of evaluation intervals.

    Attributes
    ----------
    interval_s : float
        Length of one interval (the simulator's step), seconds.
    start : float
        Unix time of the first interval.
    requests, errors : ndarray of float64, shape (n_intervals,)
        Counts per interval; NaN where missing or unusable.
    quantiles : dict of float to ndarray, shape (n_intervals,)
        Latency quantile (ms) per level.
    bucket_edges_ms : ndarray, shape (n_buckets,), or None
    bucket_counts : ndarray, shape (n_intervals, n_buckets), or None
        Requests per bucket per interval (not cumulative); NaN rows where unusable.
    gauges : dict of str to ndarray, shape (n_intervals,)
    sources : dict of str to str
        Role label (``requests``, ``latency_p99``, gauge name) to ``file: name``.
    findings : list of Finding
    """

    interval_s: float
    start: float
    requests: np.ndarray
    errors: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    bucket_edges_ms: np.ndarray | None = None
    bucket_counts: np.ndarray | None = None
    gauges: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def n_intervals(self) -> int:
        return self.requests.shape[0]

    @property
    def steps(self) -> np.ndarray:
        """Interval index ``0 .. n_intervals - 1``, shape (n_intervals,)."""
        return np.arange(self.n_intervals)


def _label(series: RawSeries) -> str:
    return f"{series.source}: {series.name}"


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _step_of(series: RawSeries) -> float | None:
    diffs = np.diff(series.timestamps)
    return float(np.min(diffs)) if diffs.size else None


def prepare(series: Sequence[RawSeries], *, interval_s: float | None = None) -> FitData:
    """Align, check and convert the read series.

    Parameters
    ----------
    series : sequence of RawSeries
    interval_s : float, optional
        Evaluation interval in seconds; default the data's own step. A multiple of the
        data's step sums counts (and averages gauges) over that many points.

    Returns
    -------
    FitData
    """
    by_role: dict[str, RawSeries] = {}
    for s in series:
        key = s.role.label if s.role.kind != GAUGE else f"gauge:{s.name}"
        if key in by_role:
            raise FitInputError(
                f"two series have the role {s.role.label}: {_label(by_role[key])} and "
                f"{_label(s)}; choose with --series NAME=ROLE"
            )
        by_role[key] = s
    for needed in (REQUESTS, ERRORS):
        if needed not in by_role:
            given = ", ".join(f"{_label(s)} ({s.role.label})" for s in series)
            raise FitInputError(
                f"no {needed} series among the inputs ({given}); give one, or name it with "
                f"--series NAME={needed}"
            )
    grid_step = _common_step(series)
    origin = min(float(s.timestamps[0]) for s in series)
    end = max(float(s.timestamps[-1]) for s in series)
    for s in series:
        offset = (s.timestamps - origin) / grid_step
        if np.any(np.abs(offset - np.round(offset)) > 1e-6):
            raise FitInputError(
                f"mismatched timestamps: {_label(s)} is not on the {grid_step:g} s grid that "
                f"starts at {_when(origin)}; export every query with the same start and step"
            )
    n_grid = round((end - origin) / grid_step) + 1
    findings: list[Finding] = []
    placed = {key: _place(s, origin, grid_step, n_grid, findings) for key, s in by_role.items()}

    group = 1
    if interval_s is not None:
        ratio = interval_s / grid_step
        if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9:
            raise FitInputError(
                f"--interval {interval_s:g} s is not a multiple of the data's step of "
                f"{grid_step:g} s"
            )
        group = round(ratio)
    if group > 1 and any(s.role.kind == QUANTILE for s in by_role.values()):
        raise FitInputError(
            f"--interval {interval_s:g} s: latency quantiles cannot be combined over "
            f"{group} points of the data; export them at a {interval_s:g} s step, or give "
            "histogram buckets"
        )

    def grouped(values: np.ndarray, *, mean: bool = False) -> np.ndarray:
        if group == 1:
            return values
        usable = values.shape[0] // group * group
        shaped = values[:usable].reshape(usable // group, group, *values.shape[1:])
        total = shaped.sum(axis=1)  # a NaN anywhere in the group leaves the group NaN
        return total / group if mean else total

    requests = grouped(placed[REQUESTS])
    errors = grouped(placed[ERRORS])
    both = np.isfinite(requests) & np.isfinite(errors)
    more = both & (errors > requests)
    if more.any():
        first = int(np.flatnonzero(more)[0])
        raise FitInputError(
            f"{_label(by_role[ERRORS])}: more errors than requests "
            f"({errors[first]:g} > {requests[first]:g}) in {int(more.sum())} interval(s), first at "
            f"{_when(origin + first * grid_step * group)}; are the two series the same kind "
            "(counts per interval, or both raw counters)?"
        )
    quantiles = {
        s.role.level: placed[key] * s.scale_to_ms
        for key, s in by_role.items()
        if s.role.kind == QUANTILE
    }
    bucket = next((s for s in by_role.values() if s.role.kind == BUCKETS), None)
    gauges = {
        s.name: grouped(placed[key], mean=True)
        for key, s in by_role.items()
        if s.role.kind == GAUGE
    }
    return FitData(
        interval_s=grid_step * group,
        start=origin,
        requests=requests,
        errors=errors,
        quantiles=quantiles,
        bucket_edges_ms=None if bucket is None else bucket.edges_ms,
        bucket_counts=None if bucket is None else grouped(placed[BUCKETS]),
        gauges=gauges,
        sources={
            (s.role.label if s.role.kind != GAUGE else s.name): _label(s) for s in by_role.values()
        },
        findings=findings,
    )


def _common_step(series: Sequence[RawSeries]) -> float:
    steps = {_label(s): _step_of(s) for s in series}
    known = {k: v for k, v in steps.items() if v is not None}
    if not known:
        raise FitInputError(
            f"every series has a single point; the fit needs at least {MIN_INTERVALS} intervals"
        )
    grid = min(known.values())
    finest = next(label for label, step in known.items() if step == grid)
    for label, step in known.items():
        if abs(step / grid - 1) > 1e-6:
            raise FitInputError(
                f"mismatched timestamps: {label} has points {step:g} s apart, {finest} "
                f"{grid:g} s; export every query with the same step"
            )
    return grid


def _place(
    series: RawSeries, origin: float, step: float, n_grid: int, findings: list[Finding]
) -> np.ndarray:
    """The series on the grid, as per-interval values: NaN/inf reported and blanked,
    counters differenced (resets reported), buckets de-cumulated (bad rows reported)."""
    label = _label(series)
    shape = (n_grid, *series.values.shape[1:])
    grid = np.full(shape, np.nan)
    index = np.round((series.timestamps - origin) / step).astype(np.int64)
    grid[index] = series.values
    present = np.zeros(n_grid, dtype=bool)
    present[index] = True
    _report_gaps(label, present, origin, step, findings)
    nans = int(np.isnan(series.values).sum())
    infs = int(np.isinf(series.values).sum())
    if nans:
        findings.append(Finding(label, "nan", f"{nans} NaN value(s), left out of the fit"))
    if infs:
        findings.append(
            Finding(label, "inf", f"{infs} infinite value(s) (+Inf), left out of the fit")
        )
    grid[np.isinf(grid)] = np.nan
    kind = series.role.kind
    if series.role.counter:
        grid = _difference_counter(label, grid, origin, step, findings)
    elif kind in (REQUESTS, ERRORS, BUCKETS):
        negative = np.isfinite(grid) & (grid < 0)
        if negative.any():
            where = int(np.flatnonzero(negative.reshape(n_grid, -1).any(axis=1))[0])
            raise FitInputError(
                f"{label}: negative counts ({int(negative.sum())} value(s), first "
                f"{grid.reshape(n_grid, -1)[where][negative.reshape(n_grid, -1)[where]][0]:g} at "
                f"{_when(origin + where * step)}); give counts per interval, or mark a raw "
                f"counter with --series {series.name}={series.role.label}:counter"
            )
    if kind == BUCKETS:
        grid = _bucket_counts(label, grid, origin, step, findings)
    elif kind == QUANTILE:
        bad = np.isfinite(grid) & (grid <= 0)
        if bad.any():
            findings.append(
                Finding(label, "nan", f"{int(bad.sum())} non-positive latency value(s), left out")
            )
            grid[bad] = np.nan
    return grid


def _report_gaps(label, present, origin, step, findings) -> None:
    missing = ~present
    if not missing.any():
        return
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(stops - starts))
    findings.append(
        Finding(
            label,
            "gap",
            f"{len(starts)} gap(s), {int(missing.sum())} interval(s) missing; the longest, "
            f"{int(stops[longest] - starts[longest])} interval(s), from "
            f"{_when(origin + starts[longest] * step)}",
        )
    )


def _difference_counter(label, grid, origin, step, findings) -> np.ndarray:
    """Per-interval increases of a cumulative counter; a decrease is a reset (the process
    restarted), after which the increase is the new value, as Prometheus' rate() does."""
    previous = grid[:-1]
    current = grid[1:]
    increase = current - previous
    reset = np.isfinite(increase) & (increase < 0)
    increase = np.where(reset, current, increase)
    rows = reset.reshape(reset.shape[0], -1).any(axis=1)
    if rows.any():
        first = int(np.flatnonzero(rows)[0]) + 1
        findings.append(
            Finding(
                label,
                "counter_reset",
                f"{int(rows.sum())} counter reset(s) (the counter went down), first at "
                f"{_when(origin + first * step)}; the increase after a reset is taken as the "
                "new value",
            )
        )
    out = np.full_like(grid, np.nan)
    out[1:] = increase
    return out


def _bucket_counts(label, cumulative, origin, step, findings) -> np.ndarray:
    """Cumulative bucket counts (by ``le``) to counts per bucket; an interval whose
    cumulative counts decrease with ``le`` is reported and left out."""
    finite_rows = np.all(np.isfinite(cumulative), axis=1)
    per_bucket = np.diff(cumulative, axis=1, prepend=0.0)
    bad = finite_rows & np.any(per_bucket < -1e-9 * np.maximum(cumulative, 1.0), axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        findings.append(
            Finding(
                label,
                "non_monotone_buckets",
                f"{int(bad.sum())} interval(s) with bucket counts that fall as le rises "
                f"(not cumulative), first at {_when(origin + first * step)}; left out",
            )
        )
    per_bucket[~finite_rows | bad] = np.nan
    return np.clip(per_bucket, 0.0, None)
