"""The paper's worked example reproduced: C's rating of d on Table 1, and the decision.

Table 1 (``tests/similarity/test_paper_table1.py``; 0 = not rated, ratings taken on a 1..5
scale):

======  ======  ======  ======  ======  ======
user    a       b       c       d       e
======  ======  ======  ======  ======  ======
A       3.0     4.0     .       3.5     .
B       4.0     .       4.5     .       3.5
C       .       3.5     .       .       3.0
D       .       4.0     .       3.5     3.0
======  ======  ======  ======  ======  ======

The paper predicts "user 3's rating for item 4" (C, d) with eq. 3 from the K = 3 users most
similar to C, with eq. 4 from the items most similar to d, and decides with ``recommendItem``
for each of its four methods. Unless a test says otherwise the models run the paper's plain
formulas (``PLAIN_FORMULAS``: ``min_support=1``, ``shrinkage=0``, ``center=False``) with
``k=3`` and the default readings of the ambiguous points (docs/notation.md).

Means (over all of a user's / an item's ratings): users A 7/2, B 4, C 13/4, D 7/2;
items b 23/6, d 7/2, e 19/6.

Expected values are worked out by hand in the comments. Where they depend on similarities
(stored as float32), the closed form is evaluated twice: on the float32-rounded similarities,
which the code must match to 1e-9, and exactly, which it matches to 1e-6.
"""

from __future__ import annotations

from math import sqrt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import PLAIN_FORMULAS, ItemKNN, PaperCF, UserKNN, recommend_item
from synerec.data import InteractionDataset, read_interactions
from tests.similarity.test_paper_table1 import ITEM_COSINE_D, TABLE, USER_COSINE, A, D, b, e

EXACT = 1e-12  # values that do not depend on a similarity's float32 rounding
F32 = 1e-9  # closed forms evaluated on the float32 similarities
CLOSED = 1e-6  # closed forms on the exact similarities
CSV = Path(__file__).parents[2] / "docs" / "examples" / "paper-table1.csv"
USERS, ITEMS = "ABCD", "abcde"


def f32(x: float) -> float:
    """``x`` rounded to float32, as the similarity matrix stores it."""
    return float(np.float32(x))


@pytest.fixture(scope="module")
def table() -> InteractionDataset:
    rows = [(USERS[u], ITEMS[i], float(TABLE[u, i]))
            for u in range(4) for i in range(5) if TABLE[u, i] > 0]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5), name="table1")


def test_the_csv_in_the_docs_is_table_1(table: InteractionDataset) -> None:
    ds = read_interactions(CSV, rating_scale=(1, 5))
    got = sorted(map(tuple, ds.to_dataframe()[["user_id", "item_id", "rating"]].values.tolist()))
    want = sorted(map(tuple, table.to_dataframe()[["user_id", "item_id", "rating"]]
                      .values.tolist()))
    assert got == want and len(got) == 11


# -- eq. 3, user-based, C's rating of d with K = 3 -----------------------------------------------
# The three users most similar to C by eq. 1 are D (0.817), A (0.498) and B (0.327); B has not
# rated d, so K = {D, A}: K is the k most similar users *among those who rated d* (a 0 is "not
# rated", not a rating of 0).
#   p = 13/4 + (w_CD (3.5 - 7/2) + w_CA (3.5 - 7/2)) / (|w_CD| + |w_CA|) = 13/4 + 0 = 3.25
# Both raters of d gave it exactly their own mean, so the deviations vanish and the weights (and
# the similarity, and the denominator) do not matter: Pearson gives 3.25 too.
P_USER = 13 / 4

# neighbor_mean="corated": A's mean over the items C rated (b, e) is A's b = 4, D's is (4 + 3)/2:
#   cosine: p = 13/4 + (w_CA (3.5 - 4) + w_CD (3.5 - 7/2)) / (w_CA + w_CD)
#             = 13/4 - (1/2) * 56 / (56 + 92) = 13/4 - 7/37 = 453/148 = 3.060811
#   (w_CA / (w_CA + w_CD) = 56 / 148, the two cosines sharing the factor 1 / sqrt(12665))
P_USER_COSINE_CORATED_MEAN = 453 / 148
P_USER_COSINE_CORATED_MEAN_F32 = 13 / 4 - 0.5 * f32(USER_COSINE[A]) / (
    f32(USER_COSINE[A]) + f32(USER_COSINE[D]))
#   Pearson: w_CA = w_CD = 1: p = 13/4 + (-1/2 + 0) / 2 = 3
P_USER_PEARSON_CORATED_MEAN = 3.0
#   cosine over co-rated norms as well: w_CA = 1, w_CD = 46 / (5 sqrt 85):
#   p = 13/4 - (1/2) / (1 + 46 / (5 sqrt 85)) = 2.999735
W_CD_CORATED = 46 / (5 * sqrt(85))
P_USER_COSINE_ALL_CORATED = 13 / 4 - 0.5 / (1 + W_CD_CORATED)
P_USER_COSINE_ALL_CORATED_F32 = 13 / 4 - 0.5 / (1 + f32(W_CD_CORATED))


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
@pytest.mark.parametrize("denominator", ["absolute", "signed"])
def test_user_based_eq3(table: InteractionDataset, similarity: str, denominator: str) -> None:
    model = UserKNN(k=3, similarity=similarity, min_support=1, shrinkage=0.0,
                    denominator=denominator).fit(table)
    p = model.predict_one("C", "d")
    assert p.value == pytest.approx(P_USER, abs=EXACT)
    assert p.n_neighbors == 2 and p.fallback is None and not p.clipped
    nbrs = p.details["neighbors"]
    assert p.details["user_mean"] == 13 / 4
    # every contribution is 0; ties in |contribution| go to the more similar neighbour
    assert {nb["user"] for nb in nbrs} == {"A", "D"}
    assert all(nb["rating"] == 3.5 and nb["mean"] == 3.5 and nb["contribution"] == 0.0
               for nb in nbrs)
    if similarity == "cosine":
        assert [nb["user"] for nb in nbrs] == ["D", "A"]
        assert nbrs[0]["similarity"] == f32(USER_COSINE[D])
        assert nbrs[1]["similarity"] == f32(USER_COSINE[A])
    else:
        assert [nb["similarity"] for nb in nbrs] == [1.0, 1.0]
    # B is among the three nearest users but has not rated d: not in K
    ids, _ = model.similar_users("C", 3)
    assert "B" in ids.tolist() and "B" not in [nb["user"] for nb in nbrs]


def test_user_based_tuned_defaults(table: InteractionDataset) -> None:
    # min_support=2 drops A and B (one co-rated item with C); D alone, deviation 0: still 3.25
    for similarity in ("cosine", "pearson"):
        p = UserKNN(k=3, similarity=similarity).fit(table).predict_one("C", "d")
        assert p.value == pytest.approx(P_USER, abs=EXACT)
        assert p.n_neighbors == 1 and p.details["neighbors"][0]["user"] == "D"


@pytest.mark.parametrize(("params", "exact", "f32_value"), [
    ({"similarity": "cosine"}, P_USER_COSINE_CORATED_MEAN, P_USER_COSINE_CORATED_MEAN_F32),
    ({"similarity": "pearson"}, P_USER_PEARSON_CORATED_MEAN, P_USER_PEARSON_CORATED_MEAN),
    ({"similarity": "cosine", "norms": "corated"}, P_USER_COSINE_ALL_CORATED,
     P_USER_COSINE_ALL_CORATED_F32),
])
def test_user_based_corated_mean(table: InteractionDataset, params: dict, exact: float,
                                 f32_value: float) -> None:
    model = UserKNN(k=3, min_support=1, shrinkage=0.0, neighbor_mean="corated",
                    **params).fit(table)
    p = model.predict_one("C", "d")
    assert p.value == pytest.approx(f32_value, abs=F32)
    assert p.value == pytest.approx(exact, abs=CLOSED)
    means = {nb["user"]: nb["mean"] for nb in p.details["neighbors"]}
    assert means == {"A": 4.0, "D": 3.5}
    terms = sum(nb["contribution"] for nb in p.details["neighbors"])
    assert p.details["user_mean"] + terms == pytest.approx(p.value, abs=EXACT)
    # the top-N score of d with ranking="prediction" is the same eq. 3
    model.set_params(ranking="prediction").fit(table)
    ids, scores = model.recommend(["C"], n=3)
    assert float(scores[0][ids[0].tolist().index("d")]) == pytest.approx(p.value, abs=1e-6)


# -- eq. 4, item-based, C's rating of d ----------------------------------------------------------
# C rated b (3.5) and e (3.0); the three items most similar to d among them are just b and e.
#   cosine (plain eq. 4): p = (3.5 w_db + 3 w_de) / (w_db + w_de),
#     w_db = 8 sqrt(2/177) = 0.850390, w_de = 3 sqrt 2 / 11 = 0.385695
#     = (28 / sqrt 177 + 9 / 11) / (8 / sqrt 177 + 3 / 11) = 3.343989
W_DB, W_DE = ITEM_COSINE_D[b], ITEM_COSINE_D[e]
P_ITEM_COSINE = (28 / sqrt(177) + 9 / 11) / (8 / sqrt(177) + 3 / 11)
P_ITEM_COSINE_F32 = (3.5 * f32(W_DB) + 3 * f32(W_DE)) / (f32(W_DB) + f32(W_DE))
#   centred (center=True): 7/2 + (w_db (3.5 - 23/6) + w_de (3 - 19/6)) / (w_db + w_de)
#     = 7/2 - (w_db / 3 + w_de / 6) / (w_db + w_de) = 3.218671
P_ITEM_COSINE_CENTRED = 7 / 2 - (W_DB / 3 + W_DE / 6) / (W_DB + W_DE)
P_ITEM_COSINE_CENTRED_F32 = 7 / 2 - (f32(W_DB) / 3 + f32(W_DE) / 6) / (f32(W_DB) + f32(W_DE))
#   tuned defaults (center=True, shrinkage=100): w_db * 2/102 (A, D rated both), w_de * 1/101
#     = 7/2 - (s_db / 3 + s_de / 6) / (s_db + s_de) = 3.197723 (below 29/9: not recommended)
S_DB, S_DE = W_DB * 2 / 102, W_DE / 101
P_ITEM_COSINE_TUNED = 7 / 2 - (S_DB / 3 + S_DE / 6) / (S_DB + S_DE)
P_ITEM_COSINE_TUNED_F32 = 7 / 2 - (f32(S_DB) / 3 + f32(S_DE) / 6) / (f32(S_DB) + f32(S_DE))
#   co-rated norms: w_db = w_de = 1: p = (3.5 + 3) / 2 = 3.25
P_ITEM_COSINE_CORATED = 13 / 4
# adjusted cosine: d's column centred by its raters' means is (A 3.5 - 7/2, D 3.5 - 7/2) = 0,
# so d has no similar item at all: eq. 4 is 0/0 and the prediction falls back to d's mean,
# 7/2, flagged "no_neighbors" (plain or centred, any norms).
P_ITEM_ADJUSTED = 7 / 2


@pytest.mark.parametrize(("params", "exact", "f32_value", "n_neighbors"), [
    ({"center": False, "min_support": 1, "shrinkage": 0.0}, P_ITEM_COSINE, P_ITEM_COSINE_F32,
     2),
    ({"center": True, "min_support": 1, "shrinkage": 0.0}, P_ITEM_COSINE_CENTRED,
     P_ITEM_COSINE_CENTRED_F32, 2),
    ({}, P_ITEM_COSINE_TUNED, P_ITEM_COSINE_TUNED_F32, 2),
    ({"center": False, "min_support": 1, "shrinkage": 0.0, "norms": "corated"},
     P_ITEM_COSINE_CORATED, P_ITEM_COSINE_CORATED, 2),
])
def test_item_based_eq4_cosine(table: InteractionDataset, params: dict, exact: float,
                               f32_value: float, n_neighbors: int) -> None:
    p = ItemKNN(k=3, similarity="cosine", **params).fit(table).predict_one("C", "d")
    assert p.value == pytest.approx(f32_value, abs=F32)
    assert p.value == pytest.approx(exact, abs=CLOSED)
    assert p.n_neighbors == n_neighbors and p.fallback is None
    nbrs = p.details["neighbors"]
    assert {nb["item"]: nb["rating"] for nb in nbrs} == {"b": 3.5, "e": 3.0}
    terms = sum(nb["contribution"] for nb in nbrs)
    assert p.details.get("item_mean", 0.0) + terms == pytest.approx(p.value, abs=EXACT)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("norms", [None, "full", "corated"])
def test_item_based_eq4_adjusted_cosine(table: InteractionDataset, center: bool,
                                        norms: str | None) -> None:
    model = ItemKNN(k=3, similarity="adjusted_cosine", min_support=1, shrinkage=0.0,
                    center=center, norms=norms).fit(table)
    p = model.predict_one("C", "d")
    assert p.value == P_ITEM_ADJUSTED
    assert (p.fallback, p.fallback_to, p.n_neighbors) == ("no_neighbors", "item_mean", 0)
    assert p.details["neighbors"] == []


# -- the paper's decision, recommendItem -----------------------------------------------------------
# Threshold: "greater than 6" on the paper's (and its source code's) 1..10 scale. Table 1's
# ratings stop at 4.5, so taken as printed nothing is ever recommended; the default maps 6 of
# 1..10 onto the data's scale: 1 + (6 - 1)/(10 - 1) * (5 - 1) = 29/9 = 3.2222 on 1..5.
#   user_cosine 3.25 > 29/9, user_pearson 3.25 > 29/9, item_cosine 3.343989 > 29/9,
#   item_adjusted_cosine 3.5 (d's mean, no neighbours) > 29/9: all four recommend d to C.
THRESHOLD = 29 / 9
DECISIONS = {
    "user_cosine": P_USER,
    "user_pearson": P_USER,
    "item_cosine": P_ITEM_COSINE_F32,
    "item_adjusted_cosine": P_ITEM_ADJUSTED,
}


@pytest.mark.parametrize(("method", "value"), DECISIONS.items())
def test_recommend_item_the_four_methods(table: InteractionDataset, method: str,
                                         value: float) -> None:
    cf = PaperCF(table, k=3, **PLAIN_FORMULAS)
    d = cf.recommend_item("C", "d", method=method)
    assert d.threshold == pytest.approx(THRESHOLD, abs=EXACT)
    assert d.prediction.value == pytest.approx(value, abs=F32)
    assert d.recommend is True
    assert f"exceeds the threshold {THRESHOLD:.3g}" in d.reason
    if method == "item_adjusted_cosine":
        assert "no_neighbors: fell back to item_mean" in d.reason
    # the module-level function with data= reaches the same plain formulas
    same = recommend_item("C", "d", method, data=table, k=3, **PLAIN_FORMULAS)
    assert same == d
    # the paper's threshold as printed, 6: nothing on Table 1 gets there
    raw = cf.recommend_item("C", "d", method=method, threshold=6)
    assert raw.recommend is False and raw.threshold == 6.0
    assert "does not exceed the threshold 6" in raw.reason
    # an item C rated is never recommended
    rated = cf.recommend_item("C", "b", method=method, threshold=0)
    assert rated.recommend is False and rated.reason == "user 'C' has already rated item 'b' (3.5)"


def test_recommend_item_tuned_defaults_differ_for_item_cosine(table: InteractionDataset) -> None:
    # with the tuned defaults (centred eq. 4, shrinkage 100), item cosine predicts 3.197723,
    # under 29/9 = 3.2222: not recommended; the other three methods still recommend d
    cf = PaperCF(table, k=3)
    d = cf.recommend_item("C", "d", "item_cosine")
    assert d.prediction.value == pytest.approx(P_ITEM_COSINE_TUNED_F32, abs=F32)
    assert d.recommend is False
    assert recommend_item("C", "d", "item_cosine", data=table, k=3) == d
    for method in ("user_cosine", "user_pearson", "item_adjusted_cosine"):
        assert cf.recommend_item("C", "d", method).recommend is True


@pytest.mark.parametrize(("scale", "threshold", "recommend"), [
    ((1, 5), 29 / 9, True),  # 1..5: 3.2222
    ((0.5, 5), 3.0, True),  # half stars from 0.5: 0.5 + 5/9 * 4.5 = 3
    ((3, 4.5), 23 / 6, False),  # the file's own lowest and highest: 3 + 5/9 * 3/2 = 23/6
])
def test_threshold_follows_the_rating_scale(scale: tuple[float, float], threshold: float,
                                            recommend: bool) -> None:
    ds = read_interactions(CSV, rating_scale=scale)
    d = recommend_item("C", "d", "user_cosine", data=ds, k=3, **PLAIN_FORMULAS)
    assert d.threshold == pytest.approx(threshold, abs=EXACT)
    assert d.prediction.value == pytest.approx(P_USER, abs=EXACT)
    assert d.recommend is recommend
