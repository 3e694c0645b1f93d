r"""A collaborative score for any item with text: EASE's scores mapped into the text space.

A new product has no column in EASE's item-item weights :math:`B`. A ridge regression from
the item embeddings :math:`E` (centred unit rows) to those columns, fitted on the items with
training interactions :math:`W`,

.. math:: M = (E_W^\top E_W + \lambda I)^{-1} E_W^\top B_{:, W}^\top, \qquad
          \hat B_{:, j} = (e_j M)^\top,

predicts the column of any item :math:`j` from its text, and the user's score of it is
:math:`x_u \hat B_{:, j} = p_u \cdot e_j` with the user's profile in the text space

.. math:: p_u = (x_u B_{:, W}) E_W (E_W^\top E_W + \lambda I)^{-1},

:math:`x_u B_{:, W}` being the retriever's own scores of the warm items
(:meth:`~synerec.algorithms.abilities.ScoresProfile.score_profiles`). The profile is what the
user's collaborative scores say, expressed in words; unlike ``text-knn``'s mean of the user's
item embeddings, it leans to the products that sell together with the user's.

Measured on UCI Online Retail's validation cut (training before 2011-07-01, test to
2011-09-01, products sold before 2011-09-01; ``docs/experiments.md``, "New products in the
hybrid"): ranking only the new products, recall@20 0.379 for text-knn, 0.455 for this score
with :math:`\lambda = 30` (0.445 at 10 and 100, 0.428 at 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.abilities import ScoresProfile

__all__ = ["TEXT_MAP_LAMBDA", "TEXT_MAP_MODELS", "TextMap", "text_map_profiles"]

#: The ridge penalty (chosen on the validation cut, see the module docstring).
TEXT_MAP_LAMBDA = 30.0
#: The registered models whose scores are mapped into the text space (the first retriever of
#: one of them, which must score profiles).
TEXT_MAP_MODELS: frozenset[str] = frozenset({"ease"})
#: Users whose warm-item scores are held at once.
_USER_CHUNK = 1024
#: At most this many users (a request) are mapped by numpy alone (same values as the kernel's
#: pass, tests/hybrid/test_feature_kernels.py).
_SMALL_USERS = 16


@dataclass(frozen=True, eq=False)
class TextMap:
    r"""The ridge map of one training matrix: which items are warm and the solution
    :math:`G = (E_W^\top E_W + \lambda I)^{-1}` (``(d, d)`` float64), kept so that the map is
    solved once per matrix (and stored with a saved hybrid); ``basis`` is :math:`E_W` in
    float64 (not stored: :meth:`of` takes it from the embeddings again)."""

    warm: np.ndarray
    solution: np.ndarray
    basis: np.ndarray

    @classmethod
    def fit(cls, X: sp.csr_matrix, embeddings: np.ndarray,
            lam: float = TEXT_MAP_LAMBDA) -> TextMap:
        """The map of the training matrix ``X`` for ``embeddings`` (centred unit rows, zero
        rows for items without text)."""
        E = np.asarray(embeddings, dtype=np.float64)
        warm = (np.diff(X.tocsc().indptr) > 0) & (np.abs(E).sum(axis=1) > 0)
        d = E.shape[1]
        Ew = E[warm]
        if not warm.any():
            return cls(warm, np.zeros((d, d)), Ew)
        return cls(warm, np.linalg.solve(Ew.T @ Ew + lam * np.eye(d), np.eye(d)), Ew)

    @classmethod
    def of(cls, warm: np.ndarray, solution: np.ndarray, embeddings: np.ndarray) -> TextMap:
        """A stored map (its ``warm`` mask and ``solution``) over ``embeddings``."""
        return cls(warm, solution, np.asarray(embeddings)[warm].astype(np.float64))

    def profiles(self, model: ScoresProfile, X: sp.csr_matrix,
                 users: np.ndarray) -> np.ndarray:
        """``(len(users), d)`` float32 profiles :math:`p_u` of the users (indices into ``X``,
        the matrix ``model`` was fitted on and this map was fitted for)."""
        out = np.zeros((len(users), self.solution.shape[0]), dtype=np.float32)
        if not self.warm.any() or len(users) == 0:
            return out
        if len(users) <= _SMALL_USERS:  # a request: numpy, without loading numba
            S = np.asarray(model.score_profiles(X[users]), dtype=np.float64)[:, self.warm]
            out[:] = (np.nan_to_num(S) @ self.basis) @ self.solution
            return out
        from synerec.hybrid._feature_kernels import warm_columns_f64

        columns = np.flatnonzero(self.warm)
        buffer = np.empty((min(len(users), _USER_CHUNK), len(columns)), dtype=np.float64)
        for start in range(0, len(users), _USER_CHUNK):
            u = users[start:start + _USER_CHUNK]
            # nan_to_num(scores in float64)[:, warm], in one parallel pass into one buffer
            S = buffer[:len(u)]
            warm_columns_f64(np.asarray(model.score_profiles(X[u])), columns, S)
            # (S E_W) G: a (users, d) product first, so that one user costs O(n d + d^2)
            out[start:start + len(u)] = (S @ self.basis) @ self.solution
        return out


def text_map_profiles(model: ScoresProfile, X: sp.csr_matrix, users: np.ndarray,
                      embeddings: np.ndarray, lam: float = TEXT_MAP_LAMBDA) -> np.ndarray:
    """``(len(users), d)`` float32 profiles :math:`p_u` of the users (indices into ``X``, the
    matrix ``model`` was fitted on) in the space of ``embeddings`` (centred unit rows, zero
    rows for items without text): :meth:`TextMap.profiles` of a map fitted on ``X``."""
    return TextMap.fit(X, embeddings, lam).profiles(model, X, users)
