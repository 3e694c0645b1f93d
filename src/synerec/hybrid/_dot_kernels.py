"""Dot products of float32 rows, bit for bit as :func:`numpy.einsum` computes them, in parallel.

``np.einsum("ij,ij->i", A, B)`` reduces each pair of float32 rows with
numpy's own SIMD loop (``sum_of_products_contig_contig_outstride0_two``): four lanes, each
accumulating every fourth product (``lane += a * b``, unrolled by four vectors, the last
vector from the top down), the lanes summed as ``(l0 + l1) + (l2 + l3)``, then added to the
zero output. :func:`_dot` follows that order exactly, so that :func:`pair_dots` gives the
same bits as einsum without gathering the rows into new arrays (one row of ``A`` serves all
the pairs of a user), on every core. (Not faster than einsum for a dense ``(b, n)`` block of
products: einsum's loop is vectorised over the four lanes, this one is not.) The bits are
einsum's for finite rows; a NaN in a row gives NaN, its payload aside.

Whether this numpy build reduces in that order (an x86-64 build without FMA in its baseline
does; another platform may not) is checked once per process on random rows
(:func:`matches_einsum`); where it does not, the callers use einsum itself
(:func:`synerec.hybrid.features._pair_dots`, which also keeps a few pairs in numpy).
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

__all__ = ["matches_einsum", "pair_dots"]

_F32 = np.float32


@numba.njit(cache=True, nogil=True, inline="always")
def _dot(a: np.ndarray, b: np.ndarray) -> np.float32:
    """``a @ b`` of two float32 rows in numpy einsum's SSE order (see the module docstring)."""
    n = a.shape[0]
    l0 = _F32(0.0)
    l1 = _F32(0.0)
    l2 = _F32(0.0)
    l3 = _F32(0.0)
    p = 0
    while n - p >= 16:
        for blk in (3, 2, 1, 0):
            q = p + 4 * blk
            l0 = a[q] * b[q] + l0
            l1 = a[q + 1] * b[q + 1] + l1
            l2 = a[q + 2] * b[q + 2] + l2
            l3 = a[q + 3] * b[q + 3] + l3
        p += 16
    zero = _F32(0.0)
    while p < n:  # the tail, one vector at a time, missing lanes zero (as einsum loads them)
        m = n - p
        l0 = a[p] * b[p] + l0
        l1 = (a[p + 1] * b[p + 1] if m > 1 else zero) + l1
        l2 = (a[p + 2] * b[p + 2] if m > 2 else zero) + l2
        l3 = (a[p + 3] * b[p + 3] if m > 3 else zero) + l3
        p += 4
    return _F32(0.0) + ((l0 + l1) + (l2 + l3))


@numba.njit(cache=True, nogil=True, parallel=True)
def _pair_dots(A: np.ndarray, a_rows: np.ndarray, B: np.ndarray, b_rows: np.ndarray,
               out: np.ndarray) -> None:
    for i in numba.prange(a_rows.shape[0]):
        ra = a_rows[i]
        if ra >= 0:
            out[i] = _dot(A[ra], B[b_rows[i]])


def _as_rows(M: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(M, dtype=np.float32)


@lru_cache(maxsize=1)
def matches_einsum() -> bool:
    """Whether :func:`_dot` gives einsum's bits in this process (random rows of the lengths
    that matter: every tail, and the usual embedding sizes)."""
    rng = np.random.default_rng(0)
    for d in (*range(1, 40), 64, 128, 383, 384, 385, 768, 1024):
        A = rng.standard_normal((64, d)).astype(np.float32)
        B = rng.standard_normal((64, d)).astype(np.float32)
        B[0] = -A[0]  # a signed zero: einsum adds the sum to a zero output
        rows = np.arange(64, dtype=np.int64)
        out = np.zeros(64, dtype=np.float32)
        _pair_dots(A, rows, B, rows, out)
        if out.tobytes() != np.einsum("ij,ij->i", A, B).tobytes():
            return False
    return True


def pair_dots(A: np.ndarray, a_rows: np.ndarray, B: np.ndarray, b_rows: np.ndarray,
              out: np.ndarray) -> None:
    """``out[i] = A[a_rows[i]] @ B[b_rows[i]]`` for every ``i`` with ``a_rows[i] >= 0``
    (the other entries of ``out`` are left as they are), float32, bit for bit
    ``np.einsum("ij,ij->i", A[a_rows], B[b_rows])`` where :func:`matches_einsum`.

    Parameters
    ----------
    A, B
        float32 ``(rows, d)`` matrices.
    a_rows, b_rows
        ``(n,)`` int64 row indices into ``A`` (``-1``: skip the pair) and ``B``.
    out
        ``(n,)`` float32, written in place.
    """
    _pair_dots(_as_rows(A), np.asarray(a_rows, dtype=np.int64), _as_rows(B),
               np.asarray(b_rows, dtype=np.int64), out)
