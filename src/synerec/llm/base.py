"""The client protocol that every language-model backend follows, and its errors.

A backend turns chat messages into text (:meth:`LLM.complete`) and, where it can, scores a
continuation of a prompt by its log-probability (:meth:`LLM.logprob`). Both honour a timeout.
The reranker and the explainer only talk to this protocol, so a local GGUF model, an
OpenAI-compatible server and a test double are interchangeable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from synerec.exceptions import SynerecError

__all__ = [
    "LLM",
    "LLMError",
    "LLMNotAvailableError",
    "LLMTimeoutError",
    "Message",
    "check_messages",
    "messages_to_text",
]

#: A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``.
Message = Mapping[str, str]


class LLMError(SynerecError):
    """A language-model backend failed: connection, HTTP status, malformed answer."""


class LLMTimeoutError(LLMError, TimeoutError):
    """A language-model call took longer than its timeout."""


class LLMNotAvailableError(LLMError):
    """A backend that cannot be used here: an optional package is missing, or the backend
    lacks a capability (log-probabilities)."""


@runtime_checkable
class LLM(Protocol):
    """What synerec needs from a language model.

    Attributes
    ----------
    name
        A stable identifier of the model (file name and checksum prefix, or server model name);
        part of every cache key.
    supports_logprob
        Whether :meth:`logprob` works (local models: yes; chat APIs: usually not).
    """

    name: str
    supports_logprob: bool

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 256,
                 temperature: float = 0.0, seed: int | None = 0) -> str:
        """The model's answer to chat ``messages`` (raises :class:`LLMTimeoutError` on timeout)."""
        ...

    def logprob(self, prompt: str, continuation: str) -> float:
        """``log p(continuation | prompt)`` in nats, summed over the continuation's tokens."""
        ...


def check_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Validate chat messages and return them as plain dicts (LLMError when malformed)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise LLMError("messages must be a non-empty list of {'role', 'content'} mappings")
    out = []
    for m in messages:
        if not isinstance(m, Mapping) or not isinstance(m.get("content"), str) \
                or m.get("role") not in ("system", "user", "assistant"):
            raise LLMError(f"invalid chat message {m!r}: needs role system/user/assistant and "
                           "string content")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out


def messages_to_text(messages: Sequence[Message]) -> str:
    """Chat messages as one plain-text prompt, for base models without a chat template.

    System and user contents are joined by blank lines; an assistant message is written after
    ``"Answer: "``; the text ends with ``"Answer:"`` so the model continues with its answer.
    """
    parts = []
    for m in check_messages(messages):
        parts.append(f"Answer: {m['content']}" if m["role"] == "assistant" else m["content"])
    return "\n\n".join(parts) + "\n\nAnswer:"
