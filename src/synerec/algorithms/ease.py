r"""EASE: the closed-form item-item linear model of Steck (2019), dense and sparse.

EASE learns an items x items weight matrix :math:`B` that reconstructs each user's positives
:math:`X` (binary: 1 per positive, see :mod:`synerec.algorithms.positives`) from the user's other
positives,

.. math:: \min_B \lVert X - XB \rVert_F^2 + \lambda \lVert B \rVert_F^2
          \quad \text{s.t.} \quad \operatorname{diag}(B) = 0,

whose solution is closed-form: with the Gram matrix :math:`G = X^\top X` and
:math:`P = (G + \lambda I)^{-1}`,

.. math:: B = I - P \operatorname{diag}(1 / \operatorname{diag}(P)),
          \quad\text{i.e.}\quad B_{ij} = -P_{ij} / P_{jj}\ (i \ne j),\ B_{jj} = 0.

With ``dropout`` :math:`p > 0` the ridge is :math:`\Lambda = \lambda I + \frac{p}{1-p}
\operatorname{diag}(G)` instead of :math:`\lambda I` -- the full-rank EDLAE of Steck (2020), the
closed form of training with input dropout of rate :math:`p`, which penalises the weights of
popular items more -- and :math:`P = (G + \Lambda)^{-1}`, :math:`B` as above.

A user's score of item :math:`j` is :math:`s_{uj} = \sum_i x_{ui} B_{ij}` (row :math:`u` of
:math:`XB`). Column :math:`j` of :math:`B` is exactly the ridge regression of item :math:`j` on all
the other items; the sparse variant below restricts each regression to a few items.

Dense variant (``variant="dense"``, the default)
    One float32 items x items matrix: the Gram matrix accumulated by a compiled kernel
    (:math:`\sum_u \deg(u)^2` work), Cholesky-factored and inverted in place (LAPACK ``spotrf``
    / ``spotri``, multithreaded BLAS), then turned into :math:`B` in place. Memory:
    :func:`dense_memory_bytes` = :math:`4 n^2` bytes for :math:`n` items. **Before
    allocating**, the estimate is compared with the memory limit (``memory_limit_mb``,
    ``$SYNEREC_MEMORY_LIMIT_MB``, or half of the machine's memory); above it, :meth:`EASE.fit`
    refuses with a :class:`~synerec.exceptions.ConfigError` naming the estimate, the limit and
    the alternatives. Fit time is dominated by the :math:`n^3` flops of the inverse
    (:math:`n^3/3` for the Cholesky factor, :math:`2n^3/3` for ``potri``).
Sparse variant (``variant="sparse"``)
    Steck's sparse approximation (Steck 2019b, section 3; a pruned Gram matrix solved block by
    block): (1) the **sparsity pattern**: the ``neighbors`` items most similar to each item, by
    cosine on the positives, from synerec's sparse top-k similarity path
    (:func:`synerec.similarity.similarity_matrix`; Steck thresholds the correlation matrix and
    caps each column, which needs the dense matrix this variant avoids); (2) **blocks**: going
    through the items by decreasing number of neighbours, an item :math:`i` not yet done opens
    the block :math:`N = \{i\} \cup \text{neighbours}(i)` (by decreasing similarity) and marks
    its first :math:`\lceil r |N| \rceil` items :math:`D` done (``block_share`` = :math:`r`);
    (3) for each block, the dense EASE solution of the sub-problem :math:`(G_{NN} + \lambda I)^{-1}`
    gives the columns of the items in :math:`D`; (4) the values found in several blocks are
    averaged, and each column :math:`j` of :math:`B` keeps only the rows of :math:`j`'s own
    neighbours. Memory :math:`O(n \cdot \text{neighbors})`; time :math:`O(n\,k^2 / r)` for
    ``neighbors`` = :math:`k`. When every item's block holds all the items (``neighbors >= n - 1``
    and every pair of items co-occurs) it is the dense solution.
    Recommendation ranks, per user, only the items reached through :math:`B` (a candidate set,
    like the neighbourhood models). Accuracy cost on MovieLens 100K u1: see
    ``docs/experiments.md`` (``bench/ranking.py --ease-sparse``).

Parameters are documented in :class:`EASE`.

References
----------
.. [1] H. Steck, "Embarrassingly shallow autoencoders for sparse data", WWW 2019.
.. [2] H. Steck, "Markov random fields for collaborative filtering", NeurIPS 2019 (section 3:
   the sparse approximation), https://github.com/hasteck/MRF_NeurIPS_2019.
.. [3] H. Steck, "Autoencoders that don't overfit towards the identity", NeurIPS 2020 (eqs. 8
   and 9: the full-rank EDLAE, ``dropout``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec._config import memory_limit_bytes
from synerec.algorithms.abilities import EvidenceKind
from synerec.algorithms.persistence import ArrayRows, CSRRows, array_rows, csr_rows
from synerec.algorithms.positives import LinearItemModel, PositiveFeedbackConfig
from synerec.algorithms.registry import register_model
from synerec.exceptions import ConfigError

__all__ = ["EASE", "EASEConfig", "dense_memory_bytes", "ease_dense_weights",
           "ease_sparse_weights"]

log = logging.getLogger(__name__)

# rows symmetrised per step after the in-place inverse
_SYM_BLOCK = 512


def dense_memory_bytes(n_items: int) -> int:
    """Planned peak memory of the dense variant's fit, in bytes: ``4 n^2``.

    One float32 ``n x n`` matrix: the Gram matrix, accumulated in place by a compiled kernel,
    inverted in place (LAPACK) and turned into the weights in place. (The training matrix and
    its transpose, O(interactions), come on top.)
    """
    n = int(n_items)
    return 4 * n * n


class EASEConfig(PositiveFeedbackConfig):
    """Parameters of :class:`EASE`.

    Defaults ``lambda_=200, dropout=0.67`` (the full-rank EDLAE): the best of a grid over
    ``lambda_`` in {200, 300, 500} and ``dropout`` in {0, 0.5, 0.67} on MovieLens 100K (mean
    NDCG@10 over u1..u5 0.403 against 0.399 for plain EASE with lambda 500) and on UCI Online
    Retail (0.151 against 0.148 for plain EASE with lambda 200); see docs/experiments.md.
    ``dropout=0`` is Steck's 2019 EASE. Tune them per data set (``synerec tune --model ease``).
    """

    lambda_: float = Field(200.0, gt=0.0, allow_inf_nan=False)
    dropout: float = Field(0.67, ge=0.0, lt=1.0)
    variant: Literal["dense", "sparse"] = "dense"
    neighbors: int = Field(100, ge=1)
    block_share: float = Field(0.5, gt=0.0, le=1.0)
    memory_limit_mb: float | None = Field(None, gt=0.0, allow_inf_nan=False)
    num_threads: int = Field(0, ge=0)


@register_model("ease")
class EASE(LinearItemModel[EASEConfig]):
    r"""EASE (Steck 2019): closed-form item-item regression on the positives.

    See the module docstring for the formulas and the two variants.

    Parameters
    ----------
    lambda_
        L2 regularisation :math:`\lambda` (> 0) added to the Gram matrix's diagonal. Plain EASE
        (``dropout=0``) measured best with 200 on UCI Online Retail and 500 on MovieLens 100K.
    dropout
        :math:`p` in [0, 1) of the full-rank EDLAE (Steck 2020): adds :math:`p / (1 - p)` times
        each item's count of positives to its ridge (default 0.67, Steck's value for ML-20M and
        Netflix). 0 is plain EASE.
    variant
        ``"dense"`` (exact; memory :math:`4 n^2` bytes, refused above the memory limit) or
        ``"sparse"`` (Steck's sparse approximation, for catalogues too large for the dense one).
    neighbors
        Sparse variant: items each item's regression may use (the sparsity pattern).
    block_share
        Sparse variant: Steck's :math:`r`, the share of each block's items whose columns the
        block solves (1: one small inverse per item, fastest to state but slowest; smaller values
        solve fewer, shared blocks).
    memory_limit_mb
        Dense variant: refuse to fit when :func:`dense_memory_bytes` exceeds this (MiB). ``None``:
        ``$SYNEREC_MEMORY_LIMIT_MB``, or half of the machine's physical memory.
    num_threads
        Threads of the BLAS inverse and of the Gram kernel; 0 leaves the BLAS library's own
        setting (and threadpoolctl's) and numba's. On a machine shared with other busy
        processes, 1 can be several times faster than an oversubscribed BLAS pool.
    positive_threshold
        Which interactions are positives (see :mod:`synerec.algorithms.positives`; default
        ``"auto"``: ratings >= 4 on 1-5, every interaction of implicit data). EASE uses their
        pattern (1 per positive), not their values.

    Attributes
    ----------
    weights_ : numpy.ndarray or scipy.sparse.csr_matrix
        :math:`B`, items x items float32: dense (dense variant) or CSR (sparse variant), zero
        diagonal.

    Notes
    -----
    :meth:`predict` returns the score :math:`s_{uj}` (not a rating; see
    :mod:`synerec.algorithms.positives`). Users without positives get the popular items.

    References
    ----------
    H. Steck, WWW 2019 (EASE); H. Steck, NeurIPS 2019, section 3 (the sparse approximation);
    H. Steck, NeurIPS 2020 (the full-rank EDLAE, ``dropout``).
    """

    evidence_kind: ClassVar[EvidenceKind] = "co-occurrence"

    _weights: np.ndarray | sp.csr_matrix | ArrayRows | CSRRows

    @property
    def weights_(self) -> np.ndarray | sp.csr_matrix:
        """:math:`B` (see the class docstring); a model loaded from a directory reads only the
        rows its scores need (:meth:`_times_weights`) until this whole matrix is asked for."""
        W = self._weights
        if isinstance(W, ArrayRows):
            W = self._weights = np.ascontiguousarray(W.full(), dtype=np.float32)
        elif isinstance(W, CSRRows):
            W = self._weights = W.full()
        return W

    @weights_.setter
    def weights_(self, W: np.ndarray | sp.csr_matrix) -> None:
        self._weights = W

    @property
    def sparse_scores(self) -> bool:  # type: ignore[override]  # a ClassVar in the base
        """Whether recommendations rank candidate items only (the sparse variant)."""
        return isinstance(self.__dict__.get("_weights"), (sp.csr_matrix, CSRRows))

    def _binary(self, P: sp.csr_matrix) -> sp.csr_matrix:
        Xb = P.copy()
        Xb.data = np.ones_like(Xb.data)
        return Xb

    def _fit_positives(self, P: sp.csr_matrix) -> None:
        cfg = self.config_
        from contextlib import nullcontext

        from threadpoolctl import threadpool_limits

        from synerec.similarity import numba_threads

        Xb = self._binary(P)
        start = time.perf_counter()
        blas = threadpool_limits(cfg.num_threads, "blas") if cfg.num_threads else nullcontext()
        with blas, numba_threads(cfg.num_threads):
            if cfg.variant == "dense":
                self.weights_ = ease_dense_weights(Xb, cfg.lambda_, dropout=cfg.dropout,
                                                   memory_limit_mb=cfg.memory_limit_mb)
            else:
                self.weights_ = ease_sparse_weights(Xb, cfg.lambda_, dropout=cfg.dropout,
                                                    neighbors=cfg.neighbors,
                                                    block_share=cfg.block_share)
        self._xb = Xb
        log.info("EASE (%s, lambda=%g) on %d items in %.3f s", cfg.variant, cfg.lambda_,
                 Xb.shape[1], time.perf_counter() - start)

    # -- scores ---------------------------------------------------------------------------------
    def _user_scores(self, users: np.ndarray) -> np.ndarray:
        if not self.sparse_scores:
            return np.asarray(self._times_weights(self._xb[users]), dtype=np.float32)
        return super()._user_scores(users)

    def _times_weights(self, P: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """``P @ B``; for weights still on disk, from the rows of ``B`` that ``P`` reaches only
        (the same sums, term by term, in the same order)."""
        W = self._weights
        if not isinstance(W, (ArrayRows, CSRRows)):
            return P @ W
        P = sp.csr_matrix(P)
        cols = np.unique(P.indices)
        if 2 * len(cols) > W.shape[0]:
            return P @ self.weights_
        sub = sp.csr_matrix((P.data, np.searchsorted(cols, P.indices), P.indptr),
                            shape=(P.shape[0], len(cols)))
        return sub @ (W.take(cols) if isinstance(W, ArrayRows) else W.rows(cols))

    def _user_scores_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        S = sp.csr_matrix(self._times_weights(self._xb[users]), dtype=np.float32)
        S.sum_duplicates()
        return S

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        # s_uj = sum over u's positives i of B[i, j], one pair at a time through CSR rows
        W = self.weights_
        Xb = self._xb
        if isinstance(W, np.ndarray):
            out = np.empty(len(users), dtype=np.float64)
            step = 4096
            for s in range(0, len(users), step):
                u, j = users[s:s + step], items[s:s + step]
                rows = Xb[u]
                cols = W[:, j]  # n_items x block
                out[s:s + step] = np.asarray(rows.multiply(cols.T).sum(axis=1)).ravel()
            return out
        Wc = W.tocsc()
        return np.asarray(Xb[users].multiply(Wc[:, items].T).sum(axis=1), dtype=np.float64
                          ).ravel()

    # -- persistence ------------------------------------------------------------------------------
    def _model_arrays(self) -> dict[str, np.ndarray]:
        W = self.weights_
        if isinstance(W, np.ndarray):
            return {"weights": W}
        return {"weights_indptr": W.indptr.astype(np.int64),
                "weights_indices": W.indices.astype(np.int32),
                "weights_data": W.data.astype(np.float32)}

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n = self.n_items_
        if "weights" in arrays:
            W = array_rows(arrays, "weights")  # rows read (and verified) when scores need them
            if W.shape != (n, n):
                raise ValueError(f"weights have shape {W.shape}, expected {(n, n)}")
            self._weights = W if W.dtype == np.float32 else np.ascontiguousarray(
                W.full(), dtype=np.float32)
        else:  # sparse: its rows read when scores need them
            self._weights = csr_rows(arrays, "weights", (n, n))
        self._xb = self._binary(self.positives_)

    def _item_weights(self) -> np.ndarray | sp.csr_matrix:
        return self.weights_



# -- the two solvers -------------------------------------------------------------------------------

def _refuse_dense(n_items: int, need: int, limit: int, source: str) -> ConfigError:
    return ConfigError(
        f"EASE (variant='dense') on {n_items:,} items needs about {need / 2**30:.1f} GiB for its "
        f"items x items matrix (4 bytes x {n_items:,}^2), over the memory limit "
        f"of {limit / 2**30:.1f} GiB ({source}; set memory_limit_mb or $SYNEREC_MEMORY_LIMIT_MB "
        f"to change it). Alternatives: variant='sparse' (Steck's sparse approximation, memory "
        f"O(items x neighbors)), or the models rp3beta, als or bpr, which never build an items x "
        f"items dense matrix.")


def ease_dense_weights(Xb: sp.csr_matrix, lambda_: float, *, dropout: float = 0.0,
                       memory_limit_mb: float | None = None) -> np.ndarray:
    """The dense EASE weights :math:`B` of a binary users x items matrix (float32, zero diagonal).

    Raises
    ------
    ConfigError
        The planned memory (:func:`dense_memory_bytes`) exceeds the limit (see
        :func:`synerec._config.memory_limit_bytes`); nothing is allocated.
    """
    n = Xb.shape[1]
    need = dense_memory_bytes(n)
    limit, source = memory_limit_bytes(memory_limit_mb)
    if need > limit:
        raise _refuse_dense(n, need, limit, source)
    G = gram_matrix(Xb)
    G[np.diag_indices(n)] += _ridge(np.diag(G), lambda_, dropout).astype(np.float32)
    _inverse_spd_in_place(G)
    d = np.diag(G).copy()
    G /= -d[None, :]  # B_ij = -P_ij / P_jj
    G[np.diag_indices(n)] = 0.0
    return G


def _ridge(gram_diagonal: np.ndarray, lambda_: float, dropout: float) -> np.ndarray:
    """The diagonal added to the Gram matrix: lambda + p / (1 - p) G_jj (Steck 2020, eq. 9)."""
    return lambda_ + dropout / (1.0 - dropout) * gram_diagonal.astype(np.float64)


def gram_matrix(Xb: sp.csr_matrix) -> np.ndarray:
    """:math:`X^T X` as a dense float32 array (a compiled kernel, item rows in parallel)."""
    from synerec.algorithms._ease_kernels import gram_into

    n = Xb.shape[1]
    X = sp.csr_matrix(Xb, dtype=np.float32)
    X.sort_indices()
    XT = sp.csr_matrix(X.T)
    G = np.zeros((n, n), dtype=np.float32)
    gram_into(XT.indptr.astype(np.int64), XT.indices.astype(np.int32), XT.data,
              X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data, G)
    return G


def _inverse_spd_in_place(A: np.ndarray) -> None:
    """Invert a symmetric positive definite float32 matrix in place (Cholesky, LAPACK)."""
    import scipy.linalg
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (A,))
    # LAPACK works on the Fortran-ordered view: A.T of a C-ordered symmetric matrix is A itself,
    # and the "lower" triangle of A.T is the upper triangle of A.
    At = A.T
    c, info = potrf(At, lower=True, overwrite_a=True, clean=False)
    if info != 0:  # pragma: no cover - G + lambda I is positive definite for lambda > 0
        raise ConfigError(f"EASE: the regularised Gram matrix is not positive definite "
                          f"(LAPACK potrf info {info}); increase lambda_")
    inv, info = potri(c, lower=True, overwrite_c=True)
    if info != 0:  # pragma: no cover
        raise ConfigError(f"EASE: inverting the Gram matrix failed (LAPACK potri info {info})")
    if not np.shares_memory(inv, A):  # pragma: no cover - LAPACK wrappers may copy
        A[...] = inv.T
    # the result is in A's upper triangle (rows i <= j); mirror it into the lower one
    n = A.shape[0]
    for start in range(0, n, _SYM_BLOCK):
        stop = min(n, start + _SYM_BLOCK)
        blk = A[start:stop, start:stop]
        A[start:stop, start:stop] = np.triu(blk) + np.triu(blk, 1).T
        if stop < n:
            A[stop:, start:stop] = A[start:stop, stop:].T


def ease_sparse_weights(Xb: sp.csr_matrix, lambda_: float, *, neighbors: int,
                        block_share: float, dropout: float = 0.0) -> sp.csr_matrix:
    """Steck's sparse approximation of the EASE weights (see the module docstring).

    Returns
    -------
    scipy.sparse.csr_matrix
        items x items float32; column ``j`` is non-zero only at rows of ``j``'s neighbours.
    """
    import scipy.linalg

    from synerec.similarity import similarity_matrix

    n = Xb.shape[1]
    XT = sp.csr_matrix(Xb.T, dtype=np.float32)
    S = similarity_matrix(XT, "cosine", max_neighbors=max(1, min(neighbors, n - 1)))
    counts = np.diff(S.indptr)
    popularity = np.diff(XT.indptr)
    # (1) each item's neighbours by decreasing similarity (ties: lower index), one sort
    rows = np.repeat(np.arange(n), counts)
    order = np.lexsort((S.indices, -S.data, rows))
    ranked = S.indices[order].astype(np.int64)
    # (2) blocks, items by decreasing neighbour count (ties: more popular first); an item
    # without neighbours has an empty column (it co-occurs with nothing)
    todo = counts > 0
    blocks: list[tuple[np.ndarray, int]] = []
    for i in np.lexsort((-popularity, -counts)):
        if not todo[i]:
            continue
        block = np.concatenate([[i], ranked[S.indptr[i]:S.indptr[i + 1]]])
        n_done = max(1, math.ceil(len(block) * block_share))
        blocks.append((block, n_done))
        todo[block[:n_done]] = False
    # (3) the dense solution of each block's sub-problem, for the columns it owns
    from threadpoolctl import threadpool_limits

    Xc = sp.csc_matrix(Xb, dtype=np.float64)
    rows_l, cols_l, vals_l = [], [], []
    # small inverses: one BLAS thread is faster than several (no thread start-up per call)
    with threadpool_limits(1, "blas"):
        for block, n_done in blocks:
            Xn = Xc[:, block]
            G = (Xn.T @ Xn).toarray()
            G[np.diag_indices(len(block))] += _ridge(np.diag(G), lambda_, dropout)
            Pb = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
            Bb = Pb[:, :n_done] / -np.diag(Pb)[None, :n_done]
            r = np.repeat(block, n_done)
            c = np.tile(block[:n_done], len(block))
            keep = r != c
            rows_l.append(r[keep])
            cols_l.append(c[keep])
            vals_l.append(Bb.ravel()[keep])
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
    cols = np.concatenate(cols_l) if cols_l else np.zeros(0, np.int64)
    vals = np.concatenate(vals_l) if vals_l else np.zeros(0)
    # (4) average the values found in several blocks, keep each column's own neighbours
    total = sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float64)
    seen = sp.csr_matrix((np.ones(len(vals)), (rows, cols)), shape=(n, n), dtype=np.float64)
    total.sum_duplicates()
    seen.sum_duplicates()
    avg = total.copy()
    avg.data = total.data / seen.data  # same structure: both summed over the same coordinates
    pattern = sp.csr_matrix(S.T, dtype=np.float64)
    pattern.data = np.ones_like(pattern.data)
    B = sp.csr_matrix(avg.multiply(pattern), dtype=np.float32)
    B.eliminate_zeros()
    B.sort_indices()
    log.debug("sparse EASE: %d blocks, %d weights (%.4f%% of %d^2)", len(blocks), B.nnz,
              100.0 * B.nnz / max(1, n * n), n)
    return B
