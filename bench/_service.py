"""What the service benchmarks share: a server in a subprocess, wrk runs, the load average.

``bench/service_faults.py``, ``bench/service_rules.py`` and ``bench/service_attribution.py``
start ``synerec serve`` the same way and load it with the same ``wrk`` script (users cycled by
a Lua counter; a JSON line of the figures at the end).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-key"
CLI = "import sys; from synerec.cli.main import main; sys.exit(main(sys.argv[1:]))"

WRK_LUA = r"""
local n = 0
local users = %(users)d
request = function()
  n = n + 1
  local u = (n * 7919) %% users + 1
  return wrk.format("GET", "/v1/users/" .. u .. "/recommendations?%(query)s")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_s": %%.3f, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_ms": %%.2f, "p90_ms": %%.2f, ' ..
    '"p99_ms": %%.2f, "max_ms": %%.2f}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def loadavg() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_cmd(model_dir: Path, state: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-c", CLI, "serve", "--model-dir", str(model_dir), "--state-dir",
            str(state), "--host", "127.0.0.1", "--port", str(port), *extra]


def start_server(model_dir: Path, state: Path, port: int, log: Path, *extra: str,
                 timeout: float = 300, own_group: bool = False) -> subprocess.Popen[bytes]:
    """``synerec serve`` in a subprocess; returns once ``/healthz`` answers.

    ``own_group``: in a process group of its own, so that ``os.killpg`` reaches the server and
    its workers at once (the kill -9 benchmarks).
    """
    env = dict(os.environ, SYNEREC_API_KEYS=KEY)
    with open(log, "ab") as out:
        proc = subprocess.Popen(serve_cmd(model_dir, state, port, *extra), stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=own_group)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: "
                               f"{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    if own_group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    raise RuntimeError(f"server did not start within {timeout:.0f} s")


def wrk(port: int, query: str, conns: int, seconds: float, users: int, tmp: Path,
        threads: int = 2) -> dict[str, Any]:
    """One wrk run over ``/v1/users/{u}/recommendations?QUERY``; its figures and load."""
    script = tmp / f"wrk-{abs(hash(query))}.lua"
    script.write_text(WRK_LUA % {"users": users, "query": query}, encoding="utf-8")
    before = loadavg()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{round(seconds)}s",
                          "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    res = json.loads(line[len("WRKJSON "):])
    res["rps"] = res["requests"] / res["duration_s"]
    res["errors"] = res["connect"] + res["read"] + res["write"] + res["timeout"]
    res["non_2xx"] = res["status"]
    res["loadavg"] = [before, loadavg()]
    return res
