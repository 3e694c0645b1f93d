"""Language models on top of collaborative filtering: reranking and explanations.

* :class:`LLMReranker` -- a CF model retrieves candidates, a language model orders them
  (``likelihood`` scoring for local base models, ``generate`` with a strict parser for chat
  models);
* :class:`Explainer` -- one or two sentences per recommendation that cite the model's own
  evidence (the user's similar items, or neighbours who liked it) and shared categories;
* clients: :class:`LlamaCppLLM` (a local GGUF model, Gemma 3 270M by default) and
  :class:`OpenAICompatibleLLM` (any ``/v1/chat/completions`` server), both following
  :class:`LLM`, with an on-disk :class:`ResponseCache`.

See ``docs/llm.md`` for the formulas and the measured results.
"""

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
