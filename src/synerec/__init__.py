"""synerec: e-commerce recommendation that joins collaborative filtering with language models."""

import logging

from synerec._version import __version__
from synerec.data import InteractionDataset, Vocabulary, list_datasets, load_dataset
from synerec.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    NotFittedError,
    SynerecError,
    UnknownIdError,
)

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
