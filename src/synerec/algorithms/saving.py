"""Saving and loading a fitted model: the base state plus the model's ``_arrays``.

Part 5 of the model contract (the overview is in :mod:`synerec.algorithms.base`). The file
format itself (a directory with ``model.json`` and ``arrays.npz``, checksums, atomic
replacement, no pickle) is :mod:`synerec.algorithms.persistence`; this module decides what goes
into it:

* ``base.*`` arrays: the user and item vocabularies and the training matrix, from which
  loading recomputes every mean and count exactly as ``fit`` does;
* ``model.*`` arrays: whatever the model's ``_arrays()`` returns, handed back to its
  ``_load_arrays()``;
* ``data.*`` arrays: the catalogue the answers show (``data.title``, ``data.category`` by item
  index), when the model was fitted on a data set;
* the JSON: the model's registry name (never a Python path, so a file can only build a
  registered class), its validated config, the rating scale and, under ``metadata.dataset``,
  the data set's name and source (how to read it again: a registered name with its options,
  or a file with its reading options; :func:`synerec.data.load_source`).

Files without ``data.*`` arrays or ``metadata.dataset`` (saved before they existed, or fitted on
a bare matrix) load with ``catalogue_``, ``data_name_`` and ``data_source_`` set to ``None``.
* extra files, for the few models with state in another library's own format (the hybrid
  ranker's LightGBM text model): ``_files()`` on saving, ``_load_files()`` on loading, each
  file checksummed in the manifest.

The format is unchanged by the split of the base class: files saved before load after.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.params import C
from synerec.algorithms.persistence import ArraysView, open_model_dir, write_model_dir
from synerec.algorithms.registry import registered
from synerec.algorithms.scoring import ScoringModel
from synerec.data.vocabulary import Vocabulary
from synerec.exceptions import ConfigError, DataFormatError, ModelFileError

__all__ = ["Saving"]

log = logging.getLogger(__name__)


class Saving(ScoringModel[C]):
    """:meth:`save` and :meth:`load` (the class comes from the registry, by name)."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model as a directory (``model.json`` + ``arrays.npz``, no pickle).

        See :mod:`synerec.algorithms.persistence` for the format. An existing model directory
        at ``path`` is replaced atomically.
        """
        self._check_fitted()
        X = self.train_
        arrays = {
            "base.users": self.users_.to_array(),
            "base.items": self.items_.to_array(),
            "base.train_indptr": X.indptr.astype(np.int64),
            "base.train_indices": X.indices.astype(np.int32),
            "base.train_data": X.data.astype(np.float32),
        }
        for key, value in self._arrays().items():
            arrays[f"model.{key}"] = np.asarray(value)
        metadata: dict[str, Any] = {"n_users": int(X.shape[0]), "n_items": int(X.shape[1]),
                                    "n_interactions": int(X.nnz),
                                    "model_class": type(self).__name__}
        if self.catalogue_ is not None:
            for col, values in self.catalogue_.items():
                arrays[f"data.{col}"] = _text_array(values, col)
        if self.data_name_ is not None:
            metadata["dataset"] = {"name": self.data_name_, "source": self.data_source_}
        return write_model_dir(
            path, class_name=type(self).model_name(),
            config=self.config_.model_dump(mode="json"), arrays=arrays,
            rating_scale=self.rating_scale_, metadata=metadata, files=self._files(),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load a model saved by :meth:`save`; the class comes from the registry, by name.

        ``Recommender.load`` loads a model of any family of :mod:`synerec.algorithms` (its
        module is imported when the name is not registered yet), and the hybrid once
        :mod:`synerec.hybrid` is imported (:func:`synerec.models.load_model` imports the family
        a file names, the hybrid included); ``MatrixFactorization.load``
        insists on that class (or a subclass).

        Raises
        ------
        ModelFileError
            Missing, truncated or corrupted files, a checksum mismatch, an unknown model name,
            an invalid config or arrays that do not fit together.
        """
        mf = open_model_dir(path)  # each array verified when taken, before it is used
        model_cls = registered(mf.class_name)
        if model_cls is None:
            raise ModelFileError(
                f"{path}: unknown model {mf.class_name!r}; known models: "
                f"{', '.join(sorted(ScoringModel.registered_classes))} (synerec.models.load_model "
                "loads every model synerec has, the hybrid included)")
        if not issubclass(model_cls, cls):
            raise ModelFileError(f"{path} holds a {model_cls.__name__} model "
                                 f"({mf.class_name!r}), not a {cls.__name__}")
        try:
            model = model_cls.from_config(mf.config)
        except ConfigError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        a = mf.arrays
        try:
            users = Vocabulary.from_array(a["base.users"], kind="user")
            items = Vocabulary.from_array(a["base.items"], kind="item")
            X = sp.csr_matrix((a["base.train_data"], a["base.train_indices"],
                               a["base.train_indptr"]), shape=(len(users), len(items)))
            X.check_format(full_check=True)
            if X.nnz == 0:
                raise ValueError("the training matrix is empty")
            model.config_ = model.get_config()
            model._set_training_state(X, users, items, mf.rating_scale)
            model._load_arrays(ArraysView(a, "model."))  # each read when the model asks
            model._load_data_info(a, mf.metadata, len(items))
            model._load_files(dict(mf.files))
        except (KeyError, ValueError, IndexError, TypeError, DataFormatError) as exc:
            raise ModelFileError(f"{path}: stored arrays are inconsistent: {exc}") from exc
        log.info("loaded %s from %s", model_cls.__name__, path)
        return model

    def _load_data_info(self, arrays: Mapping[str, np.ndarray], metadata: dict[str, Any],
                        n_items: int) -> None:
        """``catalogue_``, ``data_name_`` and ``data_source_`` from a file (``None`` when it
        predates them)."""
        catalogue = {k[len("data."):]: arrays[k].astype(np.str_) for k in arrays
                     if k.startswith("data.")}
        for col, values in catalogue.items():
            if values.shape != (n_items,):
                raise ValueError(f"catalogue column {col!r} has shape {values.shape}, "
                                 f"expected ({n_items},)")
        self.catalogue_ = catalogue or None
        dataset = metadata.get("dataset")
        if dataset is not None and not isinstance(dataset, dict):
            raise ValueError("metadata 'dataset' must be an object")
        dataset = dataset or {}
        self.data_name_ = dataset.get("name")
        source = dataset.get("source")
        self.data_source_ = source if isinstance(source, dict) else None


def _text_array(values: np.ndarray, column: str) -> np.ndarray:
    """Catalogue text as a fixed-width unicode array (stored without pickle)."""
    out = np.asarray([str(v) for v in values], dtype=np.str_)
    if any(str(v).endswith("\x00") for v in values):
        raise ModelFileError(f"a catalogue {column} ends with a NUL character; cannot store it")
    return out
