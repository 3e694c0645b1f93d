"""Coverage, novelty, popularity bias and Gini: hand-computed answers, references, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError
from synerec.metrics import (
    average_recommendation_popularity,
    catalogue_coverage,
    category_coverage,
    gini_index,
    item_popularity,
    novelty,
)
from tests.conftest import require_dataset

# 6 items; user 2's list is all padding.
REC = np.array([[0, 1, -1], [1, 2, 3], [-1, -1, -1]])
CATEGORIES = [("Action", "Comedy"), ("Comedy",), "Drama|Action", (), ("Horror",), None]
POPULARITY = np.array([10, 5, 1, 2, 8, 0])


def test_catalogue_coverage_hand_computed() -> None:
    # items {0, 1, 2, 3} of 6
    assert catalogue_coverage(REC, 6) == pytest.approx(4 / 6)
    assert catalogue_coverage(np.full((2, 2), -1), 6) == 0.0
    with pytest.raises(ConfigError, match="outside the catalogue of 3"):
        catalogue_coverage(REC, 3)
    with pytest.raises(ConfigError, match="positive integer"):
        catalogue_coverage(REC, 0)


def test_category_coverage_hand_computed() -> None:
    # categories: Action, Comedy, Drama, Horror (4); items 0..3 carry Action, Comedy, Drama
    assert category_coverage(REC, CATEGORIES) == pytest.approx(3 / 4)
    # a catalogue of 6 categories, two of which no item carries: 3 / 6
    assert category_coverage(REC, CATEGORIES, n_categories=6) == pytest.approx(0.5)
    # the same as a sparse items x categories matrix (columns Action, Comedy, Drama, Horror)
    matrix = sp.csr_matrix(np.array([
        [1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0],
    ]))
    assert category_coverage(REC, matrix) == pytest.approx(3 / 4)
    assert category_coverage(REC, matrix, n_categories=8) == pytest.approx(3 / 8)
    # only item 4 (Horror): 1 / 4
    assert category_coverage(np.array([[4, -1]]), CATEGORIES) == pytest.approx(1 / 4)


def test_category_coverage_errors() -> None:
    with pytest.raises(ConfigError, match="below the 4 distinct"):
        category_coverage(REC, CATEGORIES, n_categories=3)
    with pytest.raises(ConfigError, match="outside the catalogue of 2"):
        category_coverage(REC, CATEGORIES[:2])
    with pytest.raises(ConfigError, match="no categories"):
        category_coverage(np.array([[0]]), [()])
    with pytest.raises(ConfigError, match="must be strings"):
        category_coverage(np.array([[0]]), [(1, 2)])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="sequence of per-item"):
        category_coverage(np.array([[0]]), "Action")


def test_novelty_hand_computed() -> None:
    # slots: items 0, 1 | 1, 2, 3; n_users = 10
    # -log2(10/10) = 0, -log2(5/10) = 1 (twice), -log2(1/10) = 3.321928, -log2(2/10) = 2.321928
    # mean = (0 + 1 + 1 + 3.321928 + 2.321928) / 5 = 7.643856 / 5 = 1.528771
    assert novelty(REC, POPULARITY, 10) == pytest.approx(1.528771, abs=1e-6)
    assert novelty(REC, POPULARITY, 10) == pytest.approx(
        (2 + math.log2(10) + math.log2(5)) / 5)
    with pytest.raises(ConfigError, match="item 5 has popularity 0"):
        novelty(np.array([[0, 5]]), POPULARITY, 10)
    with pytest.raises(ConfigError, match="more than n_users=9"):
        novelty(REC, POPULARITY, 9)
    with pytest.raises(ConfigError, match="undefined"):
        novelty(np.full((1, 2), -1), POPULARITY, 10)
    with pytest.raises(ConfigError, match="covers only 3 items"):
        novelty(REC, POPULARITY[:3], 10)


def test_arp_hand_computed() -> None:
    # user 0: (10 + 5) / 2 = 7.5; user 1: (5 + 1 + 2) / 3 = 8/3; user 2 (empty) is left out
    # ARP = (7.5 + 2.666667) / 2 = 5.083333
    assert average_recommendation_popularity(REC, POPULARITY) == pytest.approx(
        (7.5 + 8 / 3) / 2)
    with pytest.raises(ConfigError, match="non-negative"):
        average_recommendation_popularity(REC, -POPULARITY)


def test_gini_hand_computed() -> None:
    # counts per item: [1, 2, 1, 1, 0, 0] -> sorted [0, 0, 1, 1, 1, 2], total 5, n = 6
    # weights 2j - n - 1 = -5, -3, -1, 1, 3, 5 -> sum = -1 + 1 + 3 + 10 = 13 -> 13 / (6 * 5)
    assert gini_index(REC, 6) == pytest.approx(13 / 30)
    # one item takes everything: (n - 1) / n
    assert gini_index(np.array([[2], [2], [2]]), 4) == pytest.approx(3 / 4)
    # every item equally often: 0
    assert gini_index(np.array([[0, 1], [2, 3]]), 4) == 0.0
    with pytest.raises(ConfigError, match="undefined"):
        gini_index(np.full((2, 2), -1), 4)


def test_item_popularity() -> None:
    # stored zero at (1, 1) is no interaction: counts per column [2, 0, 2]
    m = sp.csr_matrix((np.array([1.0, 2.0, 0.0, 3.0, 4.0]),
                       (np.array([0, 0, 1, 1, 2]), np.array([0, 2, 1, 2, 0]))), shape=(3, 3))
    np.testing.assert_array_equal(item_popularity(m), [2, 0, 2])
    with pytest.raises(ConfigError, match="sparse"):
        item_popularity(m.toarray())  # type: ignore[arg-type]


def test_category_coverage_on_ml100k_genres(ml100k) -> None:  # type: ignore[no-untyped-def]
    # Reference straight from u.item: the last 19 fields are the genre flags of u.genre.
    folder = require_dataset("ml-100k", "u.item", "u.genre")
    genres = [line.split("|")[0] for line in
              (folder / "u.genre").read_text(encoding="latin-1").splitlines() if line]
    flags: dict[int, set[str]] = {}
    for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        flags[int(fields[0])] = {g for g, f in zip(genres, fields[-19:], strict=True) if f == "1"}
    rng = np.random.default_rng(7)
    rec = np.array([rng.choice(ml100k.n_items, size=3, replace=False) for _ in range(4)])
    expected = set().union(*(flags[int(ml100k.items.id(int(i)))] for i in rec.ravel()))
    got = category_coverage(rec, ml100k.item_categories())
    assert got == pytest.approx(len(expected) / len(genres))
    # every item recommended: every genre covered
    everything = np.arange(ml100k.n_items).reshape(1, -1)
    assert category_coverage(everything, ml100k.item_categories()) == 1.0
    assert catalogue_coverage(everything, ml100k.n_items) == 1.0


# ---------------------------------------------------------------------------------------------
# Hypothesis properties, against slow references
# ---------------------------------------------------------------------------------------------


@st.composite
def lists(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    n_items = draw(st.integers(1, 10))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, 6))
    rows = []
    for _ in range(n_users):
        order = draw(st.permutations(range(n_items)))
        length = draw(st.integers(0, min(width, n_items)))
        rows.append(list(order[:length]) + [-1] * (width - length))
    return np.array(rows, dtype=np.int64), n_items


category_names = st.sampled_from(["a", "b", "c", "d", "e"])


@settings(max_examples=100, deadline=None)
@given(lists(), st.data())
def test_coverage_properties(case: tuple, data: st.DataObject) -> None:
    rec, n_items = case
    items = {int(i) for i in rec.ravel() if i >= 0}
    cov = catalogue_coverage(rec, n_items)
    assert 0.0 <= cov <= 1.0
    assert cov == len(items) / n_items
    per_item = st.sets(category_names, max_size=3).map(lambda s: tuple(sorted(s)))
    cats = data.draw(st.lists(per_item, min_size=n_items, max_size=n_items))
    universe = set().union(*map(set, cats))
    if universe:
        covered = set().union(*(set(cats[i]) for i in items)) if items else set()
        ccov = category_coverage(rec, cats)
        assert 0.0 <= ccov <= 1.0
        assert ccov == pytest.approx(len(covered) / len(universe))
        # the same data as an items x categories matrix
        names = sorted(universe)
        m = sp.lil_matrix((n_items, len(names)))
        for i, c in enumerate(cats):
            for name in c:
                m[i, names.index(name)] = 1
        assert category_coverage(rec, m.tocsr()) == pytest.approx(ccov)
    # invariant to the order of users
    perm = data.draw(st.permutations(range(rec.shape[0])))
    assert catalogue_coverage(rec[list(perm)], n_items) == cov


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.integers(1, 5), st.randoms(use_true_random=False))
def test_every_item_recommended_gives_full_coverage(n_items: int, width: int, rnd) -> None:  # type: ignore[no-untyped-def]
    # Deal a shuffled catalogue into lists of `width`, padding the last one.
    order = list(range(n_items))
    rnd.shuffle(order)
    n_users = -(-n_items // width)
    flat = order + [-1] * (n_users * width - n_items)
    rec = np.array(flat).reshape(n_users, width)
    assert catalogue_coverage(rec, n_items) == 1.0
    cats = [(f"c{i % 3}",) for i in range(n_items)]
    assert category_coverage(rec, cats) == 1.0
    # each item exactly once: perfectly equal
    assert gini_index(rec, n_items) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(lists(), st.data())
def test_gini_novelty_arp_match_references(case: tuple, data: st.DataObject) -> None:
    rec, n_items = case
    slots = [int(i) for i in rec.ravel() if i >= 0]
    if not slots:
        return
    # Gini: mean absolute difference over all ordered pairs, / (2 * mean)
    counts = [slots.count(i) for i in range(n_items)]
    mean = sum(counts) / n_items
    pairwise = sum(abs(a - b) for a in counts for b in counts) / n_items**2
    g = gini_index(rec, n_items)
    assert g == pytest.approx(pairwise / (2 * mean), abs=1e-12)
    assert 0.0 <= g < 1.0
    n_users = data.draw(st.integers(1, 50))
    pop = np.array(data.draw(st.lists(st.integers(1, n_users), min_size=n_items,
                                      max_size=n_items)))
    nov = novelty(rec, pop, n_users)
    assert nov == pytest.approx(sum(math.log2(n_users / pop[i]) for i in slots) / len(slots))
    assert nov >= 0.0
    per_user = [[int(pop[i]) for i in row if i >= 0] for row in rec]
    arp = sum(sum(p) / len(p) for p in per_user if p) / sum(1 for p in per_user if p)
    assert average_recommendation_popularity(rec, pop) == pytest.approx(arp)
    # invariant to the order of users
    perm = list(data.draw(st.permutations(range(rec.shape[0]))))
    assert gini_index(rec[perm], n_items) == pytest.approx(g, abs=1e-12)
    assert novelty(rec[perm], pop, n_users) == pytest.approx(nov)
    assert average_recommendation_popularity(rec[perm], pop) == pytest.approx(arp)
