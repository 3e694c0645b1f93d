"""The recommendation service: a FastAPI app over a served model and a durable event store.

``create_app(settings)`` builds the app (no state at import time); ``synerec serve`` runs it on
uvicorn. See ``docs/service.md`` for the endpoints, the cold-start rules and the formulas.
FastAPI and uvicorn are the ``serve`` extra: ``pip install synerec[serve]``.
"""

from synerec.service.events import EventRecord, EventStore
from synerec.service.model_store import ModelSnapshot, ModelStore, load_snapshot
from synerec.service.settings import ServiceSettings, load_settings

__all__ = [
    "EventRecord",
    "EventStore",
    "ModelSnapshot",
    "ModelStore",
    "ServiceSettings",
    "create_app",
    "load_settings",
    "load_snapshot",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # create_app needs FastAPI (the serve extra); import it only when asked for.
    if name == "create_app":
        from synerec.service.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
