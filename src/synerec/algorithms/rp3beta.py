r"""RP3beta: a 3-step random walk on the user-item graph with a popularity penalty.

The item-to-item weights (:func:`synerec.similarity.rp3beta_similarity`, Paudel et al. 2017) are

.. math:: W_{ij} = \frac{1}{d_i^{\alpha} d_j^{\beta}} \sum_u \frac{x_{ui} x_{uj}}{d_u^{\alpha}}

(:math:`d` the degrees in the graph of positives), truncated to each item's ``k`` largest, and a
user's score of item :math:`j` sums the walks that start at the user's positives,
:math:`s_{uj} = \sum_{i \in I_u} W_{ij}` (the row of :math:`X W`; the walk's first step
:math:`1/d_u` is the same for all of the user's items and does not change the ranking).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import EvidenceKind, SimilarItems
from synerec.algorithms.positives import LinearItemModel, PositiveFeedbackConfig
from synerec.algorithms.registry import register_model
from synerec.similarity import rp3beta_similarity, top_neighbors

__all__ = ["RP3beta", "RP3betaConfig"]

log = logging.getLogger(__name__)


class RP3betaConfig(PositiveFeedbackConfig):
    """Parameters of :class:`RP3beta`.

    Defaults from a grid on MovieLens 100K u1 (``bench/ranking.py``); tune them per data set
    (``synerec tune --model rp3beta``).
    """

    alpha: float = Field(0.8, gt=0.0, allow_inf_nan=False)
    beta: float = Field(0.4, ge=0.0, allow_inf_nan=False)
    k: int = Field(200, ge=1)
    normalize: bool = False
    num_threads: int = Field(0, ge=0)


@register_model("rp3beta")
class RP3beta(LinearItemModel[RP3betaConfig], SimilarItems):
    r"""RP3beta (Paudel et al. 2017): random-walk item-item weights with a popularity penalty.

    Parameters
    ----------
    alpha
        Exponent :math:`\alpha` of the transition probabilities (1: the plain walk, P3).
    beta
        Popularity penalty :math:`\beta`: arriving at item :math:`j` is divided by
        :math:`d_j^\beta` (0: no penalty, P3alpha). Larger values recommend less popular items.
    k
        Weights kept per item (the sparse top-k similarity path; the neighbourhood of a
        recommendation).
    normalize
        Divide each row of :math:`W` by its sum (a transition distribution again); the
        RecSys-2019 reproducibility study (Dacrema et al.) tunes this flag.
    num_threads
        numba threads for the weights (0: numba's setting).
    positive_threshold
        Which interactions are positives (see :mod:`synerec.algorithms.positives`); the graph
        is unweighted.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        :math:`W`, items x items float32, at most ``k`` entries per row.

    Notes
    -----
    Recommendations rank, per user, the items reached in three steps from the user's
    positives (a candidate set); :meth:`predict` returns the score :math:`s_{uj}` (0 when no
    walk reaches :math:`j`), not a rating.

    References
    ----------
    B. Paudel, F. Christoffel, C. Newell, A. Bernstein, "Updatable, accurate, diverse, and
    scalable recommendations for interactive applications", ACM TiiS 7(1), 2017;
    C. Cooper, S. H. Lee, T. Radzik, Y. Siantos, "Random walks in recommender systems: exact
    computation and simulations", WWW 2014 (P3alpha).
    """

    evidence_kind: ClassVar[EvidenceKind] = "co-occurrence"

    sparse_scores: ClassVar[bool] = True

    similarity_: sp.csr_matrix

    def _fit_positives(self, P: sp.csr_matrix) -> None:
        cfg = self.config_
        start = time.perf_counter()
        W = rp3beta_similarity(P, alpha=cfg.alpha, beta=cfg.beta, max_neighbors=cfg.k,
                               num_threads=cfg.num_threads)
        if cfg.normalize:
            sums = np.asarray(W.sum(axis=1)).ravel()
            W = sp.csr_matrix(sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums),
                                                 where=sums > 0)) @ W, dtype=np.float32)
            W.sort_indices()
        self._set_similarity(W)
        log.info("RP3beta weights of %d items (%d kept) in %.3f s", W.shape[0], W.nnz,
                 time.perf_counter() - start)

    def _set_similarity(self, W: sp.csr_matrix) -> None:
        self.similarity_ = W
        Xb = self.positives_.copy()
        Xb.data = np.ones_like(Xb.data)
        self._xb = Xb

    def _user_scores_sparse(self, users: np.ndarray) -> sp.csr_matrix:
        S = sp.csr_matrix(self._xb[users] @ self.similarity_, dtype=np.float32)
        S.sum_duplicates()
        return S

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        Wc = self.similarity_.tocsc()
        return np.asarray(self._xb[users].multiply(Wc[:, items].T).sum(axis=1),
                          dtype=np.float64).ravel()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        W = self.similarity_
        return {"similarity_indptr": W.indptr.astype(np.int64),
                "similarity_indices": W.indices.astype(np.int32),
                "similarity_data": W.data.astype(np.float32)}

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n = self.n_items_
        W = sp.csr_matrix((arrays["similarity_data"], arrays["similarity_indices"],
                           arrays["similarity_indptr"]), shape=(n, n))
        W.check_format(full_check=True)
        self._set_similarity(W)

    def _item_weights(self) -> sp.csr_matrix:
        return self.similarity_


    def item_similarity(self) -> sp.csr_matrix:
        """The walk's item-item weights :math:`W` (what the scores sum)."""
        self._check_fitted()
        return self.similarity_

    def similar_items(self, item: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items a walk from ``item`` reaches most (largest :math:`W_{ij}`)."""
        self._check_fitted()
        idx, sims = top_neighbors(self.similarity_, self.items_.index(item), n)
        return self.items_.ids_of(idx), sims
