"""The model's edge rules, public in :mod:`synerec.algorithms.recommending`, and the
``ScoresByFactors`` ability: what the service, the console and the batch jobs rank with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms.abilities import ScoresByFactors
from synerec.models import create_model, get_model_class
from synerec.topk import PAD_INDEX, topk


def _matrix() -> sp.csr_matrix:
    rng = np.random.default_rng(3)
    D = np.ceil(rng.random((40, 30)) * 5) * (rng.random((40, 30)) < 0.2)
    D[:, 27:] = 0  # three cold items
    D[35:] = 0  # five users without training data
    return sp.csr_matrix(D.astype(np.float32))


@pytest.fixture(scope="module", params=["item-cf", "ease", "mf", "popularity", "rp3beta"])
def model(request: pytest.FixtureRequest) -> Any:
    config = {"random_state": 0} if request.param == "mf" else {}
    return create_model(request.param, **config).fit(_matrix(), rating_scale=(1.0, 5.0))


def test_rankable_items_leave_out_cold_items_and_keep_candidates(model: Any) -> None:
    mask = model.rankable_items()
    assert mask is not None and mask.dtype == bool
    np.testing.assert_array_equal(mask, model.known_items(np.arange(model.n_items_)))
    assert not mask[27:].any()
    some = model.rankable_items(np.array([0, 3, 28]))
    assert np.flatnonzero(some).tolist() == [i for i in (0, 3) if mask[i]]
    flags = np.zeros(model.n_items_, dtype=bool)
    flags[[1, 29]] = True
    assert np.flatnonzero(model.rankable_items(flags)).tolist() == ([1] if mask[1] else [])


def test_an_unknown_users_list_is_the_popular_items(model: Any) -> None:
    idx, sc = model.popular_items(7)
    got_idx, got_sc = model.recommend_indices(np.array([-1, 37]), 7)
    for row in range(2):
        np.testing.assert_array_equal(got_idx[row], idx)
        np.testing.assert_array_equal(got_sc[row], sc)
    every, scores = model.popular_items()
    assert set(every.tolist()) == set(np.flatnonzero(model.rankable_items()).tolist())
    np.testing.assert_array_equal(scores, model.item_popularity_[every].astype(np.float32))
    np.testing.assert_array_equal(every[:7], idx)


def test_seen_items_are_the_training_rows_and_the_extra_items(model: Any) -> None:
    X = model.train_
    users = np.array([2, -1, 36, 5])
    extra = [np.array([29, 0]), np.array([4, -1]), np.array([], dtype=np.int64),
             np.array(X[5].indices[:1])]
    seen = model.seen_items(users, extra).tolil()
    for r, u in enumerate(users):
        row = set(X[u].indices.tolist()) if u >= 0 else set()
        want = row | {int(i) for i in extra[r] if i >= 0}
        assert set(seen.rows[r]) == want
    plain = model.seen_items(users)
    assert [set(r) for r in plain.tolil().rows] == \
        [set(X[u].indices.tolist()) if u >= 0 else set() for u in users]


def test_rank_block_is_topk_with_the_models_rules(model: Any) -> None:
    rng = np.random.default_rng(1)
    users = np.array([0, 1, 2, 3])
    scores = rng.normal(size=(len(users), model.n_items_)).astype(np.float32)
    scores[0, 5] = np.nan
    exclude = model.seen_items(users, [np.array([7])] * len(users))
    idx, sc = model.rank_block(scores, 6, exclude=exclude)
    masked = scores.copy()
    masked[:, ~model.rankable_items()] = -np.inf
    masked[exclude.toarray() > 0] = -np.inf
    ref_idx, ref_sc = topk(masked, 6)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    # sparse scores: only the stored entries can be ranked
    S = sp.csr_matrix(np.where(np.isfinite(scores) & (scores > 0), scores, 0.0))
    s_idx, _ = model.rank_block(S, 6, exclude=exclude)
    dense = np.where(S.toarray() > 0, S.toarray(), -np.inf).astype(np.float32)
    dense[:, ~model.rankable_items()] = -np.inf
    np.testing.assert_array_equal(s_idx, topk(dense, 6, exclude=exclude)[0])


def test_rank_block_over_the_models_scores_gives_its_lists(model: Any) -> None:
    """Scoring a user's list again from its full ranking, with more items also seen, gives the
    model's list less those items (what the service does with a user's newer events)."""
    u = 3
    full, sc = model.recommend_indices(np.array([u]), model.n_items_, exclude_seen=False)
    keep = full[0] != PAD_INDEX
    scores = np.full((1, model.n_items_), -np.inf, dtype=np.float32)
    scores[0, full[0][keep]] = sc[0][keep]
    listed, _ = model.recommend_indices(np.array([u]), 8)
    events = [int(listed[0][0]), int(listed[0][3])]
    idx, _ = model.rank_block(scores, 6, exclude=model.seen_items(np.array([u]), [events]))
    want = [int(i) for i in model.recommend_indices(np.array([u]), 8)[0][0]
            if i not in events][:6]
    assert idx[0].tolist() == want


def test_factor_scores_are_the_models_scores() -> None:
    model = create_model("mf", factors=4, epochs=3, random_state=0).fit(
        _matrix(), rating_scale=(1.0, 5.0))
    assert isinstance(model, ScoresByFactors)
    parts = model.factor_scores()
    users = np.array([0, 4, 9])
    s = parts.user_factors[users] @ parts.item_factors.T
    s += parts.item_bias[None, :]
    s += parts.user_offset[users][:, None]
    idx, sc = model.rank_block(s.astype(np.float32), 10, exclude=model.seen_items(users))
    ref_idx, ref_sc = model.recommend_indices(users, 10)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc)
    for name in ("item-cf", "ease", "als", "popularity"):
        assert not issubclass(get_model_class(name), ScoresByFactors)
