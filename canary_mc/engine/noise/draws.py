"""Draw first, then decide: the random inputs of a batch of rollouts, as named arrays.

Nothing after this module touches a generator. A test can hand the very same arrays to
the scalar reference in :mod:`canary_mc.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canary_mc.engine.core.streams import BLOCK_ROLLOUTS, block_rng, blocks_of, content_key

GAUSSIAN_WORLD_KEY = content_key("canary-mc", "noise=gaussian", "v1")
"""Stream name of the Gaussian noise model. Standardised draws do not depend on sigma,
the service or the scenario, so every such configuration shares them (common random
numbers)."""


GAUGE_VARIATE = "gauge:{}"
"""Variate of a gauge's standard normals, by gauge name (its own stream: adding a gauge
changes no other draw)."""

PRESENCE_VARIATE = "presence"
"""Variate of the uniforms deciding whether an intermittent fault is present at a step.
Scenario-independent, so a larger ``intermittent_q`` is present wherever a smaller one is."""


@dataclass(frozen=True)
class GaussianDraws:
    """Standard-normal noise for a batch of rollouts.

    Attributes
    ----------
    error_z : ndarray of float64, shape (n_rollouts, n_steps), or None
        Standardised noise of the canary's observed error rate (``None`` when no metric
        reads the error rate: its stream is then not drawn).
    latency_z : ndarray of float64, shape (n_rollouts, n_steps), or None
        Standardised noise of the canary's observed latency, likewise.
    presence_u : ndarray of float64, shape (n_rollouts, n_steps), optional
        Uniforms on [0, 1): an intermittent fault with probability ``q`` is present at a
        step when ``presence_u < q``. Drawn only when a scenario is intermittent.
    gauge_z : dict of str to ndarray of float64, shape (n_rollouts, n_steps)
        Standardised noise of each checked gauge's canary measurement.
    """

    error_z: np.ndarray | None
    latency_z: np.ndarray | None
    presence_u: np.ndarray | None = None
    gauge_z: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def _any(self) -> np.ndarray:
        for z in (self.error_z, self.latency_z, self.presence_u, *self.gauge_z.values()):
            if z is not None:
                return z
        raise ValueError("GaussianDraws holds no arrays")

    @property
    def n_rollouts(self) -> int:
        return self._any.shape[0]

    @property
    def n_steps(self) -> int:
        return self._any.shape[1]


def draw_gaussian(
    seed: int,
    start: int,
    stop: int,
    n_steps: int,
    *,
    presence: bool = False,
    gauges: tuple[str, ...] = (),
    signals: tuple[str, ...] = ("rate", "latency"),
) -> GaussianDraws:
    """Draw the Gaussian noise of rollouts ``[start, stop)``.

    Rollout ``i`` at step ``j`` always receives the same number for a given ``seed``,
    whatever range it is drawn in and however many steps are drawn: each block draws all
    its rollouts step by step (shape ``(n_steps, BLOCK_ROLLOUTS)``, C order), so step
    ``j``'s values come out before step ``j + 1``'s.

    Parameters
    ----------
    seed : int
        SeedSequence entropy, >= 0.
    start, stop : int
        Global rollout indices, ``0 <= start <= stop``.
    n_steps : int
        Evaluation steps per rollout.
    presence : bool
        Also draw ``presence_u`` (its own stream: the other variates do not change).
    gauges : tuple of str
        Gauges to draw ``gauge_z`` for (each its own stream).
    signals : tuple of str
        Which of ``rate`` (``error_z``) and ``latency`` (``latency_z``) to draw; each is
        its own stream, so leaving one out changes nothing else.

    Returns
    -------
    GaussianDraws
        Arrays of shape ``(stop - start, n_steps)``.
    """
    shape = (stop - start, n_steps)
    # Fortran order: each step's values are contiguous, as they come out of a block, so
    # copying a block in is a run of memcpy-like moves, and the kernels' reductions
    # along the step axis (argmax of the first failure) run twice as fast (measured).
    error_z = np.empty(shape, order="F") if "rate" in signals else None
    latency_z = np.empty(shape, order="F") if "latency" in signals else None
    presence_u = np.empty(shape, order="F") if presence else None
    block_draw = np.empty((n_steps, BLOCK_ROLLOUTS))
    variates = [
        (variate, out, "standard_normal")
        for variate, out in (("error", error_z), ("latency", latency_z))
        if out is not None
    ]
    if presence_u is not None:
        variates.append((PRESENCE_VARIATE, presence_u, "random"))
    gauge_z = {name: np.empty(shape, order="F") for name in gauges}
    for name, out in gauge_z.items():
        variates.append((GAUGE_VARIATE.format(name), out, "standard_normal"))
    for block, lo, hi in blocks_of(start, stop):
        first = block * BLOCK_ROLLOUTS
        for variate, out, method in variates:
            draw = getattr(block_rng(seed, GAUSSIAN_WORLD_KEY, block, variate), method)
            if hi - lo == BLOCK_ROLLOUTS:
                # A whole block: each step's run lands in its own contiguous column, in
                # the order one (n_steps, BLOCK_ROLLOUTS) draw would produce it.
                for j in range(n_steps):
                    draw(out=out[lo - start : hi - start, j])
            else:
                draw(out=block_draw)
                out[lo - start : hi - start] = block_draw[:, lo - first : hi - first].T
    return GaussianDraws(
        error_z=error_z, latency_z=latency_z, presence_u=presence_u, gauge_z=gauge_z
    )
