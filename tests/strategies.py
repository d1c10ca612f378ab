"""Hypothesis strategies for policies, worlds and scenarios, including edge values.

Thresholds, effects and sigmas are drawn from small grids as well as ranges, so exact
ties (an effect equal to a threshold with zero noise) and zeros come up often.
"""

from __future__ import annotations

from hypothesis import strategies as st

from canary_mc.model import CountsNoise, GaussianNoise, Policy, Scenario, Service, Stage

GRID = [0.0, 0.005, 0.01, 0.015, 0.02]


def fractions(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([x for x in GRID if lo <= x <= hi]),
        st.floats(lo, hi, allow_nan=False, allow_infinity=False),
    )


@st.composite
def policies(draw: st.DrawFn, max_stages: int = 4, max_steps: int = 4) -> Policy:
    n = draw(st.integers(1, max_stages))
    stages = [
        Stage(
            name=f"s{i}",
            traffic_pct=draw(st.sampled_from([1, 5, 25, 50, 100])),
            duration_steps=draw(st.integers(1, max_steps)),
            error_threshold=draw(fractions(0.0, 0.03)),
            latency_threshold_ms=draw(st.one_of(st.none(), st.sampled_from([0.0, 10.0, 50.0]))),
        )
        for i in range(n)
    ]
    return Policy(
        stages=stages,
        latency_threshold_ms=draw(st.sampled_from([0.0, 20.0, 50.0])),
        error_threshold_scale=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
    )


services = st.builds(
    Service,
    error_rate=fractions(0.0, 0.02),
    latency_ms=st.sampled_from([1.0, 100.0]),
)

noises = st.builds(
    GaussianNoise,
    error_sigma=fractions(0.0, 0.02),
    latency_sigma_ms=st.sampled_from([0.0, 5.0, 10.0, 40.0]),
)


@st.composite
def scenarios(draw: st.DrawFn, policy: Policy) -> Scenario:
    onset = draw(
        st.one_of(
            st.none(),
            st.integers(0, len(policy.stages) - 1),
            st.sampled_from(policy.stage_names),
        )
    )
    return Scenario(
        error_delta=draw(st.one_of(fractions(0.0, 0.03), st.floats(-0.03, 0.0))),
        latency_delta_ms=draw(st.sampled_from([0.0, 10.0, 20.0, 50.0, -200.0])),
        onset_stage=onset,
        error_ramp_per_step=draw(st.sampled_from([0.0, 0.001, 0.005])),
        latency_ramp_ms_per_step=draw(st.sampled_from([0.0, 5.0])),
    )


@st.composite
def faults(draw: st.DrawFn, policy: Policy, tail: bool = False) -> Scenario:
    """Scenarios using every fault field: onset by stage and step, load, intermittency."""
    base = draw(scenarios(policy))
    return base.model_copy(
        update={
            "error_relative": draw(st.sampled_from([0.0, 0.5, 2.0, -0.5])),
            "latency_factor": draw(st.sampled_from([1.0, 1.2, 0.9])),
            "onset_step": draw(st.integers(0, 3)),
            "intermittent_q": draw(st.sampled_from([1.0, 0.5, 0.0])),
            "min_traffic_pct": draw(st.sampled_from([0.0, 5.0, 50.0])),
            "latency_tail_only": draw(st.booleans()) if tail else False,
        }
    )


@st.composite
def count_services(draw: st.DrawFn) -> Service:
    return Service(
        error_rate=draw(st.sampled_from([0.0, 0.01, 0.05, 0.3])),
        latency_ms=draw(st.sampled_from([1.0, 100.0])),
        requests_per_step=draw(st.sampled_from([1, 20, 100, 1000, 100_000])),
        baseline=draw(st.sampled_from(["rest", "matched"])),
        diurnal_amplitude=draw(st.sampled_from([0.0, 0.5, 0.9])),
        diurnal_period_steps=draw(st.integers(1, 6)),
    )


count_noises = st.builds(
    CountsNoise,
    model=st.just("counts"),
    error_dispersion=st.sampled_from([0.0, 0.3, 1.0]),
    error_dispersion_mode=st.sampled_from(["independent", "common", "both"]),
    latency_log_sigma=st.sampled_from([0.1, 0.5, 1.0]),
    latency_metric=st.sampled_from(["mean", "p50", "p95", "p99"]),
)
