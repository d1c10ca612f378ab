"""Draw first, then decide: the random inputs of a batch of rollouts, as named arrays.

Nothing after this module touches a generator. A test can hand the very same arrays to
the scalar reference in :mod:`canary_mc.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canary_mc.engine.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key

GAUSSIAN_WORLD_KEY = content_key("canary-mc", "noise=gaussian", "v1")
"""Stream name of the Gaussian noise model. Standardised draws do not depend on sigma,
the service or the scenario, so every such configuration shares them (common random
numbers)."""


@dataclass(frozen=True)
class GaussianDraws:
    """Standard-normal noise for a batch of rollouts.

    Attributes
    ----------
    error_z : ndarray of float64, shape (n_rollouts, n_steps)
        Standardised noise of the canary's observed error rate.
    latency_z : ndarray of float64, shape (n_rollouts, n_steps)
        Standardised noise of the canary's observed latency.
    """

    error_z: np.ndarray
    latency_z: np.ndarray

    @property
    def n_rollouts(self) -> int:
        return self.error_z.shape[0]

    @property
    def n_steps(self) -> int:
        return self.error_z.shape[1]


def draw_gaussian(seed: int, start: int, stop: int, n_steps: int) -> GaussianDraws:
    """Draw the Gaussian noise of rollouts ``[start, stop)``.

    Rollout ``i`` always receives the same numbers for a given ``seed`` and ``n_steps``,
    whatever range it is drawn in: each block's stream is read from its beginning.

    Parameters
    ----------
    seed : int
        SeedSequence entropy, >= 0.
    start, stop : int
        Global rollout indices, ``0 <= start <= stop``.
    n_steps : int
        Evaluation steps per rollout.

    Returns
    -------
    GaussianDraws
        Arrays of shape ``(stop - start, n_steps)``.
    """
    shape = (stop - start, n_steps)
    error_z = np.empty(shape)
    latency_z = np.empty(shape)
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS
        for variate, out in (("error", error_z), ("latency", latency_z)):
            rng = block_rng(seed, GAUSSIAN_WORLD_KEY, block, variate)
            if lo == first:
                # Rows of a C-ordered draw come out in order: a prefix of the block
                # equals the first rows of the whole block's draw.
                rng.standard_normal(out=out[lo - start : hi - start])
            else:
                out[lo - start : hi - start] = rng.standard_normal((hi - first, n_steps))[
                    lo - first :
                ]
    return GaussianDraws(error_z=error_z, latency_z=latency_z)
