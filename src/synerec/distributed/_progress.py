"""A rich progress bar on stderr behind a flag (library code never prints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(show: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(steps)``; with ``show`` it moves a rich bar on stderr, else does nothing.

    Parameters
    ----------
    show
        Whether to display the bar.
    total
        Steps to completion.
    label
        Text before the bar.
    """
    if not show:
        yield lambda steps: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda steps: progress.advance(task, steps)
