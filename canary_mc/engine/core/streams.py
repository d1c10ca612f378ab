"""Random streams keyed by content: the reproducibility contract of canary-mc.

Rollouts are grouped in fixed blocks of :data:`BLOCK_ROLLOUTS`. Block ``b`` of a world
draws each variate (``"error"``, ``"latency"``, ...) from its own generator::

    SeedSequence(seed, spawn_key=(*world_key, b, *variate_key))

and always draws the whole block, step by step: the values of step 0 for every rollout
of the block, then step 1, and so on. So the number rollout ``i`` sees at step ``j``
depends only on the seed, the world's stream name, the variate, ``i`` and ``j``: never
on the chunk size, the worker count, the order in which blocks run, the number of steps
after ``j``, nor on the scenario or thresholds being evaluated (common random numbers).
Changing :data:`BLOCK_ROLLOUTS` or a stream name changes every result, on purpose.
"""

from __future__ import annotations

import hashlib

import numpy as np

BLOCK_ROLLOUTS = 4096
"""Rollouts per random-number block. Part of the reproducibility contract.

Small enough that one block of a long policy stays small in memory
(``4096 * n_steps * 8`` bytes per variate), large enough that creating its generators
(about 25 us each) costs a few percent of drawing it."""


def content_key(*parts: str) -> tuple[int, int]:
    """Two 32-bit words derived from text, for use in a ``spawn_key``.

    Parameters
    ----------
    *parts : str
        Text that names what the stream is for, e.g. ``("gaussian", "v1")``.

    Returns
    -------
    tuple of 2 int
        Stable across processes and platforms (BLAKE2b, unlike ``hash``).
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def block_rng(
    seed: int, world_key: tuple[int, ...], block: int, variate: str
) -> np.random.Generator:
    """The generator for one variate of one block of rollouts.

    Parameters
    ----------
    seed : int
        The experiment's seed (SeedSequence entropy), >= 0.
    world_key : tuple of int
        Content key of the world's random structure, see :func:`content_key`.
    block : int
        Block index: rollouts ``[block * BLOCK_ROLLOUTS, (block + 1) * BLOCK_ROLLOUTS)``.
    variate : str
        Which variate the stream feeds, e.g. ``"error"``.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(*world_key, block, *content_key(variate)))
    return np.random.Generator(np.random.PCG64(sequence))


def blocks_of(start: int, stop: int) -> list[tuple[int, int, int]]:
    """Split rollouts ``[start, stop)`` along block boundaries.

    Returns
    -------
    list of (block, lo, hi)
        Rollouts ``[lo, hi)`` all lie in ``block``; together they cover ``[start, stop)``.
    """
    pieces = []
    lo = start
    while lo < stop:
        block = lo // BLOCK_ROLLOUTS
        hi = min(stop, (block + 1) * BLOCK_ROLLOUTS)
        pieces.append((block, lo, hi))
        lo = hi
    return pieces
