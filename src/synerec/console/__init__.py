"""The web console of the recommendation service: customers, products, the model, the events.

``synerec serve`` mounts it under ``/`` beside the JSON API (``/v1``): server-rendered HTML
(Jinja2 templates with autoescaping) and one small vanilla JavaScript file, every asset served by
the service itself, so it works without internet. See ``docs/console.md``.

* **Customer** (``/customers/{id}``): history, recommendations of the served model with score,
  explanation and evidence, and the lists of the comparison models side by side.
* **Product** (``/products/{id}``): title, text, category; similar products by co-interaction
  and by text; who interacted with it.
* **Model** (``/model``): the served model, its training data, events since, evaluation
  figures, retraining.
* **Events** (``/events``): the latest events and a per-minute count.

Writes (recording an interaction, retraining) go through the JSON API with the ``X-API-Key``
header, the key being typed once into the page (kept in the tab's ``sessionStorage``, never
written into a page or a log). Read pages follow the service's read policy.

The service knows nothing of the console: ``synerec serve`` mounts it onto the service's app
(:func:`console_extension` handed to :func:`synerec.service.app.create_app`), with the console's
own settings (:class:`ConsoleSettings`, the ``[console]`` table of the settings file).

FastAPI and Jinja2 are the ``serve`` extra; this module imports them only when the console is
mounted.
"""

from typing import Any

from synerec.console.settings import ConsoleSettings, load_console_settings

__all__ = ["ConsoleSettings", "console_extension", "load_console_settings", "mount_console"]


def __getattr__(name: str) -> Any:
    # mount_console needs FastAPI and Jinja2 (the serve extra); import them only when asked.
    if name in ("mount_console", "console_extension"):
        from synerec.console import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
