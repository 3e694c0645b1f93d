"""Retraining in the background: base data + stored events -> a new model directory -> swap.

A job runs the fit in a **separate process** (``python -m synerec.service.retrain SPEC``), so a
crash of the fit (an exception, running out of memory, a ``kill -9``) cannot take the server
down: the job is marked ``failed`` with the worker's last error line and the old model keeps
serving. Only after the worker exited with status 0 does the server load the new model
directory (checksum verified, no pickle), build a complete snapshot and swap it in atomically.

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
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synerec.exceptions import ModelFileError, SynerecError

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
        from synerec.data import load_dataset

        ds = load_dataset(spec["base_dataset"], **(spec.get("base_dataset_options") or {}))
        return ds.to_dataframe(), ds.rating_scale, ds.name, ds.item_info
    from synerec.algorithms import Recommender

    model = Recommender.load(spec["base_model_dir"])
    X = model.train_.tocoo()
    frame = pd.DataFrame({"user_id": model.users_.ids_of(X.row),
                          "item_id": model.items_.ids_of(X.col),
                          "rating": X.data.astype(np.float64)})
    cat = getattr(model, "catalogue_", None)
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


def run_retrain(spec: Mapping[str, Any]) -> Path:
    """Fit ``spec["model"]`` on base data + events and save it to ``spec["out_dir"]``.

    ``spec`` keys: ``base_dataset``, ``base_dataset_options``, ``base_model_dir``,
    ``events_db``, ``events_upto``, ``model``, ``config``, ``out_dir``, ``implied_ratings``,
    ``event_weights``.
    """
    from synerec.algorithms import create_model
    from synerec.data import InteractionDataset
    from synerec.service.events import read_events_frame

    start = time.perf_counter()
    base, scale, name, items = _base_frame(spec)
    events = read_events_frame(spec["events_db"], int(spec["events_upto"]))
    frame = build_training_frame(base, scale, events,
                                 implied_ratings=spec.get("implied_ratings") or {},
                                 event_weights=spec.get("event_weights") or {})
    ds = InteractionDataset.from_dataframe(frame, rating_scale=scale, duplicates="last",
                                           name=f"{name}+events",
                                           items=_catalogue_like(items, frame["item_id"]))
    model = create_model(spec["model"], **(spec.get("config") or {})).fit(ds)
    path = model.save(spec["out_dir"])
    log.info("retrained %s on %d interactions (%d events) in %.1f s", spec["model"],
             ds.n_interactions, len(events), time.perf_counter() - start)
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
        run_retrain(spec)
    except SynerecError as exc:
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        return 2
    return 0


# -- the manager (runs in the server) ------------------------------------------------------
class RetrainManager:
    """Starts retrain jobs one at a time and swaps their models in.

    Parameters
    ----------
    settings
        The service settings (base data, retrain model and options, timeout).
    events
        The event store (its newest id bounds a job's events).
    store
        The model store whose snapshot is swapped.
    overlay
        Forgets the events a new model includes.
    on_finish
        Called with the final status of each job (metrics).
    """

    def __init__(self, settings: Any, events: Any, store: Any, overlay: Any,
                 on_finish: Any = None) -> None:
        self.settings = settings
        self.events = events
        self.store = store
        self.overlay = overlay
        self.on_finish = on_finish
        self.jobs_dir = Path(settings.resolved_state_dir) / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, RetrainJob] = {}
        self._running: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._load_jobs()

    def _load_jobs(self) -> None:
        for f in sorted(self.jobs_dir.glob("*.json")):
            if f.name.endswith(".spec.json"):
                continue
            try:
                job = RetrainJob(**json.loads(f.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("ignoring unreadable job record %s: %s", f, exc)
                continue
            if job.status in ("queued", "running"):
                job.status, job.error = "failed", "interrupted: the server stopped during the job"
                job.finished_at = time.time()
                self._save(job)
            self._jobs[job.job_id] = job

    def _save(self, job: RetrainJob) -> None:
        f = self.jobs_dir / f"{job.job_id}.json"
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
        os.replace(tmp, f)

    def get(self, job_id: str) -> RetrainJob | None:
        """A copy of the job's state, or ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else RetrainJob(**asdict(job))

    def start(self) -> RetrainJob:
        """Queue a retrain from the events stored so far; :class:`RetrainBusyError` if busy."""
        with self._lock:
            if self._closing:
                raise RetrainBusyError("the service is shutting down")
            if self._running is not None:
                raise RetrainBusyError(f"retrain job {self._running} is still running")
            snap = self.store.current
            job = RetrainJob(job_id=uuid.uuid4().hex, status="queued", created_at=time.time(),
                             events_upto=self.events.max_id(), target_version=snap.version + 1)
            self._jobs[job.job_id] = job
            self._running = job.job_id
            self._save(job)
            self._thread = threading.Thread(target=self._run, args=(job.job_id,),
                                            name=f"retrain-{job.job_id[:8]}", daemon=True)
            self._thread.start()
            return RetrainJob(**asdict(job))

    def _spec(self, job: RetrainJob, out_dir: Path) -> dict[str, Any]:
        s = self.settings
        snap = self.store.current
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
        }

    def _update(self, job_id: str, **changes: Any) -> RetrainJob:
        with self._lock:
            job = self._jobs[job_id]
            for k, v in changes.items():
                setattr(job, k, v)
            self._save(job)
            return job

    def _run(self, job_id: str) -> None:
        from synerec.service.model_store import load_snapshot

        job = self._jobs[job_id]
        out_dir = self.store.next_model_dir(job.target_version)
        spec_path = self.jobs_dir / f"{job_id}.spec.json"
        status, error, version, n_inter = "failed", None, None, None
        try:
            spec_path.write_text(json.dumps(self._spec(job, out_dir)), encoding="utf-8")
            cmd = [sys.executable, "-m", "synerec.service.retrain", str(spec_path)]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            with self._lock:
                self._proc = proc
            self._update(job_id, status="running", started_at=time.time(), worker_pid=proc.pid)
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
            snap = load_snapshot(out_dir, version=job.target_version,
                                 events_upto=job.events_upto,
                                 similarity_neighbors=self.settings.similarity_neighbors,
                                 precompute_n=self.settings.precompute_n,
                                 precompute_max_users=self.settings.precompute_max_users)
            self.store.swap(snap)
            self.overlay.prune(job.events_upto)
            status, version = "succeeded", snap.version
            n_inter = int(snap.model.train_.nnz)
        except (RuntimeError, OSError, SynerecError, ModelFileError) as exc:
            error = str(exc)
            log.error("retrain job %s failed (the old model keeps serving): %s", job_id, exc)
            shutil.rmtree(out_dir, ignore_errors=True)
        except Exception as exc:  # a bug must not kill the thread silently
            error = f"{type(exc).__name__}: {exc}"
            log.exception("retrain job %s failed (the old model keeps serving)", job_id)
            shutil.rmtree(out_dir, ignore_errors=True)
        finally:
            for tmp in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
            spec_path.unlink(missing_ok=True)
            self._update(job_id, status=status, finished_at=time.time(), error=error,
                         model_version=version, n_interactions=n_inter)
            with self._lock:
                self._running = None
                self._proc = None
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
