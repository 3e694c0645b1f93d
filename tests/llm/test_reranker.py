"""LLMReranker with deterministic test doubles of the LLM protocol: known answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import create_model
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError, NotFittedError
from synerec.llm import (
    LLM,
    LLMError,
    LLMReranker,
    LLMTimeoutError,
    user_history,
)
from synerec.llm.prompts import likelihood_prompt

TITLES = {1: "Space Wars", 2: "Space Trek", 3: "Cooking Show", 4: "Wars Again",
          5: "Space Cats", 6: "Garden Hour", 7: "Quiet Film"}


@pytest.fixture()
def shop() -> InteractionDataset:
    # item popularity (number of users): 1:4, 2:3, 3:3, 4:2, 5:2, 6:1, 7:1
    rows = [("a", 1, 5, 10), ("a", 2, 4, 20),
            ("b", 1, 3, 10), ("b", 3, 5, 11), ("b", 4, 4, 12), ("b", 5, 2, 13),
            ("c", 1, 4, 10), ("c", 2, 5, 11), ("c", 3, 4, 12), ("c", 6, 1, 13),
            ("d", 1, 2, 10), ("d", 2, 2, 11), ("d", 3, 3, 12), ("d", 4, 5, 13), ("d", 5, 4, 14),
            ("d", 7, 1, 15)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame({"item_id": list(TITLES), "title": list(TITLES.values()),
                          "category": ["SF", "SF", "Food", "SF", "SF|Pets", "Home", "Art"]})
    return InteractionDataset.from_dataframe(df, items=items, rating_scale=(1, 5), name="shop")


class OverlapLLM:
    """log p(c | prompt) = -len(c) + 2 * (words of c that occur in the prompt)."""

    name = "overlap"
    supports_logprob = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def complete(self, messages: Sequence[Any], **kwargs: Any) -> str:
        raise AssertionError("likelihood mode must not generate")

    def logprob(self, prompt: str, continuation: str) -> float:
        self.calls.append((prompt, continuation))
        words = set(prompt.split())
        return -len(continuation) + 2.0 * sum(w in words for w in continuation.split())


class ScriptedChat:
    """Answers (or raises) from a script, one entry per call."""

    name = "scripted"
    supports_logprob = False

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.prompts: list[str] = []

    def complete(self, messages: Sequence[Any], **kwargs: Any) -> str:
        assert kwargs["temperature"] == 0.0
        self.prompts.append(messages[-1]["content"])
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def logprob(self, prompt: str, continuation: str) -> float:
        raise AssertionError("no logprobs here")


def test_doubles_follow_the_protocol() -> None:
    assert isinstance(OverlapLLM(), LLM)
    assert isinstance(ScriptedChat([]), LLM)


def test_user_history_orders() -> None:
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[5, 3, 0, 4, 5]], dtype=np.float32))
    T = sp.csr_matrix(np.array([[10, 40, 0, 30, 20]], dtype=np.float64))
    assert user_history(X, 0, 4, timestamps=T, order="recent").tolist() == [1, 3, 4, 0]
    assert user_history(X, 0, 4, timestamps=T, order="rating").tolist() == [4, 0, 3, 1]
    assert user_history(X, 0, 2, order="recent").tolist() == [0, 4]  # no times: by rating
    assert user_history(X, 0, 10, timestamps=T).tolist() == [1, 3, 4, 0]


def test_likelihood_mode_ranks_by_pointwise_mutual_information(shop: InteractionDataset) -> None:
    llm = OverlapLLM()
    rr = LLMReranker(create_model("popularity"), llm, n_candidates=5, history=5).fit(shop)
    assert rr.mode_ == "likelihood"
    res = rr.rerank_user("a")
    # user a saw 1, 2; popularity order of the others: 3 (3 users), 4, 5 (2), 6, 7 (1)
    cand_ids = rr.retriever.items_.ids_of(res.candidates).tolist()
    assert cand_ids == [3, 4, 5, 6, 7]
    # history words: Space, Trek, Wars -> PMI 2 for "Wars Again" and "Space Cats", else 0
    np.testing.assert_allclose(res.llm_scores, [0, 2, 2, 0, 0])
    assert rr.retriever.items_.ids_of(res.candidates[res.order]).tolist() == [4, 5, 3, 6, 7]
    assert res.fallback is None
    # the calibration term is computed once per item: a second pass asks only the history
    empty = likelihood_prompt([], "items")
    n_empty = sum(p == empty for p, _ in llm.calls)
    assert n_empty == 5
    rr.rerank_user("a")
    assert sum(p == empty for p, _ in llm.calls) == n_empty
    # the prompt lists the user's history, most recent first
    assert res_prompt(llm) == "A list of items that one person liked:\n- Space Trek\n" \
                              "- Space Wars\n- "


def res_prompt(llm: OverlapLLM) -> str:
    return next(p for p, _ in llm.calls if "Space Trek" in p)


def test_alpha_blends_llm_and_retriever_ranks(shop: InteractionDataset) -> None:
    # scripted order [3] [1] [2] for candidates 3, 4, 5 (m = 3)
    def order(alpha: float) -> list[int]:
        rr = LLMReranker(create_model("popularity"), ScriptedChat(["[3] [1] [2]"]),
                         n_candidates=3, alpha=alpha).fit(shop)
        res = rr.rerank_user("a")
        return rr.retriever.items_.ids_of(res.candidates[res.order]).tolist()

    assert order(1.0) == [5, 3, 4]
    assert order(0.0) == [3, 4, 5]
    # alpha 0.5: s(3) = .5(2/3) + .5(1) = 5/6, s(4) = .5(1/3) + .5(2/3) = 1/2,
    # s(5) = .5(1) + .5(1/3) = 2/3 -> 3, 5, 4
    assert order(0.5) == [3, 5, 4]


def test_generate_mode_parses_strictly_and_counts_fallbacks(shop: InteractionDataset) -> None:
    chat = ScriptedChat(["Best: [4] [4] [9] then [1]", "I have no opinion.",
                         LLMTimeoutError("slow"), LLMError("HTTP 500"), "[2]"])
    rr = LLMReranker(create_model("popularity"), chat, n_candidates=5).fit(shop)
    assert rr.mode_ == "generate"
    results = rr.rerank(["a", "a", "a", "a", "a"])
    ids = [rr.retriever.items_.ids_of(r.candidates[r.order]).tolist() for r in results]
    assert ids[0] == [6, 3, 4, 5, 7]  # [4] -> item 6, [1] -> item 3, the rest in order
    assert ids[1] == ids[2] == ids[3] == [3, 4, 5, 6, 7]
    assert ids[4] == [4, 3, 5, 6, 7]
    assert [r.fallback for r in results] == [None, "unparseable", "timeout", "error", None]
    assert rr.fallback_counts_ == {"unparseable": 1, "timeout": 1, "error": 1,
                                   "no_history": 0}
    assert rr.n_reranked_ == 5
    assert "[1] Cooking Show" in chat.prompts[0] and "[5] Quiet Film" in chat.prompts[0]
    assert "- Space Trek\n- Space Wars" in chat.prompts[0]


def test_recommend_returns_ids_and_scores(shop: InteractionDataset) -> None:
    rr = LLMReranker(create_model("popularity"), OverlapLLM(), n_candidates=5).fit(shop)
    ids, scores = rr.recommend(["a", "c"], n=3)
    assert ids.shape == scores.shape == (2, 3)
    assert ids[0].tolist() == [4, 5, 3]
    np.testing.assert_allclose(scores[0], [1.0, 0.8, 0.6])
    frame = rr.recommend_frame(["a"], n=2)
    assert frame["item_id"].tolist() == [4, 5] and frame["rank"].tolist() == [1, 2]
    # user c saw 1, 2, 3, 6: three candidates (4, 5, 7), then padding
    ids, scores = rr.recommend(["c"], n=5)
    assert sorted(ids[0, :3].tolist()) == [4, 5, 7]
    assert ids[0, 3] is None and ids[0, 4] is None and scores[0, 4] == -np.inf


def test_unknown_user_keeps_popularity_order(shop: InteractionDataset) -> None:
    rr = LLMReranker(create_model("popularity"), OverlapLLM(), n_candidates=3).fit(shop)
    res = rr.rerank_user("nobody")
    assert res.fallback == "no_history"
    assert rr.retriever.items_.ids_of(res.candidates[res.order]).tolist() == [1, 2, 3]
    assert rr.fallback_counts_["no_history"] == 1


def test_without_llm_the_order_is_the_retrievers(shop: InteractionDataset) -> None:
    retriever = create_model("popularity")
    rr = LLMReranker(retriever, None, n_candidates=5).fit(shop)
    ids, _ = rr.recommend(["b"], n=3)
    ref, _ = retriever.recommend(["b"], n=3)
    assert ids.tolist() == ref.tolist()
    assert rr.n_reranked_ == 0


def test_prefit_retriever_is_used_as_is(shop: InteractionDataset) -> None:
    retriever = create_model("popularity").fit(shop)
    train = retriever.train_
    rr = LLMReranker(retriever, OverlapLLM(), prefit=True).fit(shop)
    assert rr.retriever.train_ is train
    with pytest.raises(NotFittedError):
        LLMReranker(create_model("popularity"), OverlapLLM(), prefit=True).fit(shop)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_candidates": 0}, "n_candidates"), ({"history": -1}, "history"),
    ({"mode": "vote"}, "mode"), ({"alpha": 1.5}, "alpha"), ({"history_order": "x"}, "order"),
])
def test_invalid_parameters(shop: InteractionDataset, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LLMReranker(create_model("popularity"), OverlapLLM(), **kwargs).fit(shop)


def test_errors(shop: InteractionDataset) -> None:
    with pytest.raises(NotFittedError):
        LLMReranker(create_model("popularity"), OverlapLLM()).recommend(["a"])
    with pytest.raises(ConfigError, match="log-probabilities"):
        LLMReranker(create_model("popularity"), ScriptedChat([]), mode="likelihood").fit(shop)
    rr = LLMReranker(create_model("popularity"), OverlapLLM(), n_candidates=3).fit(shop)
    with pytest.raises(ConfigError, match="exceeds"):
        rr.recommend(["a"], n=4)
