"""The one helper that turns a ``random_state`` argument into a generator."""

from __future__ import annotations

import numpy as np

__all__ = ["RandomState", "check_random_state"]

RandomState = int | np.random.Generator | np.random.SeedSequence | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Normalise ``random_state`` to a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state
        ``None`` (fresh entropy), an ``int`` seed, a ``SeedSequence`` or a ``Generator``
        (returned as it is, so that callers can share one stream).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an int or a numpy Generator, not {random_state!r}")
