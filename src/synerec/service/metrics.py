"""Request metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

Exposed at ``GET /metrics``:

``synerec_http_requests_total{method,route,status}`` (counter)
    Requests by route template (``/v1/users/{user_id}/recommendations``), not by raw path, so
    ids do not explode the number of series; unmatched paths are ``route="unmatched"``.
``synerec_http_request_duration_seconds{route}`` (histogram)
    Time from the request's arrival to its last response byte.
``synerec_events_stored``, ``synerec_events_pending`` (gauges)
    Events in the store; events newer than the served model.
``synerec_model_version``, ``synerec_model_loaded_timestamp_seconds`` (gauges)
``synerec_retrain_jobs_total{status}`` (counter)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "Metrics"]

#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds (seconds) of the latency histogram's buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1.0, 2.5, 5.0, 10.0)


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
    """Thread-safe counters and latency histograms of one app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._hist: dict[str, list[float]] = {}  # route -> bucket counts + [sum, count]
        self._jobs: dict[str, int] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its duration."""
        with self._lock:
            key = (method, route, str(status))
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

    def request_count(self, route: str | None = None) -> int:
        """Requests counted so far (for one route template, or all)."""
        with self._lock:
            return sum(c for (_, r, _), c in self._requests.items() if route in (None, r))

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges`` maps a metric name to ``(help text, value)``."""
        with self._lock:
            requests = dict(self._requests)
            hist = {k: list(v) for k, v in self._hist.items()}
            jobs = dict(self._jobs)
        out = ["# HELP synerec_http_requests_total HTTP requests by method, route and status.",
               "# TYPE synerec_http_requests_total counter"]
        for (method, route, status), c in sorted(requests.items()):
            labels = _labels({"method": method, "route": route, "status": status})
            out.append(f"synerec_http_requests_total{labels} {c}")
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
        out += ["# HELP synerec_retrain_jobs_total Finished retrain jobs by status.",
                "# TYPE synerec_retrain_jobs_total counter"]
        for status, c in sorted(jobs.items()):
            out.append(f"synerec_retrain_jobs_total{_labels({'status': status})} {c}")
        for name, (help_text, value) in gauges.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
                    f"{name} {_num(float(value))}"]
        return "\n".join(out) + "\n"
