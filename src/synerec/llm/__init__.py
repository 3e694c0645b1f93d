"""Language models on top of collaborative filtering: reranking and explanations.

* :class:`LLMReranker` -- a CF model retrieves candidates, a language model orders them
  (``likelihood`` scoring for local base models, ``generate`` with a strict parser for chat
  models);
* :class:`Explainer` -- one or two sentences per recommendation that cite the model's own
  evidence (the user's similar items, or neighbours who liked it) and shared categories;
* clients: :class:`LlamaCppLLM` (a local GGUF model, Gemma 3 270M by default) and
  :class:`OpenAICompatibleLLM` (any ``/v1/chat/completions`` server), both following
  :class:`LLM`, with an on-disk :class:`ResponseCache`.

See ``docs/llm.md`` for the formulas and the measured results. The names are imported from their
modules on first use (:mod:`synerec._lazy`): the hybrid reads :mod:`synerec.llm.base` without
importing the clients, the reranker or pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synerec._lazy import lazy_exports

if TYPE_CHECKING:
    from synerec.llm._parse import ParsedRanking, complete_ranking, parse_ranking
    from synerec.llm.base import (
        LLM,
        LLMError,
        LLMNotAvailableError,
        LLMTimeoutError,
        Message,
        messages_to_text,
    )
    from synerec.llm.cache import ResponseCache, request_key
    from synerec.llm.explain import (
        Evidence,
        EvidenceItem,
        EvidenceNeighbor,
        Explainer,
        Explanation,
        TitleIndex,
        check_grounded,
    )
    from synerec.llm.local import DEFAULT_MODEL_FILE, LlamaCppLLM, default_model_path
    from synerec.llm.openai import OpenAICompatibleLLM
    from synerec.llm.reranker import FALLBACK_REASONS, LLMReranker, RerankResult, user_history

__all__ = [
    "DEFAULT_MODEL_FILE",
    "FALLBACK_REASONS",
    "LLM",
    "Evidence",
    "EvidenceItem",
    "EvidenceNeighbor",
    "Explainer",
    "Explanation",
    "LLMError",
    "LLMNotAvailableError",
    "LLMReranker",
    "LLMTimeoutError",
    "LlamaCppLLM",
    "Message",
    "OpenAICompatibleLLM",
    "ParsedRanking",
    "RerankResult",
    "ResponseCache",
    "TitleIndex",
    "check_grounded",
    "complete_ranking",
    "default_model_path",
    "messages_to_text",
    "parse_ranking",
    "request_key",
    "user_history",
]

_M = "synerec.llm."
#: Where each public name lives.
_LAZY: dict[str, str] = {
    "ParsedRanking": _M + "_parse",
    "complete_ranking": _M + "_parse",
    "parse_ranking": _M + "_parse",
    "LLM": _M + "base",
    "LLMError": _M + "base",
    "LLMNotAvailableError": _M + "base",
    "LLMTimeoutError": _M + "base",
    "Message": _M + "base",
    "messages_to_text": _M + "base",
    "ResponseCache": _M + "cache",
    "request_key": _M + "cache",
    "Evidence": _M + "explain",
    "EvidenceItem": _M + "explain",
    "EvidenceNeighbor": _M + "explain",
    "Explainer": _M + "explain",
    "Explanation": _M + "explain",
    "TitleIndex": _M + "explain",
    "check_grounded": _M + "explain",
    "DEFAULT_MODEL_FILE": _M + "local",
    "LlamaCppLLM": _M + "local",
    "default_model_path": _M + "local",
    "OpenAICompatibleLLM": _M + "openai",
    "FALLBACK_REASONS": _M + "reranker",
    "LLMReranker": _M + "reranker",
    "RerankResult": _M + "reranker",
    "user_history": _M + "reranker",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
