"""Progress lines of the long steps (fitting the hybrid, its retrievers, its ranker).

The library writes them to the logger ``synerec.progress`` at INFO level, so a program that
uses synerec stays quiet unless it asks for them (``logging.getLogger("synerec.progress")``);
the command line shows them on stderr, each with the seconds since the command started
(:func:`synerec.cli.main._root`), so that a fit that takes minutes says what it is doing.
"""

from __future__ import annotations

import logging

__all__ = ["PROGRESS_LOGGER", "progress"]

#: The logger's name.
PROGRESS_LOGGER = "synerec.progress"
#: Where the long steps report (INFO: a step begins or ends, with its figures).
progress = logging.getLogger(PROGRESS_LOGGER)
