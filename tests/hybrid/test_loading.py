"""A saved hybrid loaded for one request reads what the request needs, and answers as the
fitted model does (issue 25)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from synerec.algorithms import Recommender
from synerec.algorithms import persistence as persistence_module
from synerec.algorithms.persistence import verify_model_dir
from synerec.cli.main import main
from synerec.data import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop
from synerec.exceptions import ModelFileError
from synerec.hybrid import HybridRanker
from synerec.hybrid.stats import STORED_STATS

SHOP = {"n_users": 120, "n_items": 150, "ratings_per_user": 25, "random_state": 11}
FAST = {"encoder": "tfidf", "num_threads": 1, "n_estimators": 40, "min_data_in_leaf": 5,
        "num_leaves": 7, "n_candidates": 40}
PIECE = 4096


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop(**SHOP)


@pytest.fixture(scope="module")
def model(shop: InteractionDataset) -> HybridRanker:
    return HybridRanker(**FAST).fit(shop)


@pytest.fixture
def saved(model: HybridRanker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(persistence_module, "CHUNK_BYTES", PIECE)  # many pieces per array
    return model.save(tmp_path / "hybrid")


def test_one_request_lists_equal_the_fitted_models(model: HybridRanker, shop: InteractionDataset,
                                                   saved: Path) -> None:
    manifest = json.loads((saved / "model.json").read_text())
    assert manifest["format_version"] == 4
    assert any("chunk_sha256" in spec for spec in manifest["arrays"].values())
    features = set(model.feature_names_)
    assert {"text_cosine", "ease:recent"} <= features  # the per-user columns are exercised
    users = shop.users.ids[:25].tolist()
    for user in users:  # as `synerec recommend`: a fresh load per request
        loaded = Recommender.load(saved)
        a_ids, a_sc = model.recommend([user], 10)
        b_ids, b_sc = loaded.recommend([user], 10)
        assert a_ids.tolist() == b_ids.tolist()
        np.testing.assert_array_equal(a_sc, b_sc)
    loaded = Recommender.load(saved)  # many users at once, then one, from the same load
    assert isinstance(loaded, HybridRanker)
    for name in STORED_STATS:  # kept in the file, not computed again: the same values
        np.testing.assert_array_equal(getattr(loaded.stats_, name), getattr(model.stats_, name))
    assert loaded.stats_.n_active_users == model.stats_.n_active_users
    assert model.stats_.profiles is not None and loaded.stats_.profiles is not None
    rows = np.array([5, 0, 5, 17])
    np.testing.assert_array_equal(loaded.stats_.profiles[rows], model.stats_.profiles[rows])
    assert loaded.stats_.user_categories is not None and model.stats_.user_categories is not None
    assert (loaded.stats_.user_categories != model.stats_.user_categories).nnz == 0
    ids = [*users, "nobody"]
    a = model.recommend(ids, 10, unknown="fallback")
    b = loaded.recommend(ids, 10, unknown="fallback")
    assert a[0].tolist() == b[0].tolist()
    np.testing.assert_array_equal(a[1], b[1])
    u, i = users[3], a[0][3][0]
    assert loaded.predict_one(u, i).details["explanation"] == \
        model.predict_one(u, i).details["explanation"]


def test_a_corrupted_byte_the_answer_reads_is_a_one_line_error(
        model: HybridRanker, saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    j = model.retriever_names_.index("ease")
    name = f"model.r{j}.weights"
    X, n = model.train_, model.n_items_
    with zipfile.ZipFile(saved / "arrays.npz") as z:
        info = z.getinfo(f"{name}.npy")
    raw = bytearray((saved / "arrays.npz").read_bytes())
    k, m = np.frombuffer(bytes(raw[info.header_offset + 26:info.header_offset + 30]), "<u2")
    start = info.header_offset + 30 + int(k) + int(m)
    data = start + info.compress_size - 4 * n * n  # the weights fill the member's end
    user = int(np.flatnonzero(model.user_count_ > 0)[-1])
    item = int(X.indices[X.indptr[user + 1] - 1])  # in the user's history: its row is read
    raw[data + 4 * n * item + 2 * n] ^= 0x04
    (saved / "arrays.npz").write_bytes(bytes(raw))
    loaded = Recommender.load(saved)  # nothing of the weights read yet
    with pytest.raises(ModelFileError) as err:
        loaded.recommend([model.users_.id(user)], 5)
    assert "\n" not in str(err.value) and f"'{name}'" in str(err.value)
    code = main(["recommend", "--model-dir", str(saved), "--user",
                 str(model.users_.id(user)), "--n", "5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: ") and f"'{name}'" in err and "is corrupted" in err
    with pytest.raises(ModelFileError, match=name.replace(".", r"\.")):
        verify_model_dir(saved)
