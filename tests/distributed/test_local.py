"""``synerec.distributed`` without a Ray cluster: block merging, the torch path, Parquet output,
the CLI, the embedding cache, and Ray staying optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from synerec.algorithms import ItemKNN, MatrixFactorization, Popularity
from synerec.cli.main import main
from synerec.distributed import (
    RayUnavailableError,
    batch_recommend,
    block_similarity_matrix,
    embed_catalogue,
)
from synerec.distributed._gpu import factor_topk, resolve_device, supports_factor_scoring
from synerec.exceptions import ConfigError, UnknownUserError
from synerec.similarity import similarity_matrix

# ------------------------------------------------------------------ helpers and references


def assert_same_csr(A: sp.csr_matrix, B: sp.csr_matrix) -> None:
    """Bit-for-bit equality of two CSR matrices (structure and float32 values)."""
    assert A.shape == B.shape
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    assert A.data.dtype == B.data.dtype == np.float32
    np.testing.assert_array_equal(A.data, B.data)


def reference_topk_rows(D: np.ndarray, k: int) -> list[set[int]]:
    """Slow reference: each row's k largest nonzero entries (ties -> lower index), diagonal out."""
    out = []
    for a in range(D.shape[0]):
        cand = [(-float(D[a, b]), b) for b in range(D.shape[1]) if b != a and D[a, b] != 0]
        out.append({b for _, b in sorted(cand)[:k]})
    return out


def dense_cosine(X: sp.csr_matrix) -> np.ndarray:
    Xd = X.toarray().astype(np.float64)
    norms = np.sqrt((Xd * Xd).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        S = (Xd @ Xd.T) / np.outer(norms, norms)
    return np.nan_to_num(S).astype(np.float32)


def random_ratings(seed: int, n: int = 60, m: int = 40, density: float = 0.15) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = rng.integers(1, 6, size=X.nnz).astype(np.float64)
    return X


@pytest.fixture(scope="module")
def item_matrix(ml100k) -> sp.csr_matrix:  # type: ignore[no-untyped-def]
    return ml100k.matrix.T.tocsr()


@pytest.fixture(scope="module")
def mf_model(ml100k) -> MatrixFactorization:  # type: ignore[no-untyped-def]
    return MatrixFactorization(factors=16, epochs=3, random_state=0).fit(ml100k)


@pytest.fixture(scope="module")
def knn_model(ml100k) -> ItemKNN:  # type: ignore[no-untyped-def]
    return ItemKNN(k=20, max_neighbors=50).fit(ml100k)


# ---------------------------------------------------------------- similarity in blocks


@pytest.mark.parametrize(("method", "kwargs"), [
    ("cosine", {}),
    ("adjusted_cosine", {"min_support": 2, "shrinkage": 25.0}),
    ("pearson", {"positive_only": True}),
])
def test_blocks_merge_into_the_single_node_matrix_ml100k(item_matrix, method, kwargs) -> None:
    single = similarity_matrix(item_matrix, method, max_neighbors=40, **kwargs)
    merged, costs = block_similarity_matrix(item_matrix, method, max_neighbors=40, engine="local",
                                            block_rows=257, return_costs=True, **kwargs)
    assert_same_csr(single, merged)
    # the blocks tile the rows, and their costs add up to the whole
    assert [(c.start, c.stop) for c in costs] == [(s, min(s + 257, item_matrix.shape[0]))
                                                  for s in range(0, item_matrix.shape[0], 257)]
    assert sum(c.neighbors for c in costs) == single.nnz
    paths = int(sum(np.diff(item_matrix.T.tocsr().indptr)[item_matrix.indices]))
    assert sum(c.paths for c in costs) == paths


@pytest.mark.parametrize("seed", range(4))
def test_any_block_size_gives_the_same_matrix(seed: int) -> None:
    X = random_ratings(seed)
    single = similarity_matrix(X, "cosine", max_neighbors=5)
    for rows in (1, 7, 60, 1000):
        assert_same_csr(single, block_similarity_matrix(X, "cosine", max_neighbors=5,
                                                        engine="local", block_rows=rows))


def test_torch_similarity_blocks_match_a_slow_reference() -> None:
    X = random_ratings(11, n=50, m=30, density=0.3)
    D = dense_cosine(X)
    G = block_similarity_matrix(X, "cosine", max_neighbors=6, engine="local", block_rows=13,
                                device="cpu")
    want = reference_topk_rows(D, 6)
    for a in range(X.shape[0]):
        row = G.indices[G.indptr[a]:G.indptr[a + 1]]
        assert list(row) == sorted(row)
        assert set(row) == want[a]
        np.testing.assert_allclose(G.data[G.indptr[a]:G.indptr[a + 1]], D[a, row], rtol=1e-6)


def test_torch_keeps_negative_neighbours_when_few_positive() -> None:
    # row 0 has one positive and two negative similarities: all three are kept with k = 3
    X = sp.csr_matrix(np.array([[1.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0], [-2.0, 0, 0]]))
    G = block_similarity_matrix(X, "cosine", max_neighbors=3, engine="local", device="cpu")
    assert_same_csr(similarity_matrix(X, "cosine", max_neighbors=3), G)
    assert G.getrow(0).indices.tolist() == [1, 2, 3]


@pytest.mark.parametrize(("method", "kwargs"), [
    ("cosine", {}),
    ("adjusted_cosine", {"min_support": 2, "shrinkage": 25.0}),
    ("pearson", {"positive_only": True}),
])
def test_torch_similarity_equals_cpu_path_ml100k(item_matrix, method, kwargs) -> None:
    """The GPU code run on torch's CPU device against the numba kernel (float tolerance)."""
    cpu = similarity_matrix(item_matrix, method, max_neighbors=40, **kwargs)
    dev = block_similarity_matrix(item_matrix, method, max_neighbors=40, engine="local",
                                  block_rows=600, device="cpu", **kwargs)
    # the two paths may differ in the last float32 bit (float64 sums in another order), which
    # could swap two nearly tied neighbours (documented tolerance); on ML-100K nothing does
    np.testing.assert_array_equal(cpu.indptr, dev.indptr)
    np.testing.assert_array_equal(cpu.indices, dev.indices)
    np.testing.assert_allclose(dev.data, cpu.data, rtol=2e-6, atol=1e-7)


def test_device_resolution() -> None:
    import torch

    assert resolve_device("numpy") is None
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device(None) is None
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        block_similarity_matrix(sp.eye(3, format="csr"), engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        block_similarity_matrix(sp.eye(3, format="csr"), engine="local", block_rows=0)
    with pytest.raises(ConfigError, match="unknown similarity method"):
        block_similarity_matrix(sp.eye(3, format="csr"), "jaccard", engine="local")


# ---------------------------------------------------------------- batch scoring on torch


def test_factor_scoring_on_torch_equals_recommend_indices(mf_model) -> None:
    users = np.r_[np.arange(mf_model.n_users_), -1, 5]
    for exclude in (True, False):
        want = mf_model.recommend_indices(users, 10, exclude_seen=exclude)
        got = factor_topk(mf_model, users, 10, exclude_seen=exclude, device="cpu")
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert not supports_factor_scoring(Popularity())


def test_factor_scoring_ties_and_padding() -> None:
    """All-equal scores: ties go to the lower item index; seen items never appear; padding."""
    X = sp.csr_matrix(np.array([[5.0, 0, 0, 4.0], [0, 3.0, 1.0, 0], [2.0, 2.0, 2.0, 2.0]]))
    model = MatrixFactorization(factors=2, epochs=1, init_std=0.0, biased=False).fit(X)
    users = np.array([0, 1, 2])
    want = model.recommend_indices(users, 3)
    got = factor_topk(model, users, 3, device="cpu")
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].tolist() == [[1, 2, -1], [0, 3, -1], [-1, -1, -1]]
    assert np.isneginf(got[1][2]).all()


# ---------------------------------------------------------------- Parquet output


def test_local_parquet_equals_recommend_frame(knn_model, tmp_path: Path) -> None:
    users = [int(u) for u in knn_model.users_.ids[:300]] + [999_999]
    with pytest.raises(UnknownUserError, match="unknown user id 999999"):  # the one policy
        batch_recommend(knn_model, users, 10, out=tmp_path / "r.parquet")
    assert not (tmp_path / "r.parquet").exists()
    res = batch_recommend(knn_model, users, 10, out=tmp_path / "r.parquet", batch_size=64,
                          unknown="fallback")
    got = pd.read_parquet(res.path)
    want = knn_model.recommend_frame(users, 10, unknown="fallback")
    assert list(got.columns) == ["user_id", "rank", "item_id", "score", "title"]
    titles = knn_model.catalogue_["title"]  # the model carries ml-100k's titles
    assert got["title"].tolist() == [titles[knn_model.items_.index(i)] for i in got["item_id"]]
    assert got["title"].iloc[0] != ""
    assert len(got) == len(want) == res.n_rows
    np.testing.assert_array_equal(got["user_id"].to_numpy(), want["user_id"].astype(np.int64))
    np.testing.assert_array_equal(got["rank"].to_numpy(), want["rank"].to_numpy())
    np.testing.assert_array_equal(got["item_id"].to_numpy(), want["item_id"].astype(np.int64))
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
    assert res.n_unknown_users == 1 and res.n_batches == 5 and res.model_shared is None
    assert got.loc[got.user_id == 999_999, "item_id"].tolist() == \
        knn_model.recommend([999_999], 10, unknown="fallback")[0][0].tolist()


def test_torch_device_writes_the_same_file(mf_model, tmp_path: Path) -> None:
    a = batch_recommend(mf_model, "all", 5, out=tmp_path / "a.parquet", batch_size=200)
    b = batch_recommend(mf_model, "all", 5, out=tmp_path / "b.parquet", batch_size=333,
                        device="cpu")
    assert (a.device, b.device) == ("numpy", "cpu")
    pd.testing.assert_frame_equal(pd.read_parquet(a.path), pd.read_parquet(b.path))
    assert a.n_rows == 5 * mf_model.n_users_


def test_batch_arguments(knn_model, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine"):
        batch_recommend(knn_model, out=tmp_path / "x.parquet", engine="spark")  # type: ignore
    with pytest.raises(ConfigError, match="batch_size"):
        batch_recommend(knn_model, out=tmp_path / "x.parquet", batch_size=0)
    with pytest.raises(ConfigError, match="matrix factorisation"):
        batch_recommend(knn_model, out=tmp_path / "x.parquet", device="cpu")
    with pytest.raises(ConfigError, match="'all'"):
        batch_recommend(knn_model, "everyone", out=tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_ray_missing_is_a_clear_error(knn_model, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RayUnavailableError, match=r"pip install 'synerec\[ray\]'"):
        batch_recommend(knn_model, out=tmp_path / "x.parquet", engine="ray")
    with pytest.raises(RayUnavailableError):
        block_similarity_matrix(sp.eye(3, format="csr"), engine="ray")
    assert list(tmp_path.iterdir()) == []


def test_importing_synerec_does_not_import_ray_or_torch() -> None:
    code = ("import sys, synerec, synerec.distributed, synerec.cli.main; "
            "print('ray' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------- CLI


def test_cli_batch_recommend_local(knn_model, tmp_path: Path, capsys) -> None:
    model_dir = knn_model.save(tmp_path / "model")
    ids = [int(u) for u in knn_model.users_.ids[:40]]
    user_file = tmp_path / "users.txt"
    user_file.write_text("# users\n" + "\n".join(map(str, ids)) + "\n\n")
    out = tmp_path / "recs.parquet"
    code = main(["batch-recommend", "--model-dir", str(model_dir), "--users", str(user_file),
                 "--n", "7", "--out", str(out), "--engine", "local", "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {40 * 7} rows of item-cf for 40 users" in err
    got = pd.read_parquet(out)
    want = knn_model.recommend_frame(ids, 7)
    np.testing.assert_array_equal(got["item_id"].to_numpy(), want["item_id"].astype(np.int64))
    np.testing.assert_array_equal(got["user_id"].to_numpy(), want["user_id"].astype(np.int64))


def test_cli_errors_are_one_line(knn_model, tmp_path: Path, capsys) -> None:
    model_dir = knn_model.save(tmp_path / "model")
    bad = tmp_path / "users.txt"
    bad.write_text("1\n2\nalice\n")
    out = str(tmp_path / "r.parquet")
    code = main(["batch-recommend", "--model-dir", str(model_dir), "--users", str(bad),
                 "--out", out, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and "alice" in err and "Traceback" not in err
    code = main(["batch-recommend", "--model-dir", str(model_dir), "--out", out,
                 "--engine", "spark"])
    assert code == 2 and "--engine must be local or ray" in capsys.readouterr().err
    code = main(["batch-recommend", "--model-dir", str(tmp_path / "none"), "--out", out])
    assert code == 2 and "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- embedding through the cache


class CountingEncoder:
    """Wraps an encoder and records how many texts it was asked to embed."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls: list[int] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts, *, batch_size=None, show_progress=False):  # type: ignore[no-untyped-def]
        self.calls.append(len(texts))
        return self.inner.encode(texts)


def test_embed_catalogue_local_through_the_cache(ml100k, tmp_path: Path) -> None:
    from synerec.text import EmbeddingCache, TfidfEncoder, item_texts

    texts = list(item_texts(ml100k))[:300]
    texts += [*texts[:10], ""]  # repeats are computed once; an empty text is a zero row
    tfidf = TfidfEncoder(max_features=256).fit(texts)
    enc = CountingEncoder(tfidf)
    cache = EmbeddingCache(tmp_path / "cache")
    E = embed_catalogue(enc, texts, cache=cache, chunk_size=64)
    np.testing.assert_allclose(E, tfidf.encode(texts), rtol=1e-6, atol=1e-7)
    assert sum(enc.calls) == len(set(texts)) and max(enc.calls) == 64
    assert not E[-1].any()
    again = embed_catalogue(enc, texts, cache=EmbeddingCache(tmp_path / "cache"))
    assert sum(enc.calls) == len(set(texts))  # nothing recomputed
    np.testing.assert_array_equal(again, E)


# ------------------------------------------------- the hybrid's retrievers through an injected map


def test_the_hybrid_fits_its_retrievers_through_the_injected_map() -> None:
    """``retriever_fits``, the hook :func:`synerec.distributed.parallel_fit` uses: the fits run
    in another order (as parallel tasks may finish), the fitted hybrid is the plain fit's."""
    from synerec.data.demo_shop import generate_demo_shop
    from synerec.hybrid import HybridRanker
    from synerec.hybrid.retrievers import retriever_fits
    from tests.hybrid.test_hybrid import FAST, SHOP

    shop = generate_demo_shop(**SHOP)
    params = {**FAST, "retrievers": ("ease", "item-cf", "t-item-cf", "popularity")}
    calls: list[list[str]] = []

    def backwards(fit_one, specs, part):  # type: ignore[no-untyped-def]
        calls.append([s.label for s in specs])
        return [fit_one(s, part) for s in reversed(specs)][::-1]

    with retriever_fits(backwards):
        model = HybridRanker(**params).fit(shop)
    plain = HybridRanker(**params).fit(shop)  # outside the block: the plain loop again
    assert calls == [["ease", "item-cf", "t-item-cf", "popularity"]] * 2  # fit part, refit
    got, want = model._arrays(), plain._arrays()
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert model._files() == plain._files()

    with retriever_fits(lambda fit_one, specs, part: []), \
            pytest.raises(ConfigError, match="returned 0 models for 4 retrievers"):
        HybridRanker(**params).fit(shop)
