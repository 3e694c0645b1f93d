"""What a model can do beyond the contract every model meets, declared by the model.

Every model scores, ranks, predicts, saves and loads (:mod:`synerec.algorithms.base`). A few
can do more, and a caller (the explainer, the service, the console, the hybrid) must know which
without guessing. A model *declares* an ability by inheriting its abstract base class below and
implementing its methods; a caller asks ``isinstance(model, ExplainsScore)`` and then calls the
method. No caller probes a model with ``hasattr`` / ``getattr`` or checks a concrete model class.

Three facts every model declares as class attributes instead (they are not methods):
:attr:`~synerec.algorithms.scoring.ScoringModel.predicts_ratings` (its predictions are ratings on
the data's scale, so MAE / RMSE apply), :attr:`~synerec.algorithms.scoring.ScoringModel.needs`
(the side data ``fit`` uses beyond the interaction matrix: :mod:`synerec.algorithms.training`)
and :attr:`~synerec.algorithms.scoring.ScoringModel.evidence_kind` (:data:`EvidenceKind`).

=====================  ================================================  ======================
ability                what the model answers                            models
=====================  ================================================  ======================
:class:`ExplainsScore`  what each of the user's items adds to an item's   ``ease``, ``rp3beta``,
                       ranking score (the score is a sum over them)      ``item-cf``,
                                                                         ``t-item-cf``
:class:`ExplainsScoreByUsers`  the similar users whose terms make the score    ``user-cf``,
                                                                         ``t-user-cf``
:class:`ExplainsList`  an explanation of each item of a whole list, in   ``hybrid``
                       one pass (the signals that put it there)
:class:`SimilarItems`  its own item-item similarity (neighbour lists)    ``item-cf``,
                                                                         ``t-item-cf``,
                                                                         ``rp3beta``
:class:`ScoresProfile`  scores for users described only by their items    ``ease``, ``rp3beta``,
                       (a profile that was not in the training data), of ``sasrec``
                       whole rows or of given (profile, item) pairs
:class:`ScoresByFactors`  the parts of a ranking score that is a dot      ``mf``
                       product of user and item factors plus biases
:class:`ScoresSequence`  scores for users described by their items *in      ``sasrec``
                       time order* (the order changes the scores): a
                       user's latest events re-rank their list without a
                       refit
:class:`ScoresItemUsers`  one item's ranking score for every user (a      ``ease``, ``rp3beta``,
                       column of the score matrix, at the cost of one    ``text-knn``,
                       column): a product's likely buyers                ``text-knn-tuned``
:class:`ScoresNewItems`  items added after the fit, from their text: the  ``text-knn``,
                       encoder that embeds them, their vectors in the    ``text-knn-tuned``
                       model's item space, their scores for users
=====================  ================================================  ======================
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import scipy.sparse as sp

__all__ = [
    "EVIDENCE_KINDS",
    "EvidenceKind",
    "ExplainsList",
    "ExplainsScore",
    "ExplainsScoreByUsers",
    "FactorScores",
    "ScoresByFactors",
    "ScoresItemUsers",
    "ScoresNewItems",
    "ScoresProfile",
    "ScoresSequence",
    "SimilarItems",
]

#: What kind of evidence a model's score rests on, declared by every model as
#: :attr:`~synerec.algorithms.scoring.ScoringModel.evidence_kind` (how an explanation names
#: the model's signal: "items you bought together with it", "customers like you", ...);
#: ``"sequence"``: what the user did last, in order (a sequential model).
EvidenceKind = Literal["co-occurrence", "co-rating", "similar-users", "taste-profile", "text",
                       "popularity", "other", "sequence"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = get_args(EvidenceKind)


class ExplainsScore(abc.ABC):
    """A model whose ranking score of an item is a sum of terms over the user's own items."""

    @abc.abstractmethod
    def score_contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """What each of the user's items adds to ``item``'s ranking score (indices).

        Parameters
        ----------
        user, item
            A user and an item index (``-1``: unknown, the answer is then empty).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The user's items (int64 indices) and their float64 terms; the terms add up to the
            score :meth:`~synerec.algorithms.recommending.Recommending.recommend` ranks by.
            Empty when the user has no items that take part in the score.
        """


class ExplainsScoreByUsers(abc.ABC):
    """A model whose ranking score of an item is a sum of terms over similar users."""

    @abc.abstractmethod
    def score_contributors(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """The users whose terms make ``user``'s ranking score of ``item``, with their terms.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            User indices (int64) and float64 terms; empty for an unknown user or item.
        """


class ExplainsList(abc.ABC):
    """A model that explains each item of a list it made, in one pass over the list."""

    @abc.abstractmethod
    def explain_list(self, user: int, items: Sequence[int] | np.ndarray) -> list[Any]:
        """One explanation per item of ``items`` (item indices of ``user``'s list), in order.

        The explanation objects are the model's own; each has ``as_details()`` (a JSON-able
        dict) and a ``sentence``.
        """

    def explain_texts(self, users: Sequence[int] | np.ndarray,
                      items: np.ndarray) -> list[list[str]]:
        """The sentences only, for many users' lists: row ``r`` of ``items`` (``-1``: none)
        is user ``users[r]``'s list. The same sentences as :meth:`explain_list`; a model may
        make them faster in one pass (the service precomputes its users' explained lists)."""
        grid = np.asarray(items, dtype=np.int64).reshape(len(users), -1)
        return [[str(e.sentence) for e in self.explain_list(int(u), row[row >= 0])]
                for u, row in zip(users, grid, strict=True)]


class SimilarItems(abc.ABC):
    """A model with its own item-item similarity."""

    @abc.abstractmethod
    def item_similarity(self) -> sp.csr_matrix:
        """The ``(n_items, n_items)`` CSR similarity the model ranks with (row ``i``: ``i``'s
        neighbours)."""

    @abc.abstractmethod
    def similar_items(self, item: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar items to the item id ``item``: ``(ids, similarities)``."""


class ScoresProfile(abc.ABC):
    """A model that scores users it has not seen, given only the items they interacted with."""

    @abc.abstractmethod
    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Ranking scores for users described by their items.

        Parameters
        ----------
        profiles
            ``(n, n_items)`` CSR, one row per user: the user's interactions as the training
            matrix would hold them (ratings, or implicit weights).

        Returns
        -------
        numpy.ndarray
            ``(n, n_items)`` float32 scores, on the same scale as the model's own; a training
            user's own row gives that user's scores (except for a :class:`ScoresSequence`
            model, whose scores depend on an order that a profile does not hold: it reads a
            profile's items in index order, and its own users' scores come from
            :meth:`ScoresSequence.score_sequences`).
        """

    def score_profile_pairs(self, profiles: sp.csr_matrix, rows: np.ndarray, items: np.ndarray,
                            batch_size: int = 512) -> np.ndarray:
        """:meth:`score_profiles` of given (profile row, item) pairs only.

        The profiles are scored ``batch_size`` rows at a time, so that no dense block of all
        profiles x items is built (the hybrid's ``:recent`` feature scores the candidates of
        every user this way). Each value is exactly ``score_profiles(profiles)[row, item]``:
        a profile's scores do not depend on the other rows of its batch.

        Parameters
        ----------
        profiles
            ``(n, n_items)`` CSR profiles, as for :meth:`score_profiles`.
        rows, items
            The pairs: row indices into ``profiles`` and item indices, of equal length.
        batch_size
            Profiles scored at once.

        Returns
        -------
        numpy.ndarray
            ``(len(rows),)`` float32 scores.
        """
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if rows.shape != items.shape:
            raise ValueError("rows and items must have the same length")
        out = np.empty(len(rows), dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        for start in range(0, profiles.shape[0], batch_size):
            lo, hi = np.searchsorted(sorted_rows, [start, start + batch_size])
            if lo == hi:
                continue
            sel = order[lo:hi]
            S = self.score_profiles(profiles[start:start + batch_size])
            out[sel] = S[rows[sel] - start, items[sel]]
        return out


@dataclass(frozen=True)
class FactorScores:
    r"""The parts of a factor model's ranking score :math:`s_{ui} = p_u^\top q_i + b_i + c_u`.

    Attributes
    ----------
    user_factors : numpy.ndarray
        ``(n_users, f)`` float64 :math:`P`.
    item_factors : numpy.ndarray
        ``(n_items, f)`` float64 :math:`Q`.
    item_bias : numpy.ndarray
        ``(n_items,)`` float64 :math:`b_i`.
    user_offset : numpy.ndarray
        ``(n_users,)`` float64 :math:`c_u` (for ``mf``: the global mean plus the user's bias).
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray
    user_offset: np.ndarray


class ScoresByFactors(abc.ABC):
    """A model whose ranking scores are dot products of user and item factors plus biases.

    A caller may compute the scores itself (on a GPU, :mod:`synerec.distributed`) from
    :meth:`factor_scores` and get the model's own: its ``_score(users)`` is, in float64 and in
    this order, ``P[users] @ Q.T``, plus ``item_bias[None, :]``, plus
    ``user_offset[users][:, None]``, then rounded to float32.
    """

    @abc.abstractmethod
    def factor_scores(self) -> FactorScores:
        """The factors and biases the model's ranking scores are made of."""


class ScoresSequence(ScoresProfile):
    """A model that scores users given the items they interacted with *in time order*.

    A sequential model's scores depend on the order of the user's items (the latest ones
    weigh most), so a profile matrix, which holds no order, is not enough:
    :meth:`score_sequences` takes each user's items oldest first. A caller that knows a
    user's events since the model was fitted appends them to :meth:`user_sequences` and
    scores the result (the user's list changes without a refit). :meth:`score_profiles`
    still answers, reading each profile's items in index order.
    """

    @abc.abstractmethod
    def user_sequences(self, users: np.ndarray) -> list[np.ndarray]:
        """Each user's training items as the model reads them: item indices, oldest first.

        Parameters
        ----------
        users
            User indices (``-1``: unknown, an empty sequence).

        Returns
        -------
        list of numpy.ndarray
            One int64 array per user; ``score_sequences(user_sequences(users))`` gives the
            users' own scores.
        """

    @abc.abstractmethod
    def score_sequences(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """Ranking scores for users described by their item sequences.

        Parameters
        ----------
        sequences
            One array of item indices per user, oldest first (an item may repeat; ``-1``
            entries, items unknown to the model, are skipped).

        Returns
        -------
        numpy.ndarray
            ``(len(sequences), n_items)`` float32 scores, on the same scale as the model's own;
            an empty sequence gets the model's scores for a user without data.
        """

    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        """:meth:`score_sequences` of each profile's stored items, in index order (a profile
        holds no order; see :class:`ScoresProfile`)."""
        X = sp.csr_matrix(profiles)
        X.eliminate_zeros()
        X.sort_indices()
        return self.score_sequences([X.indices[X.indptr[r]:X.indptr[r + 1]].astype(np.int64)
                                     for r in range(X.shape[0])])


class ScoresItemUsers(abc.ABC):
    """A model that scores one item for every user at the cost of one column of scores."""

    @abc.abstractmethod
    def score_item_users(self, item: int) -> np.ndarray:
        """``item``'s ranking score for every user: a column of the score matrix.

        Parameters
        ----------
        item
            An item index.

        Returns
        -------
        numpy.ndarray
            ``(n_users,)`` float32, each the score
            :meth:`~synerec.algorithms.recommending.Recommending.recommend` ranks ``item`` by
            for that user; NaN for a user the model scores from popularity only (no data of
            their own) or where the model does not score the item.
        """


class ScoresNewItems(abc.ABC):
    """A model that ranks items added after its fit, from their text, without a refit.

    A caller (the service) embeds a new item's text with :meth:`new_item_encoder`, keeps the
    raw embedding, turns it into the model's item space with :meth:`new_item_vectors` and
    scores it with :meth:`score_new_items`: the scores are on the scale of the model's own
    ranking scores, so a new item merges into the model's lists. :meth:`item_vectors` gives
    the known items in the same space (similar items by text).
    """

    @abc.abstractmethod
    def new_item_encoder(self) -> Any:
        """The text encoder (:class:`synerec.text.Encoder`) that embeds new items as the
        model's own items were embedded.

        Raises
        ------
        ConfigError
            The model cannot embed new text (one line saying why: fitted on given embeddings,
            its fine-tuned encoder was not kept, ...).
        """

    @abc.abstractmethod
    def new_item_vectors(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw encoder embeddings ``(k, d)`` as vectors of the model's item space (the
        transformation its own items went through); zero rows (no text) stay zero."""

    @abc.abstractmethod
    def item_vectors(self) -> np.ndarray:
        """``(n_items, d)`` float32 vectors of the known items in the same space (zero rows:
        no text)."""

    @abc.abstractmethod
    def score_new_items(self, users: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Ranking scores of items given by their vectors, for known users.

        Parameters
        ----------
        users
            User indices (``-1``: unknown).
        vectors
            ``(k, d)`` vectors from :meth:`new_item_vectors` (or rows of :meth:`item_vectors`:
            then the scores are the model's own scores of those items).

        Returns
        -------
        numpy.ndarray
            ``(len(users), k)`` float32; NaN for a user the model scores from popularity only
            and for zero vectors.
        """
