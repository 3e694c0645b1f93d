"""OpenAICompatibleLLM against a real HTTP server on 127.0.0.1, started by the test."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synerec.exceptions import ConfigError
from synerec.llm import (
    LLMError,
    LLMNotAvailableError,
    LLMTimeoutError,
    OpenAICompatibleLLM,
    ResponseCache,
)


class _Handler(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server: it ranks the candidates of the prompt in reverse."""

    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length))
        self.server.requests.append((self.path, dict(self.headers), payload))
        model = payload.get("model")
        if model == "slow":
            time.sleep(1.5)
        if model == "broken":
            self._send(500, b'{"error": "boom"}')
            return
        if model == "not-json":
            self._send(200, b"<html>hello</html>", "text/html")
            return
        if self.path == "/v1/chat/completions":
            text = payload["messages"][-1]["content"]
            numbers = re.findall(r"^\[(\d+)\]", text, flags=re.MULTILINE)
            answer = " ".join(f"[{k}]" for k in reversed(numbers)) or "no candidates"
            body = {"id": "x", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}]}
            self._send(200, json.dumps(body).encode())
        elif self.path == "/v1/completions":
            # echoed prompt logprobs: one "token" per word, logprob = -(length of the word)
            prompt = payload["prompt"]
            tokens, offsets, values = [], [], []
            for m in re.finditer(r"\S+\s*", prompt):
                tokens.append(m.group())
                offsets.append(m.start())
                values.append(-float(len(m.group().strip())))
            values[0] = None
            if payload.get("max_tokens", 16) >= 1:  # the generated token, echoed after them
                tokens.append(" Extra")
                offsets.append(len(prompt))
                values.append(-100.0)
            body = {"choices": [{"text": prompt, "logprobs": {
                "tokens": tokens, "token_logprobs": values, "text_offset": offsets}}]}
            self._send(200, json.dumps(body).encode())
        else:
            self._send(404, b'{"error": "not found"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, dict[str, str], dict[str, Any]]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client of the timeout test hangs up before the slow answer is written


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/v1"


def test_chat_completion_round_trip(server: _Server) -> None:
    server.requests.clear()
    llm = OpenAICompatibleLLM("tiny", base_url=_url(server), api_key="sk-test", timeout=5)
    messages = [{"role": "system", "content": "rank"},
                {"role": "user", "content": "Candidates:\n[1] A\n[2] B\n[3] C"}]
    assert llm.complete(messages, max_tokens=20, temperature=0.0, seed=7) == "[3] [2] [1]"
    path, headers, payload = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert payload == {"model": "tiny", "messages": messages, "max_tokens": 20,
                       "temperature": 0.0, "seed": 7}
    llm.close()


def test_settings_from_the_environment(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_LLM_BASE_URL", _url(server))
    monkeypatch.setenv("SYNEREC_LLM_MODEL", "env-model")
    monkeypatch.delenv("SYNEREC_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.requests.clear()
    llm = OpenAICompatibleLLM()
    assert llm.model == "env-model"
    assert llm.complete([{"role": "user", "content": "[1] x"}]) == "[1]"
    _, headers, payload = server.requests[-1]
    assert payload["model"] == "env-model"
    assert "Authorization" not in headers


def test_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNEREC_LLM_MODEL", raising=False)
    with pytest.raises(ConfigError, match="model name"):
        OpenAICompatibleLLM(None, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="http"):
        OpenAICompatibleLLM("m", base_url="ftp://127.0.0.1/v1")
    with pytest.raises(ConfigError, match="timeout"):
        OpenAICompatibleLLM("m", base_url="http://127.0.0.1:1/v1", timeout=0)
    llm = OpenAICompatibleLLM("m", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(LLMError, match="messages"):
        llm.complete([])
    with pytest.raises(LLMError, match="role"):
        llm.complete([{"role": "robot", "content": "hi"}])


def test_timeout_error_and_bad_answers(server: _Server) -> None:
    slow = OpenAICompatibleLLM("slow", base_url=_url(server), timeout=0.3)
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeoutError):
        slow.complete([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - t0 < 1.4
    with pytest.raises(LLMError, match="HTTP 500"):
        OpenAICompatibleLLM("broken", base_url=_url(server)).complete(
            [{"role": "user", "content": "hi"}])
    with pytest.raises(LLMError, match="not JSON"):
        OpenAICompatibleLLM("not-json", base_url=_url(server)).complete(
            [{"role": "user", "content": "hi"}])
    # nothing listens on port 1 of 127.0.0.1: a connection error, not a crash
    with pytest.raises(LLMError):
        OpenAICompatibleLLM("m", base_url="http://127.0.0.1:1/v1", timeout=2).complete(
            [{"role": "user", "content": "hi"}])


def test_logprob_from_echoed_prompt(server: _Server) -> None:
    llm = OpenAICompatibleLLM("tiny", base_url=_url(server), supports_logprob=True)
    # continuation "Heat (1995)\n" -> tokens "Heat " and "(1995)\n": -(4) + -(6)
    assert llm.logprob("A list: ", "Heat (1995)\n") == pytest.approx(-10.0)
    _, _, payload = server.requests[-1]
    # never max_tokens=0 (llama-cpp-python's server reads it as "no limit"); the one generated
    # token (-100 here) is not part of the continuation
    assert payload["echo"] is True and payload["max_tokens"] == 1
    assert llm.logprobs("A list: ", ["Heat (1995)\n", "Fargo\n"]) == [
        pytest.approx(-10.0), pytest.approx(-5.0)]
    with pytest.raises(LLMNotAvailableError):
        OpenAICompatibleLLM("tiny", base_url=_url(server)).logprob("a", "b")


def test_responses_are_cached_on_disk(server: _Server, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    llm = OpenAICompatibleLLM("tiny", base_url=_url(server), cache=cache)
    messages = [{"role": "user", "content": "[1] a\n[2] b"}]
    server.requests.clear()
    first = llm.complete(messages)
    second = OpenAICompatibleLLM("tiny", base_url=_url(server),
                                 cache=tmp_path / "cache").complete(messages)
    assert first == second == "[2] [1]"
    assert len(server.requests) == 1  # the second answer came from disk
    assert len(cache) == 1
    # a different seed is a different request
    llm.complete(messages, seed=1)
    assert len(server.requests) == 2
