"""Data layer: id vocabularies, the interaction data set, loaders and splits."""

from synerec.data.config import DatasetConfig, read_config_file
from synerec.data.dataset import InteractionDataset
from synerec.data.filters import RowFilter
from synerec.data.profiling import DataProfile, cold_share, format_profile, profile, split_profile
from synerec.data.readers import read_interactions, read_table
from synerec.data.registry import (
    DatasetInfo,
    dataset_info,
    describe_source,
    list_datasets,
    load_dataset,
    load_source,
)
from synerec.data.report import BadRows, ReadReport
from synerec.data.splits import holdout_split, kfold_split, official_splits, temporal_split
from synerec.data.vocabulary import Vocabulary

__all__ = [
    "BadRows",
    "DataProfile",
    "DatasetConfig",
    "DatasetInfo",
    "InteractionDataset",
    "ReadReport",
    "RowFilter",
    "Vocabulary",
    "cold_share",
    "dataset_info",
    "describe_source",
    "format_profile",
    "holdout_split",
    "kfold_split",
    "list_datasets",
    "load_dataset",
    "load_source",
    "official_splits",
    "profile",
    "read_config_file",
    "read_interactions",
    "read_table",
    "split_profile",
    "temporal_split",
]
