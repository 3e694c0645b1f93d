"""Retraining through the API: success swaps the model, a crash leaves the old one serving."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from synerec.service import ServiceSettings
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_demo_model(tmp_path_factory.mktemp("retrain") / "item-cf")


def _wait(client: httpx.Client, job_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/models/retrain/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_retrain_swaps_in_a_model_that_learned_the_events(model_dir: Path,
                                                          tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        popular = [it["item_id"] for it in
                   c.get("/v1/users/x/recommendations",
                         params={"n": 30, "unknown": "fallback"}).json()["items"]]
        liked = popular[10:25]
        events = [{"user_id": f"newbie-{u}", "item_id": i, "rating": 5}
                  for u in range(3) for i in liked]
        assert c.post("/v1/events", json={"events": events}, headers=KEY).status_code == 200
        before = c.get("/v1/users/newbie-0/recommendations", params={"n": 10}).json()
        assert before["strategy"] == "item_neighbors"
        r = c.post("/v1/models/retrain", headers=KEY)
        assert r.status_code == 202
        job = r.json()
        assert job["events_upto"] == len(events) and job["target_version"] == 2
        busy = c.post("/v1/models/retrain", headers=KEY)  # one job at a time
        assert busy.status_code == 409 and busy.json()["error"] == "RetrainBusyError"
        done = _wait(c, job["job_id"])
        assert done["status"] == "succeeded", done
        assert done["model_version"] == 2
        health = c.get("/healthz").json()
        assert health["model_version"] == 2 and health["events_pending"] == 0
        after = c.get("/v1/users/newbie-0/recommendations", params={"n": 10}).json()
        # the new users are now in the model itself, their rated items excluded
        assert after["strategy"] == "model" and after["fallback"] is None
        assert after["model_version"] == 2
        assert not set(liked) & {it["item_id"] for it in after["items"]}
        assert "synerec_model_version 2" in c.get("/metrics").text.splitlines()
        assert (tmp_path / "state" / "models" / "v00002" / "model.json").is_file()
    # a restart serves the retrained version (CURRENT)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/healthz").json()["model_version"] == 2
        again = c.get("/v1/users/newbie-0/recommendations", params={"n": 10}).json()
        assert again["items"] == after["items"]


def test_a_crashing_retrain_leaves_the_old_model_serving(model_dir: Path,
                                                         tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO, retrain_config={"k": -1})
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        user = "u001"
        before = c.get(f"/v1/users/{user}/recommendations").json()
        job = c.post("/v1/models/retrain", headers=KEY).json()
        done = _wait(c, job["job_id"])
        assert done["status"] == "failed"
        assert "ConfigError" in done["error"] and "k" in done["error"]
        assert c.get("/healthz").json()["model_version"] == 1
        after = c.get(f"/v1/users/{user}/recommendations").json()
        assert after.pop("rec_id") != before.pop("rec_id")  # each list its own id
        assert after == before
        assert not (tmp_path / "state" / "models" / "v00002").exists()
        assert 'synerec_retrain_jobs_total{status="failed"} 1' in c.get("/metrics").text


def test_a_killed_retrain_worker_leaves_the_old_model_serving(model_dir: Path,
                                                              tmp_path: Path) -> None:
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset="demo-shop",
                               base_dataset_options=DEMO)
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        job = c.post("/v1/models/retrain", headers=KEY).json()
        pid = None
        deadline = time.monotonic() + 20
        while pid is None and time.monotonic() < deadline:
            pid = srv.state.retrain.get(job["job_id"]).worker_pid
            time.sleep(0.01)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        done = _wait(c, job["job_id"])
        assert done["status"] == "failed" and "status -9" in done["error"]
        assert c.get("/healthz").json()["model_version"] == 1
        r = c.get("/v1/users/u001/recommendations", params={"unknown": "fallback"})
        assert r.status_code == 200 and r.json()["model_version"] == 1


def test_a_failed_jobs_error_names_no_path(model_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "secret-folder" / "shop-ratings.csv"
    settings = ServiceSettings(model_dir=model_dir, state_dir=tmp_path / "state",
                               api_keys=(API_KEY,), base_dataset=str(missing))
    with serve_in_thread(settings) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        job = c.post("/v1/models/retrain", headers=KEY).json()
        done = _wait(c, job["job_id"])
        assert done["status"] == "failed" and "<path>" in done["error"], done
        assert str(tmp_path) not in done["error"] and "secret-folder" not in done["error"]
        record = (tmp_path / "state" / "jobs" / f"{job['job_id']}.json").read_text()
        assert str(tmp_path) not in record  # nor in the stored record
        assert "/" not in c.get("/healthz").text
