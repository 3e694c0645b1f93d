"""PALR-style reranking: a CF model retrieves candidates, a language model orders them.

For each user the retriever's top ``n_candidates`` items and the user's ``history`` most recent
(or highest-rated) training items are written into a prompt with their titles. Two modes:

``likelihood`` (default for models that expose log-probabilities, i.e. local GGUF models)
    Each candidate ``c`` gets the pointwise mutual information of its title with the history,

    .. math::  s_\\text{llm}(c) = \\log p(t_c \\mid \\text{prompt}(H_u))
                                 - \\log p(t_c \\mid \\text{prompt}(\\varnothing))      (L1)

    the idea behind LlamaRec's verbalizer; the second term removes the model's prior for the
    title (popular, short or generic titles) and is cached per item.
``generate`` (instruction-tuned chat models)
    The model answers with an ordering of the candidate numbers, read by the strict parser
    :func:`~synerec.llm._parse.parse_ranking`: only candidate numbers count, duplicates and
    other numbers are dropped, candidates it leaves out follow in the retriever's order. An
    unparseable answer, a timeout or a backend error falls back to the retriever's order and
    is counted in :attr:`LLMReranker.fallback_counts_`.

Combining the two rankings: with ``m`` candidates, the candidate at 0-based position ``p`` in
the LLM's order and ``r`` in the retriever's order gets

.. math::  s = w (1 - p / m) + (1 - w) (1 - r / m)                       (L2)

with ``w = llm_weight``: ``llm_weight = 1`` (default) is the LLM's order, ``0`` the retriever's,
and values in between a Borda-style blend; ties go to the better retriever rank (the shared
:func:`synerec.topk.topk` breaks ties by the lower candidate position).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.base import Recommender
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError, DataFormatError, NotFittedError
from synerec.llm._parse import complete_ranking, parse_ranking
from synerec.llm.base import LLM, LLMError, LLMTimeoutError
from synerec.llm.prompts import (
    clean_title,
    generate_messages,
    likelihood_continuation,
    likelihood_prompt,
)
from synerec.topk import PAD_INDEX, topk

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FALLBACK_REASONS", "LLMReranker", "RerankResult", "item_titles", "user_history"]

log = logging.getLogger(__name__)

Mode = Literal["auto", "likelihood", "generate"]
#: Why a user's list kept the retriever's order.
FALLBACK_REASONS = ("unparseable", "timeout", "error", "no_history")


@dataclass(frozen=True)
class RerankResult:
    """One user's reranking, with everything needed to audit it.

    Attributes
    ----------
    user
        External user id.
    candidates
        Item indices from the retriever, best first (``m`` of them).
    retriever_scores
        The retriever's scores of ``candidates``.
    llm_scores
        ``likelihood`` mode: (L1) per candidate; ``generate`` mode: ``m - position`` in the
        parsed order; ``None`` after a fallback.
    llm_order
        Candidate positions in the LLM's order (complete; the retriever's order after a
        fallback).
    order
        Candidate positions in the final order (L2).
    scores
        Final scores (L2) in ``order``.
    fallback
        ``None``, or one of :data:`FALLBACK_REASONS`.
    answer
        The raw generated answer (``generate`` mode), for auditing.
    seconds
        Wall time of the LLM step.
    """

    user: Any
    candidates: np.ndarray
    retriever_scores: np.ndarray
    llm_scores: np.ndarray | None
    llm_order: list[int]
    order: list[int]
    scores: np.ndarray
    fallback: str | None
    answer: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def item_titles(data: InteractionDataset, max_chars: int = 80) -> list[str]:
    """One clean title per item index: ``item_info['title']``, or the item id when missing."""
    ids = data.items.ids_of(np.arange(data.n_items))
    titles: list[str] = []
    info = data.item_info
    col = info["title"] if info is not None and "title" in info.columns else None
    for k, iid in enumerate(ids):
        raw = col.iloc[k] if col is not None else None
        text = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
        titles.append(clean_title(text if text.strip() else f"item {iid}", max_chars))
    return titles


def user_history(train: sp.csr_matrix, user: int, n: int, *,
                 timestamps: sp.csr_matrix | None = None,
                 order: Literal["recent", "rating"] = "recent") -> np.ndarray:
    """The ``n`` training items of a user that a prompt shows, most relevant first.

    ``order="recent"`` sorts by latest interaction time (newest first; then by rating when
    there are no timestamps); ``"rating"`` by rating (highest first), then recency. Remaining
    ties go to the lower item index.
    """
    start, end = train.indptr[user], train.indptr[user + 1]
    items = train.indices[start:end]
    ratings = train.data[start:end].astype(np.float64)
    if timestamps is not None:
        ts_row = timestamps[user]
        ts = np.zeros(len(items), dtype=np.float64)
        pos = np.searchsorted(items, ts_row.indices)
        ok = (pos < len(items))
        ok[ok] = items[pos[ok]] == ts_row.indices[ok]
        ts[pos[ok]] = ts_row.data[ok]
    else:
        ts = np.zeros(len(items), dtype=np.float64)
    if order == "recent":
        keys = (items, -ratings, -ts)
    else:
        keys = (items, -ts, -ratings)
    return items[np.lexsort(keys)][:n]


class LLMReranker:
    """Rerank a CF retriever's candidates with a language model.

    Parameters
    ----------
    retriever
        A :class:`~synerec.algorithms.Recommender` (``item-cf``, ``user-cf``, ``mf``, ...).
    llm
        A client following :class:`~synerec.llm.base.LLM`; ``None`` keeps the retriever's order
        (useful for an A/B baseline with the same code path).
    n_candidates
        Candidates taken from the retriever per user (``m``).
    history
        Training items shown per user.
    mode
        ``"likelihood"``, ``"generate"`` or ``"auto"`` (likelihood when the client supports
        log-probabilities, else generate).
    history_order
        ``"recent"`` or ``"rating"`` (see :func:`user_history`).
    llm_weight
        Weight of the LLM's order in the final score (L2), in ``[0, 1]``. It was called
        ``alpha``, which elsewhere in synerec (the text models) is the weight of the *CF*
        side; ``alpha=`` is still accepted, with a DeprecationWarning.
    domain
        Plural noun used in the prompts (``"movies"``, ``"products"``).
    max_title_chars
        Titles are cut to this length in prompts.
    max_tokens
        Answer budget in ``generate`` mode.
    seed
        Seed passed to the model (with temperature 0).
    prefit
        Use an already fitted retriever as is; :meth:`fit` then only reads the catalogue and
        histories from its data set (which must have the retriever's vocabularies).

    Attributes
    ----------
    mode_
        The resolved mode.
    titles_
        Prompt title per item index.
    fallback_counts_
        Users whose list kept the retriever's order, by reason (:data:`FALLBACK_REASONS`),
        summed over all calls since :meth:`fit`.
    n_reranked_
        Users processed since :meth:`fit`.
    llm_seconds_
        Total wall time of the LLM steps since :meth:`fit`.
    """

    def __init__(self, retriever: Recommender, llm: LLM | None = None, *,
                 n_candidates: int = 20, history: int = 20, mode: Mode = "auto",
                 history_order: Literal["recent", "rating"] = "recent", llm_weight: float = 1.0,
                 domain: str = "items", max_title_chars: int = 80, max_tokens: int = 96,
                 seed: int = 0, prefit: bool = False, alpha: float | None = None) -> None:
        if alpha is not None:
            _warn_alpha()
            if llm_weight != 1.0 and llm_weight != alpha:
                raise ConfigError(f"give llm_weight only (alpha={alpha!r} is its deprecated "
                                  f"name, llm_weight={llm_weight!r})")
            llm_weight = alpha
        self.retriever = retriever
        self.llm = llm
        self.n_candidates = n_candidates
        self.history = history
        self.mode = mode
        self.history_order = history_order
        self.llm_weight = llm_weight
        self.domain = domain
        self.max_title_chars = max_title_chars
        self.max_tokens = max_tokens
        self.seed = seed
        self.prefit = prefit

    def __repr__(self) -> str:
        return (f"LLMReranker(retriever={type(self.retriever).__name__}, llm="
                f"{getattr(self.llm, 'name', None)!r}, n_candidates={self.n_candidates}, "
                f"history={self.history}, mode={self.mode!r}, llm_weight={self.llm_weight})")

    @property
    def alpha(self) -> float:
        """Deprecated name of :attr:`llm_weight`."""
        _warn_alpha()
        return self.llm_weight

    @alpha.setter
    def alpha(self, value: float) -> None:
        _warn_alpha()
        self.llm_weight = value

    # -- fitting ------------------------------------------------------------------------------
    def _validate(self) -> str:
        for name in ("n_candidates", "history", "max_title_chars", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.mode not in ("auto", "likelihood", "generate"):
            raise ConfigError(f"mode must be auto, likelihood or generate, got {self.mode!r}")
        if self.history_order not in ("recent", "rating"):
            raise ConfigError(f"history_order must be recent or rating, got "
                              f"{self.history_order!r}")
        w = self.llm_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= float(w) <= 1.0:
            raise ConfigError(f"llm_weight (formerly alpha) must be in [0, 1], got {w!r}")
        if not isinstance(self.retriever, Recommender):
            raise ConfigError(f"retriever must be a Recommender, got "
                              f"{type(self.retriever).__name__}")
        if self.llm is None:
            return "none"
        supports = bool(getattr(self.llm, "supports_logprob", False))
        if self.mode == "auto":
            return "likelihood" if supports else "generate"
        if self.mode == "likelihood" and not supports:
            raise ConfigError(f"mode='likelihood' needs a client with log-probabilities; "
                              f"{getattr(self.llm, 'name', self.llm)!r} has none (use "
                              "mode='generate')")
        return self.mode

    def fit(self, data: InteractionDataset) -> Self:
        """Fit the retriever on ``data`` (unless ``prefit``) and read titles and histories.

        Returns
        -------
        LLMReranker
            ``self``.

        Raises
        ------
        ConfigError
            Invalid parameters.
        DataFormatError
            With ``prefit``, a data set whose items do not match the retriever's.
        """
        mode = self._validate()
        if not isinstance(data, InteractionDataset):
            raise DataFormatError(f"LLMReranker.fit needs an InteractionDataset (for titles), "
                                  f"got {type(data).__name__}")
        if self.prefit:
            if not self.retriever.is_fitted:
                raise NotFittedError("prefit=True needs a fitted retriever")
            r = self.retriever
            if len(r.items_) != data.n_items or not np.array_equal(
                    r.items_.ids_of(np.arange(len(r.items_))),
                    data.items.ids_of(np.arange(data.n_items))):
                raise DataFormatError("the data set's items are not the retriever's items")
        else:
            self.retriever.fit(data)
        self.mode_ = mode
        self.titles_ = item_titles(data, self.max_title_chars)
        self.timestamps_ = None
        if data.timestamps is not None:
            ts = sp.csr_matrix((data.timestamps.astype(np.float64),
                                (data.user_index, data.item_index)),
                               shape=(data.n_users, data.n_items))
            ts.sum_duplicates()  # duplicates are merged by the data set; sum is a safe no-op
            self.timestamps_ = ts
        self.fallback_counts_ = dict.fromkeys(FALLBACK_REASONS, 0)
        self.n_reranked_ = 0
        self.llm_seconds_ = 0.0
        self._prior: dict[tuple[str, int], float] = {}
        return self

    def _check_fitted(self) -> None:
        if "mode_" not in self.__dict__:
            raise NotFittedError("this LLMReranker is not fitted yet; call fit(data) first")

    # -- one user -----------------------------------------------------------------------------
    def history_titles(self, user_index: int) -> list[str]:
        """The titles shown as a user's history (most relevant first)."""
        self._check_fitted()
        items = user_history(self.retriever.train_, user_index, self.history,
                             timestamps=self.timestamps_, order=self.history_order)
        return [self.titles_[i] for i in items]

    def rerank_user(self, user: Any) -> RerankResult:
        """Retrieve and rerank one user's candidates (external id)."""
        self._check_fitted()
        u = int(self.retriever.users_.indices([user], missing="negative")[0])
        idx, sc = self.retriever.recommend_indices(np.array([u]), self.n_candidates)
        valid = idx[0] != PAD_INDEX
        return self._rerank(user, u, idx[0][valid], sc[0][valid])

    def _rerank(self, user: Any, u: int, cand: np.ndarray, cand_scores: np.ndarray
                ) -> RerankResult:
        m = len(cand)
        retriever_order = list(range(m))
        history = self.history_titles(u) if u >= 0 else []
        llm_scores: np.ndarray | None = None
        answer: str | None = None
        fallback: str | None = None
        llm_order = retriever_order
        t0 = time.perf_counter()
        if self.mode_ != "none" and m > 1:
            if not history:
                fallback = "no_history"
            else:
                try:
                    if self.mode_ == "likelihood":
                        llm_scores = self._likelihood_scores(history, cand)
                        # stable: equal scores keep the retriever's order
                        llm_order = [int(i) for i in np.argsort(-llm_scores, kind="stable")]
                    else:
                        titles = [self.titles_[i] for i in cand]
                        answer = self.llm.complete(  # type: ignore[union-attr]
                            generate_messages(history, titles, self.domain),
                            max_tokens=self.max_tokens, temperature=0.0, seed=self.seed)
                        parsed = parse_ranking(answer, m)
                        if parsed.ok:
                            llm_order = complete_ranking(parsed.order, m)
                            llm_scores = np.empty(m, dtype=np.float64)
                            llm_scores[llm_order] = m - np.arange(m)
                        else:
                            fallback = "unparseable"
                except LLMTimeoutError as exc:
                    log.warning("user %r: LLM timed out, keeping the retriever's order: %s",
                                user, exc)
                    fallback, llm_scores, llm_order = "timeout", None, retriever_order
                except LLMError as exc:
                    log.warning("user %r: LLM failed, keeping the retriever's order: %s",
                                user, exc)
                    fallback, llm_scores, llm_order = "error", None, retriever_order
        seconds = time.perf_counter() - t0
        if self.mode_ != "none":
            self.n_reranked_ += 1
            self.llm_seconds_ += seconds
            if fallback is not None:
                self.fallback_counts_[fallback] += 1
        order, final = self._combine(llm_order, m)
        return RerankResult(user=user, candidates=cand, retriever_scores=cand_scores,
                            llm_scores=llm_scores, llm_order=llm_order, order=order,
                            scores=final, fallback=fallback, answer=answer, seconds=seconds)

    def _combine(self, llm_order: list[int], m: int) -> tuple[list[int], np.ndarray]:
        """Formula (L2) and the shared top-k ranking."""
        if m == 0:
            return [], np.empty(0, dtype=np.float32)
        llm_pos = np.empty(m, dtype=np.float64)
        llm_pos[llm_order] = np.arange(m)
        w = float(self.llm_weight)
        s = w * (1.0 - llm_pos / m) + (1.0 - w) * (1.0 - np.arange(m) / m)
        idx, sc = topk(s, m)
        return [int(i) for i in idx[0]], sc[0]

    def _likelihood_scores(self, history: list[str], cand: np.ndarray) -> np.ndarray:
        """(L1) for each candidate; the calibration term is cached per item."""
        llm = self.llm
        assert llm is not None
        prompt = likelihood_prompt(history, self.domain)
        empty = likelihood_prompt([], self.domain)
        conts = [likelihood_continuation(self.titles_[i]) for i in cand]
        cond = _logprobs(llm, prompt, conts)
        missing = [k for k, i in enumerate(cand) if (empty, int(i)) not in self._prior]
        if missing:
            prior = _logprobs(llm, empty, [conts[k] for k in missing])
            for k, value in zip(missing, prior, strict=True):
                self._prior[(empty, int(cand[k]))] = float(value)
        base = np.array([self._prior[(empty, int(i))] for i in cand])
        return np.asarray(cond, dtype=np.float64) - base

    # -- many users ---------------------------------------------------------------------------
    def rerank(self, users: Iterable[Any]) -> list[RerankResult]:
        """:meth:`rerank_user` for several users, retrieving their candidates in one batch."""
        self._check_fitted()
        user_list = list(users)
        u = self.retriever.users_.indices(user_list, missing="negative")
        idx, sc = self.retriever.recommend_indices(u, self.n_candidates)
        out = []
        for row, user in enumerate(user_list):
            valid = idx[row] != PAD_INDEX
            out.append(self._rerank(user, int(u[row]), idx[row][valid], sc[row][valid]))
        return out

    def recommend(self, users: Iterable[Any], n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` reranked items per user, as :meth:`Recommender.recommend` returns them.

        Returns
        -------
        ids : numpy.ndarray
            ``(len(users), n)`` object array of item ids; ``None`` pads.
        scores : numpy.ndarray
            ``(len(users), n)`` float32 final scores (L2); ``-inf`` pads.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigError(f"n must be a non-negative integer, got {n!r}")
        if n > self.n_candidates:
            raise ConfigError(f"n={n} exceeds n_candidates={self.n_candidates}")
        results = self.rerank(users)
        ids = np.full((len(results), n), None, dtype=object)
        scores = np.full((len(results), n), -np.inf, dtype=np.float32)
        vocab = self.retriever.items_
        for row, res in enumerate(results):
            k = min(n, len(res.order))
            chosen = res.candidates[res.order[:k]]
            ids[row, :k] = vocab.ids_of(chosen).astype(object)
            scores[row, :k] = res.scores[:k]
        return ids, scores

    def recommend_frame(self, users: Iterable[Any], n: int = 10) -> pd.DataFrame:
        """:meth:`recommend` as a table ``user_id, rank, item_id, score`` (padding dropped)."""
        import pandas as pd
        user_list = list(users)
        ids, scores = self.recommend(user_list, n)
        rows = [(u, r + 1, i, float(s)) for u, irow, srow in zip(user_list, ids, scores,
                                                                  strict=True)
                for r, (i, s) in enumerate(zip(irow, srow, strict=True)) if i is not None]
        return pd.DataFrame(rows, columns=["user_id", "rank", "item_id", "score"])


def _logprobs(llm: LLM, prompt: str, continuations: list[str]) -> list[float]:
    """``log p(c | prompt)`` for each continuation: one pass where the client offers it."""
    batch = getattr(llm, "logprobs", None)
    if callable(batch):
        return [float(v) for v in batch(prompt, continuations)]
    return [float(llm.logprob(prompt, c)) for c in continuations]


def _warn_alpha() -> None:
    warnings.warn("LLMReranker's alpha is deprecated: it is now llm_weight (the weight of the "
                  "LLM's order; alpha is the CF weight in the text models)", DeprecationWarning,
                  stacklevel=3)
