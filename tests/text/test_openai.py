"""OpenAIEmbeddingEncoder against a real HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from synerec.exceptions import SynerecError
from synerec.text import (
    CacheStats,
    EmbeddingCache,
    EncoderError,
    OpenAIEmbeddingEncoder,
    cached_encode,
)


def raw_vector(text: str) -> list[float]:
    """What the test server embeds a text as: counts of a few letters plus the length."""
    return [float(text.count(c)) for c in "aeiost"] + [float(len(text))]


@dataclass
class Behaviour:
    """What the server does; the handler records every request it gets."""

    fail_first: int = 0           # answer 500 to this many requests first
    status: int = 500             # the failing status
    retry_after: str | None = None
    drop_last: bool = False       # answer with one embedding too few
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        b = self.server.behaviour  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        b.requests.append(body)
        b.headers.append(dict(self.headers))
        b.paths.append(self.path)
        if self.path != "/v1/embeddings":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if b.fail_first > 0:
            b.fail_first -= 1
            return self._send(b.status, {"error": {"message": "model overloaded, try later",
                                                   "type": "server_error"}})
        inputs = body["input"]
        if any(not t for t in inputs):
            return self._send(400, {"error": {"message": "input cannot be an empty string"}})
        data = [{"object": "embedding", "index": i, "embedding": raw_vector(t)}
                for i, t in enumerate(inputs)]
        if b.drop_last:
            data = data[:-1]
        self._send(200, {"object": "list", "model": body["model"], "data": data[::-1]})

    def _send(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        b = self.server.behaviour  # type: ignore[attr-defined]
        if status != 200 and b.retry_after is not None:
            self.send_header("Retry-After", b.retry_after)
        self.end_headers()
        self.wfile.write(raw)


@dataclass
class Server:
    url: str
    behaviour: Behaviour


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_port}", httpd.behaviour)  # type: ignore
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def expected(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 7))
    for i, t in enumerate(texts):
        if t.strip():
            v = np.array(raw_vector(t))
            out[i] = v / np.linalg.norm(v)
    return out


TEXTS = ["a red dress", "steel saucepan", "", "oats", "sea salt", "toast", "   ", "iota"]


def test_batches_order_and_normalisation(server: Server) -> None:
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="test-embed", api_key="sk-test",
                                 batch_size=2)
    out = enc.encode(TEXTS)
    assert out.dtype == np.float32 and out.shape == (8, 7)
    np.testing.assert_allclose(out, expected(TEXTS), atol=1e-6)
    # the 6 non-empty texts in 3 requests of at most 2, in order; empty texts never sent
    sent = [r["input"] for r in server.behaviour.requests]
    assert sent == [["a red dress", "steel saucepan"], ["oats", "sea salt"], ["toast", "iota"]]
    assert {r["model"] for r in server.behaviour.requests} == {"test-embed"}
    assert all(h["Authorization"] == "Bearer sk-test" for h in server.behaviour.headers)
    assert enc.dimension == 7 and len(server.behaviour.requests) == 3  # known, no probe
    assert enc.name == f"openai:test-embed@{server.url}"


def test_settings_from_environment(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNEREC_EMBEDDINGS_BASE_URL", server.url + "/v1/")
    monkeypatch.setenv("SYNEREC_EMBEDDINGS_MODEL", "env-model")
    monkeypatch.delenv("SYNEREC_EMBEDDINGS_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    enc = OpenAIEmbeddingEncoder(batch_size=100)
    assert enc.dimension == 7  # asks the server once
    out = enc.encode(["oats", "toast"])
    np.testing.assert_allclose(out, expected(["oats", "toast"]), atol=1e-6)
    assert server.behaviour.paths == ["/v1/embeddings"] * 2
    assert server.behaviour.requests[-1] == {"model": "env-model", "input": ["oats", "toast"]}
    assert server.behaviour.headers[-1]["Authorization"] == "Bearer sk-fallback"
    monkeypatch.setenv("SYNEREC_EMBEDDINGS_API_KEY", "sk-synerec")
    enc.encode(["iota"])
    assert server.behaviour.headers[-1]["Authorization"] == "Bearer sk-synerec"


def test_500_then_success_is_retried(server: Server) -> None:
    server.behaviour.fail_first = 2
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m", batch_size=10, backoff=0.01)
    out = enc.encode(["oats", "toast"])
    np.testing.assert_allclose(out, expected(["oats", "toast"]), atol=1e-6)
    assert len(server.behaviour.requests) == 3


def test_429_honours_retry_after(server: Server) -> None:
    server.behaviour.fail_first, server.behaviour.status = 1, 429
    server.behaviour.retry_after = "0"
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m", backoff=30.0)
    out = enc.encode(["oats"])  # would wait 30 s without the server's Retry-After: 0
    np.testing.assert_allclose(out, expected(["oats"]), atol=1e-6)
    assert len(server.behaviour.requests) == 2


def test_persistent_500_is_a_clear_error(server: Server) -> None:
    server.behaviour.fail_first = 100
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m", max_retries=2, backoff=0.01)
    with pytest.raises(EncoderError) as info:
        enc.encode(["oats"])
    msg = str(info.value)
    assert "500" in msg and "model overloaded, try later" in msg and "3 attempts" in msg
    assert isinstance(info.value, SynerecError)
    assert len(server.behaviour.requests) == 3


def test_client_error_is_not_retried(server: Server) -> None:
    server.behaviour.fail_first, server.behaviour.status = 5, 401
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m", backoff=0.01)
    with pytest.raises(EncoderError, match="401 Unauthorized: model overloaded"):
        enc.encode(["oats"])
    assert len(server.behaviour.requests) == 1


def test_malformed_answer_is_a_clear_error(server: Server) -> None:
    server.behaviour.drop_last = True
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m")
    with pytest.raises(EncoderError, match="returned 1 embeddings for 2 inputs"):
        enc.encode(["oats", "toast"])


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    enc = OpenAIEmbeddingEncoder(base_url=f"http://127.0.0.1:{port}", model="m", max_retries=1,
                                 backoff=0.01, timeout=5)
    with pytest.raises(EncoderError, match=f"cannot reach the embedding server at "
                                           f"http://127.0.0.1:{port}/v1/embeddings"):
        enc.encode(["oats"])


def test_through_the_cache(server: Server, tmp_path: Path) -> None:
    enc = OpenAIEmbeddingEncoder(base_url=server.url, model="m", batch_size=3)
    cache = EmbeddingCache(tmp_path)
    first = cached_encode(enc, TEXTS, cache=cache)
    n_requests = len(server.behaviour.requests)
    stats = CacheStats()
    again = cached_encode(OpenAIEmbeddingEncoder(base_url=server.url, model="m"), TEXTS,
                          cache=EmbeddingCache(tmp_path), stats=stats)
    assert len(server.behaviour.requests) == n_requests and stats.hits == len(TEXTS)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, expected(TEXTS), atol=1e-6)
