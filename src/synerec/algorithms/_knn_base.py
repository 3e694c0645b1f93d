"""What the two neighbourhood models share (:mod:`synerec.algorithms.knn`): the stored
similarity, its sorted rows, the kernels' plumbing and persistence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from synerec.algorithms._knn_config import ItemKNNConfig, UserKNNConfig
from synerec.algorithms._knn_numpy import gathered_rows
from synerec.algorithms._knn_numpy import sorted_rows as _sort_rows
from synerec.algorithms.base import Recommender
from synerec.algorithms.persistence import CSRRows, csr_rows

__all__ = ["_NeighborhoodModel", "_kernels"]

log = logging.getLogger("synerec.algorithms.knn")

# Blocks of work per numba thread (load balance on users with very different activity).
_BLOCKS_PER_THREAD = 4


def _kernels() -> ModuleType:
    """The numba kernels (:mod:`._knn_kernels`), imported on first use: loading a saved model
    and ranking a few users with item-cf needs neither numba nor its kernel cache."""
    from synerec.algorithms import _knn_kernels

    return _knn_kernels


#: The config of a neighbourhood model (either kind, the text twins' included).
_KC = TypeVar("_KC", bound=UserKNNConfig | ItemKNNConfig)


class _NeighborhoodModel(Recommender[_KC]):
    """What the two neighbourhood models share: the stored similarity and its persistence."""

    sparse_scores: ClassVar[bool] = True

    _similarity: sp.csr_matrix | CSRRows

    @property
    def similarity_(self) -> sp.csr_matrix:
        """The similarity matrix (CSR, float32); a model loaded from a directory reads only the
        rows a request needs (:meth:`_rows_sorted`) until this whole matrix is asked for."""
        S = self._similarity
        if isinstance(S, CSRRows):
            S = self._similarity = _canonical(S.full())
        return S

    @similarity_.setter
    def similarity_(self, S: sp.csr_matrix) -> None:
        self._similarity = S

    # -- fitted state ---------------------------------------------------------------------------
    def _set_similarity(self, S: sp.csr_matrix | CSRRows) -> None:
        """Store ``S`` and the private views the kernels walk (rows by descending similarity);
        a stored similarity is kept on disk, its rows read when needed."""
        if not isinstance(S, CSRRows):
            S = _canonical(S)
        self._similarity = S
        self._nb_indptr = S.indptr.astype(np.int64)
        self._nb_sorted: tuple[np.ndarray, np.ndarray] | None = None  # on first use
        self._xt: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.__dict__.pop("_listed", None)  # ItemKNN's explanation index, built on demand

    def _sorted_neighbors(self) -> tuple[np.ndarray, np.ndarray]:
        """Each similarity row's entries by value descending, ties by the lower index:
        ``(indices, values)`` sharing ``_nb_indptr`` (sorted by a kernel on first use)."""
        if self._nb_sorted is None:
            S = self.similarity_
            self._nb_sorted = _kernels().sort_rows_desc(
                self._nb_indptr, S.indices.astype(np.int32), S.data)
        return self._nb_sorted

    def _rows_sorted(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Similarity rows ``rows`` in kernel order (for the numpy twins of the kernels): from
        the sorted neighbour rows when a kernel has built them, else sorted on the spot."""
        if self._nb_sorted is not None:
            return gathered_rows(self._nb_indptr, *self._nb_sorted, rows)
        S = self._similarity
        if isinstance(S, CSRRows):
            return _sort_rows(S.rows(rows), np.arange(len(rows)))
        return _sort_rows(S, rows)

    def _similarity_rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """The similarity rows ``rows`` (a ``len(rows)`` x n CSR), read from disk when the
        whole matrix is not in memory."""
        S = self._similarity
        if isinstance(S, CSRRows):
            return S.rows(rows)
        return sp.csr_matrix(S[np.asarray(rows, dtype=np.int64)])

    @property
    def _nb_idx(self) -> np.ndarray:
        return self._sorted_neighbors()[0]

    @property
    def _nb_sim(self) -> np.ndarray:
        return self._sorted_neighbors()[1]

    #: The similarity ``similarity="auto"`` means for ratings (for implicit data: cosine).
    _rating_similarity: ClassVar[str] = "cosine"

    @property
    def similarity_kind_(self) -> str:
        """The similarity used: ``similarity``, or for ``"auto"`` the one that suits the data
        (cosine for implicit feedback, where centring purchases by a mean has no meaning)."""
        chosen = str(self.config_.similarity)
        if chosen != "auto":
            return chosen
        return self._rating_similarity if self.rating_scale_ is not None else "cosine"

    def _similarity_of(self, X: sp.csr_matrix) -> sp.csr_matrix:
        cfg = self.config_
        kind = self.similarity_kind_
        from synerec.similarity import similarity_matrix

        start = time.perf_counter()
        S = similarity_matrix(X, kind, max_neighbors=cfg.max_neighbors,
                              min_support=cfg.min_support, shrinkage=cfg.shrinkage,
                              norms=cfg.norms, num_threads=cfg.num_threads)
        log.info("%s: %s similarity of %d rows, %d neighbours kept, in %.3f s",
                 type(self).__name__, kind, S.shape[0], S.nnz, time.perf_counter() - start)
        return S

    @property
    def _k(self) -> int:
        return int(self.config_.k)

    def _n_blocks(self, n_work: int) -> int:
        import numba

        return max(1, min(n_work, numba.get_num_threads() * _BLOCKS_PER_THREAD))

    def _threads(self) -> Any:
        from synerec.similarity import numba_threads

        return numba_threads(int(self.config_.num_threads))

    # -- pairs grouped by user --------------------------------------------------------------
    def _predict_grouped(self, users: np.ndarray, items: np.ndarray,
                         run: Callable[..., None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run ``run(group_users, group_starts, pair_items, out_value, out_nbrs, out_code)``
        (a ``*_knn_predict`` kernel or its numpy twin) on pairs sorted by user; results in
        input order."""
        order = np.argsort(users, kind="stable")
        su = users[order]
        starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]]) if len(su) else np.zeros(0, int)
        group_users = su[starts].astype(np.int64)
        group_starts = np.r_[starts, len(su)].astype(np.int64)
        value = np.empty(len(users), np.float64)
        nbrs = np.empty(len(users), np.int32)
        code = np.empty(len(users), np.int8)
        run(group_users, group_starts, items[order].astype(np.int64), value, nbrs, code)
        out_v = np.empty_like(value)
        out_n = np.empty_like(nbrs)
        out_c = np.empty_like(code)
        out_v[order], out_n[order], out_c[order] = value, nbrs, code
        return out_v, out_n, out_c

    def _score(self, users: np.ndarray) -> np.ndarray:
        S = self._score_sparse(users)
        out = np.full(S.shape, np.nan, dtype=np.float32)
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        out[rows, S.indices] = S.data
        return out

    def _sparse_from(self, users: np.ndarray, bounds: np.ndarray, kernel: Any,
                     *args: Any) -> sp.csr_matrix:
        """Run a ``*_knn_score`` kernel into a CSR block (rows = ``users``)."""
        users = users.astype(np.int64)
        offsets = np.zeros(len(users), np.int64)
        np.cumsum(bounds[:-1], out=offsets[1:])
        total = int(bounds.sum())
        idx = np.empty(total, np.int32)
        val = np.empty(total, np.float32)
        cnt = np.zeros(len(users), np.int64)
        with self._threads():
            kernel(users, offsets, self._k, *args, self._n_blocks(len(users)), idx, val, cnt)
            indptr, indices, data = _kernels().compact_rows(offsets, cnt, idx, val)
        return sp.csr_matrix((data, indices, indptr), shape=(len(users), self.n_items_))

    # -- persistence ----------------------------------------------------------------------------
    def _means(self) -> np.ndarray:
        raise NotImplementedError

    def _x(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The training matrix as the kernels read it: ``(indptr, indices, values)``."""
        X = self.train_
        return X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data

    def _arrays(self) -> dict[str, np.ndarray]:
        S = self.similarity_
        return {"similarity_indptr": S.indptr.astype(np.int64),
                "similarity_indices": S.indices.astype(np.int32),
                "similarity_data": S.data.astype(np.float32),
                "means": self._means()}

    def _load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n = len(self._means())
        S = csr_rows(arrays, "similarity", (n, n))  # rows read when a request needs them
        means = arrays["means"]
        if means.shape != (n,) or not np.allclose(means, self._means(), rtol=0, atol=1e-9):
            raise ValueError("the stored means do not match the training matrix")
        self._set_similarity(S)

    # -- explanations -------------------------------------------------------------------------
    def _neighbor_rows(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._nb_indptr[row], self._nb_indptr[row + 1]
        return self._nb_idx[lo:hi], self._nb_sim[lo:hi]

    @staticmethod
    def _by_contribution(neighbors: list[dict[str, Any]], den: float) -> list[dict[str, Any]]:
        for nb in neighbors:
            nb["contribution"] = nb.pop("_term") / den
        return sorted(neighbors, key=lambda d: (-abs(d["contribution"]), -d["similarity"]))


def _canonical(S: sp.csr_matrix) -> sp.csr_matrix:
    """``S`` as the kernels read it: float32, each row's indices sorted."""
    S = sp.csr_matrix(S, dtype=np.float32)
    if not S.has_sorted_indices:
        S.sort_indices()
    return S
