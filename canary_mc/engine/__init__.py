"""The pure numerical core: draws, per-step plans, array kernels and the chunked driver.

Nothing in this package reads files, prints, or keeps global random state.
"""

from canary_mc.engine.simulate import run_experiment, simulate_outcomes
from canary_mc.engine.trace import Trace, trace_rollout

__all__ = ["Trace", "run_experiment", "simulate_outcomes", "trace_rollout"]
