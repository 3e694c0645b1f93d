r"""Sparse, top-k-truncated similarity between the rows of a sparse matrix.

The rows of ``X`` are the entities to compare and its columns their features: users x items for
user-based CF, ``ratings.T.tocsr()`` (items x users) for item-based CF. A missing (structurally
zero) entry means *unrated*; explicit zeros in ``X`` are treated as unrated too.

For two rows :math:`x` and :math:`y`, let :math:`C = \{c : x_c \ne 0 \wedge y_c \ne 0\}` be their
common (co-rated) columns and :math:`n = |C|`.

**Cosine** (the paper's eq. 1), over the *full* vectors, unrated = 0:

.. math:: \operatorname{cos}(x, y) = \frac{x \cdot y}{\lVert x \rVert \, \lVert y \rVert}  \tag{1}

With ``norms="corated"`` the norms run over the common columns only,
:math:`\sum_{c \in C} x_c y_c / \sqrt{\sum_{c \in C} x_c^2 \sum_{c \in C} y_c^2}` (Surprise's
``cosine``): the reading of eq. 1 where a 0 is "not rated" rather than a rating of 0, so that
the items only one of the two rated do not count.

**Pearson** (eq. 2), over the co-rated columns, in the Resnick / GroupLens form where each
row's mean :math:`\bar x` is taken over *all* its nonzero entries (not only over :math:`C`):

.. math:: \operatorname{pcc}(x, y) = \frac{\sum_{c \in C} (x_c - \bar x)(y_c - \bar y)}
          {\sqrt{\sum_{c \in C} (x_c - \bar x)^2 \; \sum_{c \in C} (y_c - \bar y)^2}}  \tag{2}

and 0 when either sum of squares is 0 (for instance a row whose ratings are all equal).
With ``norms="full"`` the sums of squares run over each row's *own* (centred) entries instead,
the cosine of the mean-centred rows (LensKit's user-user similarity).

**Adjusted cosine** (Sarwar et al. 2001, eq. 3 here) for items, ``X`` being items x users: like
(2) but each entry is centred by its *column's* mean :math:`\bar r_c` (the user's mean over all
the user's ratings):

.. math:: \operatorname{acos}(x, y) = \frac{\sum_{c \in C} (x_c - \bar r_c)(y_c - \bar r_c)}
          {\sqrt{\sum_{c \in C} (x_c - \bar r_c)^2 \; \sum_{c \in C} (y_c - \bar r_c)^2}}  \tag{3}

``norms`` (``"full"`` or ``"corated"``) chooses between the two denominators for every method;
the default (``None``) is each method's usual form: full for the cosine, co-rated for Pearson and
the adjusted cosine. The numerator is the same either way (a product of two entries is nonzero
only on a common column).

Then, in this order: pairs with :math:`n <` ``min_support`` are dropped; the similarity is
multiplied by the shrinkage factor :math:`n / (n + \lambda)` (eq. 4, Koren 2008), ``shrinkage`` =
:math:`\lambda`; zeros (and, with ``positive_only``, negatives) are dropped; each row keeps its
``max_neighbors`` largest similarities, ties going to the lower column index.

The computation never builds a dense n x n matrix: it runs a numba row accumulator
(``_kernels.topk_similarity``) in parallel over rows, with memory
O(nnz + n * max_neighbors + threads * n).

References
----------
.. [1] P. Resnick, N. Iacovou, M. Suchak, P. Bergstrom, J. Riedl, "GroupLens: an open
   architecture for collaborative filtering of netnews", CSCW 1994 (eq. 2).
.. [2] B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Item-based collaborative filtering
   recommendation algorithms", WWW 2001 (eqs. 1 and 3).
.. [3] Y. Koren, "Factorization meets the neighborhood", KDD 2008 (shrinkage, eq. 4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import numba
import numpy as np
import scipy.sparse as sp

from synerec.exceptions import ConfigError, DataFormatError
from synerec.similarity import _kernels

__all__ = [
    "NORMS",
    "SIMILARITY_METHODS",
    "numba_threads",
    "rp3beta_similarity",
    "similarity_matrix",
    "top_neighbors",
]

log = logging.getLogger(__name__)

SIMILARITY_METHODS: Final = ("cosine", "pearson", "adjusted_cosine")
#: Values of ``norms``: ``None`` is each method's usual form (cosine "full", the others
#: "corated").
NORMS: Final = (None, "full", "corated")

_INT32_MAX: Final = np.iinfo(np.int32).max
# rows are dealt round-robin to this many blocks per thread (load balance on skewed data)
_BLOCKS_PER_THREAD: Final = 4
# a row with at least this many (row, column, row) paths per row of X is finished by a dense
# scan instead of its touched-list (measured on the synthetic bench; see _kernels)
_DENSE_SCAN_FACTOR: float = 1.0
# with show_progress, the rows are processed in this many batches, one progress step each
_PROGRESS_STEPS: Final = 50


def numba_pool_size() -> int:
    """The size of numba's thread pool (``numba.config.NUMBA_NUM_THREADS``): the most threads
    :func:`numba.set_num_threads` accepts."""
    # numba.config sets its NUMBA_* settings at run time from the environment (globals()), so
    # type checkers cannot see them as attributes; the module's namespace holds them.
    return int(vars(numba.config)["NUMBA_NUM_THREADS"])


@contextmanager
def numba_threads(num_threads: int) -> Iterator[int]:
    """Run a block with ``num_threads`` numba threads, restoring the previous number after.

    Parameters
    ----------
    num_threads
        ``0`` keeps numba's current setting; larger values are capped at
        ``numba.config.NUMBA_NUM_THREADS`` (the size of numba's pool).

    Yields
    ------
    int
        The number of threads in use inside the block.
    """
    if num_threads < 0:
        raise ConfigError(f"num_threads must be >= 0, got {num_threads}")
    previous = numba.get_num_threads()
    if num_threads == 0:
        yield previous
        return
    wanted = min(int(num_threads), numba_pool_size())
    if wanted != num_threads:
        log.debug("num_threads=%d capped at numba's pool size %d", num_threads, wanted)
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)


def _check_params(
    method: str, max_neighbors: int, min_support: int, shrinkage: float, num_threads: int,
    norms: str | None = None,
) -> None:
    if method not in SIMILARITY_METHODS:
        expected = ", ".join(SIMILARITY_METHODS)
        raise ConfigError(f"unknown similarity method {method!r}; expected one of {expected}")
    if norms not in NORMS:
        raise ConfigError(f"norms must be one of {', '.join(map(repr, NORMS))}, got {norms!r}")
    for name, value, low in (("max_neighbors", max_neighbors, 1), ("min_support", min_support, 0),
                             ("num_threads", num_threads, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if not np.isfinite(shrinkage) or shrinkage < 0:
        raise ConfigError(f"shrinkage must be a finite number >= 0, got {shrinkage!r}")


def _canonical_float32(X: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """A private canonical float32 CSR copy of ``X`` without explicit zeros."""
    if not sp.issparse(X):
        raise TypeError(f"X must be a scipy sparse matrix, not {type(X).__name__}")
    if X.ndim != 2:
        raise DataFormatError(f"X must be 2-dimensional, got shape {X.shape}")
    if max(X.shape) > _INT32_MAX:
        raise DataFormatError(f"X has too many rows or columns for int32 indices: {X.shape}")
    Xc = sp.csr_matrix(X, dtype=np.float32, copy=True)
    if not np.isfinite(Xc.data).all():
        bad = Xc.data[~np.isfinite(Xc.data)][0]
        raise DataFormatError("X holds a non-finite value", value=float(bad))
    Xc.sum_duplicates()  # sorts the column indices too
    Xc.eliminate_zeros()
    return Xc


def _corated_norms(method: str, norms: str | None) -> bool:
    """Whether the denominator's sums run over the common columns only."""
    if norms is None:
        return method != "cosine"
    return norms == "corated"


def _prepared_data(X: sp.csr_matrix, method: str,
                   corated: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The per-entry values the kernel multiplies (raw, or centred per eq. 2 / eq. 3) and,
    for full-vector norms, each row's norm (empty when the norms are co-rated).

    ``corated=None``: the method's usual form (see :func:`_corated_norms`).
    """
    if corated is None:
        corated = _corated_norms(method, None)
    if method == "cosine":
        values = X.data
    else:
        centred = X.data.astype(np.float64)
        if method == "pearson":
            rows = _row_ids(X)
            counts = np.diff(X.indptr)
            sums = np.bincount(rows, weights=centred, minlength=X.shape[0])
            means = sums / np.maximum(counts, 1)
            centred -= means[rows]
        else:  # adjusted_cosine: centre by the column's mean
            counts = np.bincount(X.indices, minlength=X.shape[1])
            sums = np.bincount(X.indices, weights=centred, minlength=X.shape[1])
            means = sums / np.maximum(counts, 1)
            centred -= means[X.indices]
        # float32 like the cosine input: one compiled specialization of the kernel serves all
        values = centred.astype(np.float32)
    if corated:
        return values, np.zeros(0, np.float64)
    sq = np.bincount(_row_ids(X), weights=np.square(values, dtype=np.float64),
                     minlength=X.shape[0])
    return values, np.sqrt(sq)


def _row_ids(X: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))


def similarity_matrix(
    X: sp.csr_matrix,
    method: str = "cosine",
    *,
    max_neighbors: int = 100,
    min_support: int = 1,
    shrinkage: float = 0.0,
    positive_only: bool = False,
    norms: str | None = None,
    num_threads: int = 0,
    show_progress: bool = False,
) -> sp.csr_matrix:
    """Top-``max_neighbors`` similarities between the rows of ``X``, as a sparse matrix.

    Parameters
    ----------
    X
        n x m sparse matrix (any scipy sparse format; converted to float32 CSR). Rows are the
        entities to compare (users for user-CF; items for item-CF, given
        ``X = ratings.T.tocsr()``), columns their features; missing entries mean unrated.
    method
        ``"cosine"`` (eq. 1, full vectors), ``"pearson"`` (eq. 2, co-rated columns, row means
        over all the row's ratings) or ``"adjusted_cosine"`` (eq. 3, co-rated columns, entries
        centred by their column's mean); see the module docstring.
    max_neighbors
        How many neighbours each row keeps at most (the largest similarities, ties to the lower
        index).
    min_support
        Pairs with fewer common nonzero columns get similarity 0 (dropped).
    shrinkage
        :math:`\\lambda` in the factor :math:`n / (n + \\lambda)`, ``n`` the number of common
        columns (eq. 4); 0 disables it.
    positive_only
        Drop similarities <= 0 (zeros are always dropped).
    norms
        ``"full"``: the denominator's sums of squares run over each row's own entries (eq. 1 as
        printed, unrated = 0); ``"corated"``: over the common columns only. ``None`` (default):
        full for ``"cosine"``, co-rated for ``"pearson"`` and ``"adjusted_cosine"``.
    num_threads
        numba threads for this call; 0 keeps numba's current setting. The previous setting is
        restored afterwards.
    show_progress
        Show a progress bar (rich) while the rows are processed.

    Returns
    -------
    scipy.sparse.csr_matrix
        n x n float32 in canonical form (sorted column indices, no duplicates, no explicit
        zeros), empty diagonal, at most ``max_neighbors`` entries per row. Before truncation the
        similarity is symmetric, so with ``max_neighbors >= n - 1`` the result is symmetric.

    Raises
    ------
    ConfigError
        For an unknown ``method`` or an out-of-range parameter.
    DataFormatError
        If ``X`` holds NaN or infinite values.
    TypeError
        If ``X`` is not a scipy sparse matrix.

    References
    ----------
    .. [1] Resnick et al., CSCW 1994 (Pearson, eq. 2).
    .. [2] Sarwar et al., WWW 2001 (cosine eq. 1, adjusted cosine eq. 3).
    .. [3] Koren, KDD 2008 (shrinkage, eq. 4).
    """
    _check_params(method, max_neighbors, min_support, shrinkage, num_threads, norms)
    X = _canonical_float32(X)
    n, m = X.shape
    k = int(min(max_neighbors, max(n - 1, 0)))
    if k == 0 or X.nnz == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)

    start = time.perf_counter()
    indptr = X.indptr.astype(np.int64, copy=False)
    indices = X.indices.astype(np.int32, copy=False)
    corated = _corated_norms(method, norms)
    data, row_norms = _prepared_data(X, method, corated)
    t_indptr, t_indices, perm = _kernels.transpose_structure(indptr, indices, m)
    t_data = data[perm]
    del perm

    out_idx = np.empty((n, k), np.int32)
    out_val = np.empty((n, k), np.float32)
    out_cnt = np.zeros(n, np.int64)
    rows = np.arange(n, dtype=np.int64)
    # without counts, a zero dot product marks an untouched row: sound for positive data only
    counting = corated or min_support > 1 or shrinkage > 0 or bool((data <= 0).any())
    dense_paths = int(min(np.ceil(_DENSE_SCAN_FACTOR * n), np.iinfo(np.int64).max))
    with numba_threads(num_threads) as threads:
        n_blocks = max(1, threads * _BLOCKS_PER_THREAD)

        def run(batch: np.ndarray) -> None:
            _kernels.topk_similarity(
                batch, indptr, indices, data, t_indptr, t_indices, t_data, row_norms, corated,
                counting, k, int(min_support), float(shrinkage), bool(positive_only), dense_paths,
                min(n_blocks, len(batch)), out_idx, out_val, out_cnt)

        if show_progress:
            _run_with_progress(run, rows, f"{method} similarity")
        else:
            run(rows)

    nnz = int(out_cnt.sum())
    index_dtype = np.int32 if nnz <= _INT32_MAX else np.int64
    out_indptr = np.zeros(n + 1, index_dtype)
    np.cumsum(out_cnt, out=out_indptr[1:])
    keep = np.arange(k)[None, :] < out_cnt[:, None]
    S = sp.csr_matrix((out_val[keep], out_idx[keep].astype(index_dtype, copy=False), out_indptr),
                      shape=(n, n))
    S.has_sorted_indices = True
    log.debug("%s similarity of %d rows (nnz=%d): %d neighbours kept in %.3f s", method, n,
              X.nnz, nnz, time.perf_counter() - start)
    return S


def rp3beta_similarity(
    X: sp.csr_matrix,
    *,
    alpha: float = 1.0,
    beta: float = 0.6,
    max_neighbors: int = 100,
    num_threads: int = 0,
) -> sp.csr_matrix:
    r"""RP3beta item-to-item transition weights, top-``max_neighbors`` per row (Paudel et al.).

    ``X`` is users x items; its stored entries are the interactions (their values are ignored:
    the graph is unweighted). With :math:`d_u` and :math:`d_i` the degrees (interactions) of
    user :math:`u` and item :math:`i`, the 3-step random walk item -> user -> item, each step
    raised to the power :math:`\alpha` and the arrival divided by the popularity penalty
    :math:`d_j^\beta`, gives

    .. math:: W_{ij} = \frac{1}{d_j^{\beta}} \sum_u \Big(\frac{x_{ui}}{d_i}\Big)^{\alpha}
              \Big(\frac{x_{uj}}{d_u}\Big)^{\alpha}
              = \frac{1}{d_i^{\alpha} d_j^{\beta}} \sum_u \frac{x_{ui} x_{uj}}{d_u^{\alpha}}.

    It runs on the same sparse accumulator as :func:`similarity_matrix` (never a dense
    items x items matrix): rows :math:`y_i = (x_{ui}\, d_u^{-\alpha/2})_u` give the sum as a dot
    product, the "cosine" normalisation divides it by :math:`c\, d_i^\beta \cdot c\, d_j^\beta`
    (which ranks row :math:`i`'s neighbours by :math:`W_{ij}`; the constant :math:`c` keeps every
    value below 1, by Cauchy-Schwarz, so the kernel's clipping never applies), and the kept
    values are rescaled to :math:`W_{ij}` afterwards.

    Parameters
    ----------
    X
        Users x items interactions.
    alpha
        Exponent of the transition probabilities (> 0; 1 is the plain random walk P3).
    beta
        Popularity penalty exponent (>= 0; 0 is P3alpha).
    max_neighbors
        Items kept per row (the largest weights, ties to the lower index).
    num_threads
        numba threads (0: numba's setting).

    Returns
    -------
    scipy.sparse.csr_matrix
        items x items float32, empty diagonal, canonical.

    References
    ----------
    B. Paudel, F. Christoffel, C. Newell, A. Bernstein, "Updatable, accurate, diverse, and
    scalable recommendations for interactive applications", ACM TiiS 7(1), 2017.
    """
    if not alpha > 0 or not np.isfinite(alpha):
        raise ConfigError(f"alpha must be a finite number > 0, got {alpha!r}")
    if not beta >= 0 or not np.isfinite(beta):
        raise ConfigError(f"beta must be a finite number >= 0, got {beta!r}")
    _check_params("cosine", max_neighbors, 1, 0.0, num_threads)
    Xb = _canonical_float32(X)
    Xb.data[:] = 1.0
    n_users, n_items = Xb.shape
    k = int(min(max_neighbors, max(n_items - 1, 0)))
    if k == 0 or Xb.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    d_user = np.diff(Xb.indptr).astype(np.float64)
    d_item = np.bincount(Xb.indices, minlength=n_items).astype(np.float64)
    # items x users rows y_i = x_ui d_u^(-alpha/2)
    Y = sp.csr_matrix(Xb.T)
    Y.sort_indices()
    Y.data = np.power(d_user[Y.indices], -alpha / 2.0).astype(np.float32)
    sq = np.bincount(_row_ids(Y), weights=np.square(Y.data, dtype=np.float64),
                     minlength=n_items)
    penalty = np.power(np.maximum(d_item, 1.0), beta)
    bound = float(np.max(np.sqrt(sq) / penalty)) * (1.0 + 1e-6)
    norms = (bound * penalty).astype(np.float64)
    indptr = Y.indptr.astype(np.int64)
    indices = Y.indices.astype(np.int32)
    t_indptr, t_indices, perm = _kernels.transpose_structure(indptr, indices, n_users)
    t_data = Y.data[perm]
    out_idx = np.empty((n_items, k), np.int32)
    out_val = np.empty((n_items, k), np.float32)
    out_cnt = np.zeros(n_items, np.int64)
    rows = np.arange(n_items, dtype=np.int64)
    dense_paths = int(np.ceil(_DENSE_SCAN_FACTOR * n_items))
    with numba_threads(num_threads) as threads:
        _kernels.topk_similarity(
            rows, indptr, indices, Y.data, t_indptr, t_indices, t_data, norms, False, False, k,
            1, 0.0, False, dense_paths, max(1, min(threads * _BLOCKS_PER_THREAD, n_items)),
            out_idx, out_val, out_cnt)
    keep = np.arange(k)[None, :] < out_cnt[:, None]
    out_indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(out_cnt, out=out_indptr[1:])
    # back from dot / (c^2 d_i^beta d_j^beta) to W_ij = dot / (d_i^alpha d_j^beta)
    row_scale = (bound * bound * penalty / np.power(np.maximum(d_item, 1.0), alpha))
    vals = (out_val[keep].astype(np.float64)
            * np.repeat(row_scale, out_cnt)).astype(np.float32)
    W = sp.csr_matrix((vals, out_idx[keep], out_indptr), shape=(n_items, n_items))
    W.has_sorted_indices = True
    return W


def _run_with_progress(run: Callable[[np.ndarray], None], rows: np.ndarray, label: str) -> None:
    """Call ``run`` on consecutive batches of ``rows``, advancing a rich progress bar."""
    from rich.progress import Progress

    batches = np.array_split(rows, min(_PROGRESS_STEPS, len(rows)))
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=len(rows))
        for batch in batches:
            run(batch)
            progress.advance(task, len(batch))


def top_neighbors(S: sp.csr_matrix, row: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` most similar neighbours of ``row`` in a similarity matrix.

    Parameters
    ----------
    S
        A similarity matrix in CSR form, as returned by :func:`similarity_matrix`.
    row
        The row whose neighbours are wanted.
    n
        How many neighbours at most.

    Returns
    -------
    indices : numpy.ndarray
        Column indices (int64) of the neighbours, by similarity descending, ties by lower index.
    similarities : numpy.ndarray
        Their similarities, in the same order.

    Raises
    ------
    IndexError
        If ``row`` is out of range.
    ConfigError
        If ``n`` is negative.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"n must be an integer >= 0, got {n!r}")
    n_rows = S.shape[0]
    if not -n_rows <= row < n_rows:
        raise IndexError(f"row {row} out of range for a similarity matrix with {n_rows} rows")
    row = int(row) % n_rows
    start, stop = S.indptr[row], S.indptr[row + 1]
    idx = np.asarray(S.indices[start:stop], dtype=np.int64)
    sims = np.asarray(S.data[start:stop])
    order = np.lexsort((idx, -sims))[:n]
    return idx[order], sims[order]
