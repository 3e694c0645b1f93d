r"""A pure text retriever: the user's items, embedded, against every item's text.

``text-knn`` scores item :math:`j` for user :math:`u` by the mean cosine between :math:`j`'s
text embedding and the embeddings of :math:`u`'s positives :math:`P_u` (training interactions
at or above ``positive_threshold``, see :mod:`synerec.algorithms.positives`):

.. math:: s(u, j) = \frac{1}{|P_u|} \sum_{i \in P_u} \cos(e_i, e_j) = \bar e_u \cdot e_j,
          \qquad \bar e_u = \frac{1}{|P_u|} \sum_{i \in P_u} e_i

(unit rows :math:`e`). No collaborative signal enters the score, so an item that nobody has
bought yet but that has text is scored like any other (``cold_start``): this is the model for
new products. The score is a sum over the user's items, so explanations cite them
(:class:`~synerec.algorithms.abilities.ExplainsScore`), and a user known only by their items
is scored the same way (:class:`~synerec.algorithms.abilities.ScoresProfile`).

``text-knn-tuned`` is the same retriever on an encoder fine-tuned on the training
interactions (:func:`synerec.text.finetune.finetune`, objective ``"ease"`` by default: text
embeddings whose dot products reproduce EASE's item-item weights, so the score above becomes
EASE's score with each weight predicted from the two items' texts), so that both can be
compared in one ``evaluate`` call. Its ``fit`` fine-tunes the bundled
all-MiniLM-L6-v2 on the data it is given, then embeds the catalogue; with ``encoder_path=``
(a folder written by :func:`synerec.text.finetune.finetune_encoder`) it uses that encoder and
does not fine-tune.

Embeddings
----------
The item texts are :func:`synerec.text.item_texts` (default template). ``center_text``
subtracts the mean embedding of the items with text before the cosine (sentence embeddings
share a common direction); chosen by measurement on validation parts of the training data
(``bench/cold_items.py --validation``, :mod:`synerec.text.finetune`): it helps the frozen
encoder (ML-100K cold shelf recall@20 0.487 -> 0.556, UCI new products 0.032 -> 0.046) and,
on average over three validation halves of ML-100K and on UCI, the ``"history"``-tuned one
too (recall@20 0.628 -> 0.636, UCI 0.036 -> 0.045), so both centre by default. An encoder
tuned with ``"ease"`` (the default) gives vectors whose lengths carry the learnt weights'
scale (:attr:`synerec.text.finetune.FinetunedEncoder.unit_rows` is false): they are used as
they are, neither centred nor normalised, whatever ``center_text`` says.
Fitting on a bare matrix needs ``item_embeddings=`` (then no encoder runs).

What to keep
------------
A saved model holds the item embeddings it ranks with (``item_embeddings_``), so recommending
needs no encoder. Embedding a product added later needs the same encoder: the frozen MiniLM
for ``text-knn``; for ``text-knn-tuned``, fine-tune once with
:func:`~synerec.text.finetune.finetune_encoder` (``synerec encoder fit``), keep that folder,
and pass it as ``encoder_path=`` (``encoder_name_`` records which encoder made the
embeddings).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import (
    EvidenceKind,
    ExplainsScore,
    ScoresItemUsers,
    ScoresNewItems,
    ScoresProfile,
)
from synerec.algorithms.positives import (
    PositiveFeedbackConfig,
    PositiveFeedbackModel,
    positive_matrix,
    resolve_positive_threshold,
)
from synerec.algorithms.registry import register_model
from synerec.algorithms.text_knn import center_rows
from synerec.algorithms.training import Need, TrainingData
from synerec.exceptions import ConfigError

__all__ = ["TextKNN", "TextKNNConfig", "TunedTextKNN", "TunedTextKNNConfig"]

log = logging.getLogger(__name__)

#: ``encoder_name_`` of a model fitted on given ``item_embeddings``.
GIVEN_EMBEDDINGS = "given"
#: ``encoder_name_`` of a model fitted on data without any item text (every score is 0).
NO_TEXT = "no text"


class TextKNNConfig(PositiveFeedbackConfig):
    """Parameters of :class:`TextKNN`."""

    encoder: str = "minilm"
    encoder_path: str | None = None
    center_text: bool = True
    cold_start: bool = True


class TunedTextKNNConfig(TextKNNConfig):
    """Parameters of :class:`TunedTextKNN`: :class:`TextKNNConfig`'s plus the fine-tuning's
    (:class:`synerec.text.finetune.FinetuneOptions`)."""

    objective: Literal["ease", "history", "pairs"] = "ease"
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=2)
    learning_rate: float | None = Field(None, gt=0.0, allow_inf_nan=False)
    max_examples: int | None = Field(None, ge=1)
    window: int = Field(5, ge=1)
    ease_lambda: float = Field(300.0, gt=0.0, allow_inf_nan=False)
    ridge_lambda: float = Field(3.0, gt=0.0, allow_inf_nan=False)
    random_state: int = 0


_TC = TypeVar("_TC", bound=TextKNNConfig)


class _TextRetriever(PositiveFeedbackModel[_TC], ExplainsScore, ScoresItemUsers, ScoresNewItems,
                     ScoresProfile):
    """The shared retriever; the two registered models differ in their encoder."""

    #: Item text, embedded by the encoder (or given as ``item_embeddings=`` to ``fit``).
    needs: ClassVar[frozenset[Need]] = frozenset({"item_text"})
    evidence_kind: ClassVar[EvidenceKind] = "text"

    item_embeddings_: np.ndarray
    item_has_text_: np.ndarray
    encoder_name_: str
    #: Mean of the raw embeddings of the items with text (what ``center_text``
    #: subtracts); ``None`` in a model saved before it was kept.
    text_mean_: np.ndarray | None
    keeps_lengths_: bool

    @property
    def scores_cold_items(self) -> bool:  # type: ignore[override]  # a ClassVar in the base
        """Items without training interactions but with text are ranked (``cold_start``)."""
        return bool(self.is_fitted and self.config_.cold_start)

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, data: TrainingData) -> None:
        E, name, lengths = self._item_embeddings(data)
        self.encoder_name_ = name
        self._set_embeddings(E, keep_lengths=lengths)
        super()._fit(data)

    def _item_embeddings(self, data: TrainingData) -> tuple[np.ndarray, str, bool]:
        """The raw item embeddings (zero rows for items without text), the name of the
        encoder that made them, and whether their lengths carry meaning (an encoder tuned
        with the ``"ease"`` objective: used as they are, neither centred nor normalised)."""
        if data.item_embeddings is not None:
            return data.item_embeddings, GIVEN_EMBEDDINGS, False
        texts = self._texts(data)
        if not any(t.strip() for t in texts):
            log.warning("no item of %s has text: %s scores every item 0",
                        data.dataset.name if data.dataset is not None else "the data",
                        type(self).__name__)
            return np.zeros((len(texts), 1), dtype=np.float32), NO_TEXT, False
        from synerec.text.finetune import FinetunedEncoder

        encoder = self._encoder(data, texts)
        lengths = isinstance(encoder, FinetunedEncoder) and not encoder.unit_rows
        return self._encode(encoder, texts), encoder.name, lengths

    def _texts(self, data: TrainingData) -> list[str]:
        from synerec.text import item_texts

        if data.dataset is None:
            raise ConfigError(f"{type(self).__name__} needs item text: fit it on an "
                              "InteractionDataset, or pass item_embeddings= with a matrix")
        return item_texts(data.dataset)

    def _encoder(self, data: TrainingData, texts: list[str]) -> Any:
        """The encoder of the item texts: ``encoder_path`` (a fine-tuned encoder folder) or
        the ``encoder`` kind."""
        from synerec.text import create_encoder
        from synerec.text.finetune import load_finetuned_encoder

        path = self.config_.encoder_path
        if path is not None:
            return load_finetuned_encoder(path)
        return create_encoder(self.config_.encoder)

    def _encode(self, encoder: Any, texts: list[str]) -> np.ndarray:
        """Embeddings through the default on-disk cache (none are computed for no text)."""
        from synerec.text import EmbeddingCache, cached_encode

        E = cached_encode(encoder, texts, cache=EmbeddingCache())
        E[np.array([not t.strip() for t in texts])] = 0.0
        return E

    def _set_embeddings(self, E: np.ndarray, *, keep_lengths: bool = False) -> None:
        E = np.asarray(E, dtype=np.float32)
        self.item_has_text_ = np.abs(E).sum(axis=1) > 0
        # the mean center_rows subtracts, kept to place items added later (ScoresNewItems)
        self.text_mean_ = (E[self.item_has_text_].mean(axis=0).astype(np.float32)
                           if self.item_has_text_.any() else np.zeros(E.shape[1], np.float32))
        # a fine-tuned encoder whose vectors carry a scale (the "ease" objective): used as
        # they are, for the training items and for items added later alike
        self.keeps_lengths_ = bool(keep_lengths)
        if keep_lengths:
            self.item_embeddings_ = E.copy()
        elif self.config_.center_text:
            self.item_embeddings_ = center_rows(E)
        else:
            self.item_embeddings_ = _unit_rows(E)

    def _fit_positives(self, P: sp.csr_matrix) -> None:
        self._profiles_of = _binary(P)

    # -- what the model knows ---------------------------------------------------------------
    def known_items(self, items: np.ndarray) -> np.ndarray:
        """Items with training interactions, and with ``cold_start`` also items with text."""
        items = np.asarray(items, dtype=np.int64)
        ok = items >= 0
        known = np.zeros(len(items), dtype=bool)
        known[ok] = self.item_count_[items[ok]] > 0
        if self.config_.cold_start:
            known[ok] |= self.item_has_text_[items[ok]]
        return known

    def _rankable(self) -> np.ndarray:
        return self.known_items(np.arange(self.n_items_))

    # -- scores -----------------------------------------------------------------------------
    def _mean_embeddings(self, B: sp.csr_matrix) -> np.ndarray:
        """Each row's mean item embedding (binary rows; zero for an empty row)."""
        n = np.diff(B.indptr).astype(np.float64)
        sums = np.asarray(B @ self.item_embeddings_, dtype=np.float64)
        return (sums / np.maximum(n, 1.0)[:, None]).astype(np.float32)

    def _scores_of(self, B: sp.csr_matrix) -> np.ndarray:
        # einsum's own loops, not BLAS: a row's scores must not depend on the rows scored
        # with it (a BLAS product's rounding changes with the batch's shape)
        scores = np.einsum("bd,nd->bn", self._mean_embeddings(B), self.item_embeddings_)
        scores[:, ~self._rankable()] = np.nan
        return np.asarray(scores, dtype=np.float32)

    def _user_scores(self, users: np.ndarray) -> np.ndarray:
        return self._scores_of(self._profiles_of[users])

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        profiles = self._mean_embeddings(self._profiles_of[users])
        return np.einsum("ij,ij->i", profiles.astype(np.float64),
                         self.item_embeddings_[items].astype(np.float64))

    def score_contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """What each of the user's positives adds to ``item``'s score: its cosine with the
        item divided by the number of positives (the terms add up to the score)."""
        self._check_fitted()
        none = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        if user < 0 or item < 0 or not self._has_positives[user]:
            return none
        B = self._profiles_of
        mine = B.indices[B.indptr[user]:B.indptr[user + 1]].astype(np.int64)
        E = self.item_embeddings_
        terms = (E[mine].astype(np.float64) @ E[item].astype(np.float64)) / len(mine)
        return mine, terms

    def score_profiles(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Scores of users given by their interactions (their positives, binarised, as in
        training); popularity scores for a profile without positives."""
        self._check_fitted()
        X = sp.csr_matrix(profiles, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_items_:
            raise ValueError(f"profiles must have {self.n_items_} columns, got shape {X.shape}")
        B = _binary(positive_matrix(X, self.positive_threshold_))
        out = self._scores_of(B)
        empty = np.diff(B.indptr) == 0
        out[empty] = self._popularity_rows(int(empty.sum()))
        return out

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        out = super()._explain(user, item)
        out["encoder"] = self.encoder_name_
        if item >= 0 and self.item_count_[item] == 0:
            out["cold_item"] = True
        return out

    # -- persistence ------------------------------------------------------------------------
    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"item_embeddings": self.item_embeddings_.astype(np.float32),
                "item_has_text": self.item_has_text_.astype(np.bool_),
                "text_mean": (np.zeros(0, np.float32) if self.text_mean_ is None
                              else self.text_mean_.astype(np.float32)),
                "encoder_name": np.asarray(self.encoder_name_, dtype=np.str_),
                "keeps_lengths": np.asarray(self.keeps_lengths_, dtype=np.bool_)}

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        E = np.asarray(arrays["item_embeddings"], dtype=np.float32)
        has = np.asarray(arrays["item_has_text"])
        if E.ndim != 2 or E.shape[0] != self.n_items_:
            raise ValueError(f"item_embeddings have shape {E.shape}, expected "
                             f"({self.n_items_}, d)")
        if has.shape != (self.n_items_,) or has.dtype != np.bool_:
            raise ValueError("item_has_text does not match the item vocabulary")
        self.item_embeddings_ = E
        self.item_has_text_ = has
        self.encoder_name_ = str(np.asarray(arrays["encoder_name"]).reshape(()))
        mean = np.asarray(arrays.get("text_mean", np.zeros(0)), dtype=np.float32)
        # a model saved before text_mean was kept cannot place new items (None)
        self.text_mean_ = mean if mean.shape == (E.shape[1],) else None
        self.keeps_lengths_ = bool(np.asarray(arrays.get("keeps_lengths", False)).reshape(()))
        self._profiles_of = _binary(self.positives_)

    # -- items added after the fit (ScoresNewItems) ---------------------------------------------
    def new_item_encoder(self) -> Any:
        """The encoder the items were embedded with (see
        :class:`~synerec.algorithms.abilities.ScoresNewItems`); a one-line
        :class:`~synerec.exceptions.ConfigError` when the model cannot embed new text."""
        self._check_fitted()
        name = type(self).model_name()
        if self.encoder_name_ in (GIVEN_EMBEDDINGS, NO_TEXT):
            raise ConfigError(f"{name} was fitted on {self.encoder_name_} embeddings: it has no "
                              "encoder to embed new products")
        if self.config_.center_text and self.text_mean_ is None:
            raise ConfigError(f"this {name} model was saved before new products were "
                              "supported (no text_mean): fit it again")
        encoder = self._new_item_encoder()
        if encoder.name != self.encoder_name_:
            raise ConfigError(f"{name} was fitted with the encoder {self.encoder_name_!r}, "
                              f"not available here (got {encoder.name!r})")
        return encoder

    def _new_item_encoder(self) -> Any:
        from synerec.text import create_encoder
        from synerec.text.finetune import load_finetuned_encoder

        path = self.config_.encoder_path
        if path is not None:
            return load_finetuned_encoder(path)
        if self.config_.encoder == "tfidf":
            raise ConfigError(f"{type(self).model_name()} was fitted with a TF-IDF encoder, "
                              "whose vocabulary is not kept: it cannot embed new products")
        return create_encoder(self.config_.encoder)

    def new_item_vectors(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw embeddings placed as :meth:`_set_embeddings` placed the items' (as they are
        from an encoder whose vectors keep their lengths; else centred on the training items'
        mean with ``center_text``, unit rows; zero rows stay zero)."""
        self._check_fitted()
        E = np.array(np.atleast_2d(embeddings), dtype=np.float32)
        has = np.abs(E).sum(axis=1) > 0
        if self.keeps_lengths_:
            E[~has] = 0.0
            return E
        if self.config_.center_text:
            if self.text_mean_ is None:
                raise ConfigError("this model was saved before new products were supported "
                                  "(no text_mean): fit it again")
            E[has] -= self.text_mean_  # as center_rows, with the training items' mean
        E = _unit_rows(E)
        E[~has] = 0.0
        return E.astype(np.float32)

    def item_vectors(self) -> np.ndarray:
        """The vectors the model ranks with (:attr:`item_embeddings_`)."""
        self._check_fitted()
        return self.item_embeddings_

    def score_new_items(self, users: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """The retriever's score :math:`\\bar e_u \\cdot v` of each vector for each user
        (NaN for a user without positives, an unknown user and a zero vector)."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        V = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        out = np.full((len(users), V.shape[0]), np.nan, dtype=np.float32)
        ok = users >= 0
        ok[ok] = self._has_positives[users[ok]]
        if ok.any():
            profiles = self._mean_embeddings(self._profiles_of[users[ok]])
            out[ok] = np.einsum("bd,nd->bn", profiles, V)  # as _scores_of: no BLAS rounding
        out[:, np.abs(V).sum(axis=1) == 0] = np.nan
        return out

    def score_item_users(self, item: int) -> np.ndarray:
        """``item``'s score for every user (:meth:`score_new_items` of its own vector; NaN
        everywhere when the model does not rank it)."""
        self._check_fitted()
        j = int(self._check_indices(np.array([item]), self.n_items_, "item")[0])
        out = self.score_new_items(np.arange(self.n_users_), self.item_embeddings_[[j]])[:, 0]
        if not self._rankable()[j]:
            out[:] = np.nan
        return out


@register_model("text-knn")
class TextKNN(_TextRetriever[TextKNNConfig]):
    r"""A pure text retriever on a frozen encoder (see the module docstring).

    Parameters
    ----------
    encoder
        :func:`synerec.text.create_encoder` kind: ``"minilm"`` (default), ``"model2vec"``,
        ``"tfidf"`` or ``"openai"``.
    encoder_path
        A fine-tuned encoder folder (:func:`synerec.text.finetune.finetune_encoder`) to use
        instead of ``encoder``.
    center_text
        Subtract the mean item embedding before the cosine (default on: measured better for
        the frozen encoder).
    cold_start
        Rank (and predict) items without training interactions that have text.
    positive_threshold
        Which interactions form the user's profile (:mod:`synerec.algorithms.positives`;
        default ``"auto"``: ratings >= 4 on 1-5, every interaction of implicit data).

    Attributes
    ----------
    item_embeddings_ : numpy.ndarray
        ``(n_items, d)`` float32 unit rows (centred with ``center_text``), zero rows for items
        without text: what the model ranks with.
    item_has_text_ : numpy.ndarray
        bool per item.
    encoder_name_ : str
        The encoder's ``name`` (``"given"`` for ``item_embeddings=``).

    References
    ----------
    N. Reimers, I. Gurevych, "Sentence-BERT", EMNLP 2019.
    """


@register_model("text-knn-tuned")
class TunedTextKNN(_TextRetriever[TunedTextKNNConfig]):
    r"""The text retriever on all-MiniLM-L6-v2 fine-tuned on the training interactions.

    ``fit`` fine-tunes the bundled model on the data it is given
    (:func:`synerec.text.finetune.finetune`, on the model's positives), then embeds every
    item; the tuned encoder itself is not kept (see the module docstring, "What to keep").

    Parameters
    ----------
    encoder, encoder_path, cold_start, positive_threshold
        As in :class:`TextKNN`; ``encoder`` must be ``"minilm"`` (the model fine-tuned), and
        with ``encoder_path`` the encoder there is used and nothing is fine-tuned.
    center_text
        As in :class:`TextKNN` (not applied to the ``"ease"`` encoder's vectors, whose
        lengths are kept).
    objective, epochs, batch_size, learning_rate, max_examples, window, ease_lambda, \
ridge_lambda, random_state
        The fine-tuning's options (:class:`synerec.text.finetune.FinetuneOptions`; ``None``:
        the objective's default, :data:`synerec.text.finetune.DEFAULTS`).

    Attributes
    ----------
    item_embeddings_, item_has_text_, encoder_name_
        As in :class:`TextKNN`; ``encoder_name_`` names the tuned weights.
    finetune_info_ : dict
        The fine-tuning's options and figures (empty when no fine-tuning ran); saved with
        the model.
    """

    finetune_info_: dict[str, Any]

    def _fit(self, data: TrainingData) -> None:
        self.finetune_info_ = {}
        super()._fit(data)

    def _encoder(self, data: TrainingData, texts: list[str]) -> Any:
        cfg = self.config_
        if cfg.encoder_path is not None:
            return super()._encoder(data, texts)
        if cfg.encoder != "minilm":
            raise ConfigError(f"text-knn-tuned fine-tunes all-MiniLM-L6-v2: encoder must be "
                              f"'minilm', got {cfg.encoder!r} (or give encoder_path=)")
        from synerec.text.finetune import finetune

        threshold = resolve_positive_threshold(cfg.positive_threshold, data.rating_scale)
        encoder = finetune(data, texts=texts, objective=cfg.objective, epochs=cfg.epochs,
                           batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                           max_examples=cfg.max_examples, window=cfg.window,
                           ease_lambda=cfg.ease_lambda, ridge_lambda=cfg.ridge_lambda,
                           positive_threshold=threshold, random_state=cfg.random_state)
        self.finetune_info_ = encoder.info
        return encoder

    def _model_arrays(self) -> dict[str, np.ndarray]:
        info = json.dumps(self.finetune_info_, sort_keys=True, default=str)
        return {**super()._model_arrays(), "finetune_info": np.asarray(info, dtype=np.str_)}

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._load_model_arrays(arrays)
        info = json.loads(str(np.asarray(arrays["finetune_info"]).reshape(())))
        if not isinstance(info, dict):
            raise ValueError("finetune_info is not a JSON object")
        self.finetune_info_ = info

    def _encode(self, encoder: Any, texts: list[str]) -> np.ndarray:
        from synerec.text.finetune import FinetunedEncoder

        if isinstance(encoder, FinetunedEncoder) and encoder.path is None:
            # weights that exist only in memory: not through the disk cache (each fit would
            # otherwise leave a cache shard behind); a head on the frozen transformer is
            # applied to the frozen model's cached vectors, without running it again
            if encoder.tunes_head_only:
                from synerec.text import create_encoder

                E = encoder.from_frozen(super()._encode(create_encoder("minilm"), texts))
            else:
                E = encoder.encode(texts)
            E[np.array([not t.strip() for t in texts])] = 0.0
            return E
        return super()._encode(encoder, texts)


def _binary(P: sp.csr_matrix) -> sp.csr_matrix:
    B = sp.csr_matrix(P, dtype=np.float32, copy=True)
    B.data = np.ones_like(B.data)
    return B


def _unit_rows(E: np.ndarray) -> np.ndarray:
    from synerec.text import normalize_rows

    return normalize_rows(E)
