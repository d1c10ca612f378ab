"""Which kind of metric a query measures: a guess from its name and query, or the user's word.

PromQL does not say whether it measures an error rate, a success rate, a latency
quantile or a gauge, nor its unit. The importer guesses from the metric's name and its
query text, says what it guessed and why, and ``--metric NAME=KIND`` overrides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from canary_mc.errors import ConfigError

KINDS = ("error_rate", "success_rate", "latency", "gauge")
LATENCY_STATS = ("mean", "p50", "p95", "p99", "p99.9")
RATE_UNITS = ("fraction", "percent")


@dataclass(frozen=True)
class MetricKind:
    """What a metric measures, in canary-mc's terms.

    Attributes
    ----------
    kind : {"error_rate", "success_rate", "latency", "gauge"}
    stat : str or None
        Latency statistic (``p99``, ``mean``, ...).
    unit : {"fraction", "percent"} or None
        Rates: the unit of the query's value.
    to_ms : float
        Latency: the factor from the query's unit to milliseconds (1000 for seconds).
    reason : str
        Why: "guessed from ..." or "given by --metric".
    """

    kind: str
    stat: str | None = None
    unit: str | None = None
    to_ms: float = 1.0
    reason: str = ""


_QUANTILE = re.compile(r"histogram_quantile\s*\(\s*(0?\.\d+|1(?:\.0*)?)")
_STAT_IN_NAME = re.compile(r"(?<![a-z0-9])p(50|95|99|999|99\.9)(?![0-9])")
_LATENCY_WORDS = re.compile(r"latency|duration|response[-_ ]?time|_seconds_bucket|_ms\b|p9\d")
_SUCCESS_WORDS = re.compile(r"success|availability|!~\s*\"5|!=\s*\"5")
_ERROR_WORDS = re.compile(r"error|5xx|fail|=~\s*\"5")
_PERCENT = re.compile(r"(^|[^\w.])100\s*\*|\*\s*100(?![\w.])")


def _stat_of(text: str) -> str | None:
    quantile = _QUANTILE.search(text)
    if quantile:
        level = float(quantile.group(1))
        return {0.5: "p50", 0.95: "p95", 0.99: "p99", 0.999: "p99.9"}.get(level)
    named = _STAT_IN_NAME.search(text)
    if named:
        return {"50": "p50", "95": "p95", "99": "p99", "999": "p99.9", "99.9": "p99.9"}[
            named.group(1)
        ]
    if re.search(r"\b(avg|mean|average)\b|avg_over_time|_sum\b.*_count\b", text):
        return "mean"
    return None


def guess_kind(name: str, query: str | None, *, percent: bool | None = None) -> MetricKind:
    """Guess a metric's kind, statistic and unit from its name and query text.

    ``percent`` forces the rate unit (Flagger's built-in success rate is in percent);
    otherwise a query multiplied by 100 is taken to be in percent.
    """
    text = f"{name}\n{query or ''}".lower()
    rate_unit = ("percent" if percent else "fraction") if percent is not None else None
    if rate_unit is None:
        rate_unit = "percent" if _PERCENT.search(query or "") else "fraction"
    if _LATENCY_WORDS.search(text) or _QUANTILE.search(text):
        stat = _stat_of(text)
        to_ms = 1000.0 if "_seconds" in text or re.search(r"\bseconds?\b", text) else 1.0
        why = "its name or query reads as a latency"
        unit_why = " in seconds (x1000 to ms)" if to_ms != 1.0 else " in ms"
        if stat is None:
            return MetricKind(
                "latency",
                "p99",
                None,
                to_ms,
                f"guessed: {why}{unit_why}; statistic unknown, p99 assumed",
            )
        return MetricKind("latency", stat, None, to_ms, f"guessed: {why}, {stat}{unit_why}")
    if _SUCCESS_WORDS.search(text):
        return MetricKind(
            "success_rate",
            None,
            rate_unit,
            1.0,
            f"guessed: its name or query reads as a success rate, in {rate_unit}",
        )
    if _ERROR_WORDS.search(text):
        return MetricKind(
            "error_rate",
            None,
            rate_unit,
            1.0,
            f"guessed: its name or query reads as an error rate, in {rate_unit}",
        )
    return MetricKind("gauge", reason="guessed: neither a rate nor a latency, so a gauge")


def parse_metric_overrides(items: list[str]) -> dict[str, MetricKind]:
    """``--metric NAME=KIND[:DETAIL]`` options: ``p99=latency:p99``, ``ok=success_rate:percent``.

    ``DETAIL`` is a latency statistic (``mean``, ``p50``, ``p95``, ``p99``, ``p99.9``,
    optionally ``/s`` for a query in seconds: ``latency:p99/s``) or a rate unit
    (``fraction``, ``percent``). Raise :class:`ConfigError` naming the bad option.
    """
    overrides: dict[str, MetricKind] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        kind, _, detail = spec.partition(":")
        if not sep or not name or kind not in KINDS:
            raise ConfigError(
                f"--metric {item!r}: must be NAME=KIND with KIND one of {', '.join(KINDS)} "
                "(latency:p99, success_rate:percent, ...)"
            )
        if kind == "latency":
            stat, _, unit = (detail or "p99").partition("/")
            if stat not in LATENCY_STATS or unit not in ("", "s", "ms"):
                raise ConfigError(
                    f"--metric {item!r}: a latency statistic is one of "
                    f"{', '.join(LATENCY_STATS)}, optionally /s or /ms, got {detail!r}"
                )
            overrides[name] = MetricKind(
                "latency", stat, None, 1000.0 if unit == "s" else 1.0, "given by --metric"
            )
        elif kind in ("error_rate", "success_rate"):
            if detail not in ("", *RATE_UNITS):
                raise ConfigError(
                    f"--metric {item!r}: a rate's unit is fraction or percent, got {detail!r}"
                )
            overrides[name] = MetricKind(kind, None, detail or "fraction", 1.0, "given by --metric")
        else:
            if detail:
                raise ConfigError(f"--metric {item!r}: a gauge takes no detail, got {detail!r}")
            overrides[name] = MetricKind("gauge", reason="given by --metric")
    return overrides


def kinds_from_annotation(text: str) -> dict[str, MetricKind]:
    """The kinds an export wrote in its ``canary-mc.io/metric-kinds`` annotation."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return {
        name: MetricKind(
            k.kind, k.stat, k.unit, k.to_ms, "from the canary-mc.io/metric-kinds annotation"
        )
        for name, k in parse_metric_overrides(items).items()
    }
