"""A client for any OpenAI-compatible ``/v1/chat/completions`` server.

OpenAI itself, Ollama, vLLM, the llama.cpp server and LM Studio all speak this protocol. The
base URL, model name and API key come from the arguments or the environment:

=========================  ===========================================  ======================
setting                    environment variable                         default
=========================  ===========================================  ======================
``base_url``               ``SYNEREC_LLM_BASE_URL``, ``OPENAI_BASE_URL``  ``https://api.openai.com/v1``
``model``                  ``SYNEREC_LLM_MODEL``                         (required)
``api_key``                ``SYNEREC_LLM_API_KEY``, ``OPENAI_API_KEY``    none (local servers)
=========================  ===========================================  ======================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from synerec.exceptions import ConfigError
from synerec.llm.base import (
    LLMError,
    LLMNotAvailableError,
    LLMTimeoutError,
    Message,
    check_messages,
)
from synerec.llm.cache import ResponseCache

__all__ = ["OpenAICompatibleLLM"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise LLMNotAvailableError("OpenAICompatibleLLM needs httpx: pip install "
                                   "'synerec[llm]'") from None
    return httpx


class OpenAICompatibleLLM:
    """A chat model behind an OpenAI-compatible HTTP API.

    Parameters
    ----------
    model
        Model name as the server knows it (``gpt-4o-mini``, ``llama3.1:8b``, ...); default
        ``$SYNEREC_LLM_MODEL``.
    base_url
        URL up to and including ``/v1``; default ``$SYNEREC_LLM_BASE_URL``,
        ``$OPENAI_BASE_URL`` or OpenAI's.
    api_key
        Bearer token; default ``$SYNEREC_LLM_API_KEY`` or ``$OPENAI_API_KEY``; none is sent when
        unset.
    timeout
        Seconds allowed per request (connect, read and write).
    cache
        Optional :class:`~synerec.llm.cache.ResponseCache` (or a folder for one): an identical
        request is answered from disk.
    supports_logprob
        Whether the server returns prompt log-probabilities from the legacy
        ``/v1/completions`` endpoint with ``echo=true, logprobs=1`` (vLLM and
        llama-cpp-python's server do; OpenAI's chat models do not). Enables :meth:`logprob`
        and :meth:`logprobs`. The request asks for ``max_tokens=1``, never ``0``:
        llama-cpp-python's server reads ``max_tokens=0`` as "no limit" and would generate until
        its context is full; the one generated token is left out of the sum.

    Raises
    ------
    ConfigError
        No model name, or a base URL that is not http(s).
    """

    def __init__(self, model: str | None = None, *, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 60.0,
                 cache: ResponseCache | str | os.PathLike[str] | None = None,
                 supports_logprob: bool = False) -> None:
        model = model or os.environ.get("SYNEREC_LLM_MODEL")
        if not model:
            raise ConfigError("OpenAICompatibleLLM needs a model name (argument or "
                              "$SYNEREC_LLM_MODEL)")
        base = (base_url or os.environ.get("SYNEREC_LLM_BASE_URL")
                or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {base!r}")
        if not timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.model = model
        self.base_url = base
        self.api_key = api_key or os.environ.get("SYNEREC_LLM_API_KEY") \
            or os.environ.get("OPENAI_API_KEY")
        self.timeout = float(timeout)
        self.cache = ResponseCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.supports_logprob = bool(supports_logprob)
        self.name = f"openai:{model}"
        self._client: Any = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(model={self.model!r}, base_url={self.base_url!r})"

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        httpx = _httpx()
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        url = f"{self.base_url}{path}"
        try:
            response = self._client.post(url, json=payload)
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(f"{url}: no answer within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"{url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise LLMError(f"{url}: HTTP {response.status_code}: {response.text[:200]!r}")
        try:
            body = response.json()
        except ValueError:
            raise LLMError(f"{url}: the answer is not JSON: {response.text[:200]!r}") from None
        if not isinstance(body, dict):
            raise LLMError(f"{url}: expected a JSON object, got {type(body).__name__}")
        return body

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 256,
                 temperature: float = 0.0, seed: int | None = 0) -> str:
        """The model's answer to chat ``messages`` (see :class:`~synerec.llm.base.LLM`).

        Raises
        ------
        LLMTimeoutError
            No answer within ``timeout``.
        LLMError
            Connection failure, an HTTP error status or a malformed answer.
        """
        payload: dict[str, Any] = {"model": self.model, "messages": check_messages(messages),
                                   "max_tokens": int(max_tokens),
                                   "temperature": float(temperature)}
        if seed is not None:
            payload["seed"] = int(seed)
        request = {"endpoint": "chat", "base_url": self.base_url, **payload}
        if self.cache is not None:
            hit = self.cache.get(request)
            if isinstance(hit, str):
                return hit
        body = self._post("/chat/completions", payload)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"{self.base_url}/chat/completions: no choices[0].message.content "
                           f"in the answer: {str(body)[:200]!r}") from None
        text = "" if content is None else str(content)
        if self.cache is not None:
            self.cache.put(request, text)
        return text

    def logprob(self, prompt: str, continuation: str) -> float:
        """``log p(continuation | prompt)`` from the server's echoed prompt log-probabilities.

        Sends ``prompt + continuation`` to ``/v1/completions`` with ``echo=true, logprobs=1,
        max_tokens=1`` and sums the log-probabilities of the echoed tokens that end after the
        prompt's last character and start before the continuation's end (the one generated
        token is not part of the continuation).

        Raises
        ------
        LLMNotAvailableError
            ``supports_logprob`` is false.
        LLMTimeoutError
            No answer within ``timeout`` seconds.
        LLMError
            The server's answer has no usable ``logprobs``.
        """
        if not self.supports_logprob:
            raise LLMNotAvailableError(f"{self!r} was not created with supports_logprob=True")
        text = prompt + continuation
        payload = {"model": self.model, "prompt": text, "max_tokens": 1, "echo": True,
                   "logprobs": 1, "temperature": 0.0}
        request = {"endpoint": "logprob", "base_url": self.base_url, **payload}
        if self.cache is not None:
            hit = self.cache.get(request)
            if isinstance(hit, (int, float)):
                return float(hit)
        body = self._post("/completions", payload)
        try:
            lp = body["choices"][0]["logprobs"]
            tokens, values, offsets = lp["tokens"], lp["token_logprobs"], lp["text_offset"]
            total = 0.0
            counted = 0
            for tok, value, off in zip(tokens, values, offsets, strict=True):
                start, end = int(off), int(off) + len(tok)
                if end > len(prompt) and start < len(text) and value is not None:
                    total += float(value)
                    counted += 1
        except (KeyError, IndexError, TypeError, ValueError):
            raise LLMError(f"{self.base_url}/completions: no usable echoed logprobs in the "
                           f"answer: {str(body)[:200]!r}") from None
        if counted == 0:
            raise LLMError(f"{self.base_url}/completions: the echoed tokens do not cover the "
                           f"continuation {continuation[:40]!r} (does the server echo the "
                           "prompt's log-probabilities?)")
        if self.cache is not None:
            self.cache.put(request, total)
        return total

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """:meth:`logprob` of each continuation after one prompt (one request each: servers
        such as llama-cpp-python's take one prompt per request; each answer is cached)."""
        return [self.logprob(prompt, c) for c in continuations]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
