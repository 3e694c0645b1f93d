"""The endpoints of attribution and A/B tests: ``/v1/attribution`` and ``/v1/experiments``.

See :mod:`synerec.service.attribution` (what counts for a list) and
:mod:`synerec.service.experiments` (bucketing, results and their intervals).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations.
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from synerec.exceptions import ConfigError
from synerec.service.api import WRITE_ERRORS, _access, json_response
from synerec.service.experiments import (
    NAME_PATTERN,
    ExperimentConfig,
    experiment_results,
    results_csv,
)

if TYPE_CHECKING:
    from synerec.service.app import ServiceState

__all__ = ["experiment_json", "experiments_router"]

ExperimentName = Annotated[str, Path(pattern=NAME_PATTERN, description="The experiment.")]


def experiment_json(st: "ServiceState", cfg: ExperimentConfig,
                    results: bool = True) -> dict[str, Any]:
    """An experiment as the API shows it: its configuration, status and (optionally) its
    results per variant."""
    body: dict[str, Any] = {
        "name": cfg.name, "status": st.experiments.status(cfg),
        "control": cfg.control_name, "placements": list(cfg.placements),
        "start": None if cfg.start is None else cfg.start.isoformat(),
        "stop": None if cfg.stop is None else cfg.stop.isoformat(),
        "stopped_at": st.experiments.stopped_at(cfg.name),
        "configured_in": "settings" if cfg in st.experiments.configured else "api",
        "variants": [{"name": v.name, "share": v.share,
                      "model_dir": None if v.model_dir is None else str(v.model_dir),
                      "rules": v.rules} for v in cfg.variants]}
    if results:
        body["results"] = experiment_results(cfg, st.attribution.users(cfg.name))
    return body


def experiments_router(st: "ServiceState") -> APIRouter:
    """``/v1/attribution`` and ``/v1/experiments`` over ``st``."""
    router = APIRouter()
    access = _access(st)
    missing: dict[int | str, dict[str, Any]] = {
        404: {"description": "No experiment of that name."}}

    def find(name: str) -> ExperimentConfig:
        cfg = st.experiments.get(name)
        if cfg is None:
            raise StarletteHTTPException(404, f"no experiment called {name!r}")
        return cfg

    @router.get("/v1/attribution", responses=access.read_errors, tags=["experiments"],
                dependencies=access.read)
    def attribution() -> Response:
        """Impressions, clicks, add-to-carts and purchases attributed to the served lists,
        per model, model version, experiment, variant and placement (see docs/service.md
        for the rule), and the events whose ``rec_id`` matched no list."""
        rows = st.attribution.rows()
        return json_response({"window_s": st.attribution.window_s, "rows": rows,
                              "unattributed": st.attribution.unattributed(),
                              "lists_unrecorded": st.lists.unrecorded,
                              "computed_at": time.time()})

    @router.get("/v1/experiments", responses=access.read_errors, tags=["experiments"],
                dependencies=access.read)
    def list_experiments() -> Response:
        """Every experiment with its status and results per variant."""
        return json_response({"experiments": [experiment_json(st, c)
                                              for c in st.experiments.all()]})

    @router.post("/v1/experiments", status_code=201, dependencies=access.write,
                 responses={**WRITE_ERRORS, 409: {"description": "The name is taken."}},
                 tags=["experiments"])
    def post_experiment(body: ExperimentConfig) -> Response:
        """Start an experiment (stored durably; every worker serves it within
        ``reload_interval_s``). Its variants' model directories are loaded first: one that
        cannot be loaded is a 422."""
        try:
            st.experiments.add(body)
        except ConfigError as exc:
            status = 409 if "exists already" in str(exc) else 422
            raise StarletteHTTPException(status, str(exc)) from None
        return json_response(experiment_json(st, body, results=False), status=201)

    @router.post("/v1/experiments/{name}/stop", dependencies=access.write,
                 responses={**WRITE_ERRORS, **missing}, tags=["experiments"])
    def stop_experiment(name: ExperimentName) -> Response:
        """Stop an experiment posted through the API (its users get the served model)."""
        cfg = find(name)
        if not st.experiments.stop(name) and st.experiments.stopped_at(name) is None:
            raise StarletteHTTPException(409, f"experiment {name!r} comes from the settings "
                                              "file: change its stop time there")
        return json_response(experiment_json(st, cfg, results=False))

    @router.get("/v1/experiments/{name}", responses={**access.read_errors, **missing},
                tags=["experiments"], dependencies=access.read)
    def get_experiment(name: ExperimentName) -> Response:
        """An experiment: configuration, status, and per variant users, lists, CTR,
        conversion and revenue per user with 95 % intervals and the differences to the
        control (see docs/service.md)."""
        return json_response(experiment_json(st, find(name)))

    @router.get("/v1/experiments/{name}/results.csv",
                responses={**access.read_errors, **missing}, tags=["experiments"],
                dependencies=access.read)
    def experiment_csv(name: ExperimentName) -> Response:
        """The results of :func:`get_experiment` as CSV, one line per variant."""
        cfg = find(name)
        text = results_csv(experiment_results(cfg, st.attribution.users(cfg.name)))
        return Response(text, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{cfg.name}-results.csv"'})

    return router
