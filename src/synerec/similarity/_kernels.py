"""Numba kernels behind :mod:`synerec.similarity` (private).

The kernels work on plain CSR arrays. Rows of ``X`` are the entities to compare; the transposed
structure (``t_indptr``, ``t_indices``, ``t_data``: for each column, the rows that hold it) lets
the row accumulator visit, for row ``a``, every row ``b`` that shares a column with ``a``:

.. code-block:: text

    for each column c of row a:
        for each row b holding c:
            dot[b] += x[a, c] * x[b, c]       # and, for the co-rated forms, the two sums of
            cnt[b] += 1                       # squares over the common columns

Only the touched ``b`` are visited again (a touched-list), so the work per row is the number of
(row, column, row) paths through the row, never ``n``. The ``k`` best neighbours are chosen with a
filter-and-compact buffer over 64-bit keys that encode (similarity descending, index ascending),
a total order, so the kept set does not depend on the visiting order or on the number of
threads. (A bounded heap was twice as slow: its sift-downs mispredict branches.)

They are tested against slow dense references in ``tests/similarity``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic

__all__ = ["topk_similarity", "transpose_structure"]


@nb.njit(cache=True, nogil=True)
def transpose_structure(
    indptr: np.ndarray, indices: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-major view of a CSR structure (a counting sort).

    Returns ``(t_indptr, t_indices, perm)``: the rows holding column ``c`` are
    ``t_indices[t_indptr[c]:t_indptr[c + 1]]`` in increasing order, and ``perm`` maps each
    position of the transposed structure to its position in the CSR ``data`` array. Explicit
    zeros are kept (the structure, not the values, defines which entries exist).
    """
    n_rows = indptr.shape[0] - 1
    nnz = indptr[n_rows]
    t_indptr = np.zeros(n_cols + 1, np.int64)
    for j in range(nnz):
        t_indptr[indices[j] + 1] += 1
    for c in range(n_cols):
        t_indptr[c + 1] += t_indptr[c]
    pos = t_indptr[:n_cols].copy()
    t_indices = np.empty(nnz, np.int32)
    perm = np.empty(nnz, np.int64)
    for r in range(n_rows):
        for j in range(indptr[r], indptr[r + 1]):
            c = indices[j]
            p = pos[c]
            t_indices[p] = r
            perm[p] = j
            pos[c] = p + 1
    return t_indptr, t_indices, perm


_SIGN = np.uint64(0x80000000)
_LOW31 = np.uint64(0x7FFFFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_NO_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)


def _float32_bits_typing(typingctx: Any, x: Any) -> Any:
    """The IEEE bit pattern of a float32, as uint32 (an LLVM bitcast, no memory round-trip)."""
    if x != types.float32:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.uint32))

    return types.uint32(x), codegen


def _bits_float32_typing(typingctx: Any, x: Any) -> Any:
    """The float32 with IEEE bit pattern ``x`` (a 32-bit integer)."""
    if x not in (types.uint32, types.int32):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(x), codegen


# Jitted code calls an intrinsic with its own arguments only (numba supplies ``typingctx``);
# numba's stubs type the call with the typing function's parameters and as never returning, so
# the type the kernels see is declared here.
_float32_bits = cast("Callable[[np.float32], np.uint32]", intrinsic(_float32_bits_typing))
_bits_float32 = cast("Callable[[np.uint32], np.float32]", intrinsic(_bits_float32_typing))


@nb.njit(cache=True, nogil=True, inline="always")
def _encode(value: np.float32, b: int) -> np.uint64:
    """Rank key of neighbour ``b`` with float32 similarity ``value``.

    Keys order neighbours as the output does: a smaller key is a larger similarity, or the same
    similarity and a lower index. The float's bits are mapped to an unsigned integer that grows
    with the value (negative: all bits flipped; positive: sign bit set), complemented so that
    larger values come first; the index fills the low 32 bits, so keys are unique.
    """
    u = np.uint64(_float32_bits(value))
    if u & _SIGN:
        mapped = ~u & _LOW32
    else:
        mapped = u | _SIGN
    return ((_LOW32 - mapped) << _SHIFT) | np.uint64(b)


@nb.njit(cache=True, nogil=True, inline="always")
def _decode_value(key: np.uint64) -> np.float32:
    """The similarity in a key made by :func:`_encode`."""
    mapped = _LOW32 - (key >> _SHIFT)
    if mapped & _SIGN:
        bits = mapped & _LOW31
    else:
        bits = ~mapped & _LOW32
    return _bits_float32(np.uint32(bits))


@nb.njit(cache=True, nogil=True, inline="always")
def _accumulate(
    acc: np.ndarray,
    corated: bool,
    counting: bool,
    track: bool,
    xa: float,
    lo: int,
    hi: int,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    touched: np.ndarray,
    nt: int,
) -> int:
    """Add column ``c``'s contributions (``t_*[lo:hi]``) of row ``a`` (value ``xa``) to ``acc``.

    With ``track``, a row seen for the first time is appended to ``touched`` (branchless: the
    slot is always written, the length advances on a first visit); returns the new length.
    """
    last = acc.shape[1] - 1
    xa2 = xa * xa
    for q in range(lo, hi):
        b = t_indices[q]
        xb = np.float64(t_data[q])
        if track:
            touched[nt] = b
            if counting:
                nt += acc[b, last] == 0.0
            else:
                nt += acc[b, 0] == 0.0
        if counting:
            acc[b, last] += 1.0
        acc[b, 0] += xa * xb
        if corated:
            acc[b, 1] += xa2
            acc[b, 2] += xb * xb
    return nt


@nb.njit(cache=True, nogil=True, inline="always")
def _finish(
    a: int,
    b: int,
    acc: np.ndarray,
    corated: bool,
    counting: bool,
    norms: np.ndarray,
    min_support: int,
    shrinkage: float,
    positive_only: bool,
) -> np.float32:
    """The final similarity of pair (a, b) as float32 (0 = drop); resets b's accumulators."""
    last = acc.shape[1] - 1
    d = acc[b, 0]
    common = acc[b, last] if counting else 1.0
    if corated:
        den = acc[b, 1] * acc[b, 2]
        sim = d / np.sqrt(den) if den > 0.0 else 0.0
    else:
        den = norms[a] * norms[b]
        sim = d / den if den > 0.0 else 0.0
    for f in range(last + 1):
        acc[b, f] = 0.0
    if common < min_support or b == a:
        return np.float32(0.0)
    # rounding can push |sim| a hair over 1
    if sim > 1.0:
        sim = 1.0
    elif sim < -1.0:
        sim = -1.0
    if shrinkage > 0.0:
        sim *= common / (common + shrinkage)
    s32 = np.float32(sim)
    if positive_only and s32 < 0:
        return np.float32(0.0)
    return s32


@nb.njit(cache=True, nogil=True, parallel=True)
def topk_similarity(
    rows: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    t_data: np.ndarray,
    norms: np.ndarray,
    corated: bool,
    counting: bool,
    k: int,
    min_support: int,
    shrinkage: float,
    positive_only: bool,
    dense_paths: int,
    n_blocks: int,
    out_idx: np.ndarray,
    out_val: np.ndarray,
    out_cnt: np.ndarray,
) -> None:
    """Top-``k`` similar rows for each row in ``rows``, written into ``out_*[row]``.

    Parameters
    ----------
    rows
        The rows to process (any subset, each at most once).
    indptr, indices, data
        CSR of ``X`` (n x m), canonical (sorted column indices, no duplicates). For the co-rated
        forms ``data`` holds the already centred values.
    t_indptr, t_indices, t_data
        The same entries column-major (see :func:`transpose_structure`).
    norms
        Row norms for the full-vector cosine (ignored when ``corated``).
    corated
        ``False``: ``dot / (norms[a] * norms[b])`` (cosine). ``True``: ``dot / sqrt(sa * sb)``
        with ``sa``, ``sb`` the sums of squares over the common columns (Pearson and adjusted
        cosine, given centred data); 0 when either is 0.
    counting
        Count the common columns (needed for ``min_support``, ``shrinkage``, the co-rated
        forms, and whenever ``data`` may hold negative values). Without it, a zero dot product
        marks an untouched row, which is only sound when all values are positive.
    k, min_support, shrinkage, positive_only
        As in :func:`synerec.similarity.similarity_matrix`; ``k >= 1``.
    dense_paths
        A row whose number of (row, column, row) paths reaches this is finished by a sequential
        scan of all n accumulators instead of its touched-list (cheaper for heavy rows).
    n_blocks
        Rows are dealt round-robin to this many parallel blocks (load balance on skewed data);
        each block owns its ``n``-long accumulators.
    out_idx, out_val, out_cnt
        ``(n, k)`` int32, ``(n, k)`` float32, ``(n,)`` int64: the kept neighbours of each row in
        increasing index order, and how many.
    """
    n = indptr.shape[0] - 1
    n_todo = rows.shape[0]
    counting = counting or corated
    width = (3 if corated else 1) + (1 if counting else 0)
    for blk in nb.prange(n_blocks):
        # acc[b] = (dot, [sum sq a, sum sq b], [count]): one cache line per update
        acc = np.zeros((n, width), np.float64)
        touched = np.empty(n + 1, np.int32)
        # candidate keys better than the current k-th best (theta) pile up in buf; when it is
        # full, it is cut back to its k best with a partial selection
        cap = 4 * k
        buf = np.empty(cap, np.uint64)
        top_idx = np.empty(k, np.int32)
        top_val = np.empty(k, np.float32)
        for t in range(blk, n_todo, n_blocks):
            a = rows[t]
            paths = 0
            for j in range(indptr[a], indptr[a + 1]):
                c = indices[j]
                paths += t_indptr[c + 1] - t_indptr[c]
            dense = paths >= dense_paths
            # accumulate over the (a, c, b) paths; b == a is accumulated too, skipped in _finish
            nt = 0
            for j in range(indptr[a], indptr[a + 1]):
                c = indices[j]
                xa = np.float64(data[j])
                if dense:
                    nt = _accumulate(acc, corated, counting, False, xa, t_indptr[c],
                                     t_indptr[c + 1], t_indices, t_data, touched, nt)
                else:
                    nt = _accumulate(acc, corated, counting, True, xa, t_indptr[c],
                                     t_indptr[c + 1], t_indices, t_data, touched, nt)
            # finish the similarities (resetting the accumulators) and select the top k
            nbuf = 0
            theta = _NO_KEY
            theta_val = np.float32(-np.inf)
            flag = width - 1 if counting else 0
            n_cand = n if dense else nt
            for p in range(n_cand):
                if dense:
                    b = p
                    if acc[b, flag] == 0.0:
                        continue
                else:
                    b = touched[p]
                s = _finish(a, b, acc, corated, counting, norms, min_support, shrinkage,
                            positive_only)
                if s == 0 or s < theta_val:
                    continue
                key = _encode(s, b)
                if key < theta:
                    buf[nbuf] = key
                    nbuf += 1
                    if nbuf == cap:
                        # explicit loops, not ``buf[:k] = part[:k]``: numba 0.68's parfor pass
                        # mis-lowers that slice assignment inside the prange body (the tests
                        # caught it: wrong neighbours whenever the buffer was cut back)
                        part = np.partition(buf, k - 1)
                        for q in range(k):
                            buf[q] = part[q]
                        nbuf = k
                        theta = part[k - 1]
                        theta_val = _decode_value(theta)
            if nbuf > k:
                part = np.partition(buf[:nbuf], k - 1)
                for q in range(k):
                    buf[q] = part[q]
                nbuf = k
            for p in range(nbuf):
                top_idx[p] = np.int32(buf[p] & _LOW32)
                top_val[p] = _decode_value(buf[p])
            order = np.argsort(top_idx[:nbuf])
            for p in range(nbuf):
                out_idx[a, p] = top_idx[order[p]]
                out_val[a, p] = top_val[order[p]]
            out_cnt[a] = nbuf
