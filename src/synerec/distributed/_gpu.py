"""The optional torch path: similarity blocks and factor-model scoring on a CUDA device.

Used when a CUDA device is present (or when a torch device is asked for explicitly); the same code
runs on torch's CPU device, which is how CI tests it against the numba/numpy path.

Both paths keep the rest of synerec's rules by doing only the *arithmetic* on the device:

* **batch scoring** (:func:`factor_topk`): the matrix-factorisation scores of a block of users are
  computed in float64 on the device from the model's factors
  (:class:`~synerec.algorithms.abilities.ScoresByFactors`), in the same order of operations as
  the model's own, rounded to float32, and the items a user may not get (seen, cold,
  non-finite: the model's :meth:`~synerec.algorithms.recommending.Recommending.rankable_items`
  and :meth:`~synerec.algorithms.recommending.Recommending.seen_items`) are set to ``-inf``.
  The device keeps, per user, only the items whose score reaches the user's ``n``-th best
  (ties included); those few candidates go back to the host and are ranked there by the model's
  :meth:`~synerec.algorithms.recommending.Recommending.rank_block` (the one shared routine
  :func:`synerec.topk.topk_sparse`); unknown users get its
  :meth:`~synerec.algorithms.recommending.Recommending.popular_items`. No dense
  users x items block leaves the device, and filtering and tie-breaking stay those of
  :func:`synerec.topk.topk`.
* **similarity blocks** (:func:`similarity_block`): for a block of rows, the dot products (and for
  the co-rated forms the two sums of squares and the common counts) are sparse x dense products in
  float64; the finishing steps (clipping, support, shrinkage, float32 rounding, sign filter) are
  those of ``synerec.similarity._kernels._finish``; each row's candidates at or above its
  ``k``-th best go back to the host and are chosen by :func:`~synerec.topk.topk_sparse`, whose
  order (value descending, index ascending) is the similarity kernel's.

The float64 sums are taken in another order than on the host (cuBLAS / cuSPARSE), so a result may
differ from the CPU path in the last bit of a float64, which after rounding to float32 very rarely
changes a value by one unit in the last place, and with it the order of two nearly tied entries.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.abilities import ScoresByFactors
from synerec.exceptions import ConfigError
from synerec.topk import PAD_INDEX, topk_sparse

__all__ = [
    "cuda_available",
    "factor_topk",
    "resolve_device",
    "similarity_block",
    "supports_factor_scoring",
]

log = logging.getLogger(__name__)

#: Bytes of float64 work arrays one device step may hold (scores or similarity accumulators).
DEVICE_BUDGET_BYTES = 1 << 30


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError("the GPU path needs torch (pip install torch; see the 'text' extra)") \
            from None
    return torch


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (never raises)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str | None) -> str | None:
    """The torch device to use, or ``None`` for the numpy/numba path.

    Parameters
    ----------
    device
        ``None`` (auto): ``"cuda"`` when :func:`cuda_available`, else the numpy path.
        ``"numpy"``: always the numpy/numba path. Any other string is a torch device
        (``"cuda"``, ``"cuda:1"``, ``"cpu"``; ``"cpu"`` runs the torch code on the CPU, which is
        how the GPU path is tested).

    Raises
    ------
    ConfigError
        A CUDA device is asked for and none is available, or torch is missing.
    """
    if device is None:
        return "cuda" if cuda_available() else None
    if device == "numpy":
        return None
    if not isinstance(device, str):
        raise ConfigError(f"device must be None, 'numpy' or a torch device name, got {device!r}")
    torch = _torch()
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown torch device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device")
    return device


# -- batch scoring --------------------------------------------------------------------------------

def supports_factor_scoring(model: Any) -> bool:
    """Whether ``model`` scores with user and item factors
    (:class:`~synerec.algorithms.abilities.ScoresByFactors`: ``mf``)."""
    return isinstance(model, ScoresByFactors)


def factor_topk(
    model: Any,
    users: np.ndarray,
    n: int,
    *,
    exclude_seen: bool = True,
    device: str = "cuda",
) -> tuple[np.ndarray, np.ndarray]:
    """``model.recommend_indices(users, n, exclude_seen=...)`` with the scoring on ``device``.

    Parameters
    ----------
    model
        A fitted model that scores with factors (see :func:`supports_factor_scoring`).
    users
        User indices, ``-1`` for unknown users (they get the popular items, as on the host).
    n
        List length.
    exclude_seen
        Leave out each user's training items.
    device
        A torch device name (``"cuda"``, ``"cpu"``, ...).

    Returns
    -------
    indices, scores : numpy.ndarray
        ``(len(users), n)`` int64 (``-1`` pads) and float32 (``-inf`` pads), as
        :meth:`~synerec.algorithms.Recommender.recommend_indices` returns them.
    """
    torch = _torch()
    if not supports_factor_scoring(model):
        raise ConfigError(f"the device scoring path handles matrix factorisation only, not "
                          f"{type(model).__name__}")
    u = np.asarray(users, dtype=np.int64)
    n_items = model.n_items_
    mask = model.rankable_items()
    width = int(n)
    out_idx = np.full((len(u), width), PAD_INDEX, dtype=np.int64)
    out_sc = np.full((len(u), width), -np.inf, dtype=np.float32)
    known = model.known_users(u)
    if (~known).any():
        pop_idx, pop_sc = model.popular_items(width)
        out_idx[~known] = pop_idx
        out_sc[~known] = pop_sc
    rows = np.flatnonzero(known)
    if len(rows) == 0 or width == 0:
        return out_idx, out_sc
    dev = torch.device(device)
    parts = model.factor_scores()
    Q = torch.as_tensor(parts.item_factors, dtype=torch.float64, device=dev)
    item_bias = torch.as_tensor(parts.item_bias, dtype=torch.float64, device=dev)
    blocked = torch.as_tensor(~mask if mask is not None else np.zeros(n_items, dtype=bool),
                              device=dev)
    k = min(width, n_items)
    step = max(1, DEVICE_BUDGET_BYTES // (8 * n_items))
    for start in range(0, len(rows), step):
        rb = rows[start:start + step]
        ub = u[rb]
        P = torch.as_tensor(parts.user_factors[ub], dtype=torch.float64, device=dev)
        # the order of the model's own scores (ScoresByFactors): P Q^T, + item bias, + offset
        s = P @ Q.T
        s += item_bias[None, :]
        s += torch.as_tensor(parts.user_offset[ub], dtype=torch.float64, device=dev)[:, None]
        s32 = s.to(torch.float32)
        del s
        s32[~torch.isfinite(s32)] = -torch.inf
        s32[:, blocked] = -torch.inf
        if exclude_seen:
            seen = model.seen_items(ub)
            r = np.repeat(np.arange(len(ub), dtype=np.int64), np.diff(seen.indptr))
            s32[torch.as_tensor(r, device=dev),
                torch.as_tensor(seen.indices.astype(np.int64), device=dev)] = -torch.inf
        block = _candidates_at_or_above_kth(torch, s32, k, drop=-np.inf)
        out_idx[rb], out_sc[rb] = model.rank_block(block, width, candidates=mask)
    return out_idx, out_sc


def _candidates_at_or_above_kth(torch: Any, s: Any, k: int, drop: float) -> sp.csr_matrix:
    """Entries of each row of ``s`` (a device tensor) that reach the row's ``k``-th largest
    value, except those equal to ``drop``; as a host CSR matrix of the same shape.

    Every entry the exact top ``k`` can hold is kept (ties at the ``k``-th value included), so
    ranking the result gives the same list as ranking ``s``.
    """
    b, width = s.shape
    kth = torch.topk(s, k, dim=1, largest=True, sorted=True).values[:, k - 1:k]
    keep = (s >= kth) & (s != drop)
    r, c = torch.nonzero(keep, as_tuple=True)
    vals = s[r, c].cpu().numpy()
    r = r.cpu().numpy()
    c = c.cpu().numpy()
    indptr = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=b), out=indptr[1:])
    # nonzero walks rows in order and columns ascending: already canonical CSR
    return sp.csr_matrix((vals, c, indptr), shape=(b, width))


# -- similarity blocks ------------------------------------------------------------------------

class DeviceMatrix:
    """The rows of a prepared similarity input, held on a torch device for many blocks.

    Parameters
    ----------
    indptr, indices, data
        Canonical CSR (n x m) of the values the similarity multiplies (raw for cosine, centred
        for the co-rated forms), as ``synerec.similarity`` prepares them.
    shape
        ``(n, m)``.
    device
        A torch device name.
    corated, counting
        Whether the sums of squares over the common columns, and the common counts, are needed.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 shape: tuple[int, int], device: str, corated: bool, counting: bool) -> None:
        torch = _torch()
        self.torch = torch
        self.device = torch.device(device)
        self.shape = (int(shape[0]), int(shape[1]))
        self.corated = corated
        self.counting = counting or corated
        self.host = sp.csr_matrix((np.asarray(data, dtype=np.float64), indices, indptr),
                                  shape=self.shape)
        self.values = self._upload(self.host)
        self.squares = self._upload(self.host.multiply(self.host)) if corated else None
        pattern = sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=self.shape)
        self.pattern_host = pattern
        self.pattern = self._upload(pattern) if self.counting else None

    def _upload(self, M: sp.csr_matrix) -> Any:
        torch = self.torch
        M = sp.csr_matrix(M)
        with warnings.catch_warnings():  # "sparse CSR support is in beta state"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                torch.as_tensor(M.indptr.astype(np.int64), device=self.device),
                torch.as_tensor(M.indices.astype(np.int64), device=self.device),
                torch.as_tensor(M.data.astype(np.float64), device=self.device),
                size=self.shape, device=self.device, check_invariants=False)

    def block_rows(self) -> int:
        """Rows per device step so that its float64 work arrays fit the budget."""
        n, m = self.shape
        per_row = 8 * (m * (2 if self.corated else 1) + n * (4 if self.corated else 2))
        return max(1, DEVICE_BUDGET_BYTES // per_row)

    def _dense_t(self, M: sp.csr_matrix, lo: int, hi: int) -> Any:
        """Rows ``lo:hi`` of ``M`` as a dense (m, hi - lo) float64 device tensor (densified on
        the device: only the block's nonzeros cross the bus)."""
        torch = self.torch
        B = M[lo:hi]
        rows = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(B.indptr))
        out = torch.zeros((self.shape[1], hi - lo), dtype=torch.float64, device=self.device)
        out[torch.as_tensor(B.indices.astype(np.int64), device=self.device),
            torch.as_tensor(rows, device=self.device)] = torch.as_tensor(
                B.data.astype(np.float64), device=self.device)
        return out

    def products(self, lo: int, hi: int) -> tuple[Any, Any, Any, Any]:
        """For rows ``a`` in ``lo:hi`` and all rows ``b``: ``(dot, sa, sb, count)`` as
        ``(hi - lo, n)`` float64 tensors (``sa``/``sb`` ``None`` unless co-rated, ``count``
        ``None`` unless counting)."""
        torch = self.torch
        dot = torch.sparse.mm(self.values, self._dense_t(self.host, lo, hi)).T
        sa = sb = count = None
        if self.corated:
            assert self.squares is not None and self.pattern is not None
            sq_host = self.host[lo:hi].multiply(self.host[lo:hi])
            # sa[a, b] = sum over common columns of x_a^2; sb[a, b] = the same of x_b^2
            sa = torch.sparse.mm(self.pattern, self._dense_t(sp.csr_matrix(sq_host), 0,
                                                             hi - lo)).T
            sb = torch.sparse.mm(self.squares, self._dense_t(self.pattern_host, lo, hi)).T
        if self.counting:
            assert self.pattern is not None
            count = torch.sparse.mm(self.pattern, self._dense_t(self.pattern_host, lo, hi)).T
        return dot, sa, sb, count


def similarity_block(
    dm: DeviceMatrix,
    lo: int,
    hi: int,
    norms: np.ndarray,
    k: int,
    min_support: int,
    shrinkage: float,
    positive_only: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` similar rows of rows ``lo:hi``, computed on ``dm``'s device.

    Returns
    -------
    counts : numpy.ndarray
        int64 ``(hi - lo,)``: neighbours kept per row.
    indices, values : numpy.ndarray
        int32 and float32, the kept neighbours row after row, each row by increasing index:
        the same arrays ``synerec.similarity._kernels.topk_similarity`` produces.
    """
    torch = dm.torch
    counts, idx_parts, val_parts = [], [], []
    for start in range(lo, hi, dm.block_rows()):
        stop = min(hi, start + dm.block_rows())
        dot, sa, sb, common = dm.products(start, stop)
        if dm.corated:
            den = sa * sb
            safe = torch.where(den > 0, den, torch.ones_like(den))
            sim = torch.where(den > 0, dot / torch.sqrt(safe), torch.zeros_like(dot))
        else:
            nrm = torch.as_tensor(norms, dtype=torch.float64, device=dm.device)
            den = nrm[start:stop, None] * nrm[None, :]
            safe = torch.where(den > 0, den, torch.ones_like(den))
            sim = torch.where(den > 0, dot / safe, torch.zeros_like(dot))
        del dot, sa, sb
        drop = torch.zeros_like(sim, dtype=torch.bool)
        if common is not None:
            drop |= common < min_support
        rows = torch.arange(stop - start, device=dm.device)
        drop[rows, rows + start] = True  # the row itself
        sim = torch.clamp(sim, -1.0, 1.0)
        if shrinkage > 0.0:
            assert common is not None
            sim = sim * (common / (common + shrinkage))
        s32 = sim.to(torch.float32)
        del sim
        s32[drop] = 0.0
        if positive_only:
            s32[s32 < 0] = 0.0
        # zeros are never kept: they must not take part in the k-th value either
        s32[s32 == 0] = -torch.inf
        kk = min(k, s32.shape[1])
        block = _candidates_at_or_above_kth(torch, s32, kk, drop=-np.inf)
        best, best_val = topk_sparse(block, kk)
        # the kernel's output: each row's kept neighbours by increasing index
        valid = best != PAD_INDEX
        key = np.where(valid, best, np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        best_val = np.take_along_axis(best_val, order, axis=1)
        valid = np.take_along_axis(valid, order, axis=1)
        counts.append(valid.sum(axis=1).astype(np.int64))
        idx_parts.append(best[valid].astype(np.int32))
        val_parts.append(best_val[valid].astype(np.float32))
    if not counts:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
    return np.concatenate(counts), np.concatenate(idx_parts), np.concatenate(val_parts)
