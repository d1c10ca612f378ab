"""``canary-mc fit``: the counts model's parameters from a service's own metrics.

``readers`` reads exports (Prometheus ``query_range`` JSON, CSV, Parquet) and decides each
series' role; ``prepare`` aligns them and reports gaps, resets, NaN/Inf and broken
buckets; the pure estimators (``traffic_fit``, ``errors_fit``, ``latency_fit``,
``gauge_fit``) fit the simulator's own model with standard errors; ``goodness`` compares
data and fit; ``service`` runs it all (:func:`fit_files`); ``output`` writes the YAML;
``plots`` draws the comparisons. See ``docs/fit.md``.
"""

from canary_mc.fit.output import fit_yaml
from canary_mc.fit.service import MetricsFit, fit_data, fit_files

__all__ = ["MetricsFit", "fit_data", "fit_files", "fit_yaml"]
