"""What ``synerec serve --workers N`` does before uvicorn starts its worker processes.

The supervisor stays lean (it never loads a model: that would cost each server a few hundred
MB for nothing). It takes the server lock of the state directory, then checks everything in a
short-lived child process (:func:`check_main`): the state directory is writable, the model and
the recorded version load and verify, the shared serving files are written once. A problem is
one line on the CLI, before any worker starts. Then the settings travel to the workers through
the environment, and each worker builds its app with
:func:`synerec.service.app.app_from_env`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synerec.exceptions import SynerecError
from synerec.service.faults import StateDirError, StateDirLockedError
from synerec.service.locks import FileLock
from synerec.service.metrics import clear_shared
from synerec.service.settings import ServiceSettings

__all__ = ["MASTER_PID_ENV", "METRICS_DIR", "NUMBA_THREADS_ENV", "SERVER_LOCK", "SETTINGS_ENV",
           "acquire_server_lock", "check_main", "check_writable", "prepare_workers"]

SERVER_LOCK = "serve.lock"
#: Where the workers publish their counters (relative to the state directory).
METRICS_DIR = Path("run") / "metrics"
#: Environment variables through which ``synerec serve`` hands its settings to its workers.
SETTINGS_ENV = "SYNEREC_SERVICE_SETTINGS_JSON"
MASTER_PID_ENV = "SYNEREC_SERVICE_MASTER_PID"
NUMBA_THREADS_ENV = "SYNEREC_SERVICE_NUMBA_THREADS"


class StartupError(SynerecError):
    """The check before starting the workers failed (its one line is the message)."""


def check_writable(state_dir: Path) -> None:
    """One line (:class:`StateDirError`) when the state directory cannot be used."""
    import uuid

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"cannot create the state directory {state_dir}: "
                            f"{exc.strerror or exc}") from None
    probe = state_dir / f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(probe, "wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise StateDirError(f"the state directory {state_dir} is not writable "
                            f"({exc.strerror or exc}); synerec serve keeps its event store, "
                            "models and locks there: give a writable --state-dir") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def acquire_server_lock(state_dir: Path) -> FileLock:
    """Take ``serve.lock`` of a state directory or raise :class:`StateDirLockedError`."""
    check_writable(state_dir)
    lock = FileLock(state_dir / SERVER_LOCK)
    try:
        got = lock.acquire(blocking=False, note="synerec serve")
    except OSError as exc:
        raise StateDirError(f"cannot lock the state directory {state_dir}: "
                            f"{exc.strerror or exc}") from None
    if not got:
        pid, _ = lock.holder()
        who = f"pid {pid}" if pid else "another process"
        raise StateDirLockedError(
            f"the state directory {state_dir} is in use by another synerec serve ({who}); "
            "one server per state directory: stop it, or give another --state-dir "
            "(use --workers for more processes)")
    return lock


def prepare_workers(settings: ServiceSettings, numba_threads: int = 1) -> FileLock:
    """Lock the state directory, check it and the model in a child process, hand the
    settings to the workers; return the lock (held for the server's life).

    Raises
    ------
    StateDirError, StartupError
        One line: the directory is in use or unusable, or the model does not load.
    """
    state_dir = settings.resolved_state_dir
    lock = acquire_server_lock(state_dir)
    env = dict(os.environ, **{SETTINGS_ENV: settings.to_env_json()})
    try:
        result = subprocess.run(
            [sys.executable, "-c", "from synerec.service.supervisor import check_main; "
                                   "raise SystemExit(check_main())"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            raise StartupError(lines[-1].removeprefix("error: ") if lines else
                               f"the start-up check exited with status {result.returncode}")
        clear_shared(state_dir / METRICS_DIR)
    except BaseException:
        lock.release()
        raise
    os.environ[SETTINGS_ENV] = settings.to_env_json()
    os.environ[MASTER_PID_ENV] = str(os.getpid())
    os.environ[NUMBA_THREADS_ENV] = str(numba_threads)
    return lock


def check_main() -> int:
    """The start-up check (a child of the supervisor): open the state once, close it."""
    import json

    from synerec.service.app import open_state

    try:
        settings = ServiceSettings.model_validate(json.loads(os.environ[SETTINGS_ENV]))
        open_state(settings, worker=True, maintain=False).close()
    except SynerecError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0
