"""The standard normal quantile function, vectorized (NumPy has none; SciPy is test-only).

Wichura's algorithm AS 241 (PPND16), Applied Statistics 37(3):477-484, 1988: rational
approximations with relative error about 1e-16, in three regions of ``p``.
``tests/test_counts.py`` holds it to ``scipy.special.ndtri``.
"""

from __future__ import annotations

import numpy as np

# Coefficients of AS 241, lowest power first.
_A = (
    3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
    1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
    3.3430575583588128105e4, 2.5090809287301226727e3,
)  # fmt: skip
_B = (
    1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
    2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
    5.2264952788528545610e3,
)  # fmt: skip
_C = (
    1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
    3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
    2.27238449892691845833e-2, 7.74545014278341407640e-4,
)  # fmt: skip
_D = (
    1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
    1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)  # fmt: skip
_E = (
    6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
    2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
    2.71155556874348757815e-5, 2.01033439929228813265e-7,
)  # fmt: skip
_F = (
    1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
    7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)  # fmt: skip


def _horner(coefficients: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    value = np.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        value = value * x + c
    return value


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """``Phi^{-1}(p)`` elementwise, for ``p`` in (0, 1); ``-inf`` at 0 and ``inf`` at 1.

    Parameters
    ----------
    p : ndarray of float64, any shape

    Returns
    -------
    ndarray of float64, the shape of ``p``

    Examples
    --------
    >>> float(normal_quantile(np.array(0.975)).round(6))
    1.959964
    """
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    central = np.abs(q) <= 0.425
    out = np.empty_like(p)
    r = 0.180625 - q[central] ** 2
    out[central] = q[central] * _horner(_A, r) / _horner(_B, r)
    tail = ~central
    with np.errstate(divide="ignore"):
        r = np.sqrt(-np.log(np.minimum(p[tail], 1.0 - p[tail])))
    near = r <= 5.0
    far = (r > 5.0) & np.isfinite(r)
    value = np.full_like(r, np.inf)
    value[near] = _horner(_C, r[near] - 1.6) / _horner(_D, r[near] - 1.6)
    value[far] = _horner(_E, r[far] - 5.0) / _horner(_F, r[far] - 5.0)
    out[tail] = np.where(q[tail] < 0, -value, value)
    return out
