"""text-knn and text-knn-tuned: cold items, explanations, encoders, files (the generic contract
and the known answers are in the conformance suite)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms import Recommender, TextKNN, TunedTextKNN, create_model
from synerec.algorithms.abilities import ExplainsScore, ScoresProfile
from synerec.data import InteractionDataset
from synerec.data.splits import cold_item_split
from synerec.exceptions import ConfigError
from synerec.text import item_texts
from synerec.text.finetune import finetune_encoder
from tests.text.test_finetune import FAST, shop


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data() -> InteractionDataset:
    return shop()


def test_declarations() -> None:
    for cls in (TextKNN, TunedTextKNN):
        assert cls.needs == {"item_text"} and cls.evidence_kind == "text"
        assert not cls.predicts_ratings
        assert issubclass(cls, ExplainsScore) and issubclass(cls, ScoresProfile)
    assert TextKNN().center_text and TunedTextKNN().center_text


def test_new_items_are_ranked_from_their_text(data: InteractionDataset) -> None:
    """Held-out items (no training interaction) are recommended by their text; the item
    without text is never recommended."""
    fold = cold_item_split(data, 0.4, random_state=1)
    assert fold.cold_items is not None
    m = create_model("text-knn").fit(fold.train)
    cold = np.flatnonzero(fold.cold_items)
    assert (m.item_count_[cold] == 0).all() and m.known_items(cold).all()
    users = np.unique(fold.test.user_index)
    idx, _ = m.recommend_indices(users, n=data.n_items)
    no_text = data.items.index("i11")
    listed = set(idx[idx >= 0].tolist())
    assert set(cold.tolist()) - {no_text} <= listed
    if m.item_count_[no_text] == 0:
        assert no_text not in listed
    p = m.predict_one(data.users.id(int(users[0])), data.items.id(int(cold[0])))
    assert p.fallback is None and p.details["cold_item"] is True
    assert p.details["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    off = create_model("text-knn", cold_start=False).fit(fold.train)
    idx, _ = off.recommend_indices(users, n=data.n_items)
    assert not fold.cold_items[idx[idx >= 0]].any()


def test_the_closest_new_item_comes_first(data: InteractionDataset) -> None:
    """A dress buyer gets the new dress before the new drill."""
    dress, drill = data.items.index("i1"), data.items.index("i5")
    train = data.subset(~np.isin(data.item_index, [dress, drill]))
    m = create_model("text-knn").fit(train)
    buyers = np.unique(train.user_index[train.item_index == data.items.index("i0")])
    shelf = np.zeros(data.n_items, dtype=bool)
    shelf[[dress, drill]] = True
    idx, _ = m.recommend_indices(buyers, n=2, candidates=shelf)
    assert len(buyers) and (idx[:, 0] == dress).all()


def test_explanations_cite_the_users_items(data: InteractionDataset) -> None:
    m = create_model("text-knn").fit(data)
    u = data.users.index("u0")
    items, terms = m.score_contributions(u, data.items.index("i3"))
    mine = data.matrix[u].indices
    assert sorted(items.tolist()) == sorted(mine.tolist())
    assert terms.sum() == pytest.approx(m.predict_indices([u], [data.items.index("i3")])[0],
                                        abs=1e-6)
    assert m.score_contributions(-1, 0)[0].size == 0


def test_save_and_load_keep_the_embeddings(data: InteractionDataset, tmp_path: Path) -> None:
    m = create_model("text-knn").fit(data)
    loaded = Recommender.load(m.save(tmp_path / "m"))
    assert isinstance(loaded, TextKNN)
    np.testing.assert_array_equal(loaded.item_embeddings_, m.item_embeddings_)
    assert loaded.encoder_name_ == m.encoder_name_
    np.testing.assert_array_equal(loaded.recommend(["u1"], n=5)[1], m.recommend(["u1"], n=5)[1])


def test_tuned_model_fine_tunes_on_its_training_data(data: InteractionDataset,
                                                     tmp_path: Path) -> None:
    m = create_model("text-knn-tuned", **FAST).fit(data)
    assert m.encoder_name_.startswith("finetuned/all-MiniLM-L6-v2-")
    assert m.finetune_info_["examples"] == 16
    assert m.finetune_info_["options"]["learning_rate"] == 1e-3  # the objective's default
    frozen = create_model("text-knn").fit(data)
    assert not np.allclose(m.item_embeddings_, frozen.item_embeddings_, atol=1e-4)
    loaded = Recommender.load(m.save(tmp_path / "m"))
    assert isinstance(loaded, TunedTextKNN)
    assert loaded.finetune_info_ == json.loads(json.dumps(m.finetune_info_))
    assert loaded.encoder_name_ == m.encoder_name_


def test_encoder_path_skips_the_fine_tuning(data: InteractionDataset, tmp_path: Path) -> None:
    folder = finetune_encoder(data, tmp_path / "enc", **FAST)
    tuned = create_model("text-knn-tuned", encoder_path=str(folder)).fit(data)
    assert tuned.finetune_info_ == {}
    plain = create_model("text-knn", encoder_path=str(folder)).fit(data)
    assert tuned.encoder_name_ == plain.encoder_name_
    assert tuned.encoder_name_.startswith("finetuned/")
    np.testing.assert_allclose(tuned.item_embeddings_, plain.item_embeddings_, atol=1e-6)


def test_ease_tuned_model_keeps_the_lengths(data: InteractionDataset, tmp_path: Path) -> None:
    """The default objective's vectors are used as they are: their dot products are the
    learnt item-item weights; the in-memory head on the cached frozen vectors gives what the
    saved encoder gives."""
    m = create_model("text-knn-tuned").fit(data)
    assert m.finetune_info_["options"]["objective"] == "ease"
    E = m.item_embeddings_
    norms = np.linalg.norm(E[m.item_has_text_], axis=1)
    assert norms.std() > 1e-3  # not unit rows, not centred
    folder = finetune_encoder(data, tmp_path / "enc")
    saved = create_model("text-knn-tuned", encoder_path=str(folder)).fit(data)
    assert saved.encoder_name_ == m.encoder_name_
    np.testing.assert_allclose(saved.item_embeddings_, E, atol=1e-5)
    users = np.array([0, 3])
    B = m._profiles_of[users]
    profiles = (B @ E.astype(np.float64)) / np.diff(B.indptr)[:, None]
    np.testing.assert_allclose(m.predict_indices(np.repeat(users, 3), np.tile([0, 5, 9], 2)),
                               np.einsum("ij,ij->i", np.repeat(profiles, 3, axis=0),
                                         E[np.tile([0, 5, 9], 2)]), rtol=1e-5, atol=1e-7)


def test_a_new_product_is_placed_as_the_tuned_items_were(data: InteractionDataset,
                                                         tmp_path: Path) -> None:
    """With an encoder whose vectors keep their lengths (the ``ease`` objective), a product
    added after the fit (ScoresNewItems) is placed as the training items were: the encoder's
    vector as it is, not centred nor scaled; the choice survives a save."""
    folder = finetune_encoder(data, tmp_path / "enc")
    m = create_model("text-knn-tuned", encoder_path=str(folder)).fit(data)
    assert m.keeps_lengths_
    texts = item_texts(data)
    encoder = m.new_item_encoder()
    raw = encoder.encode(texts[:4])
    placed = m.new_item_vectors(raw)
    np.testing.assert_allclose(placed, m.item_embeddings_[:4], rtol=1e-4, atol=1e-5)
    m.save(tmp_path / "model")
    loaded = Recommender.load(tmp_path / "model")
    assert loaded.keeps_lengths_
    np.testing.assert_allclose(loaded.new_item_vectors(raw), placed, atol=1e-6)
    plain = create_model("text-knn").fit(data)  # centred unit rows
    assert not plain.keeps_lengths_
    own = plain.new_item_vectors(plain.new_item_encoder().encode(texts[:4]))
    np.testing.assert_allclose(own, plain.item_embeddings_[:4], rtol=1e-4, atol=1e-5)


def test_errors(data: InteractionDataset, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="encoder must be 'minilm'"):
        create_model("text-knn-tuned", encoder="tfidf").fit(data)
    with pytest.raises(ConfigError, match="needs item text") as exc:
        create_model("text-knn").fit(sp.csr_matrix(data.matrix))
    assert "\n" not in str(exc.value)
    bare = InteractionDataset.from_dataframe(data.to_dataframe(), rating_scale=None)
    with caplog.at_level(logging.WARNING):
        m = create_model("text-knn-tuned").fit(bare)  # no text at all: nothing to tune
    assert "has text" in caplog.text and m.encoder_name_ == "no text"
    assert not m.item_has_text_.any()
    assert (m.predict_indices([0, 1], [0, 1]) == 0).all()
    texts = item_texts(data)
    assert len(texts) == data.n_items
