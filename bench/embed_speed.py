"""Speed of the text encoders on the 1,682 ML-100K item texts.

Measures, in one process:

* all-MiniLM-L6-v2 (bundled, offline): the model load (torch import included) apart from the
  encoding; a cold run through an empty embedding cache in a temporary folder; a warm run from
  that cache with a fresh :class:`~synerec.text.EmbeddingCache` object (the shards are read from
  disk); the target is under 30 s cold on a two-core CPU and under 1 s from the cache;
* model2vec: the static model distilled from MiniLM (``--model2vec PATH`` to reuse one; otherwise
  it is distilled here into a temporary folder, which takes minutes on two cores), then encoding;
* TF-IDF (fit + encode) for scale.

Prints a table and writes ``bench/results/embed_speed.json``.

Usage::

    SYNEREC_DATA_HOME=/path/to/data python bench/embed_speed.py [--model2vec PATH]
        [--skip-distill] [--batch-size 64] [--device cpu]

Distilling needs ``model2vec[distill]`` (``skeletoken``); encoding with model2vec needs no torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from synerec import __version__
from synerec.data import load_dataset
from synerec.text import (
    CacheStats,
    EmbeddingCache,
    Model2VecEncoder,
    SentenceTransformerEncoder,
    TfidfEncoder,
    cached_encode,
    distill_minilm,
    item_texts,
)

RESULTS = Path(__file__).resolve().parent / "results" / "embed_speed.json"
log = logging.getLogger("bench.embed_speed")


def timed_cached(encoder: Any, texts: list[str], folder: Path, batch_size: int | None
                 ) -> tuple[np.ndarray, dict[str, Any]]:
    """One run of cached_encode with a fresh cache object on ``folder``."""
    stats = CacheStats()
    t0, c0 = time.perf_counter(), time.process_time()
    vectors = cached_encode(encoder, texts, cache=EmbeddingCache(folder), batch_size=batch_size,
                            stats=stats)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return vectors, {"seconds": seconds, "cpu_seconds": cpu, "hits": stats.hits,
                     "computed": stats.misses,
                     "texts_per_s": len(texts) / seconds if seconds > 0 else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns what it writes to the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model2vec", type=Path, default=None,
                        help="an existing model2vec folder (default: distil one here)")
    parser.add_argument("--skip-distill", action="store_true",
                        help="skip model2vec when no --model2vec folder is given")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None, help="torch device (default: CUDA if any)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    data = load_dataset("ml-100k", download=False)
    texts = item_texts(data)
    result: dict[str, Any] = {
        "synerec": __version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "dataset": data.name, "n_texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "load_average_at_start": os.getloadavg()[0], "encoders": {},
    }
    rows: list[tuple[str, str, float, str]] = []

    with tempfile.TemporaryDirectory(prefix="synerec-embed-bench-") as tmp:
        tmp_path = Path(tmp)

        # --- MiniLM -------------------------------------------------------------------------
        t0, c0 = time.perf_counter(), time.process_time()
        minilm = SentenceTransformerEncoder(device=args.device, batch_size=args.batch_size)
        minilm.load()
        load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
        import torch

        device = str(next(minilm.load().parameters()).device)
        cold_vectors, cold = timed_cached(minilm, texts, tmp_path / "cache", None)
        warm_vectors, warm = timed_cached(minilm, texts, tmp_path / "cache", None)
        assert np.array_equal(cold_vectors, warm_vectors)
        assert cold["computed"] == len(texts) and warm["hits"] == len(texts)
        result["encoders"]["minilm"] = {
            "name": minilm.name, "dimension": minilm.dimension, "device": device,
            "torch_threads": torch.get_num_threads(), "batch_size": args.batch_size,
            "load_seconds": load_s, "load_cpu_seconds": load_cpu, "cold": cold, "from_cache": warm,
            "cold_under_30s": cold["seconds"] < 30.0, "cache_under_1s": warm["seconds"] < 1.0,
        }
        rows += [("minilm", "model load (torch import included)", load_s,
                  f"{load_cpu:.1f} s CPU"),
                 ("minilm", "cold, empty cache", cold["seconds"],
                  f"{cold['texts_per_s']:.0f} texts/s on {device}; "
                  f"{cold['cpu_seconds']:.1f} s CPU"),
                 ("minilm", "from the cache", warm["seconds"],
                  f"{warm['hits']} hits")]

        # --- model2vec ----------------------------------------------------------------------
        m2v_path = args.model2vec
        distill_s = None
        if m2v_path is None and not args.skip_distill:
            t0 = time.perf_counter()
            m2v_path = distill_minilm(tmp_path / "minilm-m2v", device=args.device)
            distill_s = time.perf_counter() - t0
            rows.append(("model2vec", "distil from MiniLM", distill_s, ""))
        if m2v_path is not None:
            t0 = time.perf_counter()
            m2v = Model2VecEncoder(m2v_path)
            m2v.load()
            m2v_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            m2v_vectors = m2v.encode(texts)
            m2v_s = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in Path(m2v_path).rglob("*") if p.is_file())
            # agreement with MiniLM: how often the nearest neighbour of an item is the same
            agree = _neighbour_agreement(cold_vectors, m2v_vectors)
            result["encoders"]["model2vec"] = {
                "name": m2v.name, "dimension": m2v.dimension, "distill_seconds": distill_s,
                "size_mb": size / 1e6, "load_seconds": m2v_load, "encode_seconds": m2v_s,
                "texts_per_s": len(texts) / m2v_s, "top10_neighbour_overlap_with_minilm": agree,
            }
            rows += [("model2vec", "load", m2v_load, f"{size / 1e6:.1f} MB"),
                     ("model2vec", "encode (no cache)", m2v_s,
                      f"{len(texts) / m2v_s:.0f} texts/s; top-10 overlap with MiniLM "
                      f"{agree:.2f}")]

        # --- TF-IDF -------------------------------------------------------------------------
        t0 = time.perf_counter()
        tfidf = TfidfEncoder(n_components=256)
        tfidf_vectors = tfidf.encode(texts)
        tfidf_s = time.perf_counter() - t0
        result["encoders"]["tfidf"] = {
            "name": tfidf.name, "dimension": tfidf.dimension, "fit_encode_seconds": tfidf_s,
            "top10_neighbour_overlap_with_minilm": _neighbour_agreement(cold_vectors,
                                                                        tfidf_vectors)}
        rows.append(("tfidf-svd256", "fit + encode", tfidf_s, ""))

    result["load_average_at_end"] = os.getloadavg()[0]
    print(f"load average (1 min) {result['load_average_at_start']:.1f} at the start, "
          f"{result['load_average_at_end']:.1f} at the end, on {os.cpu_count()} cores")
    print(f"{'encoder':<14} {'step':<36} {'seconds':>9}  note")
    for enc, step, seconds, note in rows:
        print(f"{enc:<14} {step:<36} {seconds:>9.3f}  {note}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return result


def _neighbour_agreement(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean overlap (0..1) of each item's top-``k`` cosine neighbours under ``a`` and ``b``."""
    def top(x: np.ndarray) -> np.ndarray:
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return np.argpartition(-s, k, axis=1)[:, :k]

    ta, tb = top(a), top(b)
    return float(np.mean([len(set(r) & set(q)) / k for r, q in zip(ta, tb, strict=True)]))


if __name__ == "__main__":
    main()
