"""The recommendation service: a FastAPI app over a served model and a durable event store.

``create_app(settings)`` builds the app (no state at import time); ``synerec serve`` runs it on
uvicorn. See ``docs/service.md`` for the endpoints, the cold-start rules and the formulas.
FastAPI and uvicorn are the ``serve`` extra: ``pip install synerec[serve]``.
"""

from typing import Any

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


_WHERE = {"EventRecord": "events", "EventStore": "events", "ModelSnapshot": "model_store",
          "ModelStore": "model_store", "load_snapshot": "model_store",
          "ServiceSettings": "settings", "load_settings": "settings", "create_app": "app"}


def __getattr__(name: str) -> Any:
    # Imported when first asked for: the `synerec serve --workers N` supervisor needs the
    # settings only, not the model machinery (numba, pandas) nor FastAPI.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
