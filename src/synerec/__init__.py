"""synerec: e-commerce recommendation that joins collaborative filtering with language models.

The package root is the foundation layer (``docs/architecture.md``): it imports nothing above
it at import time, so ``import synerec.cli`` or ``import synerec.exceptions`` stays cheap. The
data-set helpers it re-exports (:class:`InteractionDataset`, :class:`Vocabulary`,
:func:`list_datasets`, :func:`load_dataset`) are loaded from :mod:`synerec.data` on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports
from synerec._version import __version__
from synerec.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    NotFittedError,
    SynerecError,
    UnknownIdError,
)

if TYPE_CHECKING:
    from synerec.data import InteractionDataset, Vocabulary, list_datasets, load_dataset

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DataFormatError",
    "DatasetNotFoundError",
    "InteractionDataset",
    "NotFittedError",
    "SynerecError",
    "UnknownIdError",
    "Vocabulary",
    "__version__",
    "list_datasets",
    "load_dataset",
]

#: Names re-exported from a higher layer, loaded on first access (PEP 562).
_LAZY = {"InteractionDataset": "synerec.data", "Vocabulary": "synerec.data",
         "list_datasets": "synerec.data", "load_dataset": "synerec.data"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
