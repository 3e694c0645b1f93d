"""What the answering commands share: ids as the model holds them, the unknown-id policy, titles.

The policy for ids a model does not know (docs/your-data.md, "Unknown users and items") is the
same in the CLI, Python and the service: an error by default (one line, exit code 2), and the
documented cold-start fallback only when asked for (``--unknown fallback``), flagged in the
answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from synerec.exceptions import ConfigError, UnknownIdError

__all__ = ["UNKNOWN_POLICIES", "UnknownOpt", "check_unknown", "item_catalogue", "model_id"]

UNKNOWN_POLICIES = ("error", "fallback")

UnknownOpt = Annotated[str, typer.Option(
    "--unknown", help="An id the model does not know: error (one line, exit 2) or fallback "
                      "(popular items for a user, mean values for a prediction; flagged).")]


def check_unknown(value: str) -> Literal["error", "fallback"]:
    """``value`` when it is a policy name, else a :class:`ConfigError`."""
    if value not in UNKNOWN_POLICIES:
        raise ConfigError(f"--unknown must be error or fallback, not {value!r}")
    return "error" if value == "error" else "fallback"


def model_id(model: Any, raw: str, kind: str, unknown: str = "error") -> tuple[Any, bool]:
    """``(id as the model holds it, known)`` for an id typed on the command line.

    ``"196"`` becomes ``196`` for integer ids. A user (item) is known when the model has
    training data for it. Unknown: :class:`~synerec.exceptions.UnknownIdError` with
    ``unknown="error"``, else the raw id and ``False``.
    """
    vocab = model.users_ if kind == "user" else model.items_
    what = "the most popular items" if kind == "user" else "mean values"
    hint = f"--unknown fallback answers with {what}"
    try:
        index = vocab.index(raw)
    except UnknownIdError as exc:
        if unknown == "error":
            raise UnknownIdError(exc.id, kind, hint=hint) from None
        return raw, False
    known = model.is_known_user(index) if kind == "user" else model.is_known_item(index)
    if not known:  # in the vocabulary, but without training data
        if unknown == "error":
            raise UnknownIdError(vocab.id(index), kind, hint=hint)
        return vocab.id(index), False
    return vocab.id(index), True


def item_catalogue(model: Any) -> Any:
    """The catalogue (``title``, ``category`` by item index) a saved model carries, or
    ``None``."""
    catalogue = model.catalogue_
    if catalogue is None or "title" not in catalogue:
        return None
    return catalogue


def title_of(model: Any, item: Any) -> str:
    """An item's title from the model's catalogue (empty when it has none)."""
    catalogue = item_catalogue(model)
    if catalogue is None:
        return ""
    return str(catalogue["title"][model.items_.index(item)])
