"""item_audience and audience_hits: hand-computed on a small matrix with given embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms.audience import (
    audience_hits,
    item_audience,
    most_active_users,
)
from synerec.exceptions import ConfigError
from synerec.models import create_model

# 4 items: 0 and 1 alike, 2 and 3 alike; item 3 has no interactions (a new product).
E = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.28, 0.96]], dtype=np.float32)
X = sp.csr_matrix(np.array([
    [1, 1, 0, 0],   # user 0: items 0 and 1
    [0, 0, 1, 0],   # user 1: item 2
    [1, 0, 1, 0],   # user 2: items 0 and 2
    [0, 1, 0, 0],   # user 3: item 1
], dtype=np.float32))


def _text_knn():
    return create_model("text-knn", center_text=False, positive_threshold=None).fit(
        X, item_embeddings=E)


def test_the_new_item_ranks_users_by_their_items_text() -> None:
    m = _text_knn()
    users, scores = item_audience(m, 3, n=4)
    # mean cosine of item 3 with each user's items, by hand
    cos = E @ E[3]
    expected = {0: (cos[0] + cos[1]) / 2, 1: cos[2], 2: (cos[0] + cos[2]) / 2, 3: cos[1]}
    order = sorted(expected, key=lambda u: (-expected[u], u))
    assert users.tolist() == order
    np.testing.assert_allclose(scores, [expected[u] for u in order], rtol=1e-5)
    assert item_audience(m, 3, n=2)[0].tolist() == order[:2]


def test_owners_are_left_out_unless_asked() -> None:
    m = _text_knn()
    assert 1 not in item_audience(m, 2, n=4)[0].tolist()
    assert 2 not in item_audience(m, 2, n=4)[0].tolist()
    assert set(item_audience(m, 2, n=4, exclude_seen=False)[0].tolist()) == {0, 1, 2, 3}


def test_a_model_without_cold_scores_cannot_rank_a_new_item() -> None:
    pop = create_model("popularity").fit(X)
    with pytest.raises(ConfigError, match="cannot rank item"):
        item_audience(pop, 3)
    assert len(item_audience(pop, 0, n=4)[0]) == 2  # users 1 and 3 have not bought item 0
    for bad in (0, -1, True):
        with pytest.raises(ConfigError, match="audience size"):
            item_audience(pop, 0, n=bad)
    with pytest.raises(ConfigError, match="item must be"):
        item_audience(pop, 4)


def test_hits_against_later_buyers() -> None:
    m = _text_knn()
    assert most_active_users(m, 2).tolist() == [0, 2]
    h = audience_hits({3: np.array([0, 3]), 2: np.array([1, 3])},
                      {3: np.array([0, 1, 0]), 2: np.array([3])}, np.array([0, 2]), 4)
    assert (h.n_items, h.buyers, h.hits, h.active_hits) == (2, 3, 2, 1)
    assert h.random_hits == pytest.approx(3 * 2 / 4) and h.share(h.hits) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="one size"):
        audience_hits({3: np.array([0])}, {3: np.array([0])}, np.array([0, 1]), 4)
    with pytest.raises(ConfigError, match="no audience"):
        audience_hits({3: np.array([0])}, {2: np.array([0])}, np.array([1]), 4)
