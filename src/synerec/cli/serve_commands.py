"""``synerec serve``: run the recommendation service (FastAPI on uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

log = logging.getLogger("synerec.cli")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI app."""

    @app.command()
    def serve(
        model_dir: Annotated[Path | None, typer.Option(
            "--model-dir", help="Model directory to serve (from `synerec fit`).")] = None,
        host: Annotated[str | None, typer.Option(
            help="Interface to listen on (default 127.0.0.1).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
        settings_file: Annotated[Path | None, typer.Option(
            "--settings", help="TOML or JSON settings file (see docs/service.md).")] = None,
        state_dir: Annotated[Path | None, typer.Option(
            help="Event store and retrained models (default <model-dir>.service).")] = None,
        base_dataset: Annotated[str | None, typer.Option(
            help="Data set the model was trained on, for retraining.")] = None,
        workers: Annotated[int | None, typer.Option(
            help="Server processes sharing the port, the memory-mapped model and the event "
                 "store (default 1; one per core serves reads on every core).")] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
        threads: Annotated[int, typer.Option(
            help="numba threads per request (default 1: a server runs many small requests "
                 "at once, and parallel regions per request only add overhead).")] = 1,
    ) -> None:
        """Serve recommendations, similar items, predictions and event ingestion over HTTP.

        Write endpoints need an X-API-Key from $SYNEREC_API_KEYS (comma-separated) or the
        settings file; read endpoints too when $SYNEREC_READ_KEYS (or read_keys) is set.
        """
        from synerec.exceptions import ConfigError
        from synerec.service.settings import load_settings

        try:
            import uvicorn

            from synerec.service.http import protocol_class
        except ImportError as exc:
            raise ConfigError(f"the service needs the serve extra ({exc.name} is missing): "
                              "pip install 'synerec[serve]'") from None
        settings = load_settings(settings_file, model_dir=model_dir, host=host, port=port,
                                 state_dir=state_dir, base_dataset=base_dataset,
                                 workers=workers)
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        common = {"host": settings.host, "port": settings.port, "log_level": log_level,
                  "access_log": False, "http": protocol_class(), "lifespan": "on",
                  "timeout_keep_alive": int(max(1, round(settings.keep_alive_s)))}
        if settings.workers == 1:
            import numba

            from synerec.service.app import create_app

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            web_app = create_app(settings)
            config = uvicorn.Config(web_app, **common)
            config.header_timeout_s = settings.header_timeout_s  # type: ignore[attr-defined]
            log.info("serving on http://%s:%d", settings.host, settings.port)
            uvicorn.Server(config).run()
            return
        from uvicorn.supervisors import Multiprocess

        from synerec.service.supervisor import prepare_workers

        lock = prepare_workers(settings, numba_threads=threads)
        try:
            # A worker busy with a burst of requests may answer the supervisor's health ping
            # late; only a worker silent for 60 s is considered hung and replaced.
            config = uvicorn.Config("synerec.service.app:app_from_env", factory=True,
                                    workers=settings.workers, timeout_worker_healthcheck=60,
                                    **common)
            config.header_timeout_s = settings.header_timeout_s  # type: ignore[attr-defined]
            sock = config.bind_socket()
            log.info("serving on http://%s:%d with %d workers", settings.host, settings.port,
                     settings.workers)
            Multiprocess(config, sockets=[sock]).run()
        finally:
            lock.release()
