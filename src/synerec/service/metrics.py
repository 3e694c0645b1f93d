"""Request metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

Exposed at ``GET /metrics``:

``synerec_http_requests_total{method,route,status}`` (counter)
    Requests by route template (``/v1/users/{user_id}/recommendations``), not by raw path, so
    ids do not explode the number of series. Every label comes from a fixed set: methods other
    than the standard ones are ``method="other"``, paths that match no route are
    ``route="unmatched"``, so no client can add series.
``synerec_http_request_duration_seconds{route}`` (histogram)
    Time from the request's arrival to its last response byte.
``synerec_faults_total{kind}`` (counter)
    Faults answered: ``insufficient_storage`` (507), ``storage_error``, ``busy``,
    ``overloaded`` (503), ``timeout`` (408), ``body_too_large`` (413), ``internal_error`` (500).
``synerec_retrain_jobs_total{status}`` (counter)
``synerec_events_stored``, ``synerec_events_pending``, ``synerec_model_version``,
``synerec_model_loaded_timestamp_seconds``, ``synerec_workers`` (gauges)

With several worker processes, each one writes its counters to ``<state_dir>/run/metrics/`` every
second and ``/metrics`` adds them up, so whichever worker answers shows the whole server.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synerec.service.faults import FAULT_KINDS

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "METHODS", "Metrics", "clear_shared",
           "method_label"]

log = logging.getLogger(__name__)

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds (seconds) of the latency histogram's buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1.0, 2.5, 5.0, 10.0)
#: Methods counted under their own name; any other is ``"other"``.
METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
                                     "OPTIONS"})
_JOB_STATUSES = ("succeeded", "failed")


def method_label(method: str) -> str:
    """The metric label of an HTTP method (a fixed set)."""
    return method if method in METHODS else "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs.items()) + "}"


def _num(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class Metrics:
    """Thread-safe counters and latency histograms of one worker process.

    Parameters
    ----------
    share_dir
        With several workers: the folder where each one publishes its counters
        (:meth:`publish`) and from which :meth:`render` adds up the others'.
    """

    def __init__(self, share_dir: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._hist: dict[str, list[float]] = {}  # route -> bucket counts + [sum, count]
        self._jobs: dict[str, int] = {}
        self._faults: dict[str, int] = {}
        self.share_dir = None if share_dir is None else Path(share_dir)
        self._file = None if self.share_dir is None else \
            self.share_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its duration (``method`` is mapped to its label)."""
        with self._lock:
            key = (method_label(method), route, str(int(status)))
            self._requests[key] = self._requests.get(key, 0) + 1
            h = self._hist.get(route)
            if h is None:
                h = self._hist[route] = [0.0] * (len(DURATION_BUCKETS) + 2)
            for k, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    h[k] += 1
            h[-2] += seconds
            h[-1] += 1

    def count_job(self, status: str) -> None:
        """Count a retrain job that ended with ``status``."""
        with self._lock:
            self._jobs[status] = self._jobs.get(status, 0) + 1

    def count_fault(self, kind: str) -> None:
        """Count one fault answered (``kind`` from :data:`~synerec.service.faults.FAULT_KINDS`)."""
        if kind not in FAULT_KINDS:
            kind = "internal_error"
        with self._lock:
            self._faults[kind] = self._faults.get(kind, 0) + 1

    def request_count(self, route: str | None = None) -> int:
        """Requests counted so far by this process (for one route template, or all)."""
        with self._lock:
            return sum(c for (_, r, _), c in self._requests.items() if route in (None, r))

    # -- several processes --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """This process's counters as plain JSON values."""
        with self._lock:
            return {"requests": [[m, r, s, c] for (m, r, s), c in self._requests.items()],
                    "hist": {k: list(v) for k, v in self._hist.items()},
                    "jobs": dict(self._jobs), "faults": dict(self._faults)}

    def publish(self) -> None:
        """Write this process's counters for the other workers (atomically)."""
        if self._file is None:
            return
        tmp = self._file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot()), encoding="utf-8")
            os.replace(tmp, self._file)
        except OSError as exc:  # a full disk must not break serving
            log.debug("cannot publish metrics: %s", exc)

    def _others(self) -> list[dict[str, Any]]:
        if self.share_dir is None:
            return []
        out = []
        try:
            files = sorted(self.share_dir.glob("*.json"))
        except OSError:
            return []
        for f in files:
            if f == self._file:
                continue
            try:
                out.append(json.loads(f.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # being replaced right now, or damaged: skip this once
        return out

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """The exposition text (this process plus the published others); ``gauges`` maps a
        metric name to ``(help text, value)``."""
        requests: dict[tuple[str, str, str], float] = {}
        hist: dict[str, list[float]] = {}
        jobs: dict[str, float] = dict.fromkeys(_JOB_STATUSES, 0)
        faults: dict[str, float] = dict.fromkeys(FAULT_KINDS, 0)
        for snap in [self.snapshot(), *self._others()]:
            try:
                for m, r, s, c in snap.get("requests", []):
                    key = (str(m), str(r), str(s))
                    requests[key] = requests.get(key, 0) + float(c)
                for route, h in snap.get("hist", {}).items():
                    acc = hist.setdefault(str(route), [0.0] * (len(DURATION_BUCKETS) + 2))
                    if len(h) == len(acc):
                        for k, v in enumerate(h):
                            acc[k] += float(v)
                for status, c in snap.get("jobs", {}).items():
                    jobs[str(status)] = jobs.get(str(status), 0) + float(c)
                for kind, c in snap.get("faults", {}).items():
                    if kind in faults:
                        faults[kind] += float(c)
            except (TypeError, ValueError, AttributeError):
                continue
        out = ["# HELP synerec_http_requests_total HTTP requests by method, route and status.",
               "# TYPE synerec_http_requests_total counter"]
        for (method, route, status), c in sorted(requests.items()):
            labels = _labels({"method": method, "route": route, "status": status})
            out.append(f"synerec_http_requests_total{labels} {_num(c)}")
        out += ["# HELP synerec_http_request_duration_seconds HTTP request latency by route.",
                "# TYPE synerec_http_request_duration_seconds histogram"]
        for route, h in sorted(hist.items()):
            for k, bound in enumerate(DURATION_BUCKETS):
                labels = _labels({"route": route, "le": _num(bound)})
                out.append(f"synerec_http_request_duration_seconds_bucket{labels} {_num(h[k])}")
            labels = _labels({"route": route, "le": "+Inf"})
            out.append(f"synerec_http_request_duration_seconds_bucket{labels} {_num(h[-1])}")
            labels = _labels({"route": route})
            out.append(f"synerec_http_request_duration_seconds_sum{labels} {_num(h[-2])}")
            out.append(f"synerec_http_request_duration_seconds_count{labels} {_num(h[-1])}")
        out += ["# HELP synerec_faults_total Faults answered, by kind.",
                "# TYPE synerec_faults_total counter"]
        for kind, c in sorted(faults.items()):
            out.append(f"synerec_faults_total{_labels({'kind': kind})} {_num(c)}")
        out += ["# HELP synerec_retrain_jobs_total Finished retrain jobs by status.",
                "# TYPE synerec_retrain_jobs_total counter"]
        for status, c in sorted(jobs.items()):
            out.append(f"synerec_retrain_jobs_total{_labels({'status': status})} {_num(c)}")
        for name, (help_text, value) in gauges.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
                    f"{name} {_num(float(value))}"]
        return "\n".join(out) + "\n"


def clear_shared(share_dir: str | os.PathLike[str]) -> None:
    """Remove the published counters of a previous server run (called at server start)."""
    d = Path(share_dir)
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*"):
        try:
            f.unlink()
        except OSError:
            pass

