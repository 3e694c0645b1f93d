"""Service parts without HTTP: scoring vs a slow reference, the event store, swaps, settings."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.exceptions import ConfigError
from synerec.service import EventRecord, EventStore, ModelStore, load_settings, load_snapshot
from synerec.service.events import AddResult
from synerec.service.metrics import Metrics
from synerec.service.retrain import build_training_frame
from synerec.service.scoring import (
    event_weight,
    neighbor_scores,
    neighbor_scores_reference,
    profile_weights,
)
from tests.service import fit_demo_model


@st.composite
def similarity_and_profile(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 12))
    dense = draw(st.lists(st.lists(st.sampled_from([0.0, 0.0, 0.25, -0.5, 1.0, 0.7]),
                                   min_size=n, max_size=n), min_size=n, max_size=n))
    S = sp.csr_matrix(np.array(dense, dtype=np.float32))
    S.eliminate_zeros()
    items = np.array(sorted(draw(st.sets(st.integers(0, n - 1), max_size=n))), dtype=np.int64)
    w = np.array(draw(st.lists(st.floats(0, 1), min_size=len(items), max_size=len(items))))
    return S, items, w


@settings(max_examples=150, deadline=None)
@given(similarity_and_profile())
def test_neighbor_scores_equal_the_reference(case) -> None:  # type: ignore[no-untyped-def]
    S, items, w = case
    fast = neighbor_scores(S, items, w)
    ref = neighbor_scores_reference(S, items, w)
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(ref))
    np.testing.assert_allclose(fast[np.isfinite(fast)], ref[np.isfinite(ref)], rtol=1e-5,
                               atol=1e-6)


def test_event_weights_and_profile_merge() -> None:
    weights = {"view": 1.0, "cart": 2.0, "purchase": 3.0, "none": 1.0}
    assert event_weight(4.0, None, (1.0, 5.0), weights) == 0.75
    assert event_weight(None, "cart", (1.0, 5.0), weights) == pytest.approx(2 / 3)
    assert event_weight(None, None, None, weights) == pytest.approx(1 / 3)
    assert event_weight(2.0, "view", None, weights) == 1.0
    items, w = profile_weights(np.array([2, 5]), np.array([5.0, 1.0]), [5, 7, -1, 2],
                               [0.5, 0.25, 1.0, 0.1], (1.0, 5.0))
    assert items.tolist() == [2, 5, 7]  # -1 (unknown item) dropped
    assert w.tolist() == [1.0, 0.5, 0.25]  # each item keeps its largest weight


def test_event_store_batches_are_all_or_nothing(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ev.sqlite3")
    assert store.add([EventRecord("u1", "i1", 4.0), EventRecord("u2", "i2", None, "view")],
                     now=100.0) == AddResult(1, 2)
    bad = [EventRecord("u3", "i3"), EventRecord("u4", {"not": "text"})]  # type: ignore
    with pytest.raises(Exception):  # noqa: B017 - sqlite's own binding error
        store.add(bad)
    assert store.count() == store.count_in_db() == 2
    assert store.add([EventRecord("u5", "i5", timestamp=7.0)], now=200.0) == AddResult(3, 3)
    got = store.events(after_id=1)
    assert [(e.id, e.user_id, e.item_id, e.rating, e.event, e.timestamp) for e in got] == [
        (2, "u2", "i2", None, "view", 100.0), (3, "u5", "i5", None, None, 7.0)]
    store.close()
    reopened = EventStore(tmp_path / "ev.sqlite3")
    assert reopened.count() == 3 and reopened.max_id() == 3
    reopened.close()


def test_training_frame_merges_base_and_events() -> None:
    base = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20], "rating": [3.0, 4.0],
                         "timestamp": [5, 6]})
    events = pd.DataFrame({"id": [1, 2, 3], "user_id": ["1", "3", "2"],
                           "item_id": ["10", "20", "30"], "rating": [5.0, None, None],
                           "event": [None, "purchase", "view"], "timestamp": [9.0, 9.0, 9.0]})
    out = build_training_frame(base, (1.0, 5.0), events,
                               implied_ratings={"purchase": 1.0, "view": None},
                               event_weights={})
    assert out["user_id"].tolist() == [1, 2, 1, 3]  # integer ids kept; the view is left out
    assert out["item_id"].tolist() == [10, 20, 10, 20]
    assert out["rating"].tolist() == [3.0, 4.0, 5.0, 5.0]
    text = build_training_frame(base, (1.0, 5.0), events.assign(user_id=["a", "b", "c"]),
                                implied_ratings={}, event_weights={})
    assert text["user_id"].tolist() == ["1", "2", "a"]


def test_readers_never_see_a_half_swapped_model(tmp_path: Path) -> None:
    d1 = fit_demo_model(tmp_path / "m1", "popularity")
    d2 = fit_demo_model(tmp_path / "m2", "baseline")
    store = ModelStore(tmp_path / "state", d1)
    expected = {1: "popularity"}
    for v in range(2, 12):
        expected[v] = "popularity" if v % 2 else "baseline"
    snaps = {v: load_snapshot(d1 if v % 2 else d2, version=v, events_upto=v)
             for v in range(2, 12)}
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            s = store.current
            if s.model_name != expected[s.version] or s.events_upto not in (0, s.version):
                bad.append(f"version {s.version} holds {s.model_name}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for v in range(2, 12):
        store.swap(snaps[v])
    stop.set()
    for t in threads:
        t.join()
    assert not bad
    assert store.current.version == 11
    assert ModelStore(tmp_path / "state", d1).current.version == 11  # CURRENT persisted


def test_settings_from_toml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "svc.toml"
    f.write_text('model_dir = "m"\napi_keys = ["file-key"]\nmax_n = 50\n', encoding="utf-8")
    monkeypatch.setenv("SYNEREC_API_KEYS", " env-a, ,env-b ")
    s = load_settings(f, port=9000)
    assert s.model_dir == tmp_path / "m" and s.port == 9000 and s.max_n == 50
    assert s.all_api_keys() == [b"file-key", b"env-a", b"env-b"]
    assert "file-key" not in repr(s)
    assert s.resolved_state_dir == tmp_path / "m.service"
    f.write_text('model_dir = "m"\nmax_nn = 5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'max_nn'"):
        load_settings(f)


def test_metrics_text_format() -> None:
    m = Metrics()
    m.observe_request("GET", "/a", 200, 0.003)
    m.observe_request("GET", "/a", 200, 0.2)
    m.observe_request("POST", '/b"x', 401, 0.0001)
    text = m.render({"synerec_model_version": ("Version.", 3)}).splitlines()
    assert 'synerec_http_requests_total{method="GET",route="/a",status="200"} 2' in text
    assert 'synerec_http_requests_total{method="POST",route="/b\\"x",status="401"} 1' in text
    assert 'synerec_http_request_duration_seconds_bucket{route="/a",le="0.005"} 1' in text
    assert 'synerec_http_request_duration_seconds_bucket{route="/a",le="0.25"} 2' in text
    assert 'synerec_http_request_duration_seconds_sum{route="/a"} 0.203' in text
    assert "synerec_model_version 3" in text


@pytest.mark.parametrize("model", ["item-cf", "baseline"])
def test_precomputed_lists_equal_the_models_own(tmp_path: Path, model: str) -> None:
    from synerec.service.engine import recommend

    d = fit_demo_model(tmp_path / "m", model)
    snap = load_snapshot(d, version=1, events_upto=0, precompute_n=30)
    plain = load_snapshot(d, version=1, events_upto=0)
    assert snap.top_items is not None and snap.top_items.shape[1] == 30
    assert plain.top_items is None
    users = np.arange(snap.model.n_users_)
    for n in (1, 7, 30):
        idx, sc = snap.model.recommend_indices(users, n, exclude_seen=True)
        assert np.array_equal(snap.top_items[:, :n], idx)
        assert np.array_equal(snap.top_scores[:, :n], sc)
    for user in snap.model.users_.ids[:25]:
        for n in (5, 30, 31):  # 31 > precompute_n: computed live
            fast = recommend(snap, str(user), [], n, exclude_seen=True, explain=False,
                             event_weights={})
            slow = recommend(plain, str(user), [], n, exclude_seen=True, explain=False,
                             event_weights={})
            assert fast.items == slow.items and fast.scores == slow.scores
    tiny = load_snapshot(d, version=1, events_upto=0, precompute_n=30, precompute_max_users=10)
    assert tiny.top_items is None  # too many users: disabled


def _mapped(a: np.ndarray) -> bool:
    while a is not None and not isinstance(a, np.memmap):
        a = a.base  # type: ignore[assignment]
    return isinstance(a, np.memmap)


@pytest.mark.parametrize("model", ["item-cf", "mf"])
def test_serving_files_are_computed_once_and_memory_mapped(tmp_path: Path, model: str) -> None:
    d = fit_demo_model(tmp_path / "m", model)
    first = ModelStore(tmp_path / "state", d, precompute_n=20, mmap=True, shared_cache=True)
    entries = [p for p in (tmp_path / "state" / "cache").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "model.json").is_file()
    stamp = (entries[0] / "arrays.npz").stat().st_mtime_ns
    second = ModelStore(tmp_path / "state", d, precompute_n=20, mmap=True, shared_cache=True)
    assert (entries[0] / "arrays.npz").stat().st_mtime_ns == stamp  # read, not recomputed
    a, b = first.current, second.current
    assert b.top_items is not None and _mapped(b.top_items) and _mapped(b.top_scores)
    np.testing.assert_array_equal(a.top_items, b.top_items)
    plain = load_snapshot(d, version=1, events_upto=0, precompute_n=20)
    np.testing.assert_array_equal(plain.top_items, b.top_items)
    np.testing.assert_array_equal(plain.top_scores, b.top_scores)
    assert (plain.similarity != b.similarity).nnz == 0
    assert b.similarity_source == ("model" if model == "item-cf" else "service_cosine")
    if model == "mf":  # the service's cosine similarity is shared too
        assert _mapped(b.similarity.data)
    # a damaged cache entry is detected by its checksum and computed again
    raw = bytearray((entries[0] / "arrays.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (entries[0] / "arrays.npz").write_bytes(bytes(raw))
    third = ModelStore(tmp_path / "state", d, precompute_n=20, mmap=True, shared_cache=True)
    np.testing.assert_array_equal(third.current.top_items, plain.top_items)


def test_the_write_ahead_log_is_truncated_when_large(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ev.sqlite3")
    reader = EventStore(tmp_path / "ev.sqlite3")  # another process's connections, reading
    for b in range(30):
        store.add([EventRecord(f"u{b}-{k}", f"i{k}", 4.0) for k in range(200)])
        assert reader.max_id() == (b + 1) * 200
    assert store.wal_bytes() > 100_000
    assert not store.checkpoint(above_bytes=10**9)  # small enough: left alone
    assert store.checkpoint(above_bytes=50_000)
    assert store.wal_bytes() == 0
    assert reader.count_in_db() == store.count_in_db() == 6000  # nothing lost
    store.close()
    reader.close()


def test_the_pending_index_holds_only_events_newer_than_the_model(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "ev.sqlite3")
    store.add([EventRecord("a", f"i{k}") for k in range(5)])
    store.add([EventRecord("b", "i9"), EventRecord("a", "i7")])
    assert [e[1] for e in store.user_events("a", 0, 100)] == ["i0", "i1", "i2", "i3", "i4",
                                                              "i7"]
    assert [e[1] for e in store.user_events("a", 0, 2)] == ["i4", "i7"]  # the newest, in order
    assert [e[0] for e in store.user_events("a", 3, 100)] == [4, 5, 7]
    assert store.newest_pending_id("a", 0) == 7 and store.newest_pending_id("b", 0) == 6
    assert store.newest_pending_id("a", 7) == 0 and store.newest_pending_id("nobody", 0) == 0
    assert store.fold(5) == 5 and store.pending_count() == 2
    assert store.newest_pending_id("a", 5) == 7
    assert [e[0] for e in store.user_events("a", 5, 100)] == [7]
    assert store.count_in_db() == 7  # the events themselves stay
    store.close()


def test_an_event_store_of_the_earlier_layout_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as conn:  # the layout of the previous release
        conn.executescript("""
            CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
                item_id TEXT NOT NULL, rating REAL, event TEXT, timestamp REAL NOT NULL,
                received_at REAL NOT NULL);
            CREATE INDEX events_user ON events (user_id, id);
            INSERT INTO events (user_id, item_id, rating, event, timestamp, received_at)
                VALUES ('u', 'x', 4.0, NULL, 1, 1), ('u', 'y', NULL, 'view', 2, 2);
        """)
    conn.close()
    store = EventStore(db)
    assert store.pending_count() == 2 and store.count() == 2
    assert [e[1] for e in store.user_events("u", 0, 10)] == ["x", "y"]
    store.close()
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "events_user" not in names and "pending" in names
