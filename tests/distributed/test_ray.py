"""On a local Ray cluster (2 CPUs): similarity, batch recommendation (item-cf, mf, the hybrid)
and embedding equal the single-node results on MovieLens 100K and a small shop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import ItemKNN, MatrixFactorization
from synerec.data import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop
from synerec.distributed import (
    batch_recommend,
    block_similarity_matrix,
    embed_catalogue,
    parallel_fit,
)
from synerec.exceptions import ConfigError
from synerec.hybrid import HybridRanker
from synerec.hybrid.booster import NativeBooster
from synerec.similarity import similarity_matrix
from tests.hybrid.test_hybrid import FAST, SHOP

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


@pytest.fixture(scope="module")
def shop() -> InteractionDataset:
    return generate_demo_shop(**SHOP)


@pytest.fixture(scope="module")
def hybrid(shop: InteractionDataset) -> HybridRanker:
    """The default hybrid (every retriever, a LambdaRank ranker) on a small shop: ~4 s."""
    model = HybridRanker(**FAST).fit(shop)
    assert model.ranker_kind_ == "lambdarank"
    return model


def test_hybrid_batch_recommend_on_ray_is_the_local_file(cluster, hybrid: HybridRanker,  # type: ignore
                                                         tmp_path: Path, capsys) -> None:
    """The hybrid's lists on two Ray workers: the local run's Parquet file, byte for byte, from
    a fitted model and from its saved directory through the CLI."""
    from synerec.cli.main import main

    local = batch_recommend(hybrid, "all", 10, out=tmp_path / "local.parquet", batch_size=30)
    dist = batch_recommend(hybrid, "all", 10, out=tmp_path / "ray.parquet", engine="ray",
                           batch_size=30)
    assert dist.workers == 2 and dist.n_batches == 4 and dist.n_rows == local.n_rows
    assert dist.model_shared is True  # the booster travelled as text, the arrays zero-copy
    assert dist.path.read_bytes() == local.path.read_bytes()
    got = pd.read_parquet(local.path)
    want = hybrid.recommend_frame(list(hybrid.users_.ids), 10)
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got["item_id"].to_numpy(), want["item_id"].to_numpy())
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())

    model_dir = hybrid.save(tmp_path / "model")
    files = {}
    for engine in ("local", "ray"):
        files[engine] = tmp_path / f"cli-{engine}.parquet"
        code = main(["batch-recommend", "--model-dir", str(model_dir), "--n", "10", "--out",
                     str(files[engine]), "--engine", engine, "--batch-size", "30"]
                    + (["--workers", "2"] if engine == "ray" else []))
        assert code == 0, capsys.readouterr().err
    assert "(ray, numpy, 2 worker(s)" in capsys.readouterr().err
    assert files["ray"].read_bytes() == files["local"].read_bytes()


def _remote_predict(booster: NativeBooster, X: np.ndarray) -> np.ndarray:
    return booster.predict(X)


def test_native_booster_travels_through_ray_bit_equal(cluster, hybrid: HybridRanker) -> None:  # type: ignore
    """A booster sent to a Ray worker (object store, and as a task argument) predicts there
    what it predicts here, bit for bit, and comes back with the same model text."""
    assert hybrid.ranker_ is not None
    booster = hybrid.ranker_.booster
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, len(booster.feature_name())))
    X[rng.random(X.shape) < 0.2] = np.nan  # missing values take the default branches
    here = booster.predict(X)
    ref = cluster.put(booster)
    there = cluster.get(cluster.remote(_remote_predict).remote(ref, X))
    np.testing.assert_array_equal(there, here)
    back = cluster.get(ref)
    assert back is not booster and back.model_to_string() == booster.model_to_string()
    assert back.feature_name() == booster.feature_name()
    np.testing.assert_array_equal(back.predict(X, pred_contrib=True),
                                  booster.predict(X, pred_contrib=True))
    # the same transport without Ray: pickle's protocol (what Ray uses) and copy.deepcopy
    import copy
    import pickle

    for other in (pickle.loads(pickle.dumps(booster)), copy.deepcopy(booster)):
        assert other.model_to_string() == booster.model_to_string()
        np.testing.assert_array_equal(other.predict(X), here)


def test_a_model_that_cannot_travel_is_a_one_line_error(cluster, shop: InteractionDataset,  # type: ignore
                                                          tmp_path: Path) -> None:
    import threading

    model = ItemKNN(k=5).fit(shop)
    model.guard_ = threading.Lock()  # something that lives only in this process
    out = tmp_path / "recs.parquet"
    with pytest.raises(ConfigError) as info:
        batch_recommend(model, "all", 5, out=out, engine="ray")
    message = str(info.value)
    assert message.startswith("the ItemKNN model cannot be sent to Ray workers (")
    assert "lock" in message and "engine='local'" in message and "\n" not in message
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


def _saved(model: HybridRanker, folder: Path) -> tuple[dict[str, np.ndarray], bytes]:
    """A saved hybrid's arrays and its ranker's text, read back from the files."""
    path = model.save(folder)
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, (path / "ranker.txt").read_bytes()


def test_hybrid_retrievers_fitted_on_ray_equal_the_local_fit(  # type: ignore
        cluster, shop: InteractionDataset, hybrid: HybridRanker, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Every retriever of the default hybrid fitted in its own Ray task (the validation part's
    fits, then the refit): the saved model's arrays and ranker are the local fit's, bit for
    bit, and so are the lists."""
    with caplog.at_level("INFO", logger="synerec.progress"):
        model = parallel_fit(HybridRanker(**FAST), shop)
    names = hybrid.retriever_names_
    assert model.retriever_names_ == names and len(names) == 8
    on_ray = [r.getMessage() for r in caplog.records if "fitted on Ray" in r.getMessage()]
    assert len(on_ray) == 2 * len(names)  # the fit part's round, the refit's round
    assert {m.split()[3] for m in on_ray} == set(names)
    # the fitted retrievers own writable arrays, as after a local fit
    assert all(a.flags.writeable for r in model.retrievers_ for a in r._arrays().values())

    local_arrays, local_ranker = _saved(hybrid, tmp_path / "local")
    ray_arrays, ray_ranker = _saved(model, tmp_path / "ray")
    assert ray_ranker == local_ranker
    assert ray_arrays.keys() == local_arrays.keys()
    assert "model.r0.weights" in ray_arrays  # the retrievers' own arrays (r0: EASE)
    for key, want in local_arrays.items():
        np.testing.assert_array_equal(ray_arrays[key], want, err_msg=key)
    users = np.arange(model.n_users_)
    for got, want in zip(model.recommend_indices(users, 10),
                         hybrid.recommend_indices(users, 10), strict=True):
        np.testing.assert_array_equal(got, want)


def test_parallel_fit_of_a_model_without_retrievers(cluster, shop: InteractionDataset,  # type: ignore
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="synerec.distributed.fit"):
        model = parallel_fit(ItemKNN(k=5), shop)
    assert "ItemKNN has no retrievers to fit in parallel: it was fitted here" in caplog.text
    got, want = model._arrays(), ItemKNN(k=5).fit(shop)._arrays()
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    with pytest.raises(ConfigError, match="task_cpus must be a number > 0, got 0"):
        parallel_fit(ItemKNN(k=5), shop, task_cpus=0)


def test_cli_fit_on_ray_saves_the_local_model(cluster, shop: InteractionDataset,  # type: ignore
                                              tmp_path: Path, capsys) -> None:
    """``synerec fit --engine ray`` fits the hybrid's retrievers on Ray and saves the model a
    local fit saves, array for array (the manifest's checksums)."""
    from synerec.cli.main import main

    frame = pd.DataFrame({"user_id": shop.users.ids[shop.user_index],
                          "item_id": shop.items.ids[shop.item_index],
                          "rating": shop.values, "timestamp": shop.timestamps})
    data = tmp_path / "ratings.csv"
    frame.to_csv(data, index=False)
    params = [x for k, v in FAST.items() for x in ("-p", f"{k}={v}")]
    manifests = []
    for engine in ("local", "ray"):
        out = tmp_path / engine
        code = main(["fit", "--data", str(data), "--model", "hybrid", *params, "--out",
                     str(out), "--engine", engine])
        assert code == 0, capsys.readouterr().err
        manifests.append(json.loads((out / "model.json").read_text()))
    local, remote = manifests
    assert remote["arrays"] == local["arrays"] and remote["files"] == local["files"]
    assert main(["fit", "--data", str(data), "--out", str(tmp_path / "x"), "--engine",
                 "spark"]) == 2
    assert "--engine must be local or ray" in capsys.readouterr().err
