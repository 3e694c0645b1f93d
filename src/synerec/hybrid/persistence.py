"""What a saved hybrid holds beside its configuration: arrays and LightGBM's text models.

``arrays.npz``: the retriever labels and feature groups used, the item side (centred
embeddings, categories), the timestamps of the training matrix, the item titles, what the
ranker was trained on, and each retriever's own arrays prefixed ``r{j}.``. ``ranker.txt``
and ``ranker_llm.txt``: the two rankers (LightGBM's own text format, read by LightGBM's
parser). The retrievers are rebuilt from the configuration and their arrays; the feature
columns from the feature table (:mod:`synerec.hybrid.features`), and LightGBM checks that they
are the columns its trees read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.base import Recommender
from synerec.hybrid.features import FEATURE_GROUPS, Group
from synerec.hybrid.ranker import LambdaRanker
from synerec.hybrid.stats import ItemSide

__all__ = ["RANKER_FILES", "StoredHybrid", "hybrid_arrays", "ranker_files", "read_arrays",
           "read_ranker_files"]

#: The files of a saved hybrid beside its arrays: the first and the second (LLM) ranker.
RANKER_FILES = ("ranker.txt", "ranker_llm.txt")


@dataclass(frozen=True, eq=False)
class StoredHybrid:
    """A saved hybrid's arrays, read back (the retrievers' own arrays stay in the dict)."""

    retriever_names: list[str]
    feature_groups: tuple[Group, ...]
    item_side: ItemSide
    times: sp.csr_matrix | None
    titles: list[str]
    validation: dict[str, Any]


def hybrid_arrays(stored: StoredHybrid, retrievers: Sequence[Recommender]
                  ) -> dict[str, np.ndarray]:
    """The arrays of a fitted hybrid (its state and each retriever's)."""
    side = stored.item_side
    out: dict[str, np.ndarray] = {
        "retriever_names": np.asarray(stored.retriever_names, dtype=np.str_),
        "feature_groups": np.asarray(stored.feature_groups, dtype=np.str_),
        "embeddings": (side.embeddings if side.embeddings is not None
                       else np.zeros((0, 0), np.float32)).astype(np.float32),
        "category_indptr": (side.categories.indptr if side.categories is not None
                            else np.zeros(0)).astype(np.int64),
        "category_indices": (side.categories.indices if side.categories is not None
                             else np.zeros(0)).astype(np.int64),
        "category_names": side.category_names.astype(np.str_),
        # the text neighbours (derived from the embeddings; stored so that loading does not
        # compare every pair of items again)
        "text_neighbor_indptr": (side.text_neighbors.indptr if side.text_neighbors is not None
                                 else np.zeros(0)).astype(np.int64),
        "text_neighbor_indices": (side.text_neighbors.indices
                                  if side.text_neighbors is not None
                                  else np.zeros(0)).astype(np.int32),
        "text_neighbor_data": (side.text_neighbors.data if side.text_neighbors is not None
                               else np.zeros(0)).astype(np.float32),
        "times": (stored.times.data if stored.times is not None
                  else np.zeros(0)).astype(np.float64),
        "has_times": np.asarray(stored.times is not None),
        "titles": np.asarray(stored.titles, dtype=np.str_),
        "validation": np.asarray([f"{k}={v}" for k, v in stored.validation.items()],
                                 dtype=np.str_),
    }
    for j, model in enumerate(retrievers):
        for key, value in model._arrays().items():
            out[f"r{j}.{key}"] = np.asarray(value)
    return out


def read_arrays(arrays: Mapping[str, np.ndarray], X: sp.csr_matrix) -> StoredHybrid:
    """The hybrid's state from its arrays, checked against its training matrix ``X``.

    Raises
    ------
    ValueError
        Arrays that do not match the training matrix or the item vocabulary.
    """
    n_items = X.shape[1]
    E = arrays["embeddings"]
    embeddings = None if E.size == 0 else np.asarray(E, dtype=np.float32)
    if embeddings is not None and embeddings.shape[0] != n_items:
        raise ValueError("the stored embeddings do not match the item vocabulary")
    C = None
    indptr = arrays["category_indptr"]
    cat_names = arrays["category_names"].astype(np.str_)
    if len(indptr):
        idx = arrays["category_indices"]
        C = sp.csr_matrix((np.ones(len(idx)), idx, indptr), shape=(n_items, len(cat_names)))
        C.check_format(full_check=True)
    times = None
    if bool(arrays["has_times"]):
        t = arrays["times"]
        if t.shape != (X.nnz,):
            raise ValueError("the stored timestamps do not match the training matrix")
        times = sp.csr_matrix((t, X.indices, X.indptr), shape=X.shape)
    titles = arrays["titles"]
    if titles.shape != (n_items,):
        raise ValueError("the stored titles do not match the item vocabulary")
    groups = [str(x) for x in arrays["feature_groups"]]
    if set(groups) - set(FEATURE_GROUPS):
        raise ValueError(f"unknown feature groups {sorted(set(groups) - set(FEATURE_GROUPS))}")
    validation: dict[str, Any] = {}
    for entry in arrays["validation"]:
        k, _, v = str(entry).partition("=")
        validation[k] = v
    side = ItemSide(embeddings, C, cat_names, _text_neighbors(arrays, n_items)) \
        if embeddings is not None and len(arrays.get("text_neighbor_indptr", ())) \
        else ItemSide.build(embeddings, C, cat_names)  # a model saved before they were stored
    return StoredHybrid([str(x) for x in arrays["retriever_names"]],
                        tuple(g for g in FEATURE_GROUPS if g in groups), side, times,
                        [str(t) for t in titles], validation)


def _text_neighbors(arrays: Mapping[str, np.ndarray], n_items: int) -> sp.csr_matrix:
    T = sp.csr_matrix((arrays["text_neighbor_data"], arrays["text_neighbor_indices"],
                       arrays["text_neighbor_indptr"]), shape=(n_items, n_items))
    T.check_format(full_check=True)
    return T


def ranker_files(ranker: LambdaRanker | None, ranker_llm: LambdaRanker | None
                 ) -> dict[str, bytes | str]:
    """The rankers as LightGBM's text models (none for reciprocal-rank fusion)."""
    files: dict[str, bytes | str] = {}
    if ranker is not None:
        files["ranker.txt"] = ranker.to_text()
    if ranker_llm is not None:
        files["ranker_llm.txt"] = ranker_llm.to_text()
    return files


def read_ranker_files(files: dict[str, bytes], stage_a: Sequence[str],
                      stage_b: Sequence[str] | None, threads: int
                      ) -> tuple[LambdaRanker | None, LambdaRanker | None]:
    """The two rankers from their files, each checked against its column names
    (``stage_b``: ``None`` when the hybrid has no LLM stage).

    Raises
    ------
    ValueError
        An unexpected file, an LLM ranker without the ``llm`` feature group, or a model that
        LightGBM cannot read or that reads other columns.
    """
    unknown = sorted(set(files) - set(RANKER_FILES))
    if unknown:
        raise ValueError(f"unexpected files in a hybrid model: {unknown}")
    ranker = ranker_llm = None
    if "ranker.txt" in files:
        ranker = LambdaRanker.from_text(files["ranker.txt"].decode("utf-8"), stage_a, threads)
    if "ranker_llm.txt" in files:
        if stage_b is None:
            raise ValueError("ranker_llm.txt needs the llm feature group")
        ranker_llm = LambdaRanker.from_text(files["ranker_llm.txt"].decode("utf-8"), stage_b,
                                            threads)
    return ranker, ranker_llm
