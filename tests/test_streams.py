"""Reproducibility: the numbers depend on content, never on how the work is split."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import SEED_NOISE, SEED_SERVICE, seed_policy
from scipy import stats

from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, blocks_of, content_key
from canary_mc.engine.noise.draws import draw_gaussian
from canary_mc.engine.simulate import chunk_ranges, run_experiment, simulate_outcomes
from canary_mc.model import Scenario

N = 2 * BLOCK_ROLLOUTS + 1234  # a partial last block


def test_content_key_is_stable():
    """BLAKE2b, not ``hash()``: the same across processes (PYTHONHASHSEED) and machines."""
    import hashlib

    digest = hashlib.blake2b(b"a\x1fb", digest_size=8).digest()
    assert content_key("a", "b") == (
        int.from_bytes(digest[:4], "little"),
        int.from_bytes(digest[4:], "little"),
    )
    assert content_key("a", "b") != content_key("ab")


def test_blocks_cover_range_exactly():
    pieces = blocks_of(100, 3 * BLOCK_ROLLOUTS + 7)
    assert pieces[0] == (0, 100, BLOCK_ROLLOUTS)
    assert pieces[-1] == (3, 3 * BLOCK_ROLLOUTS, 3 * BLOCK_ROLLOUTS + 7)
    assert all(hi == nxt_lo for (_, _, hi), (_, nxt_lo, _) in itertools.pairwise(pieces))


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 10), (5, 17), (BLOCK_ROLLOUTS - 3, BLOCK_ROLLOUTS + 4), (0, N)]
)
def test_any_range_sees_the_same_numbers(start, stop):
    whole = draw_gaussian(7, 0, N, 6)
    part = draw_gaussian(7, start, stop, 6)
    np.testing.assert_array_equal(part.error_z, whole.error_z[start:stop])
    np.testing.assert_array_equal(part.latency_z, whole.latency_z[start:stop])


def test_step_values_do_not_depend_on_later_steps():
    """Blocks are drawn step-major: a longer policy adds steps without changing earlier ones."""
    short = draw_gaussian(42, 0, 100, 5)
    long = draw_gaussian(42, 0, 100, 23)
    np.testing.assert_array_equal(short.error_z, long.error_z[:, :5])
    np.testing.assert_array_equal(short.latency_z, long.latency_z[:, :5])


# Chunkings of N = 2 blocks + 1234 rollouts: 3 chunks, 2 chunks (2 blocks, then the rest),
# and 1 chunk. chunk_rollouts is rounded up to whole blocks, so 1 means one block.
CHUNKINGS = {"1 rollout -> 1 block": 1, "2 blocks": 2 * BLOCK_ROLLOUTS, "all at once": 10**9}


@pytest.mark.parametrize("chunk", list(CHUNKINGS.values()), ids=list(CHUNKINGS))
def test_outcomes_do_not_depend_on_chunk_size(chunk):
    kwargs = dict(
        policy=seed_policy((2, 1, 3, 1, 2)),
        service=SEED_SERVICE,
        noise=SEED_NOISE,
        scenario=Scenario(error_delta=0.004),
        n_rollouts=N,
        seed=3,
    )
    reference = simulate_outcomes(**kwargs, chunk_rollouts=10**9)
    chunked = simulate_outcomes(**kwargs, chunk_rollouts=chunk)
    assert len(list(chunk_ranges(N, chunk))) == {1: 3, 2 * BLOCK_ROLLOUTS: 2, 10**9: 1}[chunk]
    for field in ("rolled_back", "decision_step", "decision_stage", "reason", "steps_run"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(reference, field))


def test_estimates_do_not_depend_on_chunk_size(seed_experiment):
    a = run_experiment(seed_experiment, rollouts=N, chunk_rollouts=BLOCK_ROLLOUTS)
    b = run_experiment(seed_experiment, rollouts=N, chunk_rollouts=10**9)
    c = run_experiment(seed_experiment, rollouts=N)
    assert a == b == c


def test_more_rollouts_extend_fewer():
    """The first n rollouts of a larger run are the run of n rollouts."""
    kwargs = dict(
        policy=seed_policy(), service=SEED_SERVICE, noise=SEED_NOISE, scenario=Scenario(), seed=11
    )
    small = simulate_outcomes(**kwargs, n_rollouts=1000)
    large = simulate_outcomes(**kwargs, n_rollouts=N)
    np.testing.assert_array_equal(small.steps_run, large.steps_run[:1000])


def test_seeds_give_different_streams():
    a = draw_gaussian(1, 0, 100, 5).error_z
    b = draw_gaussian(2, 0, 100, 5).error_z
    assert not np.array_equal(a, b)


def test_draws_are_independent_standard_normals():
    """KS against N(0, 1) and near-zero correlations between variates, steps and blocks.

    With n = 3 * 8192 * 5 normals the KS test has power > 0.99 against a sigma off by 2%.
    Correlations are compared with 4 standard errors (1/sqrt(n)).
    """
    draws = draw_gaussian(5, 0, 3 * BLOCK_ROLLOUTS, 5)
    e, lat = draws.error_z, draws.latency_z
    assert stats.kstest(e.ravel(), "norm").pvalue > 1e-4
    assert stats.kstest(lat.ravel(), "norm").pvalue > 1e-4
    n = e.size
    assert abs(np.corrcoef(e.ravel(), lat.ravel())[0, 1]) < 4 / np.sqrt(n)
    rows = e.shape[0]
    assert abs(np.corrcoef(e[:, 0], e[:, 1])[0, 1]) < 4 / np.sqrt(rows)
    block0, block1 = e[:BLOCK_ROLLOUTS].ravel(), e[BLOCK_ROLLOUTS : 2 * BLOCK_ROLLOUTS].ravel()
    assert abs(np.corrcoef(block0, block1)[0, 1]) < 4 / np.sqrt(block0.size)
