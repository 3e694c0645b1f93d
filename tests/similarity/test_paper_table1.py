"""Known answers on the paper's own Table 1: users A-D, items a-e (0 = not rated).

From ``shared/paper/paper.txt`` ("Fable 1" in the OCR is Table 1; its header's ``Type1 ..
type5`` are the items a..e, the Cyrillic "А", "В", "С" are the users A, B, C):

======  ======  ======  ======  ======  ======
user    a       b       c       d       e
======  ======  ======  ======  ======  ======
A       3.0     4.0     .       3.5     .
B       4.0     .       4.5     .       3.5
C       .       3.5     .       .       3.0
D       .       4.0     .       3.5     3.0
======  ======  ======  ======  ======  ======

The paper predicts "user 3's rating for item 4", C's rating of d, from the three users most
similar to C by the cosine (eq. 1); ``tests/algorithms/test_paper_table1_models.py`` does the
predictions. Here: the similarities of C to A, B and D (eqs. 1 and 2, both readings of each)
and of item d to the items C rated.

Every expected value was worked out by hand (the arithmetic is in the comments, as fractions
and square roots), not by the code under test. Similarities are stored as float32, so each is
checked to be the float32 nearest to the closed form: within one float32 ulp.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.similarity import similarity_matrix, top_neighbors

A, B, C, D = range(4)
a, b, c, d, e = range(5)
TABLE = np.array(
    [
        [3.0, 4.0, 0.0, 3.5, 0.0],
        [4.0, 0.0, 4.5, 0.0, 3.5],
        [0.0, 3.5, 0.0, 0.0, 3.0],
        [0.0, 4.0, 0.0, 3.5, 3.0],
    ],
    dtype=np.float32,
)


def assert_float32_of(value: float, exact: float) -> None:
    """``value`` (a stored float32) is the float32 rounding of ``exact``, to one ulp."""
    ulp = float(np.spacing(np.float32(abs(exact)))) if exact else 1e-12
    assert abs(float(value) - exact) <= ulp, (float(value), exact)


# -- eq. 1, cosine, as printed: sums over all five items, a 0 counting as a 0 -------------------
#   |C|^2 = 3.5^2 + 3^2 = 85/4         |A|^2 = 3^2 + 4^2 + 3.5^2 = 149/4
#   |B|^2 = 4^2 + 4.5^2 + 3.5^2 = 97/2  |D|^2 = 4^2 + 3.5^2 + 3^2 = 149/4
#   C.A = 3.5*4 (b) = 14;  C.B = 3*3.5 (e) = 21/2;  C.D = 3.5*4 (b) + 3*3 (e) = 23
USER_COSINE = {
    A: 14 / sqrt(85 / 4 * 149 / 4),  # = 56 / sqrt(12665) = 0.497605
    B: (21 / 2) / sqrt(85 / 4 * 97 / 2),  # = 21 / sqrt(8245 / 2) = 0.327067
    D: 23 / sqrt(85 / 4 * 149 / 4),  # = 92 / sqrt(12665) = 0.817495
}
# -- eq. 1 over the co-rated items only (norms="corated": a 0 is "not rated") --------------------
#   C, A share b only: 14 / (3.5 * 4) = 1;  C, B share e only: 10.5 / (3 * 3.5) = 1
#   C, D share b and e: 23 / sqrt((3.5^2 + 3^2)(4^2 + 3^2)) = 23 / sqrt(85/4 * 25)
#                                                           = 46 / (5 sqrt 85)
USER_COSINE_CORATED = {A: 1.0, B: 1.0, D: 46 / (5 * sqrt(85))}  # D: 0.997881

# -- eq. 2, Pearson, over the co-rated items, each user centred by the mean of all their ratings
#   means: A (3 + 4 + 3.5)/3 = 7/2, B (4 + 4.5 + 3.5)/3 = 4, C (3.5 + 3)/2 = 13/4, D 7/2
#   centred: A (a -1/2, b 1/2, d 0), B (a 0, c 1/2, e -1/2), C (b 1/4, e -1/4),
#            D (b 1/2, d 0, e -1/2)
#   C, A on {b}: (1/4)(1/2) / sqrt((1/4)^2 (1/2)^2) = 1
#   C, B on {e}: (-1/4)(-1/2) / sqrt((1/4)^2 (1/2)^2) = 1
#   C, D on {b, e}: (1/8 + 1/8) / sqrt((1/16 + 1/16)(1/4 + 1/4)) = (1/4) / (1/4) = 1
# Table 1 cannot tell the three apart: each pair's centred co-ratings are proportional.
USER_PEARSON = {A: 1.0, B: 1.0, D: 1.0}
# -- the same, norms="full": each denominator over the user's own centred ratings ---------------
#   sums of squares: A 1/4 + 1/4 + 0 = 1/2, B 1/2, C 1/16 + 1/16 = 1/8, D 1/2
#   C, A: (1/8) / sqrt(1/8 * 1/2) = (1/8) / (1/4) = 1/2;  C, B: 1/2;  C, D: (1/4) / (1/4) = 1
USER_PEARSON_FULL = {A: 0.5, B: 0.5, D: 1.0}

# -- items: cosine of d with the items (columns over the users A, B, C, D) --------------------
#   d = (3.5, 0, 0, 3.5) |d|^2 = 49/2;  b = (4, 0, 3.5, 4) |b|^2 = 177/4
#   e = (0, 3.5, 3, 3) |e|^2 = 121/4;   a = (3, 4, 0, 0) |a|^2 = 25;  c = (0, 4.5, 0, 0)
#   d.b = 3.5*4 + 3.5*4 = 28:  28 / sqrt(49/2 * 177/4) = 28 * 2 sqrt 2 / (7 sqrt 177)
#                                                     = 8 sqrt(2/177)
#   d.e = 3.5*3 = 21/2:        (21/2) / sqrt(49/2 * 121/4) = (21/2) 2 sqrt 2 / 77 = 3 sqrt 2 / 11
#   d.a = 3.5*3 = 21/2:        (21/2) / sqrt(49/2 * 25) = (21/2) sqrt 2 / 35 = 3 sqrt 2 / 10
#   d.c = 0: no similarity
ITEM_COSINE_D = {b: 8 * sqrt(2 / 177), e: 3 * sqrt(2) / 11, a: 3 * sqrt(2) / 10}
# b: 0.850390, e: 0.385695, a: 0.424264
# co-rated: d, b share A and D: (3.5, 3.5) vs (4, 4), proportional: 1; d, e share D only: 1;
# d, a share A only: 1
ITEM_COSINE_D_CORATED = {b: 1.0, e: 1.0, a: 1.0}


@pytest.fixture()
def ratings() -> sp.csr_matrix:
    return sp.csr_matrix(TABLE)


@pytest.mark.parametrize(("method", "norms", "expected"), [
    ("cosine", None, USER_COSINE),
    ("cosine", "full", USER_COSINE),
    ("cosine", "corated", USER_COSINE_CORATED),
    ("pearson", None, USER_PEARSON),
    ("pearson", "corated", USER_PEARSON),
    ("pearson", "full", USER_PEARSON_FULL),
])
def test_similarities_of_c(ratings: sp.csr_matrix, method: str, norms: str | None,
                           expected: dict[int, float]) -> None:
    S = similarity_matrix(ratings, method, max_neighbors=10, norms=norms).toarray()
    for other, value in expected.items():
        assert_float32_of(S[C, other], value)
        assert S[other, C] == S[C, other]
    assert S[C, C] == 0


def test_the_three_users_most_similar_to_c(ratings: sp.csr_matrix) -> None:
    # "we find three users who are most similar to user 3": by eq. 1, D 0.817 > A 0.498 > B 0.327
    idx, sims = top_neighbors(similarity_matrix(ratings, "cosine"), C, 3)
    assert idx.tolist() == [D, A, B]
    for j, s in zip(idx, sims, strict=True):
        assert_float32_of(s, USER_COSINE[int(j)])
    # with min_support=2 (UserKNN's tuned default) only D shares two rated items with C
    S2 = similarity_matrix(ratings, "cosine", min_support=2)
    assert top_neighbors(S2, C, 3)[0].tolist() == [D]
    # shrinkage 50 with n = 2 co-rated items multiplies by 2/52
    S = similarity_matrix(ratings, "cosine", min_support=2, shrinkage=50.0)
    assert_float32_of(S[C, D], USER_COSINE[D] * 2 / 52)


@pytest.mark.parametrize(("norms", "expected"), [(None, ITEM_COSINE_D),
                                                  ("corated", ITEM_COSINE_D_CORATED)])
def test_item_cosine_of_d(ratings: sp.csr_matrix, norms: str | None,
                          expected: dict[int, float]) -> None:
    S = similarity_matrix(ratings.T.tocsr(), "cosine", max_neighbors=10, norms=norms)
    row = S.getrow(d)
    assert sorted(row.indices.tolist()) == sorted(expected)  # c shares no rater with d
    for j, value in expected.items():
        assert_float32_of(S[d, j], value)


@pytest.mark.parametrize("norms", [None, "full", "corated"])
def test_adjusted_cosine_of_d_is_empty(ratings: sp.csr_matrix, norms: str | None) -> None:
    # d's raters are A and D, who both gave it 3.5, exactly their mean (7/2): centred by the
    # user's mean, d's column is all zeros, so its adjusted cosine with every item is 0/0,
    # taken as 0 and not stored.
    S = similarity_matrix(ratings.T.tocsr(), "adjusted_cosine", max_neighbors=10, norms=norms)
    assert S.getrow(d).nnz == 0 and S.getcol(d).nnz == 0
    # the other items do have neighbours: b and e, co-rated by C (1/4, -1/4) and D (1/2, -1/2)
    # -> (-1/16 - 1/4) / sqrt((1/16 + 1/4)(1/16 + 1/4)) = -1
    # (with norms="full", b's and e's sums of squares take in A's 1/4 and B's 1/4 as well:
    #  b: 1/4 + 1/16 + 1/4 = 9/16, e: 1/4 + 1/16 + 1/4 = 9/16 -> (-5/16) / (9/16) = -5/9)
    expected = -5 / 9 if norms == "full" else -1.0
    assert_float32_of(S[b, e], expected)
