r"""Implicit-feedback matrix factorisation on the ``implicit`` library: ALS and BPR.

Both learn user factors :math:`p_u` and item factors :math:`q_i` from the positives (see
:mod:`synerec.algorithms.positives`) and score :math:`s_{ui} = p_u^\top q_i`. The training runs
in Ben Frederickson's `implicit <https://github.com/benfred/implicit>`_ (its CUDA kernels when a
GPU is present and ``device`` allows it); synerec keeps the learned factors as plain arrays, so a
saved model loads and recommends without ``implicit`` installed.

* :class:`ImplicitALS` (``"als"``): weighted matrix factorisation of Hu, Koren and Volinsky (2008),
  every user-item cell a 0/1 preference with confidence :math:`c_{ui}`,

  .. math:: \min_{P,Q} \sum_{u,i} c_{ui} (p_{ui} - p_u^\top q_i)^2
            + \lambda \Big(\sum_u \lVert p_u\rVert^2 + \sum_i \lVert q_i\rVert^2\Big),
            \qquad c_{ui} = 1 + \alpha\, f(w_{ui})

  for a positive of weight :math:`w_{ui}` (the rating, or the purchase count) and 1 elsewhere;
  :math:`f` is the ``confidence`` option: ``"linear"`` :math:`f(w) = w`, ``"log"``
  :math:`f(w) = \log(1 + w)`, ``"binary"`` :math:`f(w) = 1`. Solved by alternating least squares
  with conjugate-gradient steps (Takács et al. 2011).
* :class:`ImplicitBPR` (``"bpr"``): Bayesian personalised ranking (Rendle et al. 2009), SGD on
  sampled (user, positive, negative) triples maximising :math:`\ln \sigma(s_{ui} - s_{uj})` with
  L2 regularisation; implicit adds an item bias (a factor column that is 1 for every user).

References
----------
.. [1] Y. Hu, Y. Koren, C. Volinsky, "Collaborative filtering for implicit feedback datasets",
   ICDM 2008.
.. [2] G. Takács, I. Pilászy, D. Tikk, "Applications of the conjugate gradient method for
   implicit feedback collaborative filtering", RecSys 2011.
.. [3] S. Rendle, C. Freudenthaler, Z. Gantner, L. Schmidt-Thieme, "BPR: Bayesian personalized
   ranking from implicit feedback", UAI 2009.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from synerec.algorithms.abilities import EvidenceKind
from synerec.algorithms.persistence import ArrayRows, array_rows
from synerec.algorithms.positives import PositiveFeedbackConfig, PositiveFeedbackModel
from synerec.algorithms.registry import register_model
from synerec.exceptions import ConfigError

__all__ = ["ImplicitALS", "ImplicitALSConfig", "ImplicitBPR", "ImplicitBPRConfig",
           "implicit_has_cuda"]

log = logging.getLogger(__name__)

_INSTALL_HINT = "pip install 'synerec[ranking]' (or pip install implicit)"


def _implicit() -> Any:
    try:
        import implicit
    except ImportError:
        raise ConfigError(f"the als and bpr models need the implicit package: {_INSTALL_HINT}"
                          ) from None
    return implicit


def implicit_has_cuda() -> bool:
    """Whether ``implicit`` is installed with its CUDA extension and sees a GPU (never raises)."""
    try:
        import implicit.gpu
    except ImportError:
        return False
    return bool(getattr(implicit.gpu, "HAS_CUDA", False))


def _use_gpu(device: str) -> bool:
    if device == "cpu":
        return False
    has = implicit_has_cuda()
    if device == "gpu" and not has:
        raise ConfigError("device='gpu' asked for, but implicit has no CUDA support here "
                          "(implicit.gpu.HAS_CUDA is False); use device='auto' or 'cpu'")
    return has


class _FactorConfig(PositiveFeedbackConfig):
    factors: int = Field(64, ge=1)
    regularization: float = Field(0.01, ge=0.0, allow_inf_nan=False)
    epochs: int = Field(15, ge=1)
    device: Literal["auto", "cpu", "gpu"] = "auto"
    num_threads: int = Field(0, ge=0)
    random_state: int | None = None


class ImplicitALSConfig(_FactorConfig):
    """Parameters of :class:`ImplicitALS`.

    Defaults from a grid on MovieLens 100K u1 (``bench/ranking.py``); tune them per data set
    (``synerec tune --model als``).
    """

    factors: int = Field(64, ge=1)
    regularization: float = Field(30.0, ge=0.0, allow_inf_nan=False)
    alpha: float = Field(2.0, gt=0.0, allow_inf_nan=False)
    confidence: Literal["linear", "log", "binary"] = "log"
    epochs: int = Field(15, ge=1)
    solver: Literal["cg", "cholesky"] = "cg"


class ImplicitBPRConfig(_FactorConfig):
    """Parameters of :class:`ImplicitBPR`.

    Defaults from a grid on MovieLens 100K u1 (``bench/ranking.py``).
    """

    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0.0, allow_inf_nan=False)
    regularization: float = Field(0.003, ge=0.0, allow_inf_nan=False)
    epochs: int = Field(60, ge=1)


_FC = TypeVar("_FC", bound=_FactorConfig)


class _ImplicitFactorModel(PositiveFeedbackModel[_FC]):
    """What ALS and BPR share: the factors, their scores and their persistence."""

    evidence_kind: ClassVar[EvidenceKind] = "taste-profile"

    item_factors_: np.ndarray
    _user_rows: ArrayRows

    @property
    def user_factors_(self) -> np.ndarray:
        """The users' factors (float32); a model loaded from a directory reads the rows of
        the users it scores until this whole table is asked for."""
        return self._user_rows.full()

    def _train_matrix(self, P: sp.csr_matrix) -> sp.csr_matrix:
        return P

    def _build(self, implicit: Any, use_gpu: bool) -> Any:
        raise NotImplementedError

    def _fit_positives(self, P: sp.csr_matrix) -> None:
        from threadpoolctl import threadpool_limits

        implicit = _implicit()
        cfg = self.config_
        use_gpu = _use_gpu(cfg.device)
        C = sp.csr_matrix(self._train_matrix(P), dtype=np.float32)
        start = time.perf_counter()
        # implicit's own loops are multithreaded; a multithreaded BLAS inside them only slows
        # them down (implicit checks, and warns, when the model is built)
        with threadpool_limits(1, "blas"):
            model = self._build(implicit, use_gpu)
            model.fit(C, show_progress=False)
        if use_gpu:
            model = model.to_cpu()
        self._set_factors(model.user_factors, model.item_factors)
        self.device_ = "gpu" if use_gpu else "cpu"
        log.info("%s: %d factors on %s in %.3f s", type(self).__name__,
                 self.item_factors_.shape[1], self.device_, time.perf_counter() - start)

    def _set_factors(self, U: np.ndarray | ArrayRows, V: np.ndarray) -> None:
        self._user_rows = U if isinstance(U, ArrayRows) and U.dtype == np.float32 else \
            ArrayRows.of(np.ascontiguousarray(U.full() if isinstance(U, ArrayRows) else U,
                                              dtype=np.float32))
        self.item_factors_ = np.ascontiguousarray(V, dtype=np.float32)
        # scores in float64, rounded once: a user's scores do not depend on the batch around it
        # (the users' rows are widened when asked: a loaded model serving one user does not
        # hold every user's factors twice)
        self._v64 = self.item_factors_.astype(np.float64)

    def _u64(self, users: np.ndarray) -> np.ndarray:
        return self._user_rows.take(users).astype(np.float64)

    def _user_scores(self, users: np.ndarray) -> np.ndarray:
        return (self._u64(users) @ self._v64.T).astype(np.float32)

    def _pair_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self._u64(users), self._v64[items])

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        U, V = array_rows(arrays, "user_factors"), arrays["item_factors"]
        if len(U.shape) != 2 or V.ndim != 2 or U.shape[0] != self.n_users_ \
                or V.shape[0] != self.n_items_ or U.shape[1] != V.shape[1]:
            raise ValueError(f"factor shapes {U.shape} and {V.shape} do not fit "
                             f"{self.n_users_} users x {self.n_items_} items")
        self._set_factors(U, V)
        self.device_ = "cpu"

    def _explain(self, user: int, item: int) -> dict[str, Any]:
        out = super()._explain(user, item)
        if user >= 0 and item >= 0:
            out["dot"] = float(self._u64(np.array([user]))[0] @ self._v64[item])
        return out


@register_model("als")
class ImplicitALS(_ImplicitFactorModel[ImplicitALSConfig]):
    r"""Implicit-feedback ALS (Hu, Koren and Volinsky 2008), trained by ``implicit``.

    Parameters
    ----------
    factors
        Latent dimensions.
    regularization
        :math:`\lambda`.
    alpha
        Confidence scale :math:`\alpha` of :math:`c_{ui} = 1 + \alpha f(w_{ui})`.
    confidence
        :math:`f`: ``"linear"`` (the weight itself: the rating, the purchase count), ``"log"``
        (:math:`\log(1 + w)`, damps heavy buyers) or ``"binary"`` (1 per positive).
    epochs
        ALS sweeps (implicit's ``iterations``).
    solver
        ``"cg"`` (a few conjugate-gradient steps per least-squares problem, Takács et al.;
        implicit's default, faster) or ``"cholesky"`` (the exact solve of each problem).
    device
        ``"auto"``: implicit's GPU path when ``implicit.gpu.HAS_CUDA``, else the CPU;
        ``"cpu"``; ``"gpu"`` (an error without CUDA).
    num_threads
        CPU threads of implicit (0: all cores).
    random_state
        Seed of the initial factors; the same seed gives the same model on the CPU.
    positive_threshold
        Which interactions are positives (see :mod:`synerec.algorithms.positives`).

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        float32 factors, users x ``factors`` and items x ``factors``.
    device_ : str
        Where the model was trained (``"cpu"`` or ``"gpu"``).

    Notes
    -----
    :meth:`predict` returns :math:`p_u^\top q_i` (a preference score near 0..1), not a rating.
    """

    def _train_matrix(self, P: sp.csr_matrix) -> sp.csr_matrix:
        cfg = self.config_
        C = P.copy()
        w = np.maximum(C.data.astype(np.float64), 0.0)
        f = np.ones_like(w) if cfg.confidence == "binary" else \
            np.log1p(w) if cfg.confidence == "log" else w
        # implicit takes each stored value as the confidence c_ui of a positive (times its own
        # alpha, left at 1 here), and 1 for every other cell: Hu et al.'s c = 1 + alpha f(w)
        C.data = (1.0 + cfg.alpha * f).astype(np.float32)
        return C

    def _build(self, implicit: Any, use_gpu: bool) -> Any:
        cfg = self.config_
        from implicit.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=cfg.factors, regularization=cfg.regularization, alpha=1.0,
            iterations=cfg.epochs, use_cg=cfg.solver == "cg", use_gpu=use_gpu,
            num_threads=cfg.num_threads, random_state=cfg.random_state,
            calculate_training_loss=False)


@register_model("bpr")
class ImplicitBPR(_ImplicitFactorModel[ImplicitBPRConfig]):
    r"""Bayesian personalised ranking (Rendle et al. 2009), trained by ``implicit``.

    Parameters
    ----------
    factors
        Latent dimensions (implicit adds one for the item bias).
    learning_rate
        SGD step size.
    regularization
        L2 regularisation of the factors.
    epochs
        SGD passes (implicit's ``iterations``); each samples as many triples as there are
        positives.
    device, num_threads, random_state, positive_threshold
        As in :class:`ImplicitALS`. BPR's parallel SGD is not bit-reproducible with more than
        one thread; ``num_threads=1`` with a seed is.

    Attributes
    ----------
    user_factors_, item_factors_ : numpy.ndarray
        float32 factors as implicit returns them (the last item column is the bias; the last
        user column is 1).
    """

    def _train_matrix(self, P: sp.csr_matrix) -> sp.csr_matrix:
        C = P.copy()
        C.data = np.ones_like(C.data)
        return C

    def _build(self, implicit: Any, use_gpu: bool) -> Any:
        cfg = self.config_
        from implicit.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=cfg.factors, learning_rate=cfg.learning_rate,
            regularization=cfg.regularization, iterations=cfg.epochs, use_gpu=use_gpu,
            num_threads=cfg.num_threads, random_state=cfg.random_state)
