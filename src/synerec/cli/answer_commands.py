"""``synerec recommend`` and ``synerec predict``: answers of a saved model (or of the paper's
methods fitted on a data set) for users and items typed on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synerec.cli._answers import UnknownOpt, check_unknown, item_catalogue, model_id, title_of
from synerec.cli._common import FormatOpt, KOpt, ParamOpt, SeedOpt, check_format, print_json
from synerec.cli._options import parse_params
from synerec.cli.data_options import DataOptions, data_options
from synerec.exceptions import ConfigError, SynerecError

__all__ = ["model_name_of", "predict", "recommend", "register"]

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``recommend`` and ``predict`` commands to the ``synerec`` app."""
    app.command()(recommend)
    app.command()(predict)


def recommend(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="A saved model directory.")],
    user: Annotated[list[str], typer.Option("--user", "-u", help="User id (repeatable).")],
    n: Annotated[int, typer.Option("--n", help="List length.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Keep the user's own items.")] = False,
    unknown: UnknownOpt = "error",
    fmt: FormatOpt = "table",
) -> None:
    """Top-N recommendations for users of a saved model, with item titles."""
    from synerec.models import load_model, model_name
    check_format(fmt)
    check_unknown(unknown)
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    model = load_model(model_dir)
    resolved = [model_id(model, u, "user", unknown) for u in user]
    users = [uid for uid, _ in resolved]
    ids, scores = model.recommend(users, n, exclude_seen=not include_seen, unknown=unknown)
    catalogue = item_catalogue(model)
    name = model_name(type(model))
    out = []
    for (uid, known), row, srow in zip(resolved, ids, scores, strict=True):
        items = []
        for r, (i, sc) in enumerate(zip(row, srow, strict=True)):
            if i is None:
                continue
            entry: dict[str, Any] = {"rank": r + 1, "item_id": i, "score": float(sc)}
            if catalogue is not None:
                k = model.items_.index(i)
                entry["title"] = str(catalogue["title"][k])
                if "category" in catalogue:
                    entry["category"] = str(catalogue["category"][k])
            items.append(entry)
        out.append({"user_id": uid, "fallback": None if known else "unknown_user",
                    "items": items})
    if fmt == "json":
        print_json({"model": name, "recommendations": out})
        return
    for rec in out:
        _print_recommendations(rec, n, name, catalogue is not None)


def _print_recommendations(rec: dict[str, Any], n: int, name: str, titled: bool) -> None:
    """One user's list: a table whose item ids are never cut (the titles wrap instead); when
    even that does not fit the console, each item on its own lines, the id alone on the first."""
    note = " (unknown user: the most popular items)" if rec["fallback"] else ""
    title = f"Top {n} for user {rec['user_id']} ({name}){note}"
    value = "popularity" if rec["fallback"] else "score"
    ids = [str(e["item_id"]) for e in rec["items"]]
    table = Table(title=title)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("item", no_wrap=True, min_width=max([4, *map(len, ids)]))
    if titled:
        table.add_column("title", overflow="fold", min_width=10)
    table.add_column(value, justify="right", no_wrap=True)
    for e, item in zip(rec["items"], ids, strict=True):
        cells = [str(e["rank"]), item]
        if titled:
            cells.append(e["title"])
        table.add_row(*cells, f"{e['score']:.4g}")
    scores = [f"{e['score']:.4g}" for e in rec["items"]]
    widths = [max([4, *(len(str(e["rank"])) for e in rec["items"])]), max([4, *map(len, ids)]),
              *([10] if titled else []), max([len(value), *map(len, scores)])]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:  # cells, padding and borders
        console.print(table)
        return
    console.print(title, highlight=False, markup=False)
    for e, item in zip(rec["items"], ids, strict=True):
        console.print(f"{e['rank']:>3}. {item}", highlight=False, markup=False, soft_wrap=True)
        rest = ([e["title"]] if titled and e["title"] else []) + [f"{value} {e['score']:.4g}"]
        console.print("     " + "; ".join(rest), highlight=False, markup=False)


@data_options(default=None, dataset_help="Instead of --model-dir: a data set name, an "
              "interaction file or a config file to fit the paper's --method on.")
def predict(
    user: Annotated[str, typer.Option("--user", "-u", help="User id.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    data: DataOptions,
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="A saved model "
                                                   "directory.")] = None,
    method: Annotated[str | None, typer.Option(help="With --dataset: user_cosine, user_pearson, "
                                               "item_cosine or item_adjusted_cosine "
                                               "(default user_cosine).")] = None,
    k: KOpt = None,
    plain: Annotated[bool, typer.Option("--plain", help="With --dataset: the paper's plain "
                                        "formulas (min_support=1, shrinkage=0, "
                                        "center=false).")] = False,
    param: ParamOpt = None,
    threshold: Annotated[float | None, typer.Option(help="Recommend above this rating "
                                                    "(default: 6 of 10 on the data's scale; "
                                                    "ratings only).")] = None,
    unknown: UnknownOpt = "error",
    fmt: FormatOpt = "table",
    seed: SeedOpt = 42,
) -> None:
    """Predict a user's rating of an item, and whether to recommend it, and why.

    From a saved model (--model-dir), or from one of the paper's four methods fitted on a data
    set (--dataset with --method; --k, --plain and --param set the model's options). For a
    model fitted on implicit feedback (purchases, clicks), or a ranking model (ease, als, bpr,
    rp3beta), there is no rating to predict: the answer is the item's score and rank in the
    user's list.
    """
    check_format(fmt)
    check_unknown(unknown)
    model, label = _predicting_model(data, model_dir, method, k, plain, param, seed)
    uid, user_known = model_id(model, user, "user", unknown)
    iid, item_known = model_id(model, item, "item", unknown)
    title = title_of(model, iid) if item_known else ""
    ranks_only = not model.predicts_ratings
    if model.rating_scale_ is None or ranks_only:
        if threshold is not None:
            why = ("this model was fitted on implicit feedback (no ratings)"
                   if model.rating_scale_ is None else
                   "this model ranks items and predicts no ratings")
            raise ConfigError(f"--threshold applies to predicted ratings; {why}: see the "
                              "item's rank")
        payload = _implicit_answer(model, uid, iid, user_known, item_known)
        payload["title"] = title
        if fmt == "json":
            print_json(payload)
            return
        console.print(f"user {uid}, item {iid}" + (f" ({title})" if title else "")
                      + f": {payload['reason']}", highlight=False)
        return
    decision = model.recommend_item(uid, iid, threshold=threshold, unknown=unknown)
    p = decision.prediction
    neighbors = [{key: v for key, v in nb.items() if not key.endswith("_index")}
                 for nb in p.details.get("neighbors", [])]
    payload = {"user_id": uid, "item_id": iid, "title": title, "feedback": "explicit",
               "prediction": p.value, "recommend": decision.recommend,
               "threshold": decision.threshold, "reason": decision.reason,
               "n_neighbors": p.n_neighbors, "fallback": p.fallback,
               "fallback_to": p.fallback_to, "neighbors": neighbors}
    if label is not None:
        payload["method"] = method or "user_cosine"
        payload["config"] = model.get_config().model_dump(mode="json")
    if fmt == "json":
        print_json(payload)
        return
    _print_decision(uid, iid, title, label, decision, neighbors)


def _predicting_model(data: DataOptions, model_dir: Path | None, method: str | None,
                      k: int | None, plain: bool, param: list[str] | None,
                      seed: int) -> tuple[Any, str | None]:
    """The saved model (``--model-dir``), or the paper's method fitted on the data set with
    a one-line description of it; the flags of the other source are an error."""
    from synerec.models import load_model
    if (model_dir is None) == (not data.given):
        raise ConfigError("give either --model-dir or --dataset (with --method)")
    if model_dir is None:
        return _paper_model(data, method or "user_cosine", k, plain, param, seed)
    given = [flag for flag, value in (("--method", method), ("--k", k), ("--param", param))
             if value]
    if plain:
        given.append("--plain")
    if given:
        raise ConfigError(f"{', '.join(given)} only apply with --dataset")
    return load_model(model_dir), None


def _print_decision(uid: Any, iid: Any, title: str, label: str | None, decision: Any,
                    neighbors: list[dict[str, Any]]) -> None:
    p = decision.prediction
    if label is not None:
        console.print(label, highlight=False)
    verdict = "[green]recommend[/green]" if decision.recommend else "[yellow]do not " \
        "recommend[/yellow]"
    console.print(f"user {uid}, item {iid}" + (f" ({title})" if title else "")
                  + f": predicted {p.value:.4f} -> {verdict}")
    console.print(f"why: {decision.reason}; {p.n_neighbors} neighbours used"
                  + (f"; fallback {p.fallback} -> {p.fallback_to}" if p.fallback else ""))
    if neighbors:
        console.print(_neighbor_table(neighbors, p.details))


def _paper_model(data: DataOptions, method: str, k: int | None, plain: bool,
                 param: list[str] | None, seed: int) -> tuple[Any, str]:
    """The paper's ``method`` fitted on the data set, and a one-line description of it."""
    from synerec.algorithms import PLAIN_FORMULAS, PaperCF
    options: dict[str, Any] = dict(PLAIN_FORMULAS) if plain else {}
    options.update(parse_params(param))
    if "k" in options:
        raise ConfigError("set the neighbours with --k, not --param k=...")
    ds = data.load(seed)
    cf = PaperCF(ds, k=40 if k is None else k, **options)
    model = cf.model(method)
    cfg = model.get_config()
    shown = ", ".join(f"{key}={v}" for key, v in cfg.model_dump().items()
                      if key not in ("ranking", "num_threads", "binarize"))
    scale_text = ("implicit" if ds.rating_scale is None
                  else f"rating scale {ds.rating_scale[0]:g}..{ds.rating_scale[1]:g}")
    return model, (f"{method} on {ds.name} ({ds.n_users} users, {ds.n_items} items, "
                   f"{scale_text}): {type(model).__name__}({shown})")


def _neighbor_table(neighbors: list[dict[str, Any]], details: dict[str, Any]) -> Table:
    """The neighbours behind a prediction, as the formula used them."""
    key = "user" if "user" in neighbors[0] else "item"
    if key == "user":
        title = f"eq. 3 neighbours (user mean {details['user_mean']:.4f})"
    elif "item_mean" in details:
        title = f"eq. 4 neighbours (centred: item mean {details['item_mean']:.4f})"
    else:
        title = "eq. 4 neighbours (plain: no mean)"
    table = Table(title=title)
    cols = [key, "similarity", "rating"] + (["mean"] if "mean" in neighbors[0] else [])
    cols.append("contribution")
    for col in cols:
        table.add_column(col, justify="left" if col == key else "right")
    for nb in neighbors:
        table.add_row(str(nb[key]), *[f"{nb[c]:.4f}" if c != "rating" else f"{nb[c]:g}"
                                      for c in cols[1:]])
    return table


def model_name_of(model: Any) -> str:
    """The registry name of a model's class (its class name when not registered)."""
    from synerec.models import model_name
    try:
        return model_name(type(model))
    except SynerecError:
        return type(model).__name__


def _implicit_answer(model: Any, uid: Any, iid: Any, user_known: bool,
                     item_known: bool) -> dict[str, Any]:
    """For implicit feedback, or a ranking model (``ease``, ``als``, ...) on ratings: the item's
    place in the user's list, in the model's own score."""
    import numpy as np
    implicit = model.rating_scale_ is None
    payload: dict[str, Any] = {"user_id": uid, "item_id": iid,
                               "feedback": "implicit" if implicit else "explicit",
                               "prediction": None, "recommend": None, "threshold": None,
                               "score": None, "rank": None, "ranked": None,
                               "fallback": None if user_known and item_known else
                               "unknown_user" if not user_known else "unknown_item"}
    what = ("implicit feedback: no rating to predict" if implicit else
            f"{model_name_of(model)} ranks items and predicts no rating")
    if not item_known:
        payload["reason"] = f"{what}, and the model has no data on this item, so it never ranks it"
        return payload
    u = model.users_.index(uid) if user_known else -1
    i = model.items_.index(iid)
    if user_known and model._rated_value(u, i) is not None:
        payload["reason"] = (f"{what}; the user already has this item (value "
                             f"{model._rated_value(u, i):g})")
        return payload
    idx, sc = model.recommend_indices([u], model.n_items_)
    ranked = idx[0][idx[0] >= 0]
    payload["ranked"] = len(ranked)
    hit = np.flatnonzero(ranked == i)
    if hit.size == 0:
        payload["reason"] = (f"{what}; the item is not among the {len(ranked)} items the "
                             "model ranks for this user")
        return payload
    pos = int(hit[0])
    payload.update(score=float(sc[0][pos]), rank=pos + 1)
    who = "" if user_known else " (unknown user: ranked by popularity)"
    payload["reason"] = (f"{what}; ranked {pos + 1} of {len(ranked)} for this user{who}, "
                         f"score {float(sc[0][pos]):.4g} (the model's own)")
    return payload
