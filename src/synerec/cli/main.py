"""``synerec``: the command-line entry point (Typer + Rich)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from synerec._version import __version__
from synerec.exceptions import SynerecError

app = typer.Typer(
    name="synerec",
    help="Recommendations from collaborative filtering and language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"synerec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output (-v info, -vv debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", force=True,
                        handlers=[RichHandler(console=err_console, show_path=False)])


@app.command()
def datasets(
    data_home: Annotated[Path | None, typer.Option(help="Data home (default $SYNEREC_DATA_HOME "
                                                        "or ~/.cache/synerec).")] = None,
) -> None:
    """List the known data sets and whether each is present in the data home."""
    from synerec._config import data_home as resolve_home
    from synerec.data import list_datasets

    home = resolve_home(data_home)
    table = Table(title=f"Data sets (data home: {home})")
    table.add_column("name", style="bold")
    table.add_column("status")
    table.add_column("description")
    for info, present in list_datasets(data_home):
        status = ("built-in" if info.builtin else
                  "[green]present[/green]" if present else "[yellow]missing[/yellow] (downloads)"
                  if info.download else "[red]missing[/red]")
        table.add_row(info.name, status, info.description)
    console.print(table)


@app.command()
def demo(
    dataset: Annotated[str, typer.Option(help="Data set name or file.")] = "demo-shop",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """The main job: load a data set and summarise it."""
    from synerec.data import load_dataset

    ds = load_dataset(dataset) if dataset != "demo-shop" else load_dataset(dataset,
                                                                           random_state=seed)
    summary = ds.summary()
    table = Table(title=f"{ds.name}")
    table.add_column("property")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        table.add_row(key, str(value))
    console.print(table)
    assert ds.item_info is not None
    top = ds.to_dataframe().groupby("item_id").size().sort_values(ascending=False).head(5)
    pop = Table(title="Most popular items")
    pop.add_column("item")
    pop.add_column("title")
    pop.add_column("category")
    pop.add_column("interactions", justify="right")
    for item_id, count in top.items():
        row = ds.item_info.loc[item_id]
        pop.add_row(str(item_id), str(row["title"]), str(row["category"]), str(count))
    console.print(pop)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a user's mistake is one line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv, prog_name="synerec")
    except SynerecError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True, markup=True)
        return 2
    except SystemExit as exc:  # click's own usage errors and --help end here
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
