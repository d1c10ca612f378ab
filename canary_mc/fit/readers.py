"""Read metrics exports: the Prometheus HTTP API's ``query_range`` JSON, CSV and Parquet.

Each reader returns :class:`RawSeries`, one per metric, with its role (what it measures)
decided here: from ``--series NAME=ROLE`` when given, else from its labels (``le``: a
histogram bucket; ``quantile``: a summary quantile) or its name where that is
unambiguous. Nothing here fits or checks values beyond their syntax: see
:mod:`canary_mc.fit.prepare`.

Units: Prometheus latencies (``le`` edges, quantiles) are in seconds, the Prometheus
convention, unless the metric's name says milliseconds (``_ms``, ``milliseconds``);
table latency columns are in ms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from canary_mc.errors import FitInputError
from canary_mc.model.metrics import duration_seconds

REQUESTS, ERRORS, BUCKETS, QUANTILE, GAUGE = (
    "requests",
    "errors",
    "latency_buckets",
    "latency_quantile",
    "gauge",
)
"""The roles a series can have."""

ROLE_HELP = (
    "requests, errors, latency_buckets, latency_pNN (e.g. latency_p99, latency_p99.9), gauge"
)

TIMESTAMP_COLUMNS = ("timestamp", "time", "ts", "datetime", "date")
"""Column names a table's timestamp may have (case-insensitive), first found wins."""

_QUANTILE_NAME = re.compile(r"(?:^|_)p(\d+(?:\.\d+)?)$")
_COUNTER_SUFFIXES = ("_total", "_count", "_bucket")


@dataclass(frozen=True)
class Role:
    """What a series measures.

    Attributes
    ----------
    kind : str
        One of :data:`REQUESTS`, :data:`ERRORS`, :data:`BUCKETS`, :data:`QUANTILE`,
        :data:`GAUGE`.
    level : float or None
        Quantile level in (0, 1) for :data:`QUANTILE` (0.99 for ``latency_p99``).
    counter : bool
        The values are a raw cumulative counter (differenced before fitting), not
        per-interval counts.
    """

    kind: str
    level: float | None = None
    counter: bool = False

    @property
    def label(self) -> str:
        if self.kind == QUANTILE:
            return f"latency_p{self.level * 100:g}"
        return self.kind


@dataclass(frozen=True)
class RawSeries:
    """One metric as read from a file.

    Attributes
    ----------
    name : str
        The name ``--series`` refers to: the metric's ``__name__``, else the file's stem
        (Prometheus), or the column (tables).
    source : str
        The file, as given.
    role : Role
    timestamps : ndarray of float64, shape (n,)
        Unix seconds, increasing.
    values : ndarray of float64, shape (n,), or (n, n_buckets) for buckets
        NaN and infinities are kept for the checks to report.
    edges_ms : ndarray of float64, shape (n_buckets,), or None
        Bucket upper edges in ms (last ``inf``), for :data:`BUCKETS`.
    scale_to_ms : float
        Factor that turns this series' latency values into ms (1000 for seconds).
    """

    name: str
    source: str
    role: Role
    timestamps: np.ndarray
    values: np.ndarray
    edges_ms: np.ndarray | None = None
    scale_to_ms: float = 1.0


def parse_role(text: str) -> Role:
    """A role as written after ``=`` in ``--series NAME=ROLE`` (``:counter`` marks a raw
    counter, e.g. ``requests:counter``)."""
    kind, _, flag = text.strip().partition(":")
    if flag not in ("", "counter"):
        raise FitInputError(f"--series role {text!r}: the only flag is ':counter'")
    counter = flag == "counter"
    if kind in (REQUESTS, ERRORS, BUCKETS, GAUGE):
        return Role(kind, counter=counter)
    match = re.fullmatch(r"latency_p(\d+(?:\.\d+)?)", kind)
    if match and 0 < float(match.group(1)) < 100:
        return Role(QUANTILE, level=float(Fraction(match.group(1)) / 100))
    raise FitInputError(f"--series role {text!r} is not one of: {ROLE_HELP}")


def parse_series_options(options: Sequence[str]) -> dict[str, Role]:
    """``["NAME=ROLE", ...]`` to ``{NAME: Role}``."""
    roles = {}
    for option in options:
        name, sep, role = option.partition("=")
        if not sep or not name.strip():
            raise FitInputError(
                f"--series {option!r}: write NAME=ROLE, with ROLE one of: {ROLE_HELP}"
            )
        roles[name.strip()] = parse_role(role)
    return roles


def role_from_name(name: str, *, counter_names: bool) -> Role | None:
    """The role a metric's name implies, or ``None`` when it does not say.

    Parameters
    ----------
    name : str
    counter_names : bool
        True for a raw Prometheus selector (its ``__name__`` survived the query): a name
        ending in ``_total``, ``_count`` or ``_bucket`` is then a cumulative counter.
    """
    lower = name.lower()
    counter = counter_names and lower.endswith(_COUNTER_SUFFIXES)
    if counter_names is False and lower.endswith("_total"):
        counter = True  # a table column named requests_total holds the raw counter
    quantile = _QUANTILE_NAME.search(lower)
    if quantile and 0 < float(quantile.group(1)) < 100:
        return Role(QUANTILE, level=float(Fraction(quantile.group(1)) / 100))
    if re.search(r"error|fail|5xx|fault", lower):
        return Role(ERRORS, counter=counter)
    if re.search(r"request|^total$|^count$|^rps$|^qps$|throughput", lower):
        return Role(REQUESTS, counter=counter)
    if re.search(
        r"cpu|memory|mem_|gauge|saturation|utili[sz]ation|queue|inflight|in_flight", lower
    ):
        return Role(GAUGE)
    return None


def latency_scale(name: str) -> float:
    """Factor to ms for a Prometheus latency series: 1 when its name says ms, else 1000."""
    lower = name.lower()
    return 1.0 if re.search(r"(^|_)ms($|_)|millisecond", lower) else 1000.0


def detect_format(path: Path) -> str:
    """``"prometheus"``, ``"csv"`` or ``"parquet"``, by suffix, else by the first bytes."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "prometheus"
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    try:
        head = path.read_bytes()[:4]
    except OSError as exc:
        raise FitInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head == b"PAR1":
        return "parquet"
    if head.lstrip()[:1] == b"{":
        return "prometheus"
    return "csv"


def read_series(path: Path, roles: Mapping[str, Role]) -> list[RawSeries]:
    """Read one file in whichever format it is; see :func:`detect_format`."""
    kind = detect_format(path)
    if kind == "prometheus":
        return read_prometheus(path, roles)
    return read_table(path, roles, kind=kind)


# -- Prometheus ------------------------------------------------------------------------


def read_prometheus(path: Path, roles: Mapping[str, Role]) -> list[RawSeries]:
    """Read a saved ``/api/v1/query_range`` response (one query per file).

    A file holds one series, or the buckets of one histogram (every result has ``le``),
    or the quantiles of one summary (every result has ``quantile``).
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FitInputError(
            f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FitInputError(
            f"{where}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}"
        ) from None
    if not isinstance(document, dict) or "status" not in document:
        raise FitInputError(
            f"{where}: not a Prometheus API response (no 'status'); save the output of "
            "curl .../api/v1/query_range"
        )
    if document["status"] != "success":
        detail = ": ".join(str(document[k]) for k in ("errorType", "error") if k in document)
        raise FitInputError(f"{where}: Prometheus returned status {document['status']!r}: {detail}")
    data = document.get("data")
    if not isinstance(data, dict):
        raise FitInputError(f"{where}: data: missing or not an object")
    if data.get("resultType") != "matrix":
        raise FitInputError(
            f"{where}: data.resultType: expected 'matrix' (a query_range response), got "
            f"{data.get('resultType')!r}; export with /api/v1/query_range"
        )
    results = data.get("result")
    if not isinstance(results, list):
        raise FitInputError(f"{where}: data.result: expected a list")
    if not results:
        raise FitInputError(
            f"{where}: empty result: the query matched no series in that time range"
        )
    parsed = [_prometheus_result(where, i, r) for i, r in enumerate(results)]
    labels = [labels for labels, _, _ in parsed]
    metric_name = labels[0].get("__name__")
    name = metric_name or path.stem
    if all("le" in lab for lab in labels):
        return [_histogram(where, name, parsed, roles, metric_name is not None)]
    if all("quantile" in lab for lab in labels):
        return [_summary_quantile(where, name, lab, ts, v) for lab, ts, v in parsed]
    if len(parsed) > 1:
        differ = sorted(
            {k for lab in labels for k in lab if any(lab.get(k) != o.get(k) for o in labels)}
        )
        raise FitInputError(
            f"{where}: {len(parsed)} series (their labels differ in {', '.join(differ)}); "
            "aggregate them, e.g. sum(...), so that each file holds one series"
        )
    _label, timestamps, values = parsed[0]
    role = roles.get(name) or role_from_name(name, counter_names=metric_name is not None)
    if role is None:
        raise FitInputError(
            f"{where}: cannot tell what series {name!r} measures from its name; "
            f"say --series {name}=ROLE with ROLE one of: {ROLE_HELP}"
        )
    if role.kind == BUCKETS:
        raise FitInputError(f"{where}: series {name!r}: latency buckets need 'le' labels")
    scale = latency_scale(name) if role.kind == QUANTILE else 1.0
    return [RawSeries(name, where, role, timestamps, values, scale_to_ms=scale)]


def _prometheus_result(where: str, index: int, result: object):
    path = f"data.result[{index}]"
    if not isinstance(result, dict) or not isinstance(result.get("metric"), dict):
        raise FitInputError(f"{where}: {path}.metric: missing or not an object")
    values = result.get("values")
    if not isinstance(values, list):
        if "histograms" in result:
            raise FitInputError(
                f"{where}: {path}: native histograms are not supported; export the classic "
                "_bucket series"
            )
        raise FitInputError(f"{where}: {path}.values: missing or not a list")
    timestamps = np.empty(len(values))
    numbers = np.empty(len(values))
    for j, pair in enumerate(values):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise FitInputError(f'{where}: {path}.values[{j}]: expected [timestamp, "value"]')
        stamp, text = pair
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise FitInputError(
                f"{where}: {path}.values[{j}]: timestamp must be a number, got {stamp!r}"
            )
        try:
            numbers[j] = float(text)
        except (TypeError, ValueError):
            raise FitInputError(
                f"{where}: {path}.values[{j}]: value must be a number in a string, got {text!r}"
            ) from None
        timestamps[j] = stamp
    if np.any(np.diff(timestamps) <= 0):
        raise FitInputError(f"{where}: {path}.values: timestamps must increase")
    return {str(k): str(v) for k, v in result["metric"].items()}, timestamps, numbers


def _histogram(where, name, parsed, roles, raw_selector: bool) -> RawSeries:
    """The buckets of one histogram as a ``(n, n_buckets)`` matrix of cumulative counts."""
    others = [{k: v for k, v in lab.items() if k != "le"} for lab, _, _ in parsed]
    if any(o != others[0] for o in others):
        raise FitInputError(
            f"{where}: the buckets belong to several histograms; aggregate with sum by (le) (...)"
        )
    try:
        edges = np.array([float(lab["le"]) for lab, _, _ in parsed])
    except ValueError:
        raise FitInputError(f"{where}: an 'le' label is not a number") from None
    order = np.argsort(edges)
    edges = edges[order]
    if np.any(np.diff(edges) == 0):
        raise FitInputError(f"{where}: two buckets share the same 'le'")
    stamps = np.unique(np.concatenate([ts for _, ts, _ in parsed]))
    matrix = np.full((stamps.shape[0], edges.shape[0]), np.nan)
    for column, b in enumerate(order):
        _, ts, values = parsed[b]
        matrix[np.searchsorted(stamps, ts), column] = values
    role = roles.get(name, Role(BUCKETS, counter=raw_selector))
    if role.kind != BUCKETS:
        raise FitInputError(
            f"{where}: series {name!r} has 'le' labels: it can only be latency_buckets"
        )
    scale = latency_scale(name)
    return RawSeries(name, where, role, stamps, matrix, edges_ms=edges * scale, scale_to_ms=scale)


def _summary_quantile(where, name, label, timestamps, values) -> RawSeries:
    try:
        level = float(label["quantile"])
    except ValueError:
        raise FitInputError(
            f"{where}: quantile label {label['quantile']!r} is not a number"
        ) from None
    if not 0 < level < 1:
        raise FitInputError(f"{where}: quantile label must be in (0, 1), got {level:g}")
    return RawSeries(
        f"{name}{{quantile={level:g}}}",
        where,
        Role(QUANTILE, level=level),
        timestamps,
        values,
        scale_to_ms=latency_scale(name),
    )


# -- tables ----------------------------------------------------------------------------


def read_table(path: Path, roles: Mapping[str, Role], *, kind: str) -> list[RawSeries]:
    """Read a CSV or Parquet table: a timestamp column, ``requests`` and ``errors`` per
    interval (``requests_total``/``errors_total`` for raw counters), optional
    ``latency_pNN`` columns in ms, and gauges (any other numeric column)."""
    import pandas as pd  # loaded only when a table is read

    where = str(path)
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except FileNotFoundError:
        raise FitInputError(f"{where}: no such file") from None
    except Exception as exc:  # pandas and pyarrow raise many kinds for a malformed file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FitInputError(f"{where}: cannot read as {kind.upper()}: {first}") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    lower = {c.lower(): c for c in columns}
    stamp_column = next((lower[n] for n in TIMESTAMP_COLUMNS if n in lower), None)
    found = ", ".join(columns) or "none"
    if stamp_column is None:
        raise FitInputError(
            f"{where}: missing column 'timestamp' (or one of {', '.join(TIMESTAMP_COLUMNS[1:])}); "
            f"columns found: {found}"
        )
    assigned = {}
    for column in columns:
        if column == stamp_column:
            continue
        role = roles.get(column) or role_from_name(column, counter_names=False) or Role(GAUGE)
        assigned[column] = role
    missing = [k for k in (REQUESTS, ERRORS) if not any(r.kind == k for r in assigned.values())]
    if missing:
        raise FitInputError(
            f"{where}: missing column(s) {', '.join(repr(m) for m in missing)}: a table needs "
            f"timestamp, requests and errors per interval; columns found: {found}"
        )
    if frame.shape[0] == 0:
        raise FitInputError(f"{where}: the table has no rows")
    timestamps = _table_timestamps(where, frame[stamp_column], kind)
    series = []
    for column, role in assigned.items():
        raw = frame[column]
        coerced = pd.to_numeric(raw, errors="coerce")
        text = raw.astype(str).str.strip().str.lower()
        bad = (coerced.isna() & raw.notna() & ~text.isin(["nan", ""])).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FitInputError(
                f"{where}:{_row_line(row, kind)}: column {column!r}: not a number: "
                f"{raw.iloc[row]!r}"
            )
        numbers = coerced.to_numpy(dtype=np.float64)
        series.append(RawSeries(column, where, role, timestamps, numbers))
    return series


def _row_line(row: int, kind: str) -> str:
    return f"{row + 2}" if kind == "csv" else f"row {row}"


def _table_timestamps(where: str, column, kind: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        stamps = column.to_numpy(dtype=np.float64)
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce")
        if parsed.isna().any():
            row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise FitInputError(
                f"{where}:{_row_line(row, kind)}: column {column.name!r}: not a timestamp: "
                f"{column.iloc[row]!r}"
            )
        stamps = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    if not np.all(np.isfinite(stamps)):
        raise FitInputError(f"{where}: column {column.name!r}: timestamps must be finite numbers")
    if np.any(np.diff(stamps) <= 0):
        row = int(np.flatnonzero(np.diff(stamps) <= 0)[0]) + 1
        raise FitInputError(
            f"{where}:{_row_line(row, kind)}: column {column.name!r}: timestamps must increase"
        )
    return stamps


def parse_duration(text: str, *, option: str) -> float:
    """``"30s"``, ``"1m"``, ``"5m"``, ``"1h"``, ``"1d"`` to seconds, as the experiment file
    reads ``policy.interval`` (:func:`~canary_mc.model.metrics.duration_seconds`)."""
    try:
        return float(duration_seconds(text))
    except ValueError as exc:
        raise FitInputError(f"{option}: {exc}") from None
