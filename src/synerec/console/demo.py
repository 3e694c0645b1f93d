"""``synerec serve --demo``: the demo shop fitted, evaluated and served with the console.

:func:`prepare_demo` generates the ``demo-shop`` data set, fits the default model (served) and
two comparison models, evaluates them on one hold-out split and sweeps the neighbour count K
of the neighbourhood models, all into one folder::

    <root>/models/<name>/         the fitted models (model.json + arrays.npz)
    <root>/reports/evaluation/    results.json of the evaluation
    <root>/reports/k-sweep/       results.json of the K sweep
    <root>/service/               the service's state (events, retrained versions)

A folder that already holds them is reused (models and reports are not fitted again), so
events recorded and models retrained in one session are still there in the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synerec.data import load_dataset
from synerec.data.splits import holdout_split
from synerec.evaluation import ModelSpec, evaluate
from synerec.evaluation.experiment import k_sweep, write_k_sweep
from synerec.models import (
    choose_default_model,
    create_model,
    get_model_class,
    list_models,
    load_model,
)

__all__ = ["COMPARE_CANDIDATES", "DEMO_KS", "DemoSetup", "prepare_demo", "write_demo_reports"]

log = logging.getLogger(__name__)

#: The served model is the default of ``synerec fit``
#: (:func:`synerec.models.choose_default_model`: the hybrid when the data has enough
#: interactions for its validation part and LightGBM is installed, else the best single
#: retriever).
#: Comparison models: the first two registered ones that are not the served model.
COMPARE_CANDIDATES = ("item-cf", "ease", "user-cf", "mf")
#: Neighbour counts of the demo's K sweep.
DEMO_KS = (10, 20, 40, 80)


@dataclass(frozen=True)
class DemoSetup:
    """What :func:`prepare_demo` made.

    Attributes
    ----------
    root
        The folder.
    served
        Name and directory of the served model.
    compare
        Label -> directory of the comparison models.
    reports
        The reports folder.
    state_dir
        The service's state folder.
    dataset_options
        The demo shop's generator options (the retrain's base data).
    """

    root: Path
    served: tuple[str, Path]
    compare: dict[str, Path]
    reports: Path
    state_dir: Path
    dataset_options: dict[str, Any]


def _config(name: str, seed: int) -> dict[str, Any]:
    return {"random_state": seed} if "random_state" in get_model_class(name)._param_names() \
        else {}


def _choose(ds: Any) -> tuple[str, dict[str, Any], str, list[str]]:
    """The served model (name, options, why) and the comparison models."""
    names = set(list_models())
    choice = choose_default_model(ds)
    compare = [m for m in COMPARE_CANDIDATES if m in names and m != choice.name][:2]
    return choice.name, dict(choice.config), choice.reason, compare


def prepare_demo(root: str | Path, *, seed: int = 42,
                 options: Mapping[str, Any] | None = None, reports: bool = True,
                 echo: Callable[[str], None] | None = None) -> DemoSetup:
    """Generate, fit, evaluate (see the module docstring); reuse what ``root`` already holds.

    Parameters
    ----------
    root
        The demo's folder (created).
    seed
        Seed of the generator, the models and the split.
    options
        Generator options of ``demo-shop`` (``n_users``, ``n_items``, ...); default: the
        generator's own (the data set of ``synerec demo``).
    reports
        Also evaluate and sweep K (the model page's figures).
    echo
        Called with one line per step (progress for the terminal).
    """
    say = echo or (lambda line: log.info("%s", line))
    root = Path(root)
    opts = {**dict(options or {}), "random_state": seed}
    models = root / "models"
    start = time.perf_counter()
    ds = load_dataset("demo-shop", **opts)
    s = ds.summary()
    say(f"demo shop: {s['users']:,} customers, {s['items']:,} products, "
        f"{s['interactions']:,} ratings in {s['categories']} categories")
    served, served_config, why, compare = _choose(ds)
    say(f"served model: {served} ({why})")
    dirs: dict[str, Path] = {}
    for name in [served, *compare]:
        path = models / name
        if (path / "model.json").is_file():
            load_model(path)  # checksums verified: a damaged folder is refitted
            say(f"{name}: reusing the model in {path}")
        else:
            t0 = time.perf_counter()
            extra = served_config if name == served else {}
            create_model(name, **{**_config(name, seed), **extra}).fit(ds).save(path)
            say(f"{name}: fitted in {time.perf_counter() - t0:.1f} s")
        dirs[name] = path
    out = root / "reports"
    if reports and not (out / "evaluation" / "results.json").is_file():
        write_demo_reports(ds, served, compare, out, seed=seed, echo=say)
    say(f"demo ready in {time.perf_counter() - start:.1f} s")
    return DemoSetup(root=root, served=(served, dirs[served]),
                     compare={name: dirs[name] for name in compare}, reports=out,
                     state_dir=root / "service", dataset_options=opts)


def write_demo_reports(ds: Any, served: str, compare: list[str], out: Path, *, seed: int = 42,
                       ks: tuple[int, ...] = DEMO_KS,
                       echo: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Evaluate the models on one hold-out split and sweep K of those that have one.

    Writes ``out/evaluation/results.json`` and ``out/k-sweep/results.json`` (plus the sweep's
    table and plots).
    """
    say = echo or (lambda line: log.info("%s", line))
    names = [served, *compare]
    fold = holdout_split(ds, 0.2, per_user=True, random_state=seed)
    t0 = time.perf_counter()
    result = evaluate([ModelSpec(m, _config(m, seed), m) for m in names], ds, [fold], n=10,
                      random_state=seed)
    (out / "evaluation").mkdir(parents=True, exist_ok=True)
    result.to_json(out / "evaluation" / "results.json")
    say(f"evaluated {', '.join(names)} on a hold-out split in {time.perf_counter() - t0:.1f} s")
    paths = {"evaluation": out / "evaluation" / "results.json"}
    with_k = [m for m in names if "k" in get_model_class(m)._param_names()]
    if with_k:
        t0 = time.perf_counter()
        sweep = k_sweep(ds, with_k, ks, [fold], random_state=seed)
        paths["k-sweep"] = write_k_sweep(sweep, out / "k-sweep")["json"]
        say(f"swept K of {', '.join(with_k)} in {time.perf_counter() - t0:.1f} s")
    return paths
