"""Grounded explanations on MovieLens 100K u1, and the grounding check on adversarial text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import create_model
from synerec.data.dataset import InteractionDataset
from synerec.data.splits import official_splits
from synerec.llm import Explainer, LLMError, TitleIndex, check_grounded


@pytest.fixture(scope="module")
def u1(ml100k):  # type: ignore[no-untyped-def]
    return official_splits(ml100k, ["u1"])[0]


@pytest.fixture(scope="module")
def item_cf(u1):  # type: ignore[no-untyped-def]
    return create_model("item-cf").fit(u1.train)


def _sampled_recommendations(model: Any, seed: int, n: int = 20) -> list[tuple[Any, Any]]:
    rng = np.random.default_rng(seed)
    users = rng.choice(model.users_.ids_of(np.flatnonzero(model.user_count_ > 0)), n,
                       replace=False)
    ids, _ = model.recommend(users.tolist(), 10)
    ranks = rng.integers(0, 10, size=n)
    return [(u, row[r]) for u, row, r in zip(users.tolist(), ids, ranks, strict=True)]


def test_item_cf_explanations_cite_the_users_own_items(u1, item_cf) -> None:  # type: ignore[no-untyped-def]
    ex = Explainer(item_cf, domain="movies").fit(u1.train)
    X = u1.train.matrix
    titles = u1.train.item_info["title"]
    for user, item in _sampled_recommendations(item_cf, seed=0):
        e = ex.explain(user, item)
        assert e.source == "template"
        assert e.evidence.kind == "similar_items" and e.evidence.source == "model"
        assert 1 <= len(e.cited_items) <= 2
        u = u1.train.users.index(user)
        for cited in e.cited_items:
            j = u1.train.items.index(cited)
            assert X[u, j] > 0, "cited an item the user did not rate in training"
            assert str(titles.loc[cited]) in e.text
        assert str(titles.loc[item]) in e.text
        assert e.text.count(".") >= 1 and len(e.text) < 600


def test_each_recommendation_cites_the_items_that_add_to_its_own_score() -> None:
    # Binary ratings, cosine similarity, k = 1: each item lists only its nearest item.
    # |H| = 7, |X| = 4, |A| = 3, |J| = 2 raters. cos(H, X) = 4 / sqrt(28) = 0.756 is H's
    # nearest; cos(J, A) = 1 / sqrt(6) = 0.408 beats cos(J, H) = 1 / sqrt(14) = 0.267, so A is
    # J's nearest. User t rated H and J: X's score is 0.756 (listed by H), A's is 0.408
    # (listed by J alone: H lists X, not A). So X's explanation cites H and A's cites J, even
    # though H is A's most similar item among t's (cos(A, H) = 2 / sqrt(21) = 0.436): citing
    # that "globally similar" hub named H for both recommendations.
    rows = [("t", "H"), ("t", "J")]
    rows += [(f"x{k}", i) for k in range(4) for i in ("H", "X")]
    rows += [(f"a{k}", i) for k in range(2) for i in ("H", "A")]
    rows += [("j", "J"), ("j", "A")]
    df = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(rating=5.0)
    items = pd.DataFrame({"item_id": ["A", "H", "J", "X"],
                          "title": ["Alpha Pan", "Hub Kettle", "Jay Knife", "Xeno Pot"],
                          "category": ["Cookware", "Kettles", "Knives", "Cookware"]})
    data = InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5))
    model = create_model("item-cf", k=1, similarity="cosine", shrinkage=0.0).fit(data)
    ids, scores = model.recommend(["t"], 2)
    assert ids[0].tolist() == ["X", "A"]
    np.testing.assert_allclose(scores[0], [4 / np.sqrt(28), 1 / np.sqrt(6)], rtol=1e-6)
    ex = Explainer(model).fit(data)
    a, x = ex.explain("t", "A"), ex.explain("t", "X")
    assert a.cited_items == ("J",) and x.cited_items == ("H",)
    assert a.evidence.items[0].contribution == pytest.approx(1 / np.sqrt(6), rel=1e-6)
    assert a.text == "Recommended because you rated Jay Knife 5/5, which is similar to Alpha Pan."
    assert ex.contributions("t", "X") == [("H", pytest.approx(4 / np.sqrt(28), rel=1e-6))]


def test_a_model_can_supply_its_own_score_contributions() -> None:
    # Any model that declares ExplainsScore (score_contributions(user_index, item_index) ->
    # (items, contributions); a linear item-item model such as EASE: x_uj * B_ji) is explained
    # by them; items the user did not rate are never cited, whatever the model says.
    from synerec.algorithms.abilities import ExplainsScore
    from synerec.algorithms.popularity import Popularity

    class Linear(Popularity, ExplainsScore):
        def score_contributions(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
            j = self.items_.indices(["J1", "J2", "Z"])
            return j, np.array([0.2, 0.5, 9.0])

    rows = [("t", "J1", 4.0), ("t", "J2", 5.0), ("s", "A", 3.0), ("s", "Z", 2.0)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    data = InteractionDataset.from_dataframe(df, rating_scale=(1, 5))
    model = Linear().fit(data)
    ex = Explainer(model, n_evidence=1).fit(data)
    e = ex.explain("t", "A")
    assert e.cited_items == ("J2",) and e.evidence.source == "model"
    assert ex.contributions("t", "A") == [("J2", 0.5), ("J1", 0.2)]


def test_item_cf_contributions_match_a_slow_reference(u1, item_cf) -> None:  # type: ignore[no-untyped-def]
    # Reference: walk each of the user's items' stored neighbours in order (similarity
    # descending, ties to the lower index); an item's score is the sum of the similarities of
    # the user's items that list it among their first k. The contributions must be those terms,
    # add up to the model's own score, and the two largest positive ones must be cited (among
    # those the user rated at least their mean, when there are any).
    S, X = item_cf.similarity_, item_cf.train_
    k = item_cf.config_.k
    ex = Explainer(item_cf).fit(u1.train)
    for user in item_cf.users_.ids[[0, 5, 50, 400]].tolist():
        u = item_cf.users_.index(user)
        mine = X.indices[X.indptr[u]:X.indptr[u + 1]]
        ids, scores = item_cf.recommend([user], 10)
        for item, score in zip(ids[0], scores[0], strict=True):
            i = item_cf.items_.index(item)
            terms = {}
            for j in mine:
                lo, hi = S.indptr[j], S.indptr[j + 1]
                row = sorted(zip(S.data[lo:hi].tolist(), S.indices[lo:hi].tolist(), strict=True),
                             key=lambda p: (-p[0], p[1]))[:k]
                for w, col in row:
                    if col == i:
                        terms[int(j)] = w
            got = {item_cf.items_.index(j): c for j, c in ex.contributions(user, item)}
            assert got.keys() == terms.keys()
            for j, w in terms.items():
                assert got[j] == pytest.approx(w, rel=1e-6)
            assert sum(terms.values()) == pytest.approx(float(score), rel=1e-4)
            rating = {int(j): float(r) for j, r in zip(mine, X.data[X.indptr[u]:X.indptr[u + 1]],
                                                       strict=True)}
            positive = [j for j in terms if terms[j] > 0]
            liked = [j for j in positive if rating[j] >= item_cf.user_mean_[u]] or positive
            best = sorted(liked, key=lambda j: (-terms[j], -rating[j], j))[:2]
            cited = [item_cf.items_.index(c) for c in ex.explain(user, item).cited_items]
            assert cited == best


def test_user_cf_explanations_cite_real_neighbours(u1) -> None:  # type: ignore[no-untyped-def]
    model = create_model("user-cf").fit(u1.train)
    ex = Explainer(model, domain="movies").fit(u1.train)
    X = u1.train.matrix
    for user, item in _sampled_recommendations(model, seed=1):
        e = ex.explain(user, item)
        ev = e.evidence
        assert ev.kind == "neighbors" and ev.neighbors
        j = u1.train.items.index(item)
        for nb in ev.neighbors:
            v = u1.train.users.index(nb.user)
            assert nb.user != user
            assert X[v, j] == pytest.approx(nb.rating), "the neighbour did not rate the item"
            assert f"user {nb.user}" in e.text
        u = u1.train.users.index(user)
        for cited in e.cited_items:  # items named as "like X that you rated" are the user's
            assert X[u, u1.train.items.index(cited)] > 0


def test_models_without_neighbours_use_co_rating_evidence(u1) -> None:  # type: ignore[no-untyped-def]
    model = create_model("baseline").fit(u1.train)
    ex = Explainer(model, n_evidence=1).fit(u1.train)
    ev = ex.evidence(1, 172)  # user 1 rated 181 (Return of the Jedi) in u1's training part
    assert ev.source == "co-rating" and len(ev.items) == 1
    X = u1.train.matrix.tocsc().astype(np.float64)
    i = u1.train.items.index(172)
    mine = X.tocsr()[u1.train.users.index(1)].indices
    # slow reference: cosine of the rating columns, best of the user's items
    cos = {j: float((X[:, i].T @ X[:, j]).toarray()[0, 0]
                    / np.sqrt(X[:, i].power(2).sum() * X[:, j].power(2).sum())) for j in mine}
    best = max(cos, key=lambda j: (cos[j], -j))
    assert u1.train.items.index(ev.items[0].item) == best
    assert ev.items[0].similarity == pytest.approx(cos[best], rel=1e-5)


TITLES = ["Star Wars (1977)", "Usual Suspects, The (1995)", "Heat (1995)", "Fargo (1996)",
          "Toy Story (1995)", "Mr. Holland's Opus (1995)"]


@pytest.mark.parametrize(("text", "ok"), [
    ("You loved Star Wars (1977), so try Fargo (1996).", True),
    ("Since you liked The Usual Suspects, Fargo is a natural pick.", True),
    ("Fans of star wars enjoy Fargo.", True),
    ("You liked Star Wars and Heat, so try Fargo.", False),       # Heat is not evidence
    ("Because you watched Toy Story (1995).", False),             # a non-evidence item
    ("Fargo is great.", False),                                   # cites no evidence
    ("", False),
    ("You liked Star Wars. Try Fargo. It is great. Really.", False),  # four sentences
    ("You liked Mr. Holland's Opus. So try Fargo.", True),  # a title's "." is no sentence
])
def test_check_grounded(text: str, ok: bool) -> None:
    index = TitleIndex(TITLES)
    why = check_grounded(text, index, allowed={0, 1, 3, 5}, required={0, 1, 5})
    assert (why is None) == ok, why


class Chat:
    name = "chat"
    supports_logprob = False

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer

    def complete(self, messages: Sequence[Any], **kwargs: Any) -> str:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def logprob(self, prompt: str, continuation: str) -> float:
        raise AssertionError


def test_llm_phrasing_is_checked(u1, item_cf) -> None:  # type: ignore[no-untyped-def]
    user, item = _sampled_recommendations(item_cf, seed=2, n=1)[0]
    plain = Explainer(item_cf).fit(u1.train).explain(user, item)
    cited = plain.evidence.items[0].title
    target = plain.evidence.title
    good = f"Since you enjoyed {cited}, you may like {target}."
    e = Explainer(item_cf, Chat(good)).fit(u1.train).explain(user, item)
    assert e.source == "llm" and e.text == good
    # a hallucinated viewing history is rejected and replaced by the template sentence
    bad = f"Since you loved Toy Story (1995) and {cited}, watch {target}."
    ex = Explainer(item_cf, Chat(bad)).fit(u1.train)
    assert "Toy Story (1995)" not in plain.text
    e = ex.explain(user, item)
    assert e.source == "template" and e.text == plain.text and e.rejected == bad
    assert "Toy Story" in (e.reason or "") and ex.n_rejected_ == 1
    # a failing backend also falls back to the template
    e = Explainer(item_cf, Chat(LLMError("down"))).fit(u1.train).explain(user, item)
    assert e.source == "template" and e.text == plain.text


def test_user_profile_text(u1, item_cf) -> None:  # type: ignore[no-untyped-def]
    ex = Explainer(item_cf, domain="movies").fit(u1.train)
    text = ex.user_profile(1, history=3)
    X = u1.train.matrix
    row = X[u1.train.users.index(1)]
    top = u1.train.item_info["title"].iloc[row.indices[row.data == row.data.max()]].tolist()
    assert text.startswith("Liked movies: ")
    assert sum(t in text for t in top) == 3
    assert "Favourite categories:" in text
    assert Explainer(item_cf, Chat("Loves dramas.")).fit(u1.train).user_profile(1) \
        == "Loves dramas."


def test_untrustworthy_llm_explanations_fall_back_to_the_template(u1, item_cf) -> None:  # type: ignore[no-untyped-def]
    """The failures seen with the local model: each is refused and counted."""
    user, item = _sampled_recommendations(item_cf, seed=2, n=1)[0]
    plain = Explainer(item_cf).fit(u1.train).explain(user, item)
    ev = plain.evidence.items[0]
    cited, target, rating = ev.title, plain.evidence.title, ev.rating
    wrong = 4 if rating == 5 else rating + 1 if rating < 5 else 3
    prompt_echo = (f"Recommended: {target}\nFacts:\n- the user rated {cited} {rating:g}/5\n"
                   "Plain version: ...")
    cases = {
        "echoes the prompt": prompt_echo,
        "states the rating": f"You rated {cited} {wrong:g}/5, so you will like {target}.",
        "not a complete sentence": f"Because you rated {cited} highly, try {target[:-3]}",
        "contains chat markup": f"<</SYS>> Since you liked {cited}, try {target}.",
    }
    ex = Explainer(item_cf, None).fit(u1.train)
    for kind, answer in cases.items():
        ex.llm = Chat(answer)
        e = ex.explain(user, item)
        assert e.source == "template" and e.text == plain.text, (kind, answer)
        assert e.rejected == answer.strip().split("\n\n")[0].strip()
        assert e.reason is not None and e.reason.startswith(kind), e.reason
    assert ex.n_rejected_ == 4 and ex.n_llm_ == 0
    assert ex.rejections_ == dict.fromkeys(cases, 1)
    # the true rating, said of the right item, in a complete sentence, is accepted
    ex.llm = Chat(f"You rated {cited} {rating:g}/5, so you may enjoy {target}.")
    assert ex.explain(user, item).source == "llm" and ex.n_llm_ == 1


@pytest.mark.parametrize(("text", "why"), [
    ("You rated Star Wars (1977) 5/5, so try Fargo (1996).", None),
    ("You rated Star Wars (1977) 4/5, so try Fargo (1996).", "states the rating 4"),
    ("You gave Star Wars 5 stars and Heat 3 stars, so try Fargo.", None),
    ("You gave Star Wars 3 stars, so try Fargo.", "states the rating 3"),
    ("You rated Star Wars 5 out of 10, so try Fargo.", "states a rating out of 10"),
    ("A viewer like you rated it 2/5 after Star Wars.", None),         # a neighbour's rating
    ("A viewer like you rated it 1/5 after Star Wars.", "states the rating 1"),
    ("Because you liked Star Wars (1977), try Fargo (199", "not a complete sentence"),
    ("Because you liked Star Wars (1977, try Fargo.", "not a complete sentence"),
    ("[INST] You liked Star Wars, so try Fargo.", "contains chat markup"),
    ("Plain version: you liked Star Wars, so try Fargo.", "echoes the prompt"),
    ("- the user rated Star Wars 5/5.", "echoes the prompt"),
    ("... and you liked Star Wars, so try Fargo.", "does not start a sentence"),
])
def test_check_grounded_ratings_and_form(text: str, why: str | None) -> None:
    index = TitleIndex(TITLES)
    got = check_grounded(text, index, allowed={0, 2, 3}, required={0, 2},
                         ratings={0: 5.0, 2: 3.0}, other_ratings=[2.0], scale=5.0)
    assert (got is None) if why is None else (got is not None and got.startswith(why)), got
