"""Binomial draws by inversion of given uniforms, exact at any ``n p``.

The Mann-Whitney counts samples thin a healthy sample into a faulty one with one shared
uniform per sub-interval, so every scenario reuses the healthy draws (common random
numbers). That needs the binomial quantile function, evaluated here by SciPy's
``binom.ppf`` (Boost's incomplete-beta inversion): correct at any number of trials,
where a product-form CDF ``(1 - p)^n`` underflows once ``n p`` exceeds about 745.
"""

from __future__ import annotations

import numpy as np


def binomial_from_uniform(trials: np.ndarray, prob: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``Binomial(trials, prob)`` as the smallest ``k`` with ``P(X <= k) >= u``.

    Parameters
    ----------
    trials : ndarray of int64, broadcastable to ``u``
        Number of trials, >= 0.
    prob : ndarray of float64, broadcastable to ``u``
        Success probability in [0, 1].
    u : ndarray of float64
        Uniforms in [0, 1), one per draw.

    Returns
    -------
    ndarray of int64, the shape of ``u``
        With ``u ~ U(0, 1)`` exactly ``Binomial(trials, prob)``; nondecreasing in ``u``.

    Examples
    --------
    >>> int(binomial_from_uniform(np.array(200_000), np.array(0.005), np.array(0.5)))
    1000
    """
    from scipy.stats import binom  # deferred: workers that never thin skip SciPy's import

    trials, prob, u = np.broadcast_arrays(trials, prob, u)
    k = binom.ppf(u, trials, prob)
    # binom.ppf(0) is -1 (below the support): u = 0 draws the support's lowest value,
    # which is 0 successes unless prob is 1.
    return np.where(prob >= 1, trials, np.maximum(k, 0)).astype(np.int64)
