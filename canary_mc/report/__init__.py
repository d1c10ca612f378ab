"""Summary plots and the one-page report of a sweep, drawn from its Parquet files alone.

``results`` reads the files; ``data`` selects what each plot shows (pure, tested cell by
cell); ``plots`` draws with matplotlib's object API on the Agg canvas; ``report`` writes
the PNGs and ``report.md``. :func:`build_report` is the entry point (``canary-mc plot``,
and ``sweep`` at the end of a run).
"""

from canary_mc.report.report import build_report

__all__ = ["build_report"]
