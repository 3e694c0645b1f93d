"""The real local model (Gemma 3 270M, GGUF, llama.cpp) end to end on tiny prompts.

The model is loaded once for the module; every call uses a prompt of a few dozen tokens, so the
file stays well under a minute on two CPU cores. llama-cpp-python is the optional extra ``llm``
that the test command installs: when it is missing these tests fail and say so.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import create_model
from synerec.data.dataset import InteractionDataset
from synerec.llm import (
    LlamaCppLLM,
    LLMNotAvailableError,
    LLMReranker,
    LLMTimeoutError,
    ResponseCache,
    default_model_path,
)
from synerec.llm.local import _log_softmax_at

GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PROMPT = ("A list of movies that one person liked:\n- Star Wars (1977)\n"
          "- Return of the Jedi (1983)\n- Raiders of the Lost Ark (1981)\n- ")
EMPTY = "A list of movies that one person liked:\n- "
CANDIDATES = ["Empire Strikes Back, The (1980)\n", "Sleepless in Seattle (1993)\n",
              "Toy Story (1995)\n"]


@pytest.fixture(scope="module")
def gguf() -> Path:
    return default_model_path()


@pytest.fixture(scope="module")
def llm(gguf: Path) -> Iterator[LlamaCppLLM]:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail("llama-cpp-python is not installed: pip install 'synerec[llm]' (the test "
                    "command installs this extra)", pytrace=False)
    model = LlamaCppLLM(gguf, n_ctx=256, seed=0, timeout=120).load()
    yield model
    model.close()


def test_default_model_is_assembled_into_the_cache_home(gguf: Path) -> None:
    from synerec._config import cache_home

    assert gguf == cache_home() / "models" / "gemma-3-270m-q4_k_m.gguf"
    digest = hashlib.sha256()
    with gguf.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == GEMMA_SHA256
    assert default_model_path() == gguf  # a second call reuses the file
    assert not list(gguf.parent.glob(".tmp-*"))


def _reference(llm: LlamaCppLLM, prompt: str, continuation: str) -> float:
    """Slow, obviously correct: decode prompt + continuation, sum the per-token log-softmax."""
    pt = llm.tokenize(prompt)
    ct = llm.tokenize(continuation, add_bos=False)
    toks = pt + ct
    llm._lib.llama_memory_clear(llm._mem, True)
    llm._decode(toks, range(len(toks)), [0] * len(toks), [True] * len(toks))
    return sum(_log_softmax_at(llm._logits(len(pt) - 1 + j), ct[j]) for j in range(len(ct)))


def test_batched_logprobs_match_a_token_by_token_reference(llm: LlamaCppLLM) -> None:
    batched = llm.logprobs(PROMPT, CANDIDATES)
    reference = [_reference(llm, PROMPT, c) for c in CANDIDATES[:2]]
    np.testing.assert_allclose(batched[:2], reference, atol=0.05)
    assert llm.logprob(PROMPT, CANDIDATES[2]) == pytest.approx(batched[2], abs=0.05)
    assert all(v < 0 for v in batched)


def test_likelihood_prefers_the_sequel(llm: LlamaCppLLM) -> None:
    cond = np.array(llm.logprobs(PROMPT, CANDIDATES))
    prior = np.array(llm.logprobs(EMPTY, CANDIDATES))
    pmi = cond - prior
    # The Star Wars history makes "The Empire Strikes Back" far more likely than a romance.
    assert pmi[0] > pmi[1] + 1.0


def test_generation_is_deterministic_and_cached(llm: LlamaCppLLM, tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Name a famous science-fiction movie."}]
    first = llm.complete(messages, max_tokens=4)
    assert first == llm.complete(messages, max_tokens=4)
    assert isinstance(first, str) and len(llm.tokenize(first, add_bos=False)) <= 5
    cached = LlamaCppLLM(llm.model_path, cache=ResponseCache(tmp_path / "c"))
    cached._lib, cached._model, cached._ctx = llm._lib, llm._model, llm._ctx  # share weights
    cached._batch, cached._vocab, cached._mem = llm._batch, llm._vocab, llm._mem
    cached._n_vocab = llm._n_vocab
    assert cached.complete(messages, max_tokens=4) == first
    assert cached.complete(messages, max_tokens=4) == first
    assert cached.cache is not None and cached.cache.hits == 1
    cached._lib = None  # the weights belong to `llm`; do not free them twice


def test_timeout(llm: LlamaCppLLM) -> None:
    llm.timeout = 1e-6
    try:
        with pytest.raises(LLMTimeoutError):
            llm.logprobs(PROMPT, ["Alien (1979)\n"])
    finally:
        llm.timeout = 120.0


def test_reranker_end_to_end_with_the_local_model(llm: LlamaCppLLM) -> None:
    titles = {1: "Star Wars (1977)", 2: "Return of the Jedi (1983)",
              3: "Sleepless in Seattle (1993)", 4: "Empire Strikes Back, The (1980)",
              5: "Toy Story (1995)"}
    rows = [("a", 1, 5), ("a", 2, 5), ("b", 3, 4), ("b", 5, 4), ("c", 3, 5), ("c", 4, 3),
            ("c", 5, 2), ("d", 3, 4)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    items = pd.DataFrame({"item_id": list(titles), "title": list(titles.values())})
    data = InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5))
    rr = LLMReranker(create_model("popularity"), llm, n_candidates=3, domain="movies").fit(data)
    res = rr.rerank_user("a")
    # popularity puts Sleepless (3 users) first; the model moves the sequel to the top
    assert rr.retriever.items_.ids_of(res.candidates).tolist() == [3, 5, 4]
    assert res.fallback is None and sorted(res.order) == [0, 1, 2]
    assert rr.retriever.items_.ids_of(res.candidates[res.order[:1]]).tolist() == [4]


def test_missing_llama_cpp_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                            gguf: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(LLMNotAvailableError, match=r"synerec\[llm\]"):
        LlamaCppLLM(gguf).load()
