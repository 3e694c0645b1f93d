"""Grounded explanations of recommendations, phrased by a language model or a template.

The *evidence* always comes from the model and the training data, never from the language
model:

* a model whose ranking score is a sum over the user's own items (it declares
  :class:`~synerec.algorithms.abilities.ExplainsScore`) cites the items that add the most to
  *that* item's score, as the model reports them: ``item-cf`` ranking by similarity sum (the
  user's items that list the recommended item among their ``k`` nearest, by similarity),
  ``item-cf`` ranking by prediction (the same items, by their term of eq. 4), the linear
  item-item models ``ease`` and ``rp3beta`` (:math:`x_{uj} B_{ji}`). So each recommendation
  cites its own neighbours in the user's history, not the same globally similar items every
  time;
* another item-based model lists the user's own rated items that are neighbours of the
  recommended item (``predict_one(...).details["neighbors"]``);
* a user-based model (``user-cf``) lists the neighbours who rated the recommended item;
* any other model (``mf``, ``baseline``): the user's training items whose rating columns are
  most similar (cosine) to the recommended item's column.

Each piece of evidence is checked against the training matrix (the user really rated that
item; the neighbour really rated the recommended one). Shared text features are the
categories (``item_info['category']``, ``|``-separated) common to the recommended item and the
evidence items.

A template turns the evidence into one or two sentences. With a language model, the model is
asked to rephrase that sentence; its answer is accepted only if :func:`check_grounded` passes:
it is one or two *complete* sentences (ending in ``.``, ``!`` or ``?``, brackets and quotes
closed: no answer cut off mid-word), carries no chat markup (``<</SYS>>``, ``[INST]``, turn
tokens) and repeats none of the prompt's own wording (``Facts:``, ``Plain version:``, the
instructions), names at least one evidence item and no other catalogue item than the evidence
items and the recommended one, and every rating it states (``4/5``, ``4 out of 5``, ``4
stars``, ``rated it 4``) is the rating the evidence gives for the item it is said of (or, said
of no item, one of the evidence's ratings) on the evidence's scale. Otherwise the template
sentence is used and the fallback is counted (:attr:`Explainer.n_rejected_`, by reason in
:attr:`Explainer.rejections_`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from synerec.algorithms.abilities import ExplainsScore, SimilarItems
from synerec.algorithms.base import Recommender
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError, DataFormatError, NotFittedError, UnknownIdError
from synerec.llm.base import LLM, LLMError
from synerec.llm.grounding import TitleIndex, check_grounded, reason_kind
from synerec.llm.prompts import explanation_messages, profile_messages
from synerec.llm.reranker import item_titles, user_history

__all__ = [
    "Evidence",
    "EvidenceItem",
    "EvidenceNeighbor",
    "Explainer",
    "Explanation",
    "TitleIndex",
    "check_grounded",
    "reason_kind",
]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class EvidenceItem:
    """One of the user's own training items that supports a recommendation.

    ``contribution`` is what the item adds to the recommended item's ranking score, when the
    model's score is a sum over the user's items (``None`` otherwise).
    """

    item: Any
    title: str
    rating: float
    similarity: float
    shared: tuple[str, ...] = ()
    contribution: float | None = None


@dataclass(frozen=True)
class EvidenceNeighbor:
    """A neighbouring user who rated the recommended item in the training data."""

    user: Any
    similarity: float
    rating: float


@dataclass(frozen=True)
class Evidence:
    """What a recommendation rests on.

    Attributes
    ----------
    user, item, title
        The recommendation.
    kind
        ``"similar_items"`` (item-based evidence), ``"neighbors"`` (user-based evidence) or
        ``"none"`` (nothing in the training data supports it).
    items
        The user's own training items cited, strongest first (for ``neighbors`` evidence: the
        user's items that share a category with the recommended item, when there are any).
    neighbors
        Neighbouring users who rated the item (``neighbors`` evidence).
    shared
        Categories shared by the recommended item and the cited items.
    source
        ``"model"`` (the model's own neighbours) or ``"co-rating"`` (cosine of rating columns,
        for models without neighbours).
    """

    user: Any
    item: Any
    title: str
    kind: Literal["similar_items", "neighbors", "none"]
    items: tuple[EvidenceItem, ...] = ()
    neighbors: tuple[EvidenceNeighbor, ...] = ()
    shared: tuple[str, ...] = ()
    source: str = "model"


@dataclass(frozen=True)
class Explanation:
    """An explanation sentence and the evidence it cites.

    Attributes
    ----------
    text
        One or two sentences.
    evidence
        The :class:`Evidence` behind it.
    source
        ``"llm"`` (a model's phrasing that passed :func:`check_grounded`) or ``"template"``.
    rejected
        A model answer that failed the check (``None`` otherwise), with ``reason``.
    """

    text: str
    evidence: Evidence
    source: Literal["llm", "template"]
    rejected: str | None = None
    reason: str | None = None
    cited_items: tuple[Any, ...] = field(default=())


class Explainer:
    """Explain a model's recommendations from its own evidence.

    Parameters
    ----------
    model
        A fitted :class:`~synerec.algorithms.Recommender`.
    llm
        Optional client that rephrases the template sentence; ``None``: template only.
    n_evidence
        Items (or neighbours) cited at most.
    domain
        Plural noun for the catalogue (``"movies"``, ``"products"``).
    seed
        Seed passed to the model (temperature 0).

    Attributes
    ----------
    titles_, categories_
        Title and category set per item index.
    n_llm_, n_template_, n_rejected_
        Explanations phrased by the model, by the template, and model answers rejected (each
        rejected answer falls back to the template).
    rejections_
        Rejected answers by reason (``"contains chat markup"``, ``"echoes the prompt"``,
        ``"not a complete sentence"``, ``"states the rating 4"``, ...).
    """

    def __init__(self, model: Recommender, llm: LLM | None = None, *, n_evidence: int = 2,
                 domain: str = "items", seed: int = 0) -> None:
        self.model = model
        self.llm = llm
        self.n_evidence = n_evidence
        self.domain = domain
        self.seed = seed

    def fit(self, data: InteractionDataset) -> Explainer:
        """Read titles and categories of ``data`` (the model must already be fitted on it).

        Raises
        ------
        NotFittedError
            The model is not fitted.
        DataFormatError
            ``data`` does not have the model's items.
        """
        if isinstance(self.n_evidence, bool) or not isinstance(self.n_evidence, int) \
                or self.n_evidence < 1:
            raise ConfigError(f"n_evidence must be a positive integer, got {self.n_evidence!r}")
        if not self.model.is_fitted:
            raise NotFittedError("Explainer needs a fitted model; call model.fit(data) first")
        if data.n_items != self.model.n_items_:
            raise DataFormatError(f"the data set has {data.n_items} items, the model "
                                  f"{self.model.n_items_}")
        self.titles_ = item_titles(data, max_chars=120)
        self.categories_ = _categories(data)
        self.timestamps_ = None
        if data.timestamps is not None:
            self.timestamps_ = sp.csr_matrix(
                (data.timestamps.astype(np.float64), (data.user_index, data.item_index)),
                shape=(data.n_users, data.n_items))
        self.index_ = TitleIndex(self.titles_)
        self._norms = None
        self._csc: sp.csc_matrix | None = None
        self.n_llm_ = self.n_template_ = self.n_rejected_ = 0
        self.rejections_: dict[str, int] = {}
        return self

    def _check_fitted(self) -> None:
        if "titles_" not in self.__dict__:
            raise NotFittedError("this Explainer is not fitted yet; call fit(data) first")

    # -- evidence -----------------------------------------------------------------------------
    def evidence(self, user: Any, item: Any) -> Evidence:
        """The training-data evidence for recommending ``item`` to ``user``."""
        self._check_fitted()
        m = self.model
        u = _index_or_negative(m.users_, user)
        i = _index_or_negative(m.items_, item)
        title = self.titles_[i] if i >= 0 else str(item)
        if u < 0 or i < 0:
            return Evidence(user, item, title, "none")
        scored = self._score_contributions(u, i)
        if scored:
            return self._make(user, item, title, "similar_items", scored, (), i, "model")
        details = m.predict_one(user, item, unknown="fallback").details
        neighbors = details.get("neighbors") or []
        items: list[EvidenceItem] = []
        users: list[EvidenceNeighbor] = []
        for nb in neighbors:
            kind, idx, sim, _ = _read_neighbor(nb, m)
            if kind == "item" and idx is not None and idx != i:
                r = m._rated_value(u, idx)
                if r is not None:  # the model's neighbour is really one of the user's items
                    items.append(self._item(idx, r, sim, i))
            elif kind == "user" and idx is not None and idx != u:
                r = m._rated_value(idx, i)
                if r is not None:  # the neighbour really rated the item
                    users.append(EvidenceNeighbor(m.users_.id(idx), sim, r))
        if items:
            chosen = _strongest(items, m.user_mean_[u], self.n_evidence)
            return self._make(user, item, title, "similar_items", chosen, (), i, "model")
        if users:
            liked = [n for n in users if n.rating >= _liked_threshold(m)] or users
            liked = sorted(liked, key=lambda n: (-n.similarity, -n.rating))[: self.n_evidence]
            own = self._own_items_sharing(u, i)
            return self._make(user, item, title, "neighbors", own, tuple(liked), i, "model")
        co = self._co_rated(u, i)
        if co:
            return self._make(user, item, title, "similar_items", co, (), i, "co-rating")
        own = self._own_items_sharing(u, i)
        if own:
            return self._make(user, item, title, "similar_items", own, (), i, "co-rating")
        return Evidence(user, item, title, "none")

    def _item(self, j: int, rating: float, sim: float, target: int,
              contribution: float | None = None) -> EvidenceItem:
        shared = tuple(sorted(self.categories_[j] & self.categories_[target]))
        return EvidenceItem(self.model.items_.id(j), self.titles_[j], float(rating), float(sim),
                            shared, None if contribution is None else float(contribution))

    def contributions(self, user: Any, item: Any) -> list[tuple[Any, float]] | None:
        """What each of the user's own items adds to ``item``'s ranking score, largest first.

        ``None`` when the model's ranking score is not a sum over the user's items (the
        explanation then rests on the model's neighbours or on co-rating). For ``item-cf``
        ranking by similarity sum the contributions add up to the model's score.
        """
        self._check_fitted()
        m = self.model
        u = _index_or_negative(m.users_, user)
        i = _index_or_negative(m.items_, item)
        if u < 0 or i < 0:
            return None
        terms = self._score_terms(u, i)
        if terms is None:
            return None
        terms.sort(key=lambda f: (-f[2], f[0]))
        return [(m.items_.id(j), t) for j, _, t in terms]

    def _score_terms(self, u: int, i: int) -> list[tuple[int, float, float]] | None:
        """(item index, similarity, term) of the user's items in ``i``'s ranking score."""
        m = self.model
        X = m.train_
        start, end = X.indptr[u], X.indptr[u + 1]
        mine = X.indices[start:end]
        if not isinstance(m, ExplainsScore):
            return None
        idx, val = m.score_contributions(u, i)
        idx = np.asarray(idx, dtype=np.int64)
        val = np.asarray(val, dtype=np.float64)
        keep = np.isin(idx, mine)  # the model's evidence is really the user's
        idx, val = idx[keep], val[keep]
        sims = val
        if isinstance(m, SimilarItems) and len(idx):
            sims = np.asarray(m.item_similarity()[idx][:, [i]].todense(),
                              dtype=np.float64).ravel()
        return [(int(j), float(w), float(c)) for j, w, c in zip(idx, sims, val, strict=True)]

    def _score_contributions(self, u: int, i: int) -> list[EvidenceItem]:
        """The user's items that add most to item ``i``'s ranking score, largest first; those
        the user rated at least their mean rating come first when there are any.

        Empty when the model's ranking score is not a sum over the user's items, or when no
        item adds a positive amount (then the other kinds of evidence are used).
        """
        terms = self._score_terms(u, i)
        if not terms:
            return []
        X = self.model.train_
        rated = dict(zip(X.indices[X.indptr[u]:X.indptr[u + 1]].tolist(),
                         X.data[X.indptr[u]:X.indptr[u + 1]].tolist(), strict=True))
        found = [f for f in terms if f[2] > 0 and f[0] != i]
        # Among them, the ones the user liked (rated at least their mean) first: "because you
        # rated X 2/5" reads as no reason, though X adds to the score of a ranking by
        # similarity sum, which ignores ratings.
        mean = float(self.model.user_mean_[u])
        pool = [f for f in found if not rated[f[0]] < mean] or found
        pool.sort(key=lambda f: (-f[2], -rated[f[0]], f[0]))
        return [self._item(j, rated[j], sim, i, c) for j, sim, c in pool[: self.n_evidence]]

    def _make(self, user: Any, item: Any, title: str, kind: Any, items: Sequence[EvidenceItem],
              neighbors: tuple[EvidenceNeighbor, ...], target: int, source: str) -> Evidence:
        shared: set[str] = set()
        for e in items:
            shared |= set(e.shared)
        return Evidence(user, item, title, kind, tuple(items), neighbors,
                        tuple(sorted(shared & self.categories_[target])), source)

    def _co_rated(self, u: int, i: int) -> list[EvidenceItem]:
        """The user's items with the most similar rating columns (cosine) to item ``i``."""
        X = self.model.train_
        norms = self._norms
        if norms is None:
            norms = self._norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
        if self._csc is None:
            self._csc = X.tocsc()
        Xc = self._csc
        start, end = X.indptr[u], X.indptr[u + 1]
        mine = X.indices[start:end]
        col = Xc[:, i]
        if col.nnz == 0 or len(mine) == 0:
            return []
        dots = np.asarray((Xc[:, mine].T @ col).todense()).ravel()
        den = norms[mine] * norms[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.where(den > 0, dots / den, 0.0)
        order = np.lexsort((mine, -sims))
        out = []
        for k in order[: self.n_evidence]:
            if sims[k] <= 0:
                break
            out.append(self._item(int(mine[k]), float(X.data[start + k]), float(sims[k]), i))
        return out

    def _own_items_sharing(self, u: int, i: int) -> list[EvidenceItem]:
        """The user's best-rated recent items that share a category with item ``i``."""
        target = self.categories_[i]
        if not target:
            return []
        hist = user_history(self.model.train_, u, self.model.train_.shape[1],
                            timestamps=self.timestamps_, order="rating")
        out = []
        for j in hist:
            if j != i and self.categories_[j] & target:
                r = self.model._rated_value(u, int(j))
                out.append(self._item(int(j), r if r is not None else float("nan"), 0.0, i))
            if len(out) == self.n_evidence:
                break
        return out

    # -- sentences ----------------------------------------------------------------------------
    def _rating(self, r: float) -> str:
        scale = self.model.rating_scale_
        if scale is None:
            return ""
        return f" {r:g}/{scale[1]:g}"

    def template(self, ev: Evidence) -> str:
        """The grounded sentence(s) for ``ev``, without a language model."""
        verb = "rated" if self.model.rating_scale_ is not None else "chose"
        if ev.kind == "similar_items" and ev.items:
            cited = _join([f"{e.title}{self._rating(e.rating) if verb == 'rated' else ''}"
                           for e in ev.items])
            how = ("which are" if len(ev.items) > 1 else "which is")
            basis = ("similar" if ev.source == "model" else "often rated together with it")
            if ev.source == "co-rating":
                text = f"Recommended because you {verb} {cited}, {how} often rated by the " \
                       f"same people as {ev.title}."
            else:
                text = f"Recommended because you {verb} {cited}, {how} {basis} to {ev.title}."
            if ev.shared:
                text += f" They share {_plural('the category', ev.shared)} {_join(ev.shared)}."
            return text
        if ev.kind == "neighbors" and ev.neighbors:
            n = len(ev.neighbors)
            who = "a user" if n == 1 else f"{n} users"
            mean = float(np.mean([nb.rating for nb in ev.neighbors]))
            rated = (f" rated it{self._rating(mean)}" + (" on average" if n > 1 else "")
                     if self.model.rating_scale_ is not None else " chose it")
            ids = _join([f"user {nb.user}" for nb in ev.neighbors])
            text = f"Recommended because {who} with tastes like yours ({ids}){rated}."
            if ev.items and ev.shared:
                text += (f" It is {_join(ev.shared)}, like {_join([e.title for e in ev.items])}"
                         f" that you {verb}.")
            return text
        return f"{ev.title} is popular with people whose ratings resemble yours."

    def explain(self, user: Any, item: Any) -> Explanation:
        """One or two sentences explaining why ``item`` is recommended to ``user``.

        The model (when given) may only rephrase the template sentence: its answer must pass
        :func:`check_grounded`, else the template is used and the rejection is recorded.
        """
        ev = self.evidence(user, item)
        draft = self.template(ev)
        cited = tuple(e.item for e in ev.items)
        if self.llm is None or ev.kind == "none":
            self.n_template_ += 1
            return Explanation(draft, ev, "template", cited_items=cited)
        facts = [f"the user {('rated ' + e.title + self._rating(e.rating)) if self.model.rating_scale_ is not None else 'chose ' + e.title}"  # noqa: E501
                 for e in ev.items]
        facts += [f"a similar user rated it{self._rating(n.rating)}" for n in ev.neighbors]
        if ev.shared:
            facts.append("shared categories: " + ", ".join(ev.shared))
        try:
            answer = self.llm.complete(explanation_messages(ev.title, facts, draft),
                                       max_tokens=80, temperature=0.0, seed=self.seed)
        except LLMError as exc:
            log.warning("explanation for (%r, %r): LLM failed: %s", user, item, exc)
            self.n_template_ += 1
            return Explanation(draft, ev, "template", rejected=None, reason=str(exc),
                               cited_items=cited)
        answer = answer.strip().split("\n\n")[0].strip()
        target = int(self.model.items_.indices([item])[0])
        evidence_idx = {int(self.model.items_.indices([e.item])[0]) for e in ev.items}
        scale = self.model.rating_scale_
        ratings = ({int(self.model.items_.indices([e.item])[0]): float(e.rating)
                    for e in ev.items if e.rating == e.rating} if scale is not None else {})
        others = [float(n.rating) for n in ev.neighbors] if scale is not None else []
        why = check_grounded(answer, self.index_, evidence_idx | {target}, evidence_idx,
                             ratings=ratings, other_ratings=others,
                             scale=None if scale is None else float(scale[1]))
        if why is None:
            self.n_llm_ += 1
            return Explanation(answer, ev, "llm", cited_items=cited)
        self.n_rejected_ += 1
        kind = reason_kind(why)
        self.rejections_[kind] = self.rejections_.get(kind, 0) + 1
        self.n_template_ += 1
        log.info("rejected LLM explanation (%s): %r", why, answer[:120])
        return Explanation(draft, ev, "template", rejected=answer, reason=why, cited_items=cited)

    # -- profiles -----------------------------------------------------------------------------
    def user_profile(self, user: Any, history: int = 20) -> str:
        """A short text of the user's taste (for text-based CF such as T-UserCF).

        Without a language model: the best-rated items and the most frequent categories. With
        one: the model's two-sentence summary of the same facts (the template text when the
        model fails or answers nothing).
        """
        self._check_fitted()
        u = _index_or_negative(self.model.users_, user)
        if u < 0:
            return ""
        hist = user_history(self.model.train_, u, history, timestamps=self.timestamps_,
                            order="rating")
        titles = [self.titles_[j] for j in hist]
        counts: dict[str, int] = {}
        for j in hist:
            for c in self.categories_[j]:
                counts[c] = counts.get(c, 0) + 1
        top = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
        plain = f"Liked {self.domain}: {', '.join(titles)}." + (
            f" Favourite categories: {', '.join(top)}." if top else "")
        if self.llm is None:
            return plain
        try:
            text = self.llm.complete(profile_messages(titles, top, self.domain), max_tokens=80,
                                     temperature=0.0, seed=self.seed).strip()
        except LLMError as exc:
            log.warning("profile for %r: LLM failed: %s", user, exc)
            return plain
        return text or plain


def _index_or_negative(vocab: Any, id: Any) -> int:
    """``vocab.index(id)``, or -1 for an unknown id (one hash look-up, not a batch one)."""
    try:
        return vocab.index(id)
    except UnknownIdError:
        return -1


def _categories(data: InteractionDataset) -> list[frozenset[str]]:
    """The category set of each item index (``|``-separated ``item_info['category']``)."""
    info = data.item_info
    if info is None or "category" not in info.columns:
        return [frozenset()] * data.n_items
    out: list[frozenset[str]] = []
    for v in info["category"].tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(frozenset())
        else:
            out.append(frozenset(c.strip() for c in str(v).split("|") if c.strip()))
    return out


def _read_neighbor(nb: Any, model: Recommender) -> tuple[str | None, int | None, float, float]:
    """(kind, index, similarity, rating) of one ``details['neighbors']`` entry."""
    if not isinstance(nb, dict):
        return None, None, 0.0, float("nan")
    sim = float(nb.get("similarity", 0.0))
    rating = float(nb.get("rating", float("nan")))
    for kind, vocab in (("item", model.items_), ("user", model.users_)):
        idx = nb.get(f"{kind}_index")
        if isinstance(idx, (int, np.integer)) and 0 <= idx < len(vocab):
            return kind, int(idx), sim, rating
        for key in (kind, f"{kind}_id"):
            if key in nb:
                j = int(vocab.indices([nb[key]], missing="negative")[0])
                return kind, (j if j >= 0 else None), sim, rating
    return None, None, sim, rating


def _strongest(items: list[EvidenceItem], user_mean: float, n: int) -> list[EvidenceItem]:
    """Items that pull the prediction up first (similar and rated at least the user's mean)."""
    positive = [e for e in items if e.similarity > 0 and not e.rating < user_mean]
    pool = positive or [e for e in items if e.similarity > 0] or items
    return sorted(pool, key=lambda e: (-e.similarity * max(e.rating, 1e-9), -e.rating))[:n]


def _liked_threshold(model: Recommender) -> float:
    scale = model.rating_scale_
    return 0.0 if scale is None else scale[0] + 0.75 * (scale[1] - scale[0])


def _join(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _plural(word: str, items: Sequence[str]) -> str:
    if len(items) == 1:
        return word
    return {"the category": "the categories"}.get(word, word + "s")
