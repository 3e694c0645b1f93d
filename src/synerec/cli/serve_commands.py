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
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
        threads: Annotated[int, typer.Option(
            help="numba threads per request (default 1: a server runs many small requests "
                 "at once, and parallel regions per request only add overhead).")] = 1,
    ) -> None:
        """Serve recommendations, similar items, predictions and event ingestion over HTTP.

        Write endpoints need an X-API-Key from $SYNEREC_API_KEYS (comma-separated) or the
        settings file.
        """
        from synerec.exceptions import ConfigError
        from synerec.service.settings import load_settings

        try:
            import uvicorn

            from synerec.service.app import create_app
        except ImportError as exc:
            raise ConfigError(f"the service needs the serve extra ({exc.name} is missing): "
                              "pip install 'synerec[serve]'") from None
        settings = load_settings(settings_file, model_dir=model_dir, host=host, port=port,
                                 state_dir=state_dir, base_dataset=base_dataset)
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # this process only
        web_app = create_app(settings)
        log.info("serving %s on http://%s:%d", settings.model_dir, settings.host, settings.port)
        uvicorn.run(web_app, host=settings.host, port=settings.port, log_level=log_level,
                    access_log=False)
