"""Format 4: large arrays checksummed by piece, read by rows for what a request needs.

A loaded model answers with the lists of the model that was saved; a corrupted byte in a row
that an answer reads is an error before the answer is given; a corrupted byte elsewhere is
found by :func:`verify_model_dir`, and by any request that reads it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from synerec.algorithms import EASE, ImplicitALS, ItemKNN, Recommender, UserKNN
from synerec.algorithms import persistence as persistence_module
from synerec.algorithms.persistence import (
    array_rows,
    manifest_digest,
    open_model_dir,
    verify_model_dir,
    write_model_dir,
)
from synerec.algorithms.training import TrainingData
from synerec.exceptions import ModelFileError

PIECE = 4096  # small pieces, so that small test arrays have many


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persistence_module, "CHUNK_BYTES", PIECE)


def _data_offset(path: Path, name: str) -> tuple[int, int]:
    """(file offset of the array's first data byte, its member's first byte)."""
    with zipfile.ZipFile(path / "arrays.npz") as z:
        info = z.getinfo(f"{name}.npy")
    raw = (path / "arrays.npz").read_bytes()
    n, m = np.frombuffer(raw[info.header_offset + 26:info.header_offset + 30], "<u2")
    start = info.header_offset + 30 + int(n) + int(m)
    with open(path / "arrays.npz", "rb") as f:
        f.seek(start)
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        return f.tell(), start


def _flip(path: Path, offset: int) -> None:
    raw = bytearray((path / "arrays.npz").read_bytes())
    raw[offset] ^= 0x10
    (path / "arrays.npz").write_bytes(bytes(raw))


def _row_offset(path: Path, name: str, row: int, row_bytes: int) -> int:
    return _data_offset(path, name)[0] + row * row_bytes + row_bytes // 2


def test_large_members_list_a_sha256_per_piece(tmp_path: Path, small_pieces: None) -> None:
    big = np.arange(3000, dtype=np.float64).reshape(300, 10)  # 24,000 bytes: 6 pieces
    path = write_model_dir(tmp_path / "m", class_name="x", config={},
                           arrays={"big": big, "small": np.arange(3)})
    manifest = json.loads((path / "model.json").read_text())
    assert manifest["format_version"] == 4 and manifest["chunk_bytes"] == PIECE
    with zipfile.ZipFile(path / "arrays.npz") as z:
        stored = z.read("big.npy")
    want = [hashlib.sha256(stored[k:k + PIECE]).hexdigest()
            for k in range(0, len(stored), PIECE)]
    assert manifest["arrays"]["big"]["chunk_sha256"] == want and len(want) == 6
    assert manifest["arrays"]["big"]["sha256"] == hashlib.sha256(stored).hexdigest()
    assert "chunk_sha256" not in manifest["arrays"]["small"]  # one piece: its sha256 is enough
    arrays = open_model_dir(path).arrays
    rows = array_rows(arrays, "big")
    np.testing.assert_array_equal(rows.take(np.array([5, 299, 0, 5])), big[[5, 299, 0, 5]])
    np.testing.assert_array_equal(rows.span(10, 20), big[10:20])
    np.testing.assert_array_equal(arrays["big"], big)
    verify_model_dir(path)


def test_rows_verify_their_own_pieces_only(tmp_path: Path, small_pieces: None) -> None:
    big = np.arange(30000, dtype=np.float32).reshape(300, 100)  # a row: 400 bytes
    path = write_model_dir(tmp_path / "m", class_name="x", config={}, arrays={"big": big})
    _flip(path, _row_offset(path, "big", 250, 400))
    rows = array_rows(open_model_dir(path).arrays, "big")
    np.testing.assert_array_equal(rows.take(np.array([0, 1, 2])), big[:3])  # other pieces
    for read in (lambda: rows.take(np.array([3, 250])), lambda: rows.span(240, 260),
                 rows.full, lambda: open_model_dir(path).arrays["big"]):
        with pytest.raises(ModelFileError, match=r"corrupted: array 'big', bytes \d+\.\.\d+ "
                                                 r"of its member, has sha256"):
            read()
    with pytest.raises(ModelFileError, match="big"):
        verify_model_dir(path)


def test_a_corrupted_header_is_refused_before_it_is_parsed(tmp_path: Path,
                                                           small_pieces: None) -> None:
    big = np.zeros((300, 100), dtype=np.float32)
    path = write_model_dir(tmp_path / "m", class_name="x", config={}, arrays={"big": big})
    _, start = _data_offset(path, "big")
    _flip(path, start + 20)  # inside the .npy header's text (its shape)
    with pytest.raises(ModelFileError, match=r"'big', bytes 0\.\.4096"):
        array_rows(open_model_dir(path).arrays, "big")


def test_a_manifest_with_the_wrong_number_of_pieces_is_refused(tmp_path: Path,
                                                               small_pieces: None) -> None:
    path = write_model_dir(tmp_path / "m", class_name="x", config={},
                           arrays={"big": np.zeros((300, 100), np.float32)})
    manifest = json.loads((path / "model.json").read_text())
    manifest["arrays"]["big"]["chunk_sha256"].pop()
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="lists 29 pieces of 4096"):
        open_model_dir(path).arrays["big"]


@pytest.mark.parametrize("chunk", [0, "1", None])
def test_chunk_bytes_must_be_a_positive_integer(tmp_path: Path, small_pieces: None,
                                                chunk: object) -> None:
    path = write_model_dir(tmp_path / "m", class_name="x", config={},
                           arrays={"big": np.zeros((300, 100), np.float32)})
    manifest = json.loads((path / "model.json").read_text())
    manifest["chunk_bytes"] = chunk
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="'chunk_bytes' must be a positive integer"):
        open_model_dir(path)


def test_format_3_members_are_read_by_rows_after_a_whole_check(tmp_path: Path,
                                                                small_pieces: None) -> None:
    big = np.arange(30000, dtype=np.float32).reshape(300, 100)
    path = write_model_dir(tmp_path / "m", class_name="x", config={}, arrays={"big": big})
    manifest = json.loads((path / "model.json").read_text())  # as synerec 0.1 wrote it
    del manifest["chunk_bytes"], manifest["arrays"]["big"]["chunk_sha256"]
    manifest["format_version"] = 3
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "model.json").write_text(json.dumps(manifest))
    rows = array_rows(open_model_dir(path).arrays, "big")
    np.testing.assert_array_equal(rows.take(np.array([7])), big[[7]])
    _flip(path, _row_offset(path, "big", 250, 400))
    rows = array_rows(open_model_dir(path).arrays, "big")
    with pytest.raises(ModelFileError, match=r"array 'big' has sha256"):  # the whole member
        rows.take(np.array([7]))


# -- models ---------------------------------------------------------------------------------

def _data(n_users: int = 60, n_items: int = 90, seed: int = 3) -> TrainingData:
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=0.12, random_state=rng, format="csr",
                  data_rvs=lambda k: rng.integers(1, 4, k).astype(np.float64))
    X.data[:] = np.maximum(X.data, 1.0)
    return TrainingData.of(sp.csr_matrix(X))


MODELS = {
    "als": lambda: ImplicitALS(factors=40, epochs=3, random_state=0, num_threads=1),
    "ease": lambda: EASE(lambda_=50.0),
    "ease-sparse": lambda: EASE(lambda_=50.0, variant="sparse", neighbors=20),
    "item-cf": lambda: ItemKNN(similarity="cosine", k=10),
    "user-cf": lambda: UserKNN(similarity="cosine", k=10),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loaded_models_rank_each_user_as_the_fitted_one(tmp_path: Path, small_pieces: None,
                                                        name: str) -> None:
    model = MODELS[name]().fit(_data())
    path = model.save(tmp_path / name)
    users = np.flatnonzero(model.user_count_ > 0)
    for u in users:  # one request per user: rows read from disk
        loaded = Recommender.load(path)
        a = model.recommend_indices(np.array([u]), 10)
        b = loaded.recommend_indices(np.array([u]), 10)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    loaded = Recommender.load(path)  # and all at once
    for x, y in zip(model.recommend_indices(users, 10), loaded.recommend_indices(users, 10),
                    strict=True):
        np.testing.assert_array_equal(x, y)
    # pickled (as Ray's object store does) with what it has not read yet: whole, verified
    copy = pickle.loads(pickle.dumps(Recommender.load(path)))
    for x, y in zip(model.recommend_indices(users, 10), copy.recommend_indices(users, 10),
                    strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_corrupted_ease_row_is_an_error_for_the_users_who_read_it(
        tmp_path: Path, small_pieces: None) -> None:
    data = _data()
    model = EASE(lambda_=50.0).fit(data)
    path = model.save(tmp_path / "ease")
    n, X = model.n_items_, data.matrix
    first, member = _data_offset(path, "model.weights")
    piece = (first - member + np.arange(n) * 4 * n + 2 * n) // PIECE  # of each row's middle
    item = int(np.flatnonzero(piece == piece.max())[0])  # a row far from the header
    _flip(path, _row_offset(path, "model.weights", item, 4 * n))
    history = [set(X.indices[X.indptr[u]:X.indptr[u + 1]].tolist()) for u in range(X.shape[0])]
    reader = next(u for u in range(X.shape[0]) if item in history[u])
    other = next(u for u in range(X.shape[0])
                 if history[u] and piece.max() not in {int(piece[j]) for j in history[u]})
    loaded = Recommender.load(path)  # opening reads no weight
    for a, b in zip(loaded.recommend_indices(np.array([other]), 10),
                    model.recommend_indices(np.array([other]), 10), strict=True):
        np.testing.assert_array_equal(a, b)  # its rows are intact: answered as before
    with pytest.raises(ModelFileError) as err:
        loaded.recommend_indices(np.array([reader]), 10)
    message = str(err.value)
    assert "\n" not in message and "'model.weights'" in message and "corrupted" in message
    with pytest.raises(ModelFileError, match=r"model\.weights"):
        verify_model_dir(path)


@pytest.mark.parametrize("name", ["item-cf", "user-cf"])
def test_a_corrupted_similarity_row_is_an_error_for_who_reads_it(
        tmp_path: Path, small_pieces: None, name: str) -> None:
    data = _data(n_users=200, n_items=90)
    model = MODELS[name]().fit(data)
    path = model.save(tmp_path / name)
    S = model.similarity_
    X = data.matrix
    row = 0 if name == "user-cf" else int(X.indices[X.indptr[0]])  # read for user 0
    entry = int(S.indptr[row])
    _flip(path, _data_offset(path, "model.similarity_data")[0] + 4 * entry + 1)
    with pytest.raises(ModelFileError, match=r"'model\.similarity_data', bytes"):
        Recommender.load(path).recommend_indices(np.array([0]), 10)
    with pytest.raises(ModelFileError, match="similarity_data"):
        _ = Recommender.load(path).similarity_  # the whole matrix, when asked for
