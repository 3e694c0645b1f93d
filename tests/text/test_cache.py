"""The embedding cache: hits, persistence, keys per encoder, crash safety."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from synerec.exceptions import SynerecError
from synerec.text import CacheStats, EmbeddingCache, cached_encode, default_cache_folder
from synerec.text.cache import text_key

HASH_ENCODER = '''
import hashlib
import numpy as np

class HashEncoder:
    """Deterministic vectors from the text's sha256; records every text it is asked for."""

    def __init__(self, name="hash-v1", dimension=6, delay=0.0):
        self.name = name
        self.dimension = dimension
        self.delay = delay
        self.seen = []

    def encode(self, texts, *, batch_size=None, show_progress=False):
        import time
        time.sleep(self.delay * len(texts))
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            if t.strip():
                seed = int.from_bytes(hashlib.sha256((self.name + t).encode()).digest()[:8],
                                      "little")
                v = np.random.default_rng(seed).normal(size=self.dimension)
                out[i] = v / np.linalg.norm(v)
        return out
'''
namespace: dict[str, object] = {}
exec(HASH_ENCODER, namespace)  # the same class the crash subprocess uses
HashEncoder = namespace["HashEncoder"]

TEXTS = [f"item number {i}" for i in range(40)]


def test_text_key_is_sha256_of_utf8() -> None:
    assert text_key("café") == hashlib.sha256("café".encode()).digest()
    assert len(text_key("")) == 32


def test_computes_only_missing_texts(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = HashEncoder()
    expected = enc.encode(TEXTS)
    enc.seen.clear()
    stats = CacheStats()
    first = cached_encode(enc, TEXTS[:25], cache=cache, stats=stats)
    np.testing.assert_array_equal(first, expected[:25])
    assert (stats.hits, stats.misses) == (0, 25)
    enc.seen.clear()
    stats = CacheStats()
    both = cached_encode(enc, TEXTS, cache=cache, stats=stats)
    np.testing.assert_array_equal(both, expected)
    assert enc.seen == TEXTS[25:]
    assert (stats.hits, stats.misses, stats.total) == (25, 15, 40)
    assert both.dtype == np.float32


def test_duplicates_are_computed_once(tmp_path: Path) -> None:
    enc = HashEncoder()
    texts = ["a", "b", "a", "c", "b", "a"]
    out = cached_encode(enc, texts, cache=EmbeddingCache(tmp_path))
    assert sorted(enc.seen) == ["a", "b", "c"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[4])
    assert EmbeddingCache(tmp_path).count(enc.name) == 3


def test_persists_across_cache_objects(tmp_path: Path) -> None:
    enc = HashEncoder()
    cached_encode(enc, TEXTS, cache=EmbeddingCache(tmp_path))
    fresh_encoder = HashEncoder()
    stats = CacheStats()
    out = cached_encode(fresh_encoder, TEXTS, cache=EmbeddingCache(tmp_path), stats=stats)
    assert fresh_encoder.seen == [] and stats.hits == 40
    np.testing.assert_array_equal(out, enc.encode(TEXTS))
    # stored as given: float32 exactly, no pickle in the shards
    for shard in EmbeddingCache(tmp_path).shards(enc.name):
        with np.load(shard, allow_pickle=False) as z:
            assert z["vectors"].dtype == np.float32 and z["keys"].shape[1] == 32


def test_key_includes_encoder_name(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    a, b = HashEncoder("model-a"), HashEncoder("model-b")
    va = cached_encode(a, TEXTS[:5], cache=cache)
    vb = cached_encode(b, TEXTS[:5], cache=cache)
    assert b.seen == TEXTS[:5]  # nothing reused from model-a
    assert not np.allclose(va, vb)
    assert cache.encoder_folder("model-a") != cache.encoder_folder("model-b")
    # names that slug alike still get their own folders
    assert cache.encoder_folder("x/y") != cache.encoder_folder("x:y")
    np.testing.assert_array_equal(cache.get("model-a", TEXTS[:5])[0], va)


def test_each_chunk_is_its_own_shard(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = HashEncoder()
    cached_encode(enc, TEXTS, cache=cache, chunk_size=16)
    assert len(cache.shards(enc.name)) == 3  # 16 + 16 + 8
    merged = cache.compact(enc.name)
    assert cache.shards(enc.name) == [merged]
    other = EmbeddingCache(tmp_path)
    vectors, found = other.get(enc.name, TEXTS)
    assert found.all()
    np.testing.assert_array_equal(vectors, enc.encode(TEXTS))


def test_empty_input_and_empty_texts(tmp_path: Path) -> None:
    enc = HashEncoder()
    assert cached_encode(enc, [], cache=EmbeddingCache(tmp_path)).shape == (0, 6)
    out = cached_encode(enc, ["", "x"], cache=EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(out[0], np.zeros(6))


def test_dimension_change_under_one_name_is_an_error(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cached_encode(HashEncoder("same", dimension=6), ["a"], cache=cache)
    with pytest.raises(SynerecError, match="6-dimensional"):
        cached_encode(HashEncoder("same", dimension=4), ["b"], cache=cache)


def test_default_folder_is_in_the_cache_home(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_CACHE_HOME", str(tmp_path))
    assert default_cache_folder() == tmp_path / "embeddings"
    enc = HashEncoder()
    cached_encode(enc, ["hello"], cache=EmbeddingCache())
    assert len(list((tmp_path / "embeddings").glob("*/shard-*.npz"))) == 1


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = EmbeddingCache(tmp_path)
    enc = HashEncoder()
    cached_encode(enc, TEXTS[:3], cache=cache)

    def broken_savez(fh: object, **arrays: object) -> None:
        fh.write(b"PK\x03\x04 half a zip")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        cached_encode(enc, TEXTS[3:6], cache=cache)
    monkeypatch.undo()
    folder = cache.encoder_folder(enc.name)
    assert sorted(p.name.startswith("shard-") for p in folder.iterdir()
                  if p.name != "encoder.json") == [True]
    assert EmbeddingCache(tmp_path).count(enc.name) == 3


def test_partial_temp_file_and_corrupt_shard_are_ignored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    enc = HashEncoder()
    cache = EmbeddingCache(tmp_path)
    cached_encode(enc, TEXTS[:10], cache=cache, chunk_size=5)
    folder = cache.encoder_folder(enc.name)
    good = cache.shards(enc.name)
    # what a writer killed mid-way leaves behind, and a shard damaged outside synerec
    (folder / ".tmp-0123abcd-shard-99999999999999999999-deadbeef.npz").write_bytes(b"PK\x03")
    good[1].write_bytes(good[1].read_bytes()[:50])
    reader = EmbeddingCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="synerec.text.cache"):
        assert reader.count(enc.name) == 5
    assert "unreadable cache shard" in caplog.text
    enc.seen.clear()
    out = cached_encode(enc, TEXTS[:10], cache=reader)
    assert enc.seen == TEXTS[5:10]  # only the lost ones are recomputed
    np.testing.assert_array_equal(out, enc.encode(TEXTS[:10]))
    os.utime(folder / ".tmp-0123abcd-shard-99999999999999999999-deadbeef.npz", (0, 0))
    assert reader.clean() == 1


CRASH_SCRIPT = HASH_ENCODER + textwrap.dedent('''
    import sys
    from synerec.text import EmbeddingCache, cached_encode

    texts = [f"item number {i}" for i in range(40)]
    enc = HashEncoder(delay=0.05)
    cached_encode(enc, texts, cache=EmbeddingCache(sys.argv[1]), chunk_size=4)
    print("finished")
''')


def test_killed_run_keeps_finished_chunks(tmp_path: Path) -> None:
    """SIGKILL a real process while it embeds; the next run loads and completes the cache."""
    cache_dir = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(cache_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = EmbeddingCache(cache_dir).encoder_folder("hash-v1")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(folder.glob("shard-*.npz"))) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    cache = EmbeddingCache(cache_dir)
    done = cache.count("hash-v1")
    assert 8 <= done < 40 and done % 4 == 0  # whole chunks only
    enc = HashEncoder()
    out = cached_encode(enc, TEXTS, cache=cache)
    assert len(enc.seen) == 40 - done
    np.testing.assert_array_equal(out, HashEncoder().encode(TEXTS))
    assert EmbeddingCache(cache_dir).count("hash-v1") == 40


def test_get_with_bad_texts(tmp_path: Path) -> None:
    with pytest.raises(SynerecError, match="single string"):
        cached_encode(HashEncoder(), "abc", cache=EmbeddingCache(tmp_path))  # type: ignore[arg-type]

