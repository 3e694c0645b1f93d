r"""The LLM feature: how likely a language model finds an item's title after the user's history.

For user :math:`u` with history :math:`H_u` (the ``history`` most recent training items) and
candidate :math:`i` with title :math:`t_i`,

.. math:: s_\text{llm}(u, i) = \log p(t_i \mid \text{prompt}(H_u))
                               - \log p(t_i \mid \text{prompt}(\varnothing))

(the reranker's likelihood score (L1), :mod:`synerec.llm.reranker`; the second term removes the
model's prior for the title and is computed once per item). It is

* **bounded**: computed only for each user's top ``llm_candidates`` items of the first ranker;
* **batched**: one call per user scores all of that user's candidates (the local model decodes
  the prompt once and the candidates together, :meth:`synerec.llm.LlamaCppLLM.logprobs`);
* **cached on disk**: every log-probability goes through the client's
  :class:`~synerec.llm.cache.ResponseCache` (``<cache home>/llm``), so a repeated fit or
  evaluation asks the model only for what it has not seen;
* **timed**: the wall time of each user's call is kept (``seconds``), reported by the hybrid as
  ``llm_seconds_per_user_``.

A user whose call fails (timeout, server error) gets ``NaN`` (a missing feature, which the
ranker handles) and is counted in ``failures``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from synerec.llm.base import LLM, LLMError
from synerec.llm.prompts import likelihood_continuation, likelihood_prompt

__all__ = ["LikelihoodFeature", "make_llm"]

log = logging.getLogger(__name__)


def make_llm(kind: str, model: str | None = None, base_url: str | None = None, *,
             seed: int = 0, n_threads: int | None = None, timeout: float = 120.0) -> LLM:
    """The client of the hybrid's ``llm`` option, with the on-disk response cache.

    Parameters
    ----------
    kind
        ``"local"`` (a GGUF file; ``model`` is its path, default Gemma 3 270M) or ``"openai"``
        (an OpenAI-compatible server with echoed prompt log-probabilities; ``model`` is the
        server's model name, ``base_url`` its URL up to ``/v1``).
    """
    from synerec._config import cache_home
    from synerec.exceptions import ConfigError
    from synerec.llm.cache import ResponseCache

    cache = ResponseCache(cache_home() / "llm")
    if kind == "local":
        from synerec.llm.local import LlamaCppLLM

        # LlamaCppLLM's name is a read-only property (derived from the model file), which
        # the LLM protocol's settable ``name: str`` does not admit: an LLM for every reader.
        return cast(LLM, LlamaCppLLM(model, seed=seed, cache=cache,
                                     n_threads=n_threads or None, timeout=timeout))
    if kind == "openai":
        from synerec.llm.openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM(model, base_url=base_url, cache=cache, timeout=timeout,
                                   supports_logprob=True)
    raise ConfigError(f"llm must be local or openai, not {kind!r}")


@dataclass
class LikelihoodFeature:
    """Computes :math:`s_\\text{llm}` for groups of (user, candidate) pairs.

    Parameters
    ----------
    llm
        A client with log-probabilities.
    titles
        Title per item index.
    domain
        Plural noun of the prompt (``"movies"``, ``"products"``).
    history
        Training items shown per user (most recent first).
    """

    llm: LLM
    titles: Sequence[str]
    domain: str = "items"
    history: int = 10
    seconds: list[float] = field(default_factory=list)
    failures: int = 0
    _prior: dict[int, float] = field(default_factory=dict)

    def user_history(self, X: sp.csr_matrix, T: sp.csr_matrix | None, user: int) -> list[str]:
        """The titles shown for ``user``: the ``history`` most recent training items."""
        from synerec.llm.reranker import user_history

        items = user_history(X, user, self.history, timestamps=T, order="recent")
        return [self.titles[j] for j in items]

    def score_user(self, X: sp.csr_matrix, T: sp.csr_matrix | None, user: int,
                   items: np.ndarray) -> np.ndarray:
        """:math:`s_\\text{llm}` of ``items`` for one user (``NaN`` when the call fails)."""
        from synerec.llm.reranker import _logprobs

        out = np.full(len(items), np.nan, dtype=np.float64)
        if user < 0 or len(items) == 0:
            return out
        history = self.user_history(X, T, user)
        if not history:
            return out
        t0 = time.perf_counter()
        try:
            conts = [likelihood_continuation(self.titles[int(i)]) for i in items]
            cond = _logprobs(self.llm, likelihood_prompt(history, self.domain), conts)
            missing = [k for k, i in enumerate(items) if int(i) not in self._prior]
            if missing:
                prior = _logprobs(self.llm, likelihood_prompt([], self.domain),
                                  [conts[k] for k in missing])
                for k, value in zip(missing, prior, strict=True):
                    self._prior[int(items[k])] = float(value)
            base = np.array([self._prior[int(i)] for i in items])
            out = np.asarray(cond, dtype=np.float64) - base
        except LLMError as exc:
            self.failures += 1
            log.warning("LLM feature of user %d failed (%s): left missing", user, exc)
        self.seconds.append(time.perf_counter() - t0)
        return out

    def score_groups(self, X: sp.csr_matrix, T: sp.csr_matrix | None, users: np.ndarray,
                     groups: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`score_user` for each ``(users[g], groups[g])``."""
        return [self.score_user(X, T, int(u), np.asarray(g)) for u, g in
                zip(users, groups, strict=True)]

    def summary(self) -> dict[str, Any]:
        """Users scored, failures and seconds per user (mean, median, p95)."""
        s = np.asarray(self.seconds, dtype=np.float64)
        if len(s) == 0:
            return {"users": 0, "failures": self.failures}
        return {"users": len(s), "failures": self.failures,
                "seconds_per_user_mean": float(s.mean()),
                "seconds_per_user_median": float(np.median(s)),
                "seconds_per_user_p95": float(np.quantile(s, 0.95))}
