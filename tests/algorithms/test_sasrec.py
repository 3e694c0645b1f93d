"""SASRec beyond the conformance suite: order, text-initialised items, early stopping, saving."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ScoresProfile, ScoresSequence
from synerec.algorithms.sasrec import SASRec, sequences_in_time_order
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError
from synerec.models import create_model
from tests.algorithms.conformance import chain_sequences

TINY = {"factors": 8, "n_blocks": 1, "epochs": 2, "batch_size": 8, "max_len": 8,
        "random_state": 3, "num_threads": 1, "device": "cpu"}


def with_catalogue(data: InteractionDataset, n_cold: int = 2) -> InteractionDataset:
    """``data`` with a catalogue of titles, plus ``n_cold`` items nobody interacted with."""
    ids = [*data.items.ids.tolist(), *[f"cold{k}" for k in range(n_cold)]]
    items = pd.DataFrame({"item_id": ids, "title": [f"product {i} of the chain" for i in ids]})
    frame = pd.DataFrame({"user_id": data.users.ids_of(data.user_index),
                          "item_id": data.items.ids_of(data.item_index),
                          "rating": data.values, "timestamp": data.timestamps})
    return InteractionDataset.from_dataframe(frame, items=items, rating_scale=None,
                                             name="chain+catalogue")


def test_declares_what_it_needs_and_can_do() -> None:
    assert SASRec.needs == {"timestamps"}
    assert SASRec.evidence_kind == "sequence"
    assert not SASRec.predicts_ratings
    assert issubclass(SASRec, ScoresSequence) and issubclass(SASRec, ScoresProfile)


def test_sequences_follow_the_timestamps() -> None:
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"],
                       "item_id": ["x", "y", "z", "y", "x"],
                       "rating": 1.0, "timestamp": [30, 10, 20, 5, 5]})
    data = InteractionDataset.from_dataframe(df, rating_scale=None)
    m = create_model("sasrec", **TINY).fit(data)
    seqs = m.user_sequences(data.users.indices(["a", "b"]))
    # b's two items at the same time: in the log's order, as the temporal splits take them
    assert [data.items.ids_of(s).tolist() for s in seqs] == [["y", "z", "x"], ["y", "x"]]
    assert m.user_sequences(np.array([-1]))[0].size == 0
    indptr, items = sequences_in_time_order(data.matrix, None)  # no times: index order
    assert items[indptr[0]:indptr[1]].tolist() == [0, 1, 2]


def test_without_timestamps_warns_and_reads_index_order(caplog) -> None:
    data = chain_sequences()
    with caplog.at_level(logging.WARNING, logger="synerec.algorithms.sasrec"):
        m = create_model("sasrec", **TINY).fit(data.matrix)
    assert "no timestamps" in caplog.text
    u = 5
    assert m.user_sequences(np.array([u]))[0].tolist() == \
        data.matrix[u].indices.tolist()


def test_the_order_changes_the_list() -> None:
    """Two users with the same items in opposite orders get different lists."""
    chain = chain_sequences(n_items=6, n_users=30)
    frame = pd.DataFrame({"user_id": chain.users.ids_of(chain.user_index),
                          "item_id": chain.items.ids_of(chain.item_index),
                          "rating": 1.0, "timestamp": chain.timestamps})
    extra = pd.DataFrame({"user_id": ["ab", "ab", "ba", "ba"],
                          "item_id": ["i0", "i3", "i3", "i0"], "rating": 1.0,
                          "timestamp": [0, 1, 0, 1]})
    data = InteractionDataset.from_dataframe(pd.concat([frame, extra]), rating_scale=None)
    m = create_model("sasrec", factors=16, n_blocks=1, dropout=0.0, epochs=60, batch_size=8,
                     learning_rate=0.01, patience=0, random_state=1, num_threads=1,
                     device="cpu").fit(data)
    ids, _ = m.recommend(["ab", "ba"], n=2)
    assert ids[0].tolist() != ids[1].tolist()
    assert ids[0, 0] == "i4"  # after i3 comes i4 (ba's own 3 -> 0 makes its answer noisier)
    # a user's latest events change the list without a refit
    u = data.users.index("ab")
    longer = np.r_[m.user_sequences(np.array([u]))[0], data.items.index("i4")]
    assert m.score_sequences([longer])[0].argmax() == data.items.index("i5")


def test_sampled_softmax_learns_the_chain() -> None:
    data = chain_sequences()
    m = create_model("sasrec", factors=16, n_blocks=1, dropout=0.0, epochs=60, batch_size=8,
                     learning_rate=0.01, patience=0, loss="sampled-softmax", n_negatives=3,
                     random_state=1, num_threads=1, device="cpu").fit(data)
    users = data.users.ids.tolist()
    ids, _ = m.recommend(users, n=1)
    expected = [f"i{(int(u[1:]) + 3 + int(u[1:]) % 2) % 6}" for u in users]
    assert ids[:, 0].tolist() == expected


def test_score_sequences_edges() -> None:
    data = chain_sequences()
    m = create_model("sasrec", **TINY).fit(data)
    S = m.score_sequences([np.array([-1, 2, -1]), np.array([], dtype=np.int64)])
    np.testing.assert_array_equal(S[0], m.score_sequences([np.array([2])])[0])
    np.testing.assert_array_equal(S[1], m.item_popularity_.astype(np.float32))
    with pytest.raises(ValueError, match="item indices"):
        m.score_sequences([np.array([99])])
    # the latest max_len items only
    long = np.arange(20) % 6
    np.testing.assert_array_equal(m.score_sequences([long])[0],
                                  m.score_sequences([long[-8:]])[0])


def test_early_stopping_stops_and_keeps_the_best_epoch() -> None:
    data = chain_sequences(n_users=30)
    m = create_model("sasrec", **{**TINY, "epochs": 40, "patience": 2,
                                  "learning_rate": 0.05}).fit(data)
    n = len(m.history_)
    assert n < 40
    ndcg = m.history_[:, 1]
    assert m.best_epoch_ == int(np.argmax(ndcg)) + 1
    assert n == m.best_epoch_ + 2  # stopped after `patience` epochs without a better one
    assert np.isfinite(m.history_).all()
    # patience 0: no validation item, every epoch run
    m0 = create_model("sasrec", **{**TINY, "epochs": 3, "patience": 0}).fit(data)
    assert len(m0.history_) == 3 and m0.best_epoch_ == 3
    assert np.isnan(m0.history_[:, 1]).all()


def test_refit_trains_on_every_item_for_the_best_epoch_count() -> None:
    data = chain_sequences(n_users=30)
    params = {**TINY, "epochs": 6, "patience": 2}
    refit = create_model("sasrec", **params).fit(data)
    kept = create_model("sasrec", **{**params, "refit": False}).fit(data)
    np.testing.assert_array_equal(refit.history_, kept.history_)
    users = np.arange(data.n_users)
    assert not np.array_equal(refit._score(users), kept._score(users))
    # the refit network is the one a fit without validation trains for that many epochs
    plain = create_model("sasrec", **{**params, "patience": 0,
                                      "epochs": refit.best_epoch_}).fit(data)
    np.testing.assert_array_equal(refit._score(users), plain._score(users))


def test_text_init_scores_cold_items_from_their_text(tmp_path) -> None:
    data = with_catalogue(chain_sequences(), n_cold=2)
    rng = np.random.default_rng(0)
    E = rng.normal(size=(data.n_items, 12)).astype(np.float32)
    m = create_model("sasrec", **{**TINY, "item_init": "text"})
    m.fit(data, item_embeddings=E)
    assert m.text_init_
    cold = np.flatnonzero(m.item_count_ == 0)
    assert len(cold) == 2
    net = m.network_
    # the cold items' correction never moved: their embedding is their text's projection
    assert torch.count_nonzero(net.correction.weight[torch.from_numpy(cold + 1)]) == 0
    S = m._score(np.arange(data.n_users))
    assert np.isfinite(S[:, cold]).all() and (np.abs(S[:, cold]) > 0).any()
    # a user scores two cold items differently (from their different texts)
    assert (S[:, cold[0]] != S[:, cold[1]]).any()
    # saved and loaded: the same scores
    assert type(Recommender.load(m.save(tmp_path / "text"))) is SASRec
    loaded = SASRec.load(tmp_path / "text")
    np.testing.assert_array_equal(loaded._score(np.arange(data.n_users)), S)
    assert loaded.text_init_


def test_text_correction_zero_keeps_every_item_at_its_text_and_frozen_keeps_w(tmp_path) -> None:
    data = with_catalogue(chain_sequences(), n_cold=1)
    E = np.random.default_rng(1).normal(size=(data.n_items, 12)).astype(np.float32)
    # a frozen projection stays where the seed started it (whatever the epochs); C moves
    fro = create_model("sasrec", **{**TINY, "item_init": "text", "text_projection": "frozen"})
    fnet = fro.fit(data, item_embeddings=E).network_
    first = create_model("sasrec", **{**TINY, "item_init": "text", "epochs": 1, "patience": 0,
                                      "text_projection": "frozen"}).fit(data, item_embeddings=E)
    assert torch.equal(fnet.proj.weight, first.network_.proj.weight)
    assert torch.count_nonzero(fnet.correction.weight) > 0
    # alpha = 0: the table is exactly T W, with W learned (moved away from the same start)
    m = create_model("sasrec", **{**TINY, "item_init": "text", "text_correction": 0.0})
    net = m.fit(data, item_embeddings=E).network_
    with torch.no_grad():
        np.testing.assert_allclose(net.item_table().numpy(),
                                   (net.text @ net.proj.weight.T).numpy(), atol=1e-6)
    assert not torch.equal(net.proj.weight, fnet.proj.weight)
    # the options travel with the saved model
    loaded = SASRec.load(fro.save(tmp_path / "frozen"))
    assert loaded.text_projection == "frozen"
    np.testing.assert_array_equal(loaded._score(np.arange(data.n_users)),
                                  fro._score(np.arange(data.n_users)))


def test_pca_start_projects_on_the_texts_principal_directions() -> None:
    from synerec.algorithms._sasrec_torch import SASRecNet

    rng = np.random.default_rng(2)
    # 40 texts of width 10 with most of their spread in 3 directions
    T = (rng.normal(size=(40, 3)) * [5.0, 3.0, 2.0]) @ rng.normal(size=(3, 10)) \
        + 0.1 * rng.normal(size=(40, 10))
    T = (T - T.mean(axis=0)).astype(np.float32)
    torch.manual_seed(0)
    net = SASRecNet(40, 4, 1, 1, 0.0, 5, text_dim=10, projection_init="pca")
    net.set_text(torch.from_numpy(T))
    W = net.proj.weight.detach().double().numpy()
    _, _, vt = np.linalg.svd(T.astype(np.float64), full_matrices=False)
    for k in range(4):  # row k is the k-th principal direction, up to sign and one scale
        cos = abs(W[k] @ vt[k]) / np.linalg.norm(W[k])
        assert cos == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), np.linalg.norm(W[0]), rtol=1e-5)
    # the projected rows have the random start's spread
    assert float((T.astype(np.float64) @ W.T).std(ddof=1)) == pytest.approx(0.02, rel=1e-3)


def test_text_init_embeds_the_catalogue_with_the_encoder() -> None:
    data = with_catalogue(chain_sequences(), n_cold=1)
    m = create_model("sasrec", **{**TINY, "item_init": "text", "encoder": "tfidf"}).fit(data)
    assert m.text_init_
    assert np.isfinite(m._score(np.arange(data.n_users))).all()


def test_text_init_without_text_says_so_and_starts_at_random(caplog) -> None:
    data = chain_sequences()
    with caplog.at_level(logging.WARNING, logger="synerec.algorithms.sasrec"):
        m = create_model("sasrec", **{**TINY, "item_init": "text"}).fit(data)
    assert "no item text" in caplog.text
    assert not m.text_init_
    plain = create_model("sasrec", **TINY).fit(data)
    np.testing.assert_array_equal(m._score(np.arange(5)), plain._score(np.arange(5)))


def test_save_load_scores_identically(tmp_path) -> None:
    data = chain_sequences()
    m = create_model("sasrec", **TINY).fit(data)
    loaded = SASRec.load(m.save(tmp_path / "m"))
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded._score(users), m._score(users))
    np.testing.assert_array_equal(loaded.history_, m.history_)
    assert loaded.best_epoch_ == m.best_epoch_
    seq = [np.array([0, 1, 2]), np.array([4])]
    np.testing.assert_array_equal(loaded.score_sequences(seq), m.score_sequences(seq))


def test_threads_are_restored_and_options_checked() -> None:
    before = torch.get_num_threads()
    create_model("sasrec", **{**TINY, "num_threads": 1}).fit(chain_sequences())
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="n_heads"):
        create_model("sasrec", factors=10, n_heads=3).fit(chain_sequences())
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            create_model("sasrec", **{**TINY, "device": "gpu"}).fit(chain_sequences())


def test_explain_names_the_latest_items() -> None:
    data = chain_sequences()
    m = create_model("sasrec", **TINY).fit(data)
    p = m.predict_one("u0", "i3")
    assert p.details["latest_items"] == ["i2", "i1", "i0"]
