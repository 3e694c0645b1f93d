"""Why the hybrid ranks an item for a user: the signals that put it on the list, with evidence.

For one (user, item) pair the ranker's score is split into per-feature contributions
(LightGBM's ``pred_contrib``, SHAP values that add up to the score). The features are grouped
into **signals**, one per retriever (its score, rank and relative score) plus ``popularity``
(item popularity, recency, mean rating, agreement of the retrievers, the user's taste for hits),
``text`` (profile and history cosines), ``category`` (category share) and ``llm``. Each signal
that pushed the item up gets its **evidence** from the state the retrievers already hold:

===============================  ==============================================================
signal                           evidence (always from the user's own training data)
===============================  ==============================================================
retriever: ExplainsScore         the user's items ``j`` by their term of the retriever's score
                                 (``item-cf``, ``t-item-cf``: ``w(j, i)`` of the similarity sum;
                                 ``ease``: the weight ``B[j, i]``, "people who rated X also
                                 rated it" for ``ease-all``, whose positives are every rating)
retriever: ExplainsScoreByUsers  the user's nearest neighbours who interacted with the item,
                                 by similarity (``user-cf``)
retriever: ScoresSequence        the user's latest training items, which the sequence model
                                 read last (``sasrec``: "it comes next after you bought X and
                                 Y"), in time order
retriever: none of these         none: named by its evidence kind ("your taste profile" for
                                 ``als``), never citing items
``text``                         the user's items closest to the item in the embedding space
``popularity``, ``category``     the item's category in which the user's history is largest,
                                 when it holds a real share of it (:mod:`synerec.hybrid.claims`)
===============================  ==============================================================

A retriever's abilities are those it declares
(:class:`~synerec.algorithms.abilities.ExplainsScore`,
:class:`~synerec.algorithms.abilities.ExplainsScoreByUsers`,
:class:`~synerec.algorithms.abilities.ScoresSequence`) and its reader's name comes from
its :attr:`~synerec.algorithms.scoring.ScoringModel.evidence_kind`.
:func:`contributors` asks a retriever for its per-history-item terms, independently of the
explanation text; :func:`check_faithful` verifies that every item an explanation cites is in
the user's training history and among the top contributors of the signal that cites it
and :func:`check_claims` checks every claim of the sentence (bought together, text
closeness, similar customers, favourite category, popularity: :mod:`synerec.hybrid.claims`)
against the training data, recomputed with plain code apart from the code that wrote it
(``bench/explain_faithfulness.py`` runs both on 1,000 sampled explanations per data set).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from synerec.algorithms.abilities import ExplainsScore, ExplainsScoreByUsers, ScoresSequence
from synerec.algorithms.base import Recommender
from synerec.algorithms.positives import PositiveFeedbackConfig
from synerec.hybrid.candidates import lookup_pairs
from synerec.hybrid.claims import (
    FAVOURITE_CATEGORY_SHARE,
    POPULAR_SHARE,
    Claim,
    ClaimKind,
    latest_items_error,
    popular_in,
    popular_overall,
)
from synerec.hybrid.features import signal_of_feature

if TYPE_CHECKING:
    from synerec.hybrid.model import HybridRanker

__all__ = ["HybridExplanation", "Signal", "check_claims", "check_faithful", "contributors",
           "explain_pair", "explain_pairs", "explain_texts", "signal_of_feature"]

#: Items cited per signal.
N_EVIDENCE = 2
#: A cited item must be among this many top contributors of its signal (or all, if fewer).
TOP_CONTRIBUTORS = 3

@dataclass(frozen=True)
class Signal:
    """One signal's share of a score and its evidence.

    Attributes
    ----------
    name
        A retriever's name, or ``popularity``, ``text``, ``category``, ``llm``, ``user``.
    contribution
        Sum of the SHAP contributions of the signal's features (0 without a ranker).
    items
        Item indices of the user's training items cited as evidence, strongest first.
    weights
        Their terms (similarity, EASE weight, cosine).
    users
        User indices of neighbours cited (``user-cf``).
    category
        The category cited (``popularity`` / ``category``): the item's category with the
        largest share of the user's history, when that share is at least
        :data:`~synerec.hybrid.claims.FAVOURITE_CATEGORY_SHARE`; else ``None``.
    """

    name: str
    contribution: float
    items: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    users: tuple[int, ...] = ()
    category: str | None = None


@dataclass(frozen=True)
class HybridExplanation:
    """The explanation of one recommended pair.

    Attributes
    ----------
    user, item
        Indices.
    score
        The ranker's score (SHAP contributions plus bias add up to it).
    signals
        Every signal, by contribution (largest first).
    top_signal
        The signal that weighed most (largest positive contribution).
    text
        The sentence(s).
    cited
        ``(signal name, item index)`` of every item the text names.
    claims
        Every statement of the text (:class:`~synerec.hybrid.claims.Claim`), in order.
    """

    user: int
    item: int
    score: float
    signals: tuple[Signal, ...]
    top_signal: str
    text: str
    cited: tuple[tuple[str, int], ...] = field(default=())
    claims: tuple[Claim, ...] = field(default=())

    @property
    def sentence(self) -> str:
        """The text (the name :class:`~synerec.algorithms.abilities.ExplainsList` promises)."""
        return self.text

    def as_details(self) -> dict[str, Any]:
        """JSON-ready details (``predict_one(...).details``); ``neighbors`` lists the cited
        items as the generic :class:`~synerec.llm.Explainer` reads them."""
        return {
            "ranker_score": self.score,
            "top_signal": self.top_signal,
            "signals": [{"signal": s.name, "contribution": s.contribution,
                         "items": list(s.items), "weights": list(s.weights),
                         "users": list(s.users), "category": s.category}
                        for s in self.signals],
            "explanation": self.text,
            "neighbors": [{"item_index": i, "signal": name,
                           "similarity": _weight_of(self.signals, name, i)}
                          for name, i in self.cited],
            "claims": [c.as_dict() for c in self.claims],
        }


def _weight_of(signals: tuple[Signal, ...], name: str, item: int) -> float:
    for s in signals:
        if s.name == name and item in s.items:
            return float(s.weights[s.items.index(item)])
    return 0.0


# -- contributions of the user's history to one retriever's score -------------------------------

def contributors(model: Recommender, user: int, item: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A retriever's score of ``(user, item)`` split over the user's history, as the retriever
    declares it (:class:`~synerec.algorithms.abilities.ExplainsScore` /
    :class:`~synerec.algorithms.abilities.ExplainsScoreByUsers`).

    Returns
    -------
    keys : numpy.ndarray
        Item indices (``kind == "items"``) or user indices (``"users"``) that add a term.
    terms : numpy.ndarray
        Their terms, largest first (ties: lower index); for ``"items"`` and ``"users"`` the
        terms add up to the retriever's ranking score of the pair (terms of 0, which add
        nothing, are left out).
    kind
        ``"items"``, ``"users"`` or ``"none"`` (a retriever without per-item terms).
    """
    if isinstance(model, ExplainsScore):
        keys, terms = model.score_contributions(user, item)
        kind = "items"
    elif isinstance(model, ExplainsScoreByUsers):
        keys, terms = model.score_contributors(user, item)
        kind = "users"
    else:
        return np.zeros(0, np.int64), np.zeros(0, np.float64), "none"
    keys = np.asarray(keys, dtype=np.int64)
    terms = np.asarray(terms, dtype=np.float64)
    nz = terms != 0
    return _sorted(keys[nz], terms[nz], kind)


def _sorted(keys: np.ndarray, terms: np.ndarray, kind: str
            ) -> tuple[np.ndarray, np.ndarray, str]:
    order = np.lexsort((keys, -terms))
    return keys[order], terms[order], kind


def text_contributors(model: HybridRanker, user: int, item: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The user's training items by the cosine of their embedding with the item's."""
    E = model.item_side_.embeddings
    X = model.train_
    hist = X.indices[X.indptr[user]:X.indptr[user + 1]].astype(np.int64)
    if E is None or len(hist) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    cos = (E[hist] @ E[item]).astype(np.float64)
    keys, terms, _ = _sorted(hist, cos, "items")
    return keys, terms


def _top_category(model: HybridRanker, user: int, item: int) -> str | None:
    """The item's category with the largest share of the user's history, when that share is
    at least :data:`~synerec.hybrid.claims.FAVOURITE_CATEGORY_SHARE` (else ``None``: the
    user does not often choose any of the item's categories)."""
    C = model.item_side_.categories
    U = model.stats_.user_categories
    if C is None or U is None:
        return None
    cats = C.indices[C.indptr[item]:C.indptr[item + 1]]
    if len(cats) == 0:
        return None
    row = U[user]
    share = {int(c): float(v) for c, v in zip(row.indices, row.data, strict=True)}
    best = max(cats, key=lambda c: (share.get(int(c), 0.0), -int(c)))
    if share.get(int(best), 0.0) < FAVOURITE_CATEGORY_SHARE:
        return None
    return str(model.item_side_.category_names[int(best)])


# -- the explanation -----------------------------------------------------------------------------

def explain_pair(model: HybridRanker, user: int, item: int) -> HybridExplanation:
    """Explain the hybrid's score of ``(user, item)`` (indices of a known user and item)."""
    return explain_pairs(model, user, [item])[0]


def explain_pairs(model: HybridRanker, user: int, items: Any) -> list[HybridExplanation]:
    """Explain the hybrid's score of ``(user, i)`` for each item index ``i`` of ``items``.

    One pass for the whole list: the user's candidates and their features are built once (the
    cost of one recommendation), then the ranker's contributions of the listed pairs only.
    """
    items = np.asarray(items, dtype=np.int64).ravel()
    out = []
    for _, item, score, order in _pair_contributions(model, np.array([user]),
                                                      np.zeros(len(items), np.int64), items):
        signals = [_evidence(model, sig, c, user, item) for sig, c in order]
        top = _top_signal(order)
        text, cited, claims = _sentence(model, signals, top, user, item)
        out.append(HybridExplanation(user, item, score, tuple(signals), top, text,
                                     tuple(cited), tuple(claims)))
    return out


def explain_texts(model: HybridRanker, users: Any, items: Any) -> list[list[str]]:
    """The sentences of :func:`explain_pairs` for many users' lists at once.

    ``items`` is ``(len(users), n)`` item indices (``-1``: none); row ``r`` holds user
    ``users[r]``'s list. One pass over all the users' candidates and features, and each
    signal's evidence computed only when its sentence names it (a sentence names at most
    three): the same sentences as :func:`explain_pairs`, for a fraction of its cost (the
    service precomputes its known users' explained lists this way).
    """
    users = np.asarray(users, dtype=np.int64).ravel()
    grid = np.asarray(items, dtype=np.int64).reshape(len(users), -1)
    rows, cols = np.nonzero(grid >= 0)
    out: list[list[str]] = [[] for _ in range(len(users))]
    for r, item, _, order in _pair_contributions(model, users, rows, grid[rows, cols]):
        user = int(users[r])
        lazy = (_evidence(model, sig, c, user, item) for sig, c in order)
        out[r].append(_sentence(model, lazy, _top_signal(order), user, item)[0])
    return out


def _pair_contributions(model: HybridRanker, users: np.ndarray, rows: np.ndarray,
                        items: np.ndarray) -> Iterator[tuple[int, int, float,
                                                             list[tuple[str, float]]]]:
    """For each pair ``(users[rows[k]], items[k])``: ``(row, item, score, signals)``, the
    signals as ``(name, contribution)`` by contribution, largest first (ties: by name)."""
    if len(items) == 0:
        return
    cands = model.candidates(users, extra=(rows, items))
    pos = np.asarray(lookup_pairs(cands, rows, items, model.n_items_), dtype=np.int64)
    signals_of = [c.signal for c in model.stage_columns("a")]
    contribs = None
    if model.ranker_ is not None:
        contribs = model.ranker_.contributions(model.feature_matrix(cands)[pos])
    for k, (r, item) in enumerate(zip(rows.tolist(), items.tolist(), strict=True)):
        if contribs is not None:
            contrib = contribs[k]
            score = float(contrib.sum())
            per_signal: dict[str, float] = {}
            for sig, c in zip(signals_of, contrib[:-1], strict=True):
                per_signal[sig] = per_signal.get(sig, 0.0) + float(c)
        else:  # reciprocal-rank fusion: each retriever's term
            ranks = cands.ranks[pos[k]]
            per_signal = {n: (1.0 / (60.0 + float(v)) if np.isfinite(v) else 0.0)
                          for n, v in zip(model.retriever_names_, ranks, strict=True)}
            score = float(sum(per_signal.values()))
        yield r, item, score, sorted(per_signal.items(), key=lambda kv: (-kv[1], kv[0]))


def _top_signal(order: list[tuple[str, float]]) -> str:
    """The signal that weighed most, the user's own activity aside."""
    return next((name for name, _ in order if name != "user"), "none")


def _evidence(model: HybridRanker, sig: str, contribution: float, user: int,
              item: int) -> Signal:
    if sig in model.retriever_names_:
        r = model.retrievers_[model.retriever_names_.index(sig)]
        keys, terms, kind = contributors(r, user, item)
        keep = terms > 0
        keys, terms = keys[keep][:N_EVIDENCE], terms[keep][:N_EVIDENCE]
        if kind == "items":
            return Signal(sig, contribution, tuple(int(k) for k in keys),
                          tuple(float(t) for t in terms))
        if kind == "users":
            return Signal(sig, contribution, (), tuple(float(t) for t in terms),
                          tuple(int(k) for k in keys))
        if isinstance(r, ScoresSequence) and user >= 0:
            latest = r.user_sequences(np.asarray([user]))[0][-N_EVIDENCE:]
            return Signal(sig, contribution, tuple(int(i) for i in latest),
                          tuple(1.0 for _ in latest))
        if sig == "popularity" or r.evidence_kind == "popularity":
            return Signal(sig, contribution, category=_top_category(model, user, item))
        return Signal(sig, contribution)
    if sig == "text":
        keys, terms = text_contributors(model, user, item)
        keep = terms > 0
        return Signal(sig, contribution, tuple(int(k) for k in keys[keep][:N_EVIDENCE]),
                      tuple(float(t) for t in terms[keep][:N_EVIDENCE]))
    if sig in ("popularity", "category"):
        return Signal(sig, contribution, category=_top_category(model, user, item))
    return Signal(sig, contribution)


def _label(model: HybridRanker, idx: int) -> str:
    title = model.titles_[idx]
    iid = str(model.items_.id(idx))
    return title if title == iid else f"{title} ({iid})"


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


_SIGNAL_WORDS = {"popularity": "popularity", "text": "closeness in description",
                 "category": "your favourite category", "llm": "the language model's score",
                 "user": "your activity"}


def signal_label(model: HybridRanker, name: str) -> str:
    """A reader's name of a signal: a retriever's by the kind of evidence it declares
    (:attr:`~synerec.algorithms.scoring.ScoringModel.evidence_kind`)."""
    if name not in model.retriever_names_:
        return _SIGNAL_WORDS.get(name, name)
    kind = model.retrievers_[model.retriever_names_.index(name)].evidence_kind
    if kind == "co-occurrence":
        return f"items you {_signal_verb(model, name)} together with it ({name})"
    if kind == "taste-profile":
        return f"your taste profile from all your {_noun(model)} ({name})"
    if kind == "text":
        if _is_pure_text(model, name):
            return f"closeness in description ({name})"
        return f"closeness in description and in who chose it ({name})"
    if kind == "co-rating":
        return f"co-{_noun(model)} ({name})"
    if kind == "similar-users":
        return f"customers like you ({name})"
    if kind == "popularity":
        return "popularity"
    if kind == "sequence":
        return f"what you {_signal_verb(model, name)} last, in order ({name})"
    return name


def _verb(model: HybridRanker) -> str:
    return "bought" if model.rating_scale_ is None else "liked"


def _signal_verb(model: HybridRanker, name: str) -> str:
    """``rated`` for a retriever that learns from every rating (``ease-all``: its evidence may
    be an item the user disliked), else :func:`_verb`."""
    if name in model.retriever_names_ and model.rating_scale_ is not None:
        config = model.retrievers_[model.retriever_names_.index(name)].config_
        if isinstance(config, PositiveFeedbackConfig) and config.positive_threshold is None:
            return "rated"
    return _verb(model)


def _noun(model: HybridRanker) -> str:
    return "purchases" if model.rating_scale_ is None else "ratings"


def _sentence(model: HybridRanker, signals: Iterable[Signal], top: str, user: int, item: int
              ) -> tuple[str, list[tuple[str, int]], list[Claim]]:
    """The text, naming each positive signal with its evidence; the items it cites; and the
    claims it makes (each phrase one claim, said only when true: :mod:`~synerec.hybrid.claims`).

    ``signals`` come by contribution, largest first, and are read only until three phrases
    are said (a generator computes the evidence of only the signals read).
    """
    verb = _verb(model)
    people = "customers" if model.rating_scale_ is None else "people"
    parts: list[str] = []
    cited: list[tuple[str, int]] = []
    claims: list[Claim] = []
    cited_items: set[int] = set()

    def say(phrase: str, claim: Claim) -> None:
        if phrase not in parts:
            parts.append(phrase)
            claims.append(claim)

    for s in signals:
        if s.contribution <= 0 and model.ranker_ is not None:
            continue
        new = tuple(i for i in s.items if i not in cited_items)
        if s.items and _is_sequence_retriever(model, s.name):
            # every latest item, already cited or not: "after you bought X and Y" is true of
            # the latest ones only
            v = _signal_verb(model, s.name)
            say(f"it comes next after you {v} "
                f"{_join([_label(model, i) for i in s.items])} ({s.name})",
                Claim("latest-items", s.name, s.items))
            cited += [(s.name, i) for i in s.items]
            cited_items.update(s.items)
        elif s.items and new:
            names = _join([_label(model, i) for i in new])
            if s.name == "text":
                say(f"it is close in description to {names}", Claim("text-close", s.name, new))
            elif s.name in model.retriever_names_ and _is_text_retriever(model, s.name):
                who = "" if _is_pure_text(model, s.name) else " and in who chose it"
                say(f"it is like {names} in description{who} ({s.name})",
                    Claim("text-close", s.name, new))
            else:
                v = _signal_verb(model, s.name)
                say(f"{people} who {v} {names} also {v} it ({s.name})",
                    Claim("bought-together", s.name, new))
            cited += [(s.name, i) for i in new]
            cited_items.update(new)
        elif s.users:
            ids = _join([str(model.users_.id(v)) for v in s.users])
            say(f"{people} with tastes like yours ({ids}) {verb} it ({s.name})",
                Claim("similar-users", s.name, users=s.users))
        elif s.category is not None:
            cat = model.item_side_.category_index(s.category)
            C = model.item_side_.categories
            if C is not None and popular_in(model.item_count_, C, item, cat):
                say(f"it is among the most popular in {s.category}, a category you often "
                    "choose", Claim("favourite-category", s.name, category=s.category,
                                    popular=True))
            else:
                say(f"it is in {s.category}, a category you often choose",
                    Claim("favourite-category", s.name, category=s.category))
        elif s.name == "popularity" or (s.name in model.retriever_names_
                                        and signal_label(model, s.name) == "popularity"):
            if popular_overall(model.item_count_, item):
                say("it is among the most popular items", Claim("popular", s.name,
                                                                popular=True))
        elif s.name == "llm":
            say("the language model finds it a likely next choice after your history",
                Claim("llm", s.name))
        if len(parts) == 3:
            break
    if not parts:
        parts.append("it ranks high among the candidates your history brings up")
    text = "Recommended because " + "; ".join(parts) + "."
    text += f" The signal that weighed most: {signal_label(model, top)}."
    return text, cited, claims


def _is_sequence_retriever(model: HybridRanker, name: str) -> bool:
    """Whether ``name`` is a retriever that reads the user's items in time order
    (:class:`~synerec.algorithms.abilities.ScoresSequence`)."""
    return (name in model.retriever_names_
            and isinstance(model.retrievers_[model.retriever_names_.index(name)],
                           ScoresSequence))


def _is_text_retriever(model: HybridRanker, name: str) -> bool:
    return model.retriever_specs_[model.retriever_names_.index(name)].group == "text"


def _is_pure_text(model: HybridRanker, name: str) -> bool:
    """Whether the retriever scores by text alone (a retriever of new items,
    :data:`~synerec.hybrid.retrievers.NEW_ITEM_MODELS`): its closeness is in description
    only, not in who chose the items."""
    return model.retriever_specs_[model.retriever_names_.index(name)].new_items


# -- faithfulness --------------------------------------------------------------------------------

def check_faithful(model: HybridRanker, expl: HybridExplanation) -> str | None:
    """Why ``expl`` is not faithful, or ``None`` when every cited item is.

    A cited item must be one of the user's training items and among the
    :data:`TOP_CONTRIBUTORS` largest terms of the signal that cites it, recomputed here from
    the retriever (:func:`contributors`) or the embeddings (:func:`text_contributors`), not
    read back from the explanation; the items a sequence retriever cites must be the user's
    latest training items by the timestamps
    (:func:`~synerec.hybrid.claims.latest_items_error`).
    """
    X = model.train_
    hist = set(X.indices[X.indptr[expl.user]:X.indptr[expl.user + 1]].tolist())
    for name, i in expl.cited:
        if i not in hist:
            return f"cites item {i}, which is not in user {expl.user}'s training history"
        if _is_sequence_retriever(model, name):
            latest = tuple(j for n, j in expl.cited if n == name)
            why = latest_items_error(X, model.times_, expl.user, latest)
            if why is not None:
                return why
            continue
        if name == "text":
            keys, terms = text_contributors(model, expl.user, expl.item)
        elif name in model.retriever_names_:
            r = model.retrievers_[model.retriever_names_.index(name)]
            keys, terms, kind = contributors(r, expl.user, expl.item)
            if kind != "items":
                return f"signal {name} has no item contributors but cites item {i}"
        else:
            return f"signal {name} cannot cite items"
        positive = keys[terms > 0]
        if i not in set(positive[:TOP_CONTRIBUTORS].tolist()):
            return (f"item {i} is not among the top {TOP_CONTRIBUTORS} contributors of "
                    f"{name} to item {expl.item}")
    return None


def check_claims(model: HybridRanker, expl: HybridExplanation
                 ) -> list[tuple[ClaimKind, str | None]]:
    """Each claim of ``expl`` with why it is false (``None`` when true), recomputed from the
    model's training matrix and catalogue with plain code (not the code that wrote it).

    ``bought-together`` / ``text-close`` as :func:`check_faithful` does for cited items;
    ``similar-users``: each user is another user among the retriever's top contributors who
    interacted with the item; ``favourite-category``: the item is in the category, which holds
    at least :data:`~synerec.hybrid.claims.FAVOURITE_CATEGORY_SHARE` of the user's items (and
    the item is among the most popular of it when the claim says so); ``popular``: the item is
    among the most popular overall; ``llm``: the LLM signal pushed the item up;
    ``latest-items``: the signal is a sequence retriever and the items are the user's latest
    training items by the timestamps (:func:`~synerec.hybrid.claims.latest_items_error`).
    """
    X = model.train_
    history = X.indices[X.indptr[expl.user]:X.indptr[expl.user + 1]]
    out: list[tuple[ClaimKind, str | None]] = []
    for c in expl.claims:
        why: str | None = None
        if c.kind in ("bought-together", "text-close"):
            sub = HybridExplanation(expl.user, expl.item, expl.score, expl.signals,
                                    expl.top_signal, expl.text, tuple((c.signal, i)
                                                                      for i in c.items))
            why = check_faithful(model, sub)
        elif c.kind == "similar-users":
            why = _check_users(model, c, expl)
        elif c.kind == "favourite-category":
            why = _check_category(model, c, expl, history)
        elif c.kind == "popular" and not popular_overall(model.item_count_, expl.item):
            why = f"item {expl.item} is not among the most popular items"
        elif c.kind == "llm":
            llm = [s for s in expl.signals if s.name == c.signal]
            if not llm or llm[0].contribution <= 0:
                why = "the LLM signal did not push the item up"
        elif c.kind == "latest-items":
            why = (f"signal {c.signal} does not read the user's items in order"
                   if not _is_sequence_retriever(model, c.signal) else
                   latest_items_error(X, model.times_, expl.user, c.items))
        out.append((c.kind, why))
    return out


def _check_users(model: HybridRanker, c: Claim, expl: HybridExplanation) -> str | None:
    if c.signal not in model.retriever_names_:
        return f"signal {c.signal} cannot cite users"
    r = model.retrievers_[model.retriever_names_.index(c.signal)]
    keys, terms, kind = contributors(r, expl.user, expl.item)
    if kind != "users":
        return f"signal {c.signal} has no user contributors"
    top = set(keys[terms > 0][:TOP_CONTRIBUTORS].tolist())
    X = model.train_
    for v in c.users:
        raters = set(X[:, [expl.item]].tocoo().row.tolist())
        if v == expl.user or v not in raters:
            return f"user {v} did not interact with item {expl.item}"
        if v not in top:
            return f"user {v} is not among the top {TOP_CONTRIBUTORS} neighbours behind it"
    return None


def _check_category(model: HybridRanker, c: Claim, expl: HybridExplanation,
                    history: np.ndarray) -> str | None:
    C = model.item_side_.categories
    if C is None or c.category is None:
        return "no categories to claim"
    cat = model.item_side_.category_index(c.category)
    members = set(C.tocsc()[:, cat].indices.tolist())
    if expl.item not in members:
        return f"item {expl.item} is not in {c.category}"
    share = sum(1 for j in history.tolist() if j in members) / max(1, len(history))
    if share < FAVOURITE_CATEGORY_SHARE:
        return (f"{c.category} holds {share:.0%} of the user's items, under "
                f"{FAVOURITE_CATEGORY_SHARE:.0%}")
    if c.popular:
        counts = [int(model.item_count_[j]) for j in members if model.item_count_[j] > 0]
        better = sum(1 for n in counts if n > model.item_count_[expl.item])
        if better >= max(1, math.ceil(POPULAR_SHARE * len(counts))):
            return f"item {expl.item} is not among the most popular of {c.category}"
    return None
