"""Data layer: id vocabularies, the interaction data set, loaders and splits.

The names below are loaded from their modules on first use (PEP 562), so importing one light
module of the package (``synerec.data.options``, ``synerec.data.report``) does not load pandas
and every reader: the command line answers ``--help`` without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports

if TYPE_CHECKING:
    from synerec.data.config import DatasetConfig, read_config_file
    from synerec.data.dataset import InteractionDataset
    from synerec.data.filters import RowFilter
    from synerec.data.profiling import (
        DataProfile,
        cold_share,
        format_profile,
        profile,
        split_profile,
    )
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

#: Where each public name lives.
_LAZY = {
    "DatasetConfig": "synerec.data.config",
    "read_config_file": "synerec.data.config",
    "InteractionDataset": "synerec.data.dataset",
    "RowFilter": "synerec.data.filters",
    "DataProfile": "synerec.data.profiling",
    "cold_share": "synerec.data.profiling",
    "format_profile": "synerec.data.profiling",
    "profile": "synerec.data.profiling",
    "split_profile": "synerec.data.profiling",
    "read_interactions": "synerec.data.readers",
    "read_table": "synerec.data.readers",
    "DatasetInfo": "synerec.data.registry",
    "dataset_info": "synerec.data.registry",
    "describe_source": "synerec.data.registry",
    "list_datasets": "synerec.data.registry",
    "load_dataset": "synerec.data.registry",
    "load_source": "synerec.data.registry",
    "BadRows": "synerec.data.report",
    "ReadReport": "synerec.data.report",
    "holdout_split": "synerec.data.splits",
    "kfold_split": "synerec.data.splits",
    "official_splits": "synerec.data.splits",
    "temporal_split": "synerec.data.splits",
    "Vocabulary": "synerec.data.vocabulary",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
