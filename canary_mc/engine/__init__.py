"""The pure numerical core: draws, per-step plans, array kernels and the chunked driver.

Nothing in this package reads files, prints, or keeps global random state.
"""

from canary_mc.engine.simulate import (
    estimate_experiment,
    run_experiment,
    simulate_outcomes,
    tally_experiment,
)
from canary_mc.engine.trace import Trace, trace_rollout

__all__ = [
    "Trace",
    "estimate_experiment",
    "run_experiment",
    "simulate_outcomes",
    "tally_experiment",
    "trace_rollout",
]
