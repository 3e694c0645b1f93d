"""The one check of a list-length argument ``n``, shared by ranking and the ranking metrics.

:func:`synerec.topk.topk` asks for ``n >= 0`` items (an empty list is a valid request); the
metrics of :mod:`synerec.metrics.ranking` evaluate the first ``n`` ranks of lists that are
``width`` long, so there ``n`` defaults to the width, must be at least 1 and cannot exceed it.
Both are the same question (is this a usable list length?) with different bounds, so they are
one function with keyword bounds rather than two private ``_check_n`` of the same name.
"""

from __future__ import annotations

import numpy as np

from synerec.exceptions import ConfigError

__all__ = ["check_list_length"]


def check_list_length(n: int | None, *, minimum: int = 0, width: int | None = None) -> int:
    """``n`` as a plain ``int`` after checking it is a usable list length.

    Parameters
    ----------
    n
        The requested length: a whole number (Python or numpy integer; not ``bool``). ``None``
        means "the whole width" and is only accepted when ``width`` is given.
    minimum
        The smallest accepted length (0 for ranking, 1 for metrics).
    width
        When given, the length of the lists ``n`` refers to: ``n`` may not exceed it.

    Raises
    ------
    ConfigError
        ``n`` is not a whole number, is below ``minimum`` or above ``width``, or is ``None``
        for lists of length 0.
    """
    if n is None and width is not None:
        if width < max(minimum, 1):
            raise ConfigError(f"recommended has lists of length {width}; there is nothing to "
                              "evaluate")
        return int(width)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"n must be a whole number, got {n!r}")
    value = int(n)
    if value < minimum:
        raise ConfigError(f"n must be at least {minimum}, got {value}")
    if width is not None and value > width:
        raise ConfigError(
            f"n={value} exceeds the length {width} of the recommendation lists; recommend at "
            "least n items (padding with -1 where there are fewer candidates)")
    return value
