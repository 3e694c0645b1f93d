"""``synerec serve``: run the recommendation service (FastAPI on uvicorn) and its web console.

The service (:mod:`synerec.service`) knows nothing of the console: this command builds the
console's settings (:func:`synerec.console.settings.load_console_settings`, the ``[console]``
table of the settings file and the console flags) and mounts it onto the service's app as an
extension of :func:`synerec.service.app.create_app`, in the one server process or, with
``--workers N``, in each worker (:func:`worker_app`, the workers' uvicorn factory).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from synerec.console.settings import (
    CONSOLE_SETTINGS_ENV,
    ConsoleSettings,
    console_settings_from_env,
    load_console_settings,
)
from synerec.exceptions import ConfigError
from synerec.service.settings import ServiceSettings, load_settings

__all__ = ["console_extensions", "parse_compare", "register", "worker_app"]

log = logging.getLogger("synerec.cli")

#: The uvicorn factory of the worker processes of ``synerec serve --workers N``.
WORKER_FACTORY = "synerec.cli.serve_commands:worker_app"


def parse_compare(values: list[str] | None) -> dict[str, Path]:
    """``["user-cf=models/ucf", ...]`` -> ``{"user-cf": Path("models/ucf")}``."""
    out: dict[str, Path] = {}
    for v in values or []:
        label, sep, path = v.partition("=")
        if not sep or not label.strip() or not path.strip():
            raise ConfigError(f"--compare takes LABEL=MODEL_DIR, got {v!r}")
        if label.strip() in out:
            raise ConfigError(f"--compare names {label.strip()!r} twice")
        out[label.strip()] = Path(path.strip())
    return out


def _served_model_name(model_dir: Path | None) -> str:
    """The registry name in a model directory's ``model.json`` (checked again on load)."""
    try:
        name = json.loads((Path(str(model_dir)) / "model.json").read_text(encoding="utf-8"))
        return str(name["class"])
    except (OSError, ValueError, KeyError, TypeError):
        return "the model"


def console_extensions(console: ConsoleSettings | None) -> list[Any]:
    """The extensions of the service's app (:func:`synerec.service.app.create_app`): the web
    console's when it is on, else none."""
    if console is None or not console.enabled:
        return []
    from synerec.console.app import console_extension

    return [console_extension(console)]


def worker_app() -> Any:
    """The app of one worker process of ``synerec serve --workers N`` (a uvicorn factory):
    the service (:func:`synerec.service.app.app_from_env`) with the console the supervisor
    handed over (``$SYNEREC_CONSOLE_SETTINGS_JSON``)."""
    from synerec.service.app import app_from_env

    return app_from_env(extensions=console_extensions(console_settings_from_env()))


def _demo_setup(state_dir: Path | None, seed: int) -> Any:
    """Fit the demo shop's models (``--demo``) and tell the terminal where."""
    from synerec.console.demo import prepare_demo
    root = state_dir or Path(tempfile.mkdtemp(prefix="synerec-demo-"))
    typer.echo(f"preparing the demo shop in {root} ...")
    return prepare_demo(root, seed=seed, echo=lambda line: typer.echo(f"  {line}"))


def _demo_key(settings: ServiceSettings) -> tuple[ServiceSettings, str | None]:
    """A demo without configured keys gets one for this run, told only to this terminal."""
    if settings.all_api_keys():
        return settings, None
    from pydantic import SecretStr

    key = secrets.token_urlsafe(12)
    return settings.model_copy(update={"api_keys": (SecretStr(key),)}), key


def _announce(settings: ServiceSettings, console: ConsoleSettings, key: str | None) -> None:
    url = f"http://{settings.host}:{settings.port}/"
    served = _served_model_name(settings.model_dir)
    if console.enabled:
        typer.echo(f"synerec console: {url}  (JSON API under {url}v1, docs at {url}docs); "
                   f"serving {served}")
    else:
        typer.echo(f"synerec service: {url}v1  (docs at {url}docs); serving {served}")
    if key is not None:
        typer.echo(f"API key for writes in this demo (type it into the console's key box): "
                   f"{key}")


def _serve_extra() -> tuple[Any, Any]:
    """uvicorn and the service's HTTP protocol class, or one line naming the missing extra."""
    try:
        import uvicorn

        from synerec.service.http import protocol_class
    except ImportError as exc:
        raise ConfigError(f"the service needs the serve extra ({exc.name} is missing): "
                          "pip install 'synerec[serve]'") from None
    return uvicorn, protocol_class


def _run(settings: ServiceSettings, console: ConsoleSettings, log_level: str,
         threads: int) -> None:
    """uvicorn: one process serving the app, or a supervisor of ``settings.workers``."""
    from synerec.service.supervisor import prepare_workers
    uvicorn, protocol_class = _serve_extra()
    common = {"host": settings.host, "port": settings.port, "log_level": log_level,
              "access_log": False, "http": protocol_class(), "lifespan": "on",
              "timeout_keep_alive": int(max(1, round(settings.keep_alive_s)))}
    if settings.workers == 1:
        from synerec.service.app import create_app, set_numba_threads

        set_numba_threads(threads)
        web_app = create_app(settings, extensions=console_extensions(console))
        config = uvicorn.Config(web_app, **common)
        config.header_timeout_s = settings.header_timeout_s
        log.info("serving on http://%s:%d", settings.host, settings.port)
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    lock = prepare_workers(settings, numba_threads=threads)
    try:
        os.environ[CONSOLE_SETTINGS_ENV] = console.model_dump_json() if console.enabled else ""
        # A worker busy with a burst of requests may answer the supervisor's health ping
        # late; only a worker silent for 60 s is considered hung and replaced.
        config = uvicorn.Config(WORKER_FACTORY, factory=True, workers=settings.workers,
                                timeout_worker_healthcheck=60, **common)
        config.header_timeout_s = settings.header_timeout_s
        sock = config.bind_socket()
        log.info("serving on http://%s:%d with %d workers", settings.host, settings.port,
                 settings.workers)
        Multiprocess(config, sockets=[sock]).run()
    finally:
        lock.release()


def serve(
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="Model directory to serve (from `synerec fit`).")] = None,
    host: Annotated[str | None, typer.Option(
        help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="TOML or JSON settings file (see docs/service.md).")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="Event store and retrained models (default <model-dir>.service; with --demo: "
             "the demo's folder, kept between runs).")] = None,
    base_dataset: Annotated[str | None, typer.Option(
        help="Data set the model was trained on, for retraining.")] = None,
    items: Annotated[Path | None, typer.Option(
        "--items", help="Products to add to the service's catalogue at start (CSV, JSON or "
                        "JSON lines: item_id, title, text, category, shop fields): stored "
                        "and embedded like products posted to /v1/items; a text model "
                        "(text-knn) recommends them without a retrain.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Server processes sharing the port, the memory-mapped model and the event "
             "store (default 1; one per core serves reads on every core).")] = None,
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", metavar="LABEL=MODEL_DIR",
        help="Another model served read-only for comparison on the console's customer "
             "page (repeatable).")] = None,
    reports: Annotated[list[Path] | None, typer.Option(
        "--reports", help="Folder of evaluation results (k-sweep, ablation, evaluate "
                          "--format json) shown on the console's model page "
                          "(repeatable).")] = None,
    console_on: Annotated[bool, typer.Option(
        "--console/--no-console", help="Serve the web console under / (default on).")]
    = True,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Fit the demo shop (the default model and two comparison models, "
                       "with an evaluation and a K sweep) and serve it with the console.")]
    = False,
    seed: Annotated[int, typer.Option(help="Seed of --demo's shop and models.")] = 42,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    threads: Annotated[int, typer.Option(
        help="numba threads per request (default 1: a server runs many small requests "
             "at once, and parallel regions per request only add overhead).")] = 1,
) -> None:
    """Serve recommendations, similar items, predictions, event ingestion and the web
    console over HTTP.

    Write endpoints need an X-API-Key from $SYNEREC_API_KEYS (comma-separated) or the
    settings file; read endpoints too when $SYNEREC_READ_KEYS (or read_keys) is set.
    `synerec serve --demo` fits the demo shop and serves it in one command.
    """
    _serve_extra()  # before any work: --demo fits models
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    shown: dict[str, Any] = {"enabled": console_on}
    extra: dict[str, Any] = {}
    if demo:
        if model_dir is not None or base_dataset is not None:
            raise ConfigError("--demo fits and serves its own models: leave out --model-dir "
                              "and --base-dataset")
        setup = _demo_setup(state_dir, seed)
        model_dir, state_dir = setup.served[1], setup.state_dir
        base_dataset = "demo-shop"
        extra["base_dataset_options"] = setup.dataset_options
        shown.update(compare={**setup.compare, **parse_compare(compare)},
                     reports=[setup.reports, *(reports or [])])
    elif compare or reports:
        shown.update(compare=parse_compare(compare), reports=list(reports or []))
    settings = load_settings(settings_file, other_tables=("console",), model_dir=model_dir,
                             host=host, port=port, state_dir=state_dir,
                             base_dataset=base_dataset, workers=workers, items_file=items,
                             **extra)
    console = load_console_settings(settings_file, **shown)
    key = None
    if demo:
        settings, key = _demo_key(settings)
    _announce(settings, console, key)
    _run(settings, console, log_level, threads)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI app."""
    app.command()(serve)
