"""Known answers of UserKNN (eq. 3) and ItemKNN (eq. 4) on the second, invented example.

NOT the paper's Table 1 (see ``test_paper_table1_models.py`` for it). The table and its
hand-computed similarities come from ``tests/similarity/test_second_example.py`` (four users
A-D rating five items on a 1-10 scale, 0 = unrated):

======  ======  ======  ======  ======  ======
user    item 1  item 2  item 3  item 4  item 5
======  ======  ======  ======  ======  ======
A       8       3       .       9       6
B       9       .       4       8       7
C       2       8       7       .       3
D       6       4       .       .       5
======  ======  ======  ======  ======  ======

User means (over all of a user's ratings): A 13/2, B 7, C 5, D 5. Item means: item 1 25/4,
item 2 5, item 3 11/2, item 4 17/2, item 5 21/4. The models run with the paper's plain formulas
(``min_support=1``, ``shrinkage=0``, ``center=False``) and ``k`` large enough to use every
neighbour, unless a test says otherwise. Every expected value is written out below as the
arithmetic of the formula; the decimals in the comments are rounded.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import ItemKNN, PaperCF, UserKNN, recommend_item
from synerec.data import InteractionDataset
from tests.similarity.test_second_example import ITEM_COSINE, TABLE, USER_COSINE, USER_PEARSON

A, B, C, D = range(4)
TOL = 1e-6
PLAIN = {"min_support": 1, "shrinkage": 0.0}


@pytest.fixture(scope="module")
def table() -> InteractionDataset:
    rows = [("ABCD"[u], f"item{i + 1}", float(TABLE[u, i]))
            for u in range(4) for i in range(5) if TABLE[u, i] > 0]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 10), name="second-example")


def w_item(i: int, j: int) -> float:
    """Hand-computed item cosine of items i and j (1-based, as in the table's header)."""
    a, b = sorted((i - 1, j - 1))
    return ITEM_COSINE[(a, b)]


# -- eq. 3, user-based -----------------------------------------------------------------------------

# A, item 3: the raters of item 3 are B (4) and C (7).
#   cosine: p = 13/2 + (w_AB (4 - 7) + w_AC (7 - 5)) / (w_AB + w_AC)
#         = 13/2 + (-3 * 0.931163 + 2 * 0.374859) / (0.931163 + 0.374859) = 4.935117
P_A3_USER_COSINE = 13 / 2 + (-3 * USER_COSINE[B] + 2 * USER_COSINE[C]) / (
    USER_COSINE[B] + USER_COSINE[C])
#   pearson: w_AB = 11/sqrt(175), w_AC = -28/sqrt(1298) (negative: |w| in the denominator)
#         = 13/2 + (-3 * 0.831522 + 2 * -0.777180) / (0.831522 + 0.777180) = 3.983111
P_A3_USER_PEARSON = 13 / 2 + (-3 * USER_PEARSON[B] + 2 * USER_PEARSON[C]) / (
    USER_PEARSON[B] + abs(USER_PEARSON[C]))
#   pearson, k = 1: B (0.832) is more similar than C (-0.777): 13/2 + (4 - 7) * w / |w| = 7/2
P_A3_USER_PEARSON_K1 = 7 / 2

# D, item 4: the raters of item 4 are A (9) and B (8).
#   cosine: w_DA = 90/sqrt(190 * 77); D.B = 6*9 + 5*7 = 89, w_DB = 89/sqrt(77 * 210)
#         p = 5 + (w_DA (9 - 13/2) + w_DB (8 - 7)) / (w_DA + w_DB)
#           = 5 + (5/2 * 0.744084 + 0.699897) / (0.744084 + 0.699897) = 6.772964
W_DB_COSINE = 89 / sqrt(77 * 210)
P_D4_USER_COSINE = 5 + (5 / 2 * USER_COSINE[D] + W_DB_COSINE) / (USER_COSINE[D] + W_DB_COSINE)
#   pearson: D and B co-rate items 1 and 5; centred D = (1, 0), B = (2, 0): w_DB = 2/sqrt(1*4) = 1
#         p = 5 + (5/2 * 10/sqrt(118) + 1 * 1) / (10/sqrt(118) + 1) = 6.718983
P_D4_USER_PEARSON = 5 + (5 / 2 * USER_PEARSON[D] + 1.0) / (USER_PEARSON[D] + 1.0)


@pytest.mark.parametrize(("similarity", "user", "item", "expected", "n_neighbors"), [
    ("cosine", "A", "item3", P_A3_USER_COSINE, 2),
    ("pearson", "A", "item3", P_A3_USER_PEARSON, 2),
    ("cosine", "D", "item4", P_D4_USER_COSINE, 2),
    ("pearson", "D", "item4", P_D4_USER_PEARSON, 2),
])
def test_user_based_eq3(table: InteractionDataset, similarity: str, user: str, item: str,
                        expected: float, n_neighbors: int) -> None:
    model = UserKNN(similarity=similarity, **PLAIN).fit(table)
    p = model.predict_one(user, item)
    assert p.value == pytest.approx(expected, abs=TOL)
    assert p.n_neighbors == n_neighbors and p.fallback is None
    # the explanation's terms add up to the prediction
    terms = sum(nb["contribution"] for nb in p.details["neighbors"])
    assert p.details["user_mean"] + terms == pytest.approx(expected, abs=TOL)


def test_signed_denominator_as_printed(table: InteractionDataset) -> None:
    # eq. 3 as printed divides by sum w, not sum |w|. With the negative w_AC the sum nearly
    # cancels: 13/2 + (-3 w_AB + 2 w_AC) / (w_AB + w_AC)
    #   = 6.5 + (-2.494566 - 1.554360) / (0.831522 - 0.777180) = 6.5 - 74.509 = -68.01,
    # clipped to 1 (the sum |w| form gives 3.98). Cosine weights are never negative on
    # ratings, so for cosine the two forms agree.
    signed = 13 / 2 + (-3 * USER_PEARSON[B] + 2 * USER_PEARSON[C]) / (
        USER_PEARSON[B] + USER_PEARSON[C])
    model = UserKNN(similarity="pearson", denominator="signed", **PLAIN).fit(table)
    p = model.predict_one("A", "item3")
    assert p.raw_value == pytest.approx(signed, rel=1e-5)  # float32 weights, a near-0 sum
    assert p.value == 1.0 and p.clipped
    cosine = UserKNN(similarity="cosine", denominator="signed", **PLAIN).fit(table)
    assert cosine.predict_one("A", "item3").value == pytest.approx(P_A3_USER_COSINE, abs=TOL)


def test_user_based_k_limits_the_neighbours(table: InteractionDataset) -> None:
    model = UserKNN(similarity="pearson", k=1, **PLAIN).fit(table)
    p = model.predict_one("A", "item3")
    assert p.value == pytest.approx(P_A3_USER_PEARSON_K1, abs=TOL)
    assert p.n_neighbors == 1
    assert [nb["user"] for nb in p.details["neighbors"]] == ["B"]
    assert p.details["neighbors"][0]["rating"] == 4.0


def test_user_based_explanation_on_the_table(table: InteractionDataset) -> None:
    p = UserKNN(similarity="pearson", **PLAIN).fit(table).predict_one("A", "item3")
    nbrs = p.details["neighbors"]
    # contributions: B: 0.831522 * (4 - 7) / 1.608702 = -1.550688,
    #                C: -0.777180 * (7 - 5) / 1.608702 = -0.966202 -> B first (larger |.|)
    den = USER_PEARSON[B] + abs(USER_PEARSON[C])
    assert [nb["user"] for nb in nbrs] == ["B", "C"]
    assert nbrs[0]["similarity"] == pytest.approx(USER_PEARSON[B], abs=TOL)
    assert nbrs[0]["contribution"] == pytest.approx(-3 * USER_PEARSON[B] / den, abs=TOL)
    assert nbrs[1]["contribution"] == pytest.approx(2 * USER_PEARSON[C] / den, abs=TOL)
    assert nbrs[1]["mean"] == 5.0 and nbrs[1]["rating"] == 7.0


# -- eq. 4, item-based -----------------------------------------------------------------------------

# A, item 3: A rated item 1 = 8, item 2 = 3, item 4 = 9, item 5 = 6.
#   cosine: w(3,1) = 50/sqrt(185*65), w(3,2) = 56/sqrt(89*65), w(3,4) = 32/sqrt(65*145),
#           w(3,5) = 49/sqrt(65*119)
#   p = (8 w31 + 3 w32 + 9 w34 + 6 w35) / (w31 + w32 + w34 + w35)
#     = (8*0.455961 + 3*0.736264 + 9*0.329617 + 6*0.557149) / 2.078991 = 5.851840
P_A3_ITEM_COSINE = (8 * w_item(3, 1) + 3 * w_item(3, 2) + 9 * w_item(3, 4) + 6 * w_item(3, 5)) / (
    w_item(3, 1) + w_item(3, 2) + w_item(3, 4) + w_item(3, 5))
#   k = 2: the two items most similar to item 3 among A's are item 2 (0.736) and item 5 (0.557)
#   p = (3 w32 + 6 w35) / (w32 + w35) = 4.292311
P_A3_ITEM_COSINE_K2 = (3 * w_item(3, 2) + 6 * w_item(3, 5)) / (w_item(3, 2) + w_item(3, 5))
# B, item 2: B rated item 1 = 9, item 3 = 4, item 4 = 8, item 5 = 7.
#   p = (9 w21 + 4 w23 + 8 w24 + 7 w25) / (w21 + w23 + w24 + w25)
#     = (9*0.498766 + 4*0.736264 + 8*0.237676 + 7*0.602455) / 2.075161 = 6.530842
P_B2_ITEM_COSINE = (9 * w_item(2, 1) + 4 * w_item(2, 3) + 8 * w_item(2, 4) + 7 * w_item(2, 5)) / (
    w_item(2, 1) + w_item(2, 3) + w_item(2, 4) + w_item(2, 5))

# Adjusted cosine, ratings centred by their user's mean: centred item 4 = (A 5/2, B 1),
# item 1 = (A 3/2, B 2, C -3, D 1), item 2 = (A -7/2, C 3, D -1), item 5 = (A -1/2, B 0, C -2, D 0).
#   acos(4,1): co-raters A, B: (5/2*3/2 + 1*2) / sqrt((25/4 + 1)(9/4 + 4)) = 23 / (5 sqrt(29))
#   acos(4,2): co-rater A only: (5/2 * -7/2) / sqrt(25/4 * 49/4) = -1
#   acos(4,5): co-raters A, B: (5/2 * -1/2 + 0) / sqrt(29/4 * 1/4) = -5 / sqrt(29)
W41, W42, W45 = 23 / (5 * sqrt(29)), -1.0, -5 / sqrt(29)
# D, item 4 (D rated item 1 = 6, item 2 = 4, item 5 = 5), plain eq. 4:
#   p = (6 W41 + 4 W42 + 5 W45) / (|W41| + |W42| + |W45|)
#     = (5.125178 - 4 - 4.642383) / 2.782673 = -1.263965 -> clipped to 1 on the 1..10 scale
DEN_D4 = abs(W41) + abs(W42) + abs(W45)
P_D4_ITEM_ADJUSTED = (6 * W41 + 4 * W42 + 5 * W45) / DEN_D4
#   centred: 17/2 + (W41 (6 - 25/4) + W42 (4 - 5) + W45 (5 - 21/4)) / DEN_D4
#     = 8.5 + (-0.213549 + 1 + 0.232119) / 2.782673 = 8.866040
P_D4_ITEM_ADJUSTED_CENTRED = 17 / 2 + (W41 * -1 / 4 + W42 * -1 + W45 * -1 / 4) / DEN_D4


@pytest.mark.parametrize(("user", "item", "k", "expected", "n_neighbors"), [
    ("A", "item3", 40, P_A3_ITEM_COSINE, 4),
    ("A", "item3", 2, P_A3_ITEM_COSINE_K2, 2),
    ("B", "item2", 40, P_B2_ITEM_COSINE, 4),
])
def test_item_based_eq4_cosine(table: InteractionDataset, user: str, item: str, k: int,
                               expected: float, n_neighbors: int) -> None:
    model = ItemKNN(similarity="cosine", k=k, center=False, **PLAIN).fit(table)
    p = model.predict_one(user, item)
    assert p.value == pytest.approx(expected, abs=TOL)
    assert p.n_neighbors == n_neighbors
    terms = sum(nb["contribution"] for nb in p.details["neighbors"])
    assert terms == pytest.approx(expected, abs=TOL)


def test_item_based_eq4_adjusted_cosine(table: InteractionDataset) -> None:
    model = ItemKNN(similarity="adjusted_cosine", center=False, **PLAIN).fit(table)
    p = model.predict_one("D", "item4")
    assert p.raw_value == pytest.approx(P_D4_ITEM_ADJUSTED, abs=TOL)
    assert p.value == 1.0 and p.clipped
    assert p.n_neighbors == 3
    sims = {nb["item"]: nb["similarity"] for nb in p.details["neighbors"]}
    assert sims == pytest.approx({"item1": W41, "item2": W42, "item5": W45}, abs=TOL)
    centred = ItemKNN(similarity="adjusted_cosine", center=True, **PLAIN).fit(table)
    p = centred.predict_one("D", "item4")
    assert p.value == pytest.approx(P_D4_ITEM_ADJUSTED_CENTRED, abs=TOL)
    assert p.details["item_mean"] == 17 / 2


def test_top_n_by_similarity_sum(table: InteractionDataset) -> None:
    # A's only unrated item is item 3, rated by B and C, both among A's nearest users:
    # score = w(A,B) + w(A,C) = 186 / sqrt(190 * 210) + 58 / sqrt(190 * 126)
    ids, scores = UserKNN(similarity="cosine", **PLAIN).fit(table).recommend(["A"], n=2)
    assert ids[0].tolist() == ["item3", None]
    assert scores[0, 0] == pytest.approx(186 / sqrt(190 * 210) + 58 / sqrt(190 * 126),
                                         abs=1e-5)


def test_top_n_scores_are_the_predictions(table: InteractionDataset) -> None:
    # With ranking="prediction" the top-N score of an item is its eq. 3 / eq. 4 prediction.
    # A's only unrated item is item 3; with cosine every user is a neighbour of every user
    plain = {**PLAIN, "ranking": "prediction"}
    ids, scores = UserKNN(similarity="cosine", **plain).fit(table).recommend(["A", "D"], n=2)
    assert ids[0].tolist() == ["item3", None]
    assert scores[0, 0] == pytest.approx(P_A3_USER_COSINE, abs=1e-5)  # float32 scores
    assert ids[1].tolist() == ["item4", "item3"]  # 6.77 > D's prediction for item 3
    assert scores[1, 0] == pytest.approx(P_D4_USER_COSINE, abs=1e-5)
    ids, scores = ItemKNN(similarity="cosine", center=False, **plain).fit(table).recommend(
        ["B"], n=3)
    assert ids[0].tolist() == ["item2", None, None]
    assert scores[0, 0] == pytest.approx(P_B2_ITEM_COSINE, abs=1e-5)


# -- the paper's decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "user", "item", "value", "recommend"), [
    ("user_cosine", "D", "item4", P_D4_USER_COSINE, True),  # 6.77 > 6
    ("user_cosine", "A", "item3", P_A3_USER_COSINE, False),  # 4.94
    ("user_pearson", "D", "item4", P_D4_USER_PEARSON, True),  # 6.72 > 6
    ("user_pearson", "A", "item3", P_A3_USER_PEARSON, False),  # 3.98
    ("item_cosine", "B", "item2", P_B2_ITEM_COSINE, True),  # 6.53 > 6
    ("item_cosine", "A", "item3", P_A3_ITEM_COSINE, False),  # 5.85
    ("item_adjusted_cosine", "D", "item4", 1.0, False),  # -1.26, clipped to 1
])
def test_recommend_item_decisions(table: InteractionDataset, method: str, user: str, item: str,
                                  value: float, recommend: bool) -> None:
    cf = PaperCF(table, k=40, center=False, **PLAIN)
    d = cf.recommend_item(user, item, method=method)
    assert d.threshold == pytest.approx(6.0)  # 6 on the 1..10 scale
    assert d.prediction.value == pytest.approx(value, abs=TOL)
    assert d.recommend is recommend
    assert ("exceeds the threshold" in d.reason) is recommend
    same = recommend_item(user, item, method, data=cf)
    assert same.recommend is recommend and same.prediction == d.prediction


@pytest.mark.parametrize("method", ["user_cosine", "user_pearson", "item_cosine",
                                    "item_adjusted_cosine"])
def test_already_rated_is_never_recommended(table: InteractionDataset, method: str) -> None:
    cf = PaperCF(table, k=40, center=False, **PLAIN)
    d = cf.recommend_item("A", "item4", method=method)  # A rated item 4 with a 9
    assert not d.recommend
    assert d.reason == "user 'A' has already rated item 'item4' (9)"
    # even with a threshold below every prediction
    assert not cf.recommend_item("A", "item4", method=method, threshold=-100).recommend


def test_threshold_is_strict(table: InteractionDataset) -> None:
    cf = PaperCF(table, k=40, center=False, **PLAIN)
    value = cf.recommend_item("D", "item4", "user_cosine").prediction.value
    assert not cf.recommend_item("D", "item4", "user_cosine", threshold=value).recommend
    assert cf.recommend_item("D", "item4", "user_cosine", threshold=value - 1e-9).recommend
    assert np.isclose(value, P_D4_USER_COSINE)
