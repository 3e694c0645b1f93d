"""Known answers on a second, invented example: four users A-D rating five items on 1..10.

This is NOT the paper's Table 1 (that one is in ``test_paper_table1.py``, with the paper's own
values). It was built before the paper's text was at hand, with the same shape as Table 1 but
denser and on the 1..10 scale of the paper's "greater than 6" threshold, so that every
similarity and prediction below is non-trivial (on the paper's table several come out
degenerate: all Pearson correlations 1, eq. 3's deviations 0). 0 = unrated:

======  ======  ======  ======  ======  ======
user    item 1  item 2  item 3  item 4  item 5
======  ======  ======  ======  ======  ======
A       8       3       .       9       6
B       9       .       4       8       7
C       2       8       7       .       3
D       6       4       .       .       5
======  ======  ======  ======  ======  ======

Every expected value below was computed by hand (the arithmetic is in the comments, as
fractions), not by the code under test.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.similarity import similarity_matrix, top_neighbors

A, B, C, D = range(4)
TABLE = np.array(
    [
        [8, 3, 0, 9, 6],
        [9, 0, 4, 8, 7],
        [2, 8, 7, 0, 3],
        [6, 4, 0, 0, 5],
    ],
    dtype=np.float32,
)
TOL = 1e-6

# Squared norms of the user rows (eq. 1 uses the full vectors, unrated = 0):
#   |A|^2 = 64 + 9 + 81 + 36 = 190      |B|^2 = 81 + 16 + 64 + 49 = 210
#   |C|^2 = 4 + 64 + 49 + 9  = 126      |D|^2 = 36 + 16 + 25      = 77
USER_COSINE = {
    # A.B = 8*9 + 3*0 + 0*4 + 9*8 + 6*7 = 72 + 72 + 42 = 186
    B: 186 / sqrt(190 * 210),  # = 0.93116...
    # A.C = 8*2 + 3*8 + 0*7 + 9*0 + 6*3 = 16 + 24 + 18 = 58
    C: 58 / sqrt(190 * 126),  # = 0.37486...
    # A.D = 8*6 + 3*4 + 6*5 = 48 + 12 + 30 = 90
    D: 90 / sqrt(190 * 77),  # = 0.74408...
}

# Pearson (eq. 2): means over ALL of a user's ratings, sums over the co-rated items.
#   mean A = (8+3+9+6)/4 = 13/2 -> centred A = (3/2, -7/2, ., 5/2, -1/2)
#   mean B = (9+4+8+7)/4 = 7    -> centred B = (2, ., -3, 1, 0)
#   mean C = (2+8+7+3)/4 = 5    -> centred C = (-3, 3, 2, ., -2)
#   mean D = (6+4+5)/3   = 5    -> centred D = (1, -1, ., ., 0)
USER_PEARSON = {
    # co-rated {1, 4, 5}: num = 3/2*2 + 5/2*1 + (-1/2)*0 = 11/2
    #   sA = 9/4 + 25/4 + 1/4 = 35/4, sB = 4 + 1 + 0 = 5
    #   pcc = (11/2) / sqrt(35/4 * 5) = 11 / sqrt(175)
    B: 11 / sqrt(175),  # = 0.83152...
    # co-rated {1, 2, 5}: num = 3/2*(-3) + (-7/2)*3 + (-1/2)*(-2) = -9/2 - 21/2 + 1 = -14
    #   sA = 9/4 + 49/4 + 1/4 = 59/4, sC = 9 + 9 + 4 = 22
    #   pcc = -14 / sqrt(59/4 * 22) = -28 / sqrt(1298)
    C: -28 / sqrt(1298),  # = -0.77718...
    # co-rated {1, 2, 5}: num = 3/2*1 + (-7/2)*(-1) + (-1/2)*0 = 5
    #   sA = 59/4, sD = 1 + 1 + 0 = 2
    #   pcc = 5 / sqrt(59/4 * 2) = 10 / sqrt(118)
    D: 10 / sqrt(118),  # = 0.92057...
}

# Item-item cosine over the item columns (users A..D):
#   item1 = (8, 9, 2, 6) |.|^2 = 185     item2 = (3, 0, 8, 4) |.|^2 = 89
#   item3 = (0, 4, 7, 0) |.|^2 = 65      item4 = (9, 8, 0, 0) |.|^2 = 145
#   item5 = (6, 7, 3, 5) |.|^2 = 119
ITEM_COSINE = {
    (0, 1): 64 / sqrt(185 * 89),  # 24 + 0 + 16 + 24 = 64
    (0, 2): 50 / sqrt(185 * 65),  # 0 + 36 + 14 + 0 = 50
    (0, 3): 144 / sqrt(185 * 145),  # 72 + 72 = 144
    (0, 4): 147 / sqrt(185 * 119),  # 48 + 63 + 6 + 30 = 147
    (1, 2): 56 / sqrt(89 * 65),  # 0 + 0 + 56 + 0 = 56
    (1, 3): 27 / sqrt(89 * 145),  # 27 + 0 + 0 + 0 = 27
    (1, 4): 62 / sqrt(89 * 119),  # 18 + 0 + 24 + 20 = 62
    (2, 3): 32 / sqrt(65 * 145),  # 0 + 32 + 0 + 0 = 32
    (2, 4): 49 / sqrt(65 * 119),  # 0 + 28 + 21 + 0 = 49
    (3, 4): 110 / sqrt(145 * 119),  # 54 + 56 = 110
}

# Adjusted cosine (eq. 3) of items 1 and 5, rated by all four users; each rating centred by
# its user's mean (13/2, 7, 5, 5):
#   item1 -> (3/2, 2, -3, 1), item5 -> (-1/2, 0, -2, 0)
#   num = -3/4 + 0 + 6 + 0 = 21/4; s1 = 9/4 + 4 + 9 + 1 = 65/4; s5 = 1/4 + 0 + 4 + 0 = 17/4
#   acos = (21/4) / sqrt(65/4 * 17/4) = 21 / sqrt(1105)
ITEM_ADJUSTED_COSINE_1_5 = 21 / sqrt(1105)  # = 0.63174...


@pytest.fixture()
def ratings() -> sp.csr_matrix:
    return sp.csr_matrix(TABLE)


@pytest.mark.parametrize(("method", "expected"), [("cosine", USER_COSINE),
                                                  ("pearson", USER_PEARSON)])
def test_user_similarities_of_a(ratings: sp.csr_matrix, method: str,
                                expected: dict[int, float]) -> None:
    S = similarity_matrix(ratings, method, max_neighbors=10).toarray()
    for other, value in expected.items():
        assert S[A, other] == pytest.approx(value, abs=TOL)
        assert S[other, A] == pytest.approx(value, abs=TOL)
    assert S[A, A] == 0


def test_user_neighbour_order(ratings: sp.csr_matrix) -> None:
    # cosine: B 0.931 > D 0.744 > C 0.375; Pearson: D 0.921 > B 0.832 > C -0.777
    idx, sims = top_neighbors(similarity_matrix(ratings, "cosine"), A, 3)
    assert idx.tolist() == [B, D, C]
    np.testing.assert_allclose(sims, [USER_COSINE[B], USER_COSINE[D], USER_COSINE[C]], atol=TOL)
    idx, _ = top_neighbors(similarity_matrix(ratings, "pearson"), A, 3)
    assert idx.tolist() == [D, B, C]
    # C is anti-correlated with A: dropped with positive_only, and the top-1 keeps D only
    S = similarity_matrix(ratings, "pearson", positive_only=True)
    assert top_neighbors(S, A, 5)[0].tolist() == [D, B]
    S1 = similarity_matrix(ratings, "pearson", max_neighbors=1)
    assert S1[A].indices.tolist() == [D]


def test_item_cosine(ratings: sp.csr_matrix) -> None:
    S = similarity_matrix(ratings.T.tocsr(), "cosine", max_neighbors=10).toarray()
    assert S.shape == (5, 5)
    for (i, j), value in ITEM_COSINE.items():
        assert S[i, j] == pytest.approx(value, abs=TOL), (i, j)
        assert S[j, i] == pytest.approx(value, abs=TOL), (i, j)
    assert np.all(np.diag(S) == 0)


def test_item_adjusted_cosine(ratings: sp.csr_matrix) -> None:
    S = similarity_matrix(ratings.T.tocsr(), "adjusted_cosine", max_neighbors=10)
    assert S[0, 4] == pytest.approx(ITEM_ADJUSTED_COSINE_1_5, abs=TOL)
    assert S[4, 0] == pytest.approx(ITEM_ADJUSTED_COSINE_1_5, abs=TOL)


def test_support_and_shrinkage_on_the_table(ratings: sp.csr_matrix) -> None:
    # A and B share 3 rated items, A and D share 3, A and C share 3; B and D share 2 (items 1, 5)
    S = similarity_matrix(ratings, "cosine", min_support=3).toarray()
    assert S[B, D] == 0 and S[D, B] == 0
    assert S[A, B] == pytest.approx(USER_COSINE[B], abs=TOL)
    # shrinkage 1 with n = 3 common items multiplies by 3/4
    S = similarity_matrix(ratings, "pearson", shrinkage=1.0).toarray()
    assert S[A, D] == pytest.approx(USER_PEARSON[D] * 3 / 4, abs=TOL)
