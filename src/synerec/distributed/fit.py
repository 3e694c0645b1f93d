"""A model's sub-models fitted in parallel Ray tasks: the hybrid's retrievers.

:func:`parallel_fit` fits a model as :meth:`~synerec.algorithms.Recommender.fit` does, except
that the fits a model delegates to sub-models (the hybrid's retrievers, on each validation fit
part and on the whole matrix) run as Ray tasks, one per retriever, all at once. The hybrid
is told through :func:`synerec.hybrid.retrievers.retriever_fits` (the hybrid never imports this
layer); every task runs :func:`synerec.hybrid.retrievers.fit_retriever`, the function a local
fit runs, on the same training part, so the fitted model equals the local fit: the same saved
arrays, the same lists.

Each part is put in Ray's object store once; every task maps its arrays from there (zero-copy,
read-only). A fitted retriever comes back through the object store and is copied into this
process (:func:`copy.deepcopy`), so the model owns writable arrays, as after a local fit, and
outlives the Ray runtime. The driver still runs the rest of the fit (the split, the training
table, the ranker): on ML-100K the retrievers' fits were 2.9 s of the hybrid's 10.1 s on a
shared 2-core machine (``docs/scaling.md``, "The hybrid on Ray").

Determinism: a retriever's fit is a function of its options (``random_state`` included) and its
part. The tasks reserve one CPU each, so Ray limits their BLAS/OpenMP threads to one; the
fits whose float sums depend on the thread count would then differ in the last bits from a
local fit on more threads. The default retrievers do not: ``tests/distributed/test_ray.py``
compares every saved array of a small shop's default hybrid with the local fit's, and on ML-100K
(EASE's 1682 x 1682 inverse, ALS, the neighbourhood kernels) they were equal as well.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from synerec._progress import progress
from synerec.algorithms import Recommender
from synerec.algorithms.training import TrainingData
from synerec.distributed._ray import ray_session
from synerec.exceptions import ConfigError, SynerecError
from synerec.hybrid.retrievers import RetrieverSpec, retriever_fits

__all__ = ["parallel_fit"]

log = logging.getLogger(__name__)


def _timed_fit(fit_one: Callable[[RetrieverSpec, TrainingData], Recommender],
               spec: RetrieverSpec, part: TrainingData) -> tuple[Recommender, float]:
    """One retriever's fit in a Ray task, and its seconds there."""
    t0 = time.perf_counter()
    model = fit_one(spec, part)
    return model, time.perf_counter() - t0


class _RayFits:
    """The retrievers' fits of one model as Ray tasks (a :data:`RetrieverFits`)."""

    def __init__(self, ray: Any, num_cpus: float) -> None:
        self.ray = ray
        self.task = ray.remote(num_cpus=num_cpus)(_timed_fit)
        self.calls = 0

    def __call__(self, fit_one: Callable[[RetrieverSpec, TrainingData], Recommender],
                 specs: Sequence[RetrieverSpec], part: TrainingData) -> list[Recommender]:
        ray = self.ray
        self.calls += 1
        part_ref = ray.put(part)  # once: every task maps the part's arrays
        refs = [self.task.remote(fit_one, spec, part_ref) for spec in specs]
        label = {ref: spec.label for ref, spec in zip(refs, specs, strict=True)}
        fitted: dict[Any, Recommender] = {}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                model, seconds = ray.get(done[0])
                # driver-owned, writable arrays, as after a local fit (not object-store views)
                fitted[done[0]] = copy.deepcopy(model)
                del model
                progress.info("hybrid: retriever %d/%d %s fitted on Ray in %.1f s",
                              len(fitted), len(specs), label[done[0]], seconds)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, SynerecError):
                raise cause from None
            raise SynerecError(f"a retriever's fit failed on Ray: {cause or exc}") from exc
        except ray.exceptions.RayError as exc:
            raise SynerecError(f"a Ray worker failed: {exc}") from exc
        finally:
            for ref in pending:
                ray.cancel(ref)
            del part_ref
        return [fitted[ref] for ref in refs]


def parallel_fit(model: Recommender, data: Any, *, address: str | None = None,
                 num_cpus: int | None = None, task_cpus: float = 1.0,
                 rating_scale: tuple[float, float] | None = None,
                 item_embeddings: Any = None) -> Recommender:
    """Fit ``model`` on ``data``, its retrievers in parallel Ray tasks.

    Parameters
    ----------
    model
        An unfitted (or to be refitted) model; its sub-models' fits (the hybrid's retrievers)
        run on Ray, the rest here. A model without sub-models is fitted here, with a warning.
    data, rating_scale, item_embeddings
        As :meth:`~synerec.algorithms.Recommender.fit` takes them.
    address
        Ray cluster (``None``: the runtime started in this process, else a new local one;
        ``"auto"``; ``"ray://head:10001"``).
    num_cpus
        CPUs of a new local Ray runtime.
    task_cpus
        CPUs Ray reserves for each retriever's fit (its BLAS and OpenMP threads).

    Returns
    -------
    Recommender
        ``model``, fitted: equal to ``model.fit(data, ...)`` run here.

    Raises
    ------
    ConfigError
        ``task_cpus`` not positive, or what the model's own fit raises.
    RayUnavailableError
        Ray is missing or the cluster cannot be reached.
    SynerecError
        A Ray worker failed.
    """
    if isinstance(task_cpus, bool) or not isinstance(task_cpus, (int, float)) or task_cpus <= 0:
        raise ConfigError(f"task_cpus must be a number > 0, got {task_cpus!r}")
    t0 = time.perf_counter()
    with ray_session(address, num_cpus) as ray:
        fits = _RayFits(ray, float(task_cpus))
        with retriever_fits(fits):
            model.fit(data, rating_scale=rating_scale, item_embeddings=item_embeddings)
    if fits.calls == 0:
        log.warning("%s has no retrievers to fit in parallel: it was fitted here",
                    type(model).__name__)
    log.info("%s fitted with its retrievers on Ray (%d rounds of tasks) in %.1f s",
             type(model).__name__, fits.calls, time.perf_counter() - t0)
    return model
