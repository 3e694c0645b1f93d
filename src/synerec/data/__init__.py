"""Data layer: id vocabularies, the interaction data set, loaders and splits."""

from synerec.data.dataset import InteractionDataset
from synerec.data.readers import read_interactions, read_table
from synerec.data.registry import DatasetInfo, dataset_info, list_datasets, load_dataset
from synerec.data.splits import holdout_split, kfold_split, official_splits, temporal_split
from synerec.data.vocabulary import Vocabulary

__all__ = [
    "DatasetInfo",
    "InteractionDataset",
    "Vocabulary",
    "dataset_info",
    "holdout_split",
    "kfold_split",
    "list_datasets",
    "load_dataset",
    "official_splits",
    "read_interactions",
    "read_table",
    "temporal_split",
]
