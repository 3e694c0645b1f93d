"""On a local Ray cluster (2 CPUs): similarity, batch recommendation and embedding equal the
single-node results on MovieLens 100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import ItemKNN, MatrixFactorization
from synerec.distributed import batch_recommend, block_similarity_matrix, embed_catalogue
from synerec.similarity import similarity_matrix

try:
    import ray
except ImportError:  # the test command installs the extra: a missing ray is a failure
    pytest.fail("ray is not installed: pip install 'synerec[ray]' (make test installs it)",
                pytrace=False)


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    """A local Ray runtime for this module, shut down after it."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_similarity_on_ray_equals_single_node(cluster, ml100k) -> None:  # type: ignore
    X = ml100k.matrix.T.tocsr()
    for method, kwargs in (("cosine", {}),
                           ("adjusted_cosine", {"min_support": 2, "shrinkage": 25.0})):
        single = similarity_matrix(X, method, max_neighbors=50, **kwargs)
        merged, costs = block_similarity_matrix(X, method, max_neighbors=50, engine="ray",
                                                block_rows=200, return_costs=True, **kwargs)
        # bit-for-bit: same structure, same float32 values
        np.testing.assert_array_equal(merged.indptr, single.indptr)
        np.testing.assert_array_equal(merged.indices, single.indices)
        np.testing.assert_array_equal(merged.data, single.data)
        assert len(costs) == 9 and all(c.seconds > 0 for c in costs)


@pytest.mark.parametrize("kind", ["item-cf", "mf"])
def test_batch_recommend_on_ray_equals_local(cluster, ml100k, tmp_path: Path,  # type: ignore
                                             kind: str) -> None:
    model = (ItemKNN(k=20, max_neighbors=50) if kind == "item-cf"
             else MatrixFactorization(factors=16, epochs=3, random_state=0)).fit(ml100k)
    local = batch_recommend(model, "all", 10, out=tmp_path / "local.parquet", batch_size=100)
    dist = batch_recommend(model, "all", 10, out=tmp_path / "ray.parquet", engine="ray",
                           batch_size=100)
    assert dist.workers == 2 and dist.n_batches == 10
    assert dist.model_shared is True  # each worker read the one object-store copy, zero-copy
    a, b = pd.read_parquet(local.path), pd.read_parquet(dist.path)
    pd.testing.assert_frame_equal(a, b)
    want = model.recommend_frame(list(model.users_.ids), 10)
    assert len(a) == len(want) == 10 * ml100k.n_users
    np.testing.assert_array_equal(a["item_id"].to_numpy(), want["item_id"].astype(np.int64))
    np.testing.assert_array_equal(a["score"].to_numpy(), want["score"].to_numpy())


def test_embedding_on_ray_equals_local(cluster, ml100k, tmp_path: Path) -> None:  # type: ignore
    """Item texts embedded by Ray actors (a TF-IDF encoder: the transformer encoders take the same
    path but load a model in every actor, too slow for CI on two cores)."""
    from synerec.text import EmbeddingCache, TfidfEncoder, item_texts

    texts = list(item_texts(ml100k))
    encoder = TfidfEncoder(max_features=512).fit(texts)
    local = encoder.encode(texts)
    cache = EmbeddingCache(tmp_path / "cache")
    dist = embed_catalogue(encoder, texts, engine="ray", cache=cache, chunk_size=300)
    assert dist.shape == local.shape == (ml100k.n_items, 512)
    np.testing.assert_allclose(dist, local, rtol=1e-6, atol=1e-7)
    # the driver wrote every computed chunk to the cache: a second run reads them all back
    np.testing.assert_array_equal(embed_catalogue(encoder, texts, cache=cache), dist)
    assert cache.count(encoder.name) == len(set(texts))


def test_cli_batch_recommend_on_ray(cluster, ml100k, tmp_path: Path, capsys) -> None:  # type: ignore
    from synerec.cli.main import main

    model = ItemKNN(k=20, max_neighbors=50).fit(ml100k)
    model_dir = model.save(tmp_path / "model")
    users = tmp_path / "users.csv"
    ids = [int(u) for u in model.users_.ids[::7]]
    pd.DataFrame({"user_id": ids}).to_csv(users, index=False)
    out = tmp_path / "recs.parquet"
    code = main(["batch-recommend", "--model-dir", str(model_dir), "--users", str(users),
                 "--n", "5", "--out", str(out), "--engine", "ray", "--batch-size", "50"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"for {len(ids)} users" in err and "(ray, numpy, 2 worker(s)" in err
    assert f"{len(ids)}/{len(ids)}" in err  # the progress bar reached the end
    got = pd.read_parquet(out)
    want = model.recommend_frame(ids, 5)
    np.testing.assert_array_equal(got["user_id"].to_numpy(), want["user_id"].astype(np.int64))
    np.testing.assert_array_equal(got["item_id"].to_numpy(), want["item_id"].astype(np.int64))
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
