"""Likelihood scoring against llama-cpp-python's real OpenAI-compatible server on 127.0.0.1.

The server (``python -m llama_cpp.server``, the ``server`` extra of llama-cpp-python) runs the
local Gemma 3 270M model in a subprocess. llama-cpp-python builds the echoed log-probabilities
in Python over the whole vocabulary for every prompt token (about a second per token on two
loaded cores), so every prompt here is a few tokens long.

What it checks: the request asks for ``max_tokens=1`` (the server reads ``0`` as "no limit" and
used to keep generating until the context was full, long after the client had timed out), the
generated token is not counted, the sum over the continuation's echoed tokens equals the local
model's own log-probability of the same tokens, and a client timeout ends a call promptly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from synerec.llm import LlamaCppLLM, LLMTimeoutError, OpenAICompatibleLLM, default_model_path
from tests.service import free_port

# The prompt ends at a word and the continuation starts with its own space, so the server's
# joint tokenization of prompt + continuation splits where the local model's separate one does.
PROMPT = "Films:\n-"
CONTINUATIONS = [" Fargo\n", " Heat\n"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"llama-cpp-python's server extra is missing ({exc}): pip install "
                    "'synerec[llm]'", pytrace=False)
    gguf = default_model_path()
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
           "127.0.0.1", "--port", str(port), "--n_ctx", "128", "--n_threads", "1",
           "--model_alias", "gemma"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: "
                            f"{log.read_text(errors='replace')[-2000:]}", pytrace=False)
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 180 s", pytrace=False)
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def test_logprob_against_the_real_server_matches_the_local_model(server: str) -> None:
    client = OpenAICompatibleLLM("gemma", base_url=server, supports_logprob=True, timeout=120)
    t0 = time.perf_counter()
    remote = client.logprobs(PROMPT, CONTINUATIONS)
    assert time.perf_counter() - t0 < 110  # answered: no endless generation
    local = LlamaCppLLM(default_model_path(), n_ctx=128, n_threads=1)
    try:
        expected = local.logprobs(PROMPT, CONTINUATIONS)
        assert [len(local.tokenize(c, add_bos=False)) for c in CONTINUATIONS] == [2, 2]
    finally:
        local.close()
    for got, want in zip(remote, expected, strict=True):
        assert got < 0
        # the same two tokens; the server's batch sizes round differently (about 0.1 nats)
        assert got == pytest.approx(want, abs=0.3)
    assert remote[0] != pytest.approx(remote[1], abs=1e-3)


def test_a_timeout_ends_the_call_promptly(server: str) -> None:
    client = OpenAICompatibleLLM("gemma", base_url=server, supports_logprob=True,
                                 timeout=0.2)
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeoutError):
        client.logprob(PROMPT + " a b c d e f g h", " Fargo\n")
    assert time.perf_counter() - t0 < 5
