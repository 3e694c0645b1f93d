"""Retraining in the background: base data + stored events -> a new model directory -> swap.

A job runs the fit in a **separate process** (``python -m synerec.service.retrain SPEC``), so a
crash of the fit (an exception, running out of memory, a ``kill -9``) cannot take the server
down: the job is marked ``failed`` with the worker's last error line (filesystem paths removed)
and the old model keeps serving. The worker runs niced (``retrain_nice``), so serving keeps the
CPU, and dies with the server process that started it (``PR_SET_PDEATHSIG`` and a parent
watch): a ``kill -9`` of the server never leaves a worker writing behind its back. Besides the
model, the worker precomputes the serving files of the new version (top-N lists), so the server
processes only memory-map them. Only after the worker exited with status 0 does the server load
the new model directory (checksums verified, no pickle), build a complete snapshot and publish
it (``CURRENT``); every worker process then adopts it.

One retrain at a time, across processes
---------------------------------------
A job holds ``<state_dir>/retrain.lock`` from its start to its end; a second request, in any
worker process, gets :class:`RetrainBusyError` (409). The version number is chosen under the
lock, above every existing version directory, so no job overwrites another's model. Job records
are JSON files in ``<state_dir>/jobs/``, readable by every worker; a job left ``queued`` or
``running`` while nobody holds the lock (its server was killed) is reported ``failed``
("interrupted"). Finished records expire after ``job_retention_s`` and beyond
``max_job_records``. After a successful job, model versions beyond ``keep_model_versions`` are
deleted.

Automatic retraining
--------------------
:meth:`RetrainManager.maybe_start_auto` (called every second by each worker's maintenance
thread) starts a job when ``retrain_after_events`` events are newer than the served model, or
the oldest of them is ``retrain_after_s`` old; so pending events never pile up without bound.

Training data of a retrain
--------------------------
* the base data: ``settings.base_dataset`` (a registered data set or a file, loaded with
  ``settings.base_dataset_options``) or, when unset, the training matrix stored in the model
  directory first served;
* plus every stored event with ``id <= events_upto`` (the newest id when the job started):
  its rating, or for events without a rating, ``settings.implied_ratings`` (explicit models:
  a fraction of the rating scale; ``None`` = left out) or ``settings.event_weights``
  (implicit models);
* a (user, item) pair present more than once keeps its newest value (by timestamp; an event
  wins over base data with the same timestamp).

Ids: when the base data has integer ids and every event id of that kind is an integer, the
events' ids are converted to integers; otherwise all ids of that kind become strings.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.data import InteractionDataset, load_dataset
from synerec.exceptions import ModelFileError, SynerecError
from synerec.models import create_model, load_model
from synerec.service.catalogue import read_catalogue_frame
from synerec.service.events import read_events_frame
from synerec.service.faults import classify, scrub_paths
from synerec.service.locks import FileLock, die_with_parent
from synerec.service.model_store import load_snapshot

__all__ = ["RetrainBusyError", "RetrainJob", "RetrainManager", "build_training_frame",
           "run_retrain"]

log = logging.getLogger(__name__)


class RetrainBusyError(SynerecError):
    """A retrain was requested while another one is running."""


@dataclass
class RetrainJob:
    """State of one retrain job (what ``GET /v1/models/retrain/{job_id}`` returns)."""

    job_id: str
    status: str  # queued, running, succeeded, failed
    created_at: float
    events_upto: int
    target_version: int
    started_at: float | None = None
    finished_at: float | None = None
    model_version: int | None = None
    n_interactions: int | None = None
    error: str | None = None
    worker_pid: int | None = None
    owner_pid: int | None = None
    trigger: str = "api"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetrainJob:
        """A job from its record (unknown keys ignored, for records of other versions)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# -- the worker (runs in its own process) --------------------------------------------------
def _ids_like(base: pd.Series, events: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Make base and event ids one type: integers when both can be, else strings."""
    if base.dtype.kind in "iu":
        as_int = pd.to_numeric(events, errors="coerce")
        if len(events) == 0 or (as_int.notna().all()
                                and events.astype(str).str.fullmatch(r"[+-]?\d+").all()):
            return base, as_int.astype(np.int64)
        return base.astype(str), events.astype(str)
    return base.astype(str), events.astype(str)


def build_training_frame(base: pd.DataFrame, rating_scale: tuple[float, float] | None,
                         events: pd.DataFrame, *, implied_ratings: Mapping[str, float | None],
                         event_weights: Mapping[str, float]) -> pd.DataFrame:
    """Base interactions plus events as one table ``user_id, item_id, rating, timestamp``.

    See the module docstring for how events without a rating and ids are handled. The result
    is ordered base first, then events by id, so that ``duplicates="last"`` prefers events.
    """
    ev = events.copy()
    kinds = ev["event"].where(ev["event"].notna(), "none").astype(str)
    value = ev["rating"].astype(np.float64)
    missing = value.isna()
    if rating_scale is not None:
        low, high = rating_scale
        frac = kinds.map(lambda k: implied_ratings.get(k)).astype(np.float64)
        value = value.where(~missing, low + frac * (high - low))
        value = value.clip(low, high)
    else:
        value = value.where(~missing, kinds.map(lambda k: event_weights.get(k, 1.0)))
    ev = pd.DataFrame({"user_id": ev["user_id"], "item_id": ev["item_id"], "rating": value,
                       "timestamp": ev["timestamp"].astype(np.float64).round().astype(np.int64)})
    ev = ev[ev["rating"].notna()]
    b = base[["user_id", "item_id", "rating"]].copy()
    b["timestamp"] = base["timestamp"].astype(np.int64) if "timestamp" in base else 0
    b["user_id"], ev_u = _ids_like(b["user_id"], ev["user_id"])
    b["item_id"], ev_i = _ids_like(b["item_id"], ev["item_id"])
    ev = ev.assign(user_id=ev_u.to_numpy(), item_id=ev_i.to_numpy())
    return pd.concat([b, ev], ignore_index=True)


def _base_frame(spec: Mapping[str, Any]
                ) -> tuple[pd.DataFrame, tuple[float, float] | None, str, pd.DataFrame | None]:
    """The base interactions, their rating scale, their name and the item catalogue."""
    if spec.get("base_dataset"):
        ds = load_dataset(spec["base_dataset"], **(spec.get("base_dataset_options") or {}))
        return ds.to_dataframe(), ds.rating_scale, ds.name, ds.item_info
    model = load_model(spec["base_model_dir"])
    X = model.train_.tocoo()
    frame = pd.DataFrame({"user_id": model.users_.ids_of(X.row),
                          "item_id": model.items_.ids_of(X.col),
                          "rating": X.data.astype(np.float64)})
    cat = model.catalogue_
    items = None if not cat else pd.DataFrame(
        dict(cat), index=pd.Index(model.items_.ids, name="item_id"))
    return frame, model.rating_scale_, "base-model", items


def _catalogue_like(items: pd.DataFrame | None, item_ids: pd.Series) -> pd.DataFrame | None:
    """The base catalogue with its ids of the training frame's type (strings once any event
    id made the item ids strings), so a retrained model keeps the titles and categories."""
    if items is None or len(items) == 0:
        return None
    items = items.copy()
    if item_ids.dtype.kind not in "iu" and items.index.dtype.kind in "iu":
        items.index = items.index.astype(str)
    items.index.name = "item_id"
    return items


def _with_products(items: pd.DataFrame | None, products: pd.DataFrame | None,
                   item_ids: pd.Series) -> pd.DataFrame | None:
    """The base catalogue plus the service's catalogue products (theirs win where given), ids
    of the training frame's type (an integer vocabulary takes only integer-like ids)."""
    if products is None or len(products) == 0:
        return items
    products = products.copy()
    if item_ids.dtype.kind in "iu":
        digits = products.index.str.fullmatch(r"-?\d+")
        products = products[digits.to_numpy(dtype=bool)]
        products.index = products.index.astype(np.int64)
        products.index.name = "item_id"
    if items is None or len(items) == 0:
        return products
    both = products.combine_first(items)
    both.index.name = "item_id"
    return both


def run_retrain(spec: Mapping[str, Any]) -> Path:
    """Fit ``spec["model"]`` on base data + events and save it to ``spec["out_dir"]``.

    ``spec`` keys: ``base_dataset``, ``base_dataset_options``, ``base_model_dir``,
    ``events_db``, ``events_upto``, ``model``, ``config``, ``out_dir``, ``implied_ratings``,
    ``event_weights``, and optionally ``serving`` (``load_snapshot`` options with
    ``cache_dir``: the serving files are precomputed here, in the worker).
    """
    start = time.perf_counter()
    base, scale, name, items = _base_frame(spec)
    events = read_events_frame(spec["events_db"], int(spec["events_upto"]))
    frame = build_training_frame(base, scale, events,
                                 implied_ratings=spec.get("implied_ratings") or {},
                                 event_weights=spec.get("event_weights") or {})
    items = _with_products(_catalogue_like(items, frame["item_id"]),
                           read_catalogue_frame(spec["events_db"]), frame["item_id"])
    ds = InteractionDataset.from_dataframe(frame, rating_scale=scale, duplicates="last",
                                           name=f"{name}+events", items=items)
    model = create_model(spec["model"], **(spec.get("config") or {})).fit(ds)
    path = model.save(spec["out_dir"])
    log.info("retrained %s on %d interactions (%d events) in %.1f s", spec["model"],
             ds.n_interactions, len(events), time.perf_counter() - start)
    serving = spec.get("serving")
    if serving:
        del model, ds, frame, events, base
        load_snapshot(path, version=0, events_upto=0, mmap=True, **serving)
    return path


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``python -m synerec.service.retrain SPEC.json``."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(args) != 1:
        sys.stderr.write("usage: python -m synerec.service.retrain SPEC.json\n")
        return 2
    try:
        spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        if spec.get("parent_pid"):
            die_with_parent(int(spec["parent_pid"]))
        if int(spec.get("nice") or 0) > 0:
            os.nice(int(spec["nice"]))
        run_retrain(spec)
    except SynerecError as exc:
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        return 2
    except OSError as exc:
        fault = classify(exc, "the retrained model")
        sys.stderr.write(f"error: {fault or exc}\n")
        return 2
    return 0


# -- the manager (runs in each server process) ----------------------------------------------
_JOB_FILE = re.compile(r"^[0-9a-f]{32}\.json$")


class RetrainManager:
    """Starts retrain jobs, one at a time across processes, and publishes their models.

    Parameters
    ----------
    settings
        The service settings (base data, retrain model and options, timeout, retention).
    events
        The event store (its newest id bounds a job's events).
    store
        The model store whose snapshot is published.
    on_finish
        Called with the final status of each job this process ran (metrics).
    """

    def __init__(self, settings: Any, events: Any, store: Any,
                 on_finish: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.events = events
        self.store = store
        self.on_finish = on_finish
        self.state_dir = Path(settings.resolved_state_dir)
        self.jobs_dir = self.state_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._flock = FileLock(self.state_dir / "retrain.lock")
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._running: str | None = None
        self._closing = False
        self._auto_not_before = 0.0
        self._recover_interrupted()

    # -- records ------------------------------------------------------------------------------
    def _path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _save(self, job: RetrainJob) -> None:
        f = self._path(job.job_id)
        tmp = self.jobs_dir / f".{job.job_id}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
            os.replace(tmp, f)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _read(self, job_id: str) -> RetrainJob | None:
        try:
            return RetrainJob.from_json(json.loads(self._path(job_id).read_text(
                encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("unreadable job record %s: %s", job_id, exc)
            return None

    def _recover_interrupted(self) -> None:
        """Mark jobs of a server that died mid-job as failed (only if nobody runs one now)."""
        if not self._flock.is_free():
            return
        for f in self.jobs_dir.glob("*.json"):
            if _JOB_FILE.match(f.name):
                self.get(f.name[:-5])

    def get(self, job_id: str) -> RetrainJob | None:
        """The job's state (``None`` when unknown). A ``queued``/``running`` job whose
        server is gone is reported (and recorded) as ``failed``."""
        job = self._read(job_id)
        if job is None or job.status not in ("queued", "running"):
            return job
        with self._lock:
            if self._running == job_id:
                return job
        if self._flock.is_free():
            job = self._read(job_id)  # its owner records the end before letting the lock go
            if job is None or job.status not in ("queued", "running"):
                return job
            job.status, job.finished_at = "failed", time.time()
            job.error = "interrupted: the server process running the job stopped"
            try:
                self._save(job)
            except OSError as exc:
                log.warning("cannot record job %s as interrupted: %s", job_id, exc)
        return job

    def prune_jobs(self, now: float | None = None) -> int:
        """Delete finished job records older than ``job_retention_s`` and beyond
        ``max_job_records``; return how many were deleted."""
        now = time.time() if now is None else now
        finished: list[tuple[float, Path]] = []
        for f in self.jobs_dir.glob("*.json"):
            if not _JOB_FILE.match(f.name):
                continue
            job = self._read(f.name[:-5])
            if job is not None and job.status in ("succeeded", "failed"):
                finished.append((job.finished_at or job.created_at, f))
        finished.sort(reverse=True)
        removed = 0
        for k, (t, f) in enumerate(finished):
            if k >= self.settings.max_job_records or now - t > self.settings.job_retention_s:
                f.unlink(missing_ok=True)
                removed += 1
        for f in self.jobs_dir.glob(".*.tmp"):  # interrupted writes
            f.unlink(missing_ok=True)
        return removed

    # -- starting -----------------------------------------------------------------------------
    @property
    def running_here(self) -> str | None:
        """The id of the job this process is running, if any."""
        return self._running

    def start(self, trigger: str = "api") -> RetrainJob:
        """Start a retrain from the events stored so far.

        Raises
        ------
        RetrainBusyError
            A job runs (in any worker process), or the server is shutting down.
        ServiceFault
            The job record cannot be written (a full disk: 507).
        """
        with self._lock:
            if self._closing:
                raise RetrainBusyError("the service is shutting down")
            job_id = uuid.uuid4().hex
            try:
                got = self._flock.acquire(blocking=False, note=job_id)
            except OSError as exc:
                raise classify(exc, "the state directory") or exc from exc
            if not got:
                _, other = self._flock.holder()
                raise RetrainBusyError(
                    f"retrain job {other or '(starting)'} is still running; one job at a time")
            try:
                job = RetrainJob(job_id=job_id, status="queued", created_at=time.time(),
                                 events_upto=self.events.max_id(),
                                 target_version=self.store.next_version(), trigger=trigger,
                                 owner_pid=os.getpid())
                self._save(job)
                self._running = job_id
                self._thread = threading.Thread(target=self._run, args=(job,),
                                                name=f"retrain-{job_id[:8]}", daemon=True)
                self._thread.start()
            except BaseException as exc:
                self._running = None
                self._flock.release()
                fault = classify(exc, "the job record") if isinstance(exc, OSError) else None
                if fault is not None:
                    raise fault from exc
                raise
            return RetrainJob(**asdict(job))

    def maybe_start_auto(self, now: float | None = None) -> RetrainJob | None:
        """Start a job if the pending events call for one (see the module docstring)."""
        s = self.settings
        now = time.time() if now is None else now
        if self._closing or self._running is not None or now < self._auto_not_before:
            return None
        served = self.store.current.events_upto
        pending = self.events.max_id() - served
        if pending <= 0:
            return None
        due = s.retrain_after_events is not None and pending >= s.retrain_after_events
        if not due and s.retrain_after_s is not None:
            oldest = self.events.received_at(served + 1)
            due = oldest is not None and now - oldest >= s.retrain_after_s
        if not due:
            return None
        try:
            job = self.start(trigger="auto")
        except RetrainBusyError:
            return None
        except SynerecError as exc:
            log.warning("automatic retrain not started: %s", exc)
            self._auto_not_before = now + 60
            return None
        log.info("automatic retrain %s started: %d events pending", job.job_id, pending)
        return job

    def _spec(self, job: RetrainJob, out_dir: Path) -> dict[str, Any]:
        s = self.settings
        snap = self.store.current
        cache = self.store.cache_dir
        return {
            "base_dataset": s.base_dataset,
            "base_dataset_options": dict(s.base_dataset_options),
            "base_model_dir": str(Path(s.model_dir).resolve()),
            "events_db": str(self.events.path.resolve()),
            "events_upto": job.events_upto,
            "model": s.retrain_model or snap.model_name,
            "config": (dict(s.retrain_config) if s.retrain_config is not None
                       else snap.model.config_.model_dump(mode="json")),
            "out_dir": str(out_dir.resolve()),
            "implied_ratings": dict(s.implied_ratings),
            "event_weights": dict(s.event_weights),
            "parent_pid": os.getpid(),
            "nice": s.retrain_nice,
            "serving": {"similarity_neighbors": s.similarity_neighbors,
                        "precompute_n": s.precompute_n,
                        "precompute_max_users": s.precompute_max_users,
                        "explain_n": s.explain_precompute_n,
                        "explain_max_users": s.explain_precompute_max_users,
                        "cache_dir": None if cache is None else str(cache.resolve())},
        }

    def _update(self, job: RetrainJob, **changes: Any) -> None:
        for k, v in changes.items():
            setattr(job, k, v)
        try:
            self._save(job)
        except OSError as exc:  # a full disk must not stop the job's bookkeeping in memory
            log.warning("cannot update the record of job %s: %s", job.job_id, exc)

    def _scrub(self, text: str) -> str:
        known = [str(self.state_dir.resolve()), str(self.state_dir),
                 str(Path(self.settings.model_dir).resolve()), str(self.settings.model_dir)]
        return scrub_paths(text, *known)

    def _run(self, job: RetrainJob) -> None:
        out_dir = self.store.next_model_dir(job.target_version)
        spec_path = self.jobs_dir / f".{job.job_id}.spec"
        status, error, version, n_inter = "failed", None, None, None
        try:
            if out_dir.exists():  # a crashed job's leftover (never CURRENT: versions only grow)
                shutil.rmtree(out_dir)
            spec_path.write_text(json.dumps(self._spec(job, out_dir)), encoding="utf-8")
            cmd = [sys.executable, "-m", "synerec.service.retrain", str(spec_path)]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            with self._lock:
                self._proc = proc
            self._update(job, status="running", started_at=time.time(), worker_pid=proc.pid)
            try:
                _, err = proc.communicate(timeout=self.settings.retrain_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                raise RuntimeError(f"the retrain took longer than "
                                   f"{self.settings.retrain_timeout_s:g} s and was killed"
                                   ) from None
            if proc.returncode != 0:
                lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
                last = lines[-1] if lines else "no output"
                raise RuntimeError(f"the retrain worker exited with status {proc.returncode}: "
                                   f"{last}")
            snap = self.store.load(out_dir, version=job.target_version,
                                   events_upto=job.events_upto)
            self.store.publish(snap)
            self.events.fold(job.events_upto)  # keep the per-user index small
            status, version = "succeeded", snap.version
            n_inter = int(snap.model.train_.nnz)
            try:
                self.store.prune(self.settings.keep_model_versions)
            except OSError as exc:
                log.warning("could not prune old model versions: %s", exc)
        except (RuntimeError, OSError, SynerecError, ModelFileError) as exc:
            fault = classify(exc, "the model store") if isinstance(exc, OSError) else None
            error = self._scrub(str(fault or exc))
            log.error("retrain job %s failed (the old model keeps serving): %s", job.job_id, exc)
            shutil.rmtree(out_dir, ignore_errors=True)
        except Exception as exc:  # a bug must not kill the thread silently
            error = self._scrub(f"{type(exc).__name__}: {exc}")
            log.exception("retrain job %s failed (the old model keeps serving)", job.job_id)
            shutil.rmtree(out_dir, ignore_errors=True)
        finally:
            for tmp in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
            spec_path.unlink(missing_ok=True)
            self._update(job, status=status, finished_at=time.time(), error=error,
                         model_version=version, n_interactions=n_inter)
            with self._lock:
                self._running = None
                self._proc = None
            self._flock.release()
            if status == "failed" and job.trigger == "auto":
                self._auto_not_before = time.time() + 300
            try:
                self.prune_jobs()
            except OSError:
                pass
            if self.on_finish is not None:
                self.on_finish(status)

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs; kill a running worker and wait for its thread."""
        with self._lock:
            self._closing = True
            proc, thread = self._proc, self._thread
        if proc is not None and proc.poll() is None:
            proc.kill()
        if thread is not None:
            thread.join(timeout)

    def wait(self, job_id: str, timeout: float = 120.0) -> RetrainJob:
        """Block until the job has finished (for scripts and tests); return its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(job_id)
            if job is not None and job.status in ("succeeded", "failed"):
                return job
            time.sleep(0.05)
        raise TimeoutError(f"retrain job {job_id} did not finish within {timeout} s")


if __name__ == "__main__":
    sys.exit(main())
