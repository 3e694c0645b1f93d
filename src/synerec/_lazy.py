"""Names a package re-exports from its modules, imported on first access (PEP 562).

A package's ``__init__`` that re-exports every public name eagerly imports every module of the
package (and what they import) as soon as any one of them is imported; ``synerec recommend``
would pay for pandas, numba and the LLM clients before answering. Each package instead names
where its public names live and takes its module ``__getattr__`` / ``__dir__`` from
:func:`lazy_exports`::

    _LAZY = {"LLMReranker": "synerec.llm.reranker", ...}
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str],
                 before: Callable[[str], None] | None = None
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    where
        Each lazily exported name and the module that defines it.
    before
        Called with the defining module's name before the first import of a name (for
        example to register every model family before the registry is handed out).
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if before is not None:
            before(module)
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
