"""``synerec demo``: the main job, end to end on one data set."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from synerec._markdown import md_table
from synerec.algorithms import Recommender
from synerec.algorithms.abilities import ExplainsList, ExplainsScore
from synerec.algorithms.audience import (
    AudienceHits,
    audience_hits,
    item_audiences,
    most_active_users,
)
from synerec.cli._tables import metric_table
from synerec.data.dataset import InteractionDataset
from synerec.data.demo_shop import generate_demo_shop, launch_split
from synerec.data.splits import Fold, holdout_split, official_splits
from synerec.evaluation import ModelSpec, evaluate
from synerec.llm import Explainer
from synerec.models import choose_default_model, create_model, list_models

__all__ = ["DEMO_MODELS", "NewProducts", "run_demo"]

log = logging.getLogger(__name__)

#: Models the demo compares, in report order (those not registered are skipped); the model
#: whose recommendations are shown and explained is added when it is not among them.
DEMO_MODELS = ("popularity", "baseline", "user-cf", "item-cf", "mf")
#: The model whose recommendations are shown and explained: ``"auto"`` is
#: :func:`synerec.models.choose_default_model` (the hybrid when the data has enough
#: interactions for its validation part, else the best single retriever).
EXPLAINED_MODEL = "auto"
#: The built-in data set that ``synerec serve --demo`` serves (the console hint is about it).
DEMO_SHOP = "demo-shop"

#: Products the demo shop adds after the training year (the "new products" section), how many
#: of them the section shows, the audience picked for each (customers) and how much of it is
#: shown.
NEW_PRODUCTS = 60
SHOWN_PRODUCTS = 3
AUDIENCE_SIZE = 50
SHOWN_AUDIENCE = 3
#: The text encoder of the demo (the hybrid's text features, the new products' audiences),
#: and the torch-free one used when the demo extra's MiniLM is not installed.
ENCODER = "minilm"
FALLBACK_ENCODER = "tfidf"
#: The model that ranks customers for a new product when the default model does not score
#: items without purchases (:attr:`~synerec.algorithms.scoring.ScoringModel.scores_cold_items`).
TEXT_MODEL = "text-knn"

METRICS = ("mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage", "category_coverage",
           "fit_seconds")


def _demo_fold(ds: InteractionDataset, seed: int) -> Fold:
    if ds.splits:
        return official_splits(ds)[0]
    return holdout_split(ds, 0.2, per_user=True, random_state=seed)


def run_demo(ds: InteractionDataset, *, out: Path, seed: int = 42,
             console: Console | None = None) -> dict[str, Any]:
    """Fit and evaluate the CF models on ``ds``, show one user's top-5 with reasons, and, on the
    demo shop, who the text model picks for the products added after training; write a report.

    Returns
    -------
    dict
        ``summary`` (DataFrame of metrics per model), ``user``, ``recommendations``, ``encoder``
        (the text encoder used), ``new_products`` (:class:`NewProducts`, or ``None`` when the
        data set is not the default demo shop) and the ``report`` path.
    """
    console = console or Console()
    summary = ds.summary()
    console.print(f"[bold]{ds.name}[/bold]: {summary['users']:,} users, {summary['items']:,} "
                  f"items, {summary['interactions']:,} interactions ({summary['feedback']}, "
                  f"density {summary['density']:.4f}, {summary['categories']} categories)")
    # The demo shop's products added after the year: the models learn from the year only.
    shop = _shop_with_launch(ds, seed)
    year, launch = launch_split(shop) if shop is not None else (ds, None)
    encoder = _embed_catalogue(year, console)
    fold = _demo_fold(ds, seed)
    available = set(list_models())
    if EXPLAINED_MODEL == "auto":
        choice = choose_default_model(ds)
        explained, explained_config = choice.name, dict(choice.config)
        console.print(f"model: [bold]{explained}[/bold] ({choice.reason})")
    else:
        explained, explained_config = EXPLAINED_MODEL, {}
    if encoder is not None and "encoder" in create_model(explained).get_params():
        explained_config["encoder"] = encoder
    specs = [ModelSpec(m, {"random_state": seed} if m == "mf" else {}, m)
             for m in DEMO_MODELS if m in available]
    if explained not in DEMO_MODELS:
        specs.append(ModelSpec(explained, explained_config, explained))
    result = evaluate(specs, ds, [fold], n=10, random_state=seed, show_progress=True)
    table_df = result.summary()
    cols = [m for m in METRICS if m in table_df.columns]
    sizes = f"{fold.train.n_interactions:,} train / {fold.test.n_interactions:,} test"
    console.print(metric_table(table_df, cols, title=f"Models on {ds.name}, split {fold.name} "
                               f"({sizes})", console=console))

    start = time.perf_counter()
    with console.status(f"fitting {explained} on all {year.n_interactions:,} interactions"):
        model = create_model(explained, **explained_config).fit(year)
    console.print(f"{explained} fitted on all {year.n_interactions:,} interactions in "
                  f"{time.perf_counter() - start:.1f} s")
    counts = np.diff(model.train_.indptr)
    order = np.argsort(counts, kind="stable")
    user_index = int(order[len(order) // 2])  # a typical user: median history length
    user = year.users.id(user_index)
    history = _history_line(year, model.train_, user_index)
    if history:
        console.print(f"User {user} {history}")
    recs = _explained_list(year, model, user_index)
    console.print(ranked_list(recs, title=f"Top 5 for user {user} ({counts[user_index]} "
                              f"interactions) by {explained}"))
    new_products = None
    if launch is not None:
        new_products = _new_products(year, launch, model, encoder or FALLBACK_ENCODER, console)
    report = write_report(out, ds, fold, table_df[cols], user, explained, recs, new_products)
    console.print(f"report written to {report}")
    hint = console_hint() if ds.name == DEMO_SHOP else None  # the hint serves the demo shop
    if hint:
        console.print(hint)
    return {"summary": table_df, "user": user, "recommendations": recs, "encoder": encoder,
            "new_products": new_products, "report": report}


def _shop_with_launch(ds: InteractionDataset, seed: int) -> InteractionDataset | None:
    """The demo shop ``ds`` with :data:`NEW_PRODUCTS` products added after its year; ``None``
    for any other data set (or a demo shop of other sizes than the default)."""
    if ds.name != DEMO_SHOP:
        return None
    shop = generate_demo_shop(random_state=seed, n_new_products=NEW_PRODUCTS)
    year, _ = launch_split(shop)
    same = (year.n_interactions == ds.n_interactions and year.n_users == ds.n_users
            and year.items.ids[:ds.n_items].tolist() == ds.items.ids.tolist()
            and np.array_equal(year.user_index, ds.user_index)
            and np.array_equal(year.item_index, ds.item_index)
            and np.array_equal(year.values, ds.values))
    if not same:
        log.info("demo: %s is not the default demo shop of seed %d: no new products", ds.name,
                 seed)
        return None
    return shop


def _embed_catalogue(ds: InteractionDataset, console: Console) -> str | None:
    """Embed the catalogue's texts once with :data:`ENCODER` (a progress bar; cached under
    the cache home, so later runs and the models' fits read them back), and return the
    encoder's kind: :data:`FALLBACK_ENCODER` when MiniLM is not installed, ``None`` when the
    data set has no item text."""
    from synerec.text import (
        EmbeddingCache,
        EncoderError,
        cached_encode,
        create_encoder,
        item_texts,
    )

    if ds.item_info is None:
        return None
    texts = item_texts(ds)
    if not any(t.strip() for t in texts):
        return None
    cache = EmbeddingCache()
    try:
        enc = create_encoder(ENCODER)
        done = int(cache.get(enc.name, texts)[1].sum())
        if done < len(texts):
            console.print(f"Embedding {len(texts) - done:,} product texts with all-MiniLM-L6-v2 "
                          f"(once: kept in {cache.folder})")
            start = time.perf_counter()
            cached_encode(enc, texts, cache=cache, chunk_size=128,
                          show_progress=console.is_terminal)
            console.print(f"embedded in {time.perf_counter() - start:.0f} s")
        console.print(f"text encoder: all-MiniLM-L6-v2 ({len(texts):,} product texts)")
        return ENCODER
    except (EncoderError, ImportError) as exc:
        log.info("demo: %s is not available (%s)", ENCODER, exc)
        console.print("text encoder: TF-IDF (all-MiniLM-L6-v2 is not "
                      "installed here; make demo installs it)")
        return FALLBACK_ENCODER


@dataclass
class NewProducts:
    """The "new products" section: audiences picked for the products added after training.

    Attributes
    ----------
    model
        The model that picked the audiences.
    shown
        Per shown product: ``item_id``, ``title``, ``category``, ``department``, ``added``
        (date), ``buyers`` (later buyers), ``hits`` (of them in its audience) and ``audience``
        (list of ``user_id``, ``departments``, ``why``).
    audiences
        Item id -> the user ids picked for it (:data:`AUDIENCE_SIZE`, best first).
    buyers
        Item id -> the user ids who bought it in the launch quarter.
    hits
        The measured line (:class:`~synerec.algorithms.audience.AudienceHits`).
    """

    model: str
    shown: list[dict[str, Any]] = field(default_factory=list)
    audiences: dict[str, list[str]] = field(default_factory=dict)
    buyers: dict[str, list[str]] = field(default_factory=dict)
    hits: AudienceHits | None = None

    def measured_line(self) -> str:
        """The measured sentence, with every figure from :attr:`hits`."""
        h = self.hits
        assert h is not None
        k = h.audience_size
        return (f"Measured on all {h.n_items} new products: of their {h.buyers:,} buyers in "
                f"the launch quarter (a customer counted once per product), {h.hits:,} "
                f"({h.share(h.hits):.0%}) were among the {k} customers {self.model} picked for "
                f"the product ({k / h.n_users:.0%} of {h.n_users:,}). The {k} most active "
                f"customers would have reached {h.active_hits:,} "
                f"({h.share(h.active_hits):.0%}); {k} at random, {h.random_hits:.0f} expected "
                f"({h.share(h.random_hits):.0%}).")


def _new_products(year: InteractionDataset, launch: InteractionDataset, model: Recommender,
                  encoder: str, console: Console) -> NewProducts:
    """Who gets the products added after training: the audience of each, picked by ``model``
    when it declares it scores new products for every customer, else by the text model on the
    same year; shown for :data:`SHOWN_PRODUCTS` of them, measured on all against the launch's
    real buyers."""
    from synerec.algorithms.abilities import ScoresNewItems

    new = np.unique(launch.item_index)
    # a model that ranks a new product for every customer (ScoresNewItems); a hybrid scores
    # new products only for the customers whose candidates hold them
    if isinstance(model, ScoresNewItems):
        picker, name = model, type(model).registered_name or type(model).__name__
    else:
        start = time.perf_counter()
        with console.status(f"fitting {TEXT_MODEL} on the year's interactions"):
            picker = create_model(TEXT_MODEL, encoder=encoder).fit(year)
        name = TEXT_MODEL
        log.info("demo: %s fitted in %.1f s", TEXT_MODEL, time.perf_counter() - start)
    assert year.item_info is not None
    info = year.item_info
    section = NewProducts(model=name)
    picked = {j: users for j, (users, _) in item_audiences(picker, new, AUDIENCE_SIZE).items()}
    buyers: dict[int, np.ndarray] = {}
    for j in picked:
        buyers[j] = np.unique(launch.user_index[launch.item_index == j])
        item_id = str(year.items.id(j))
        section.audiences[item_id] = [str(year.users.id(int(u))) for u in picked[j]]
        section.buyers[item_id] = [str(year.users.id(int(u))) for u in buyers[j]]
    section.hits = audience_hits(picked, buyers, most_active_users(picker, AUDIENCE_SIZE),
                                 int(picker.known_users(np.arange(picker.n_users_)).sum()))
    by_added = sorted(new.tolist(), key=lambda j: (int(info["added"].iloc[j]), j))
    step = max(1, len(by_added) // SHOWN_PRODUCTS)
    for j in by_added[::step][:SHOWN_PRODUCTS]:
        row = info.iloc[j]
        audience = []
        for u in picked[j][:SHOWN_AUDIENCE]:
            audience.append({"user_id": str(year.users.id(int(u))),
                             "departments": _departments(year, int(u)),
                             "bought_later": bool(np.isin(u, buyers[j])),
                             "why": _why_audience(year, picker, int(u), j)})
        section.shown.append({
            "item_id": str(year.items.id(j)), "title": str(row["title"]),
            "category": str(row["category"]), "department": str(row["department"]),
            "added": datetime.fromtimestamp(int(row["added"]), UTC).strftime("%Y-%m-%d"),
            "buyers": len(buyers[j]), "hits": int(np.isin(buyers[j], picked[j]).sum()),
            "audience": audience})
    console.print(new_products_view(section, n_new=len(new)))
    return section


def _departments(ds: InteractionDataset, u: int) -> str:
    info = ds.user_info
    if info is None or "departments" not in info.columns:
        return ""
    return str(info["departments"].iloc[u]).replace("|", ", ")


def _why_audience(ds: InteractionDataset, model: Recommender, u: int, j: int) -> str:
    """Why the model picked user ``u`` for item ``j``: the user's own purchases whose terms
    weigh most in the score (a model that explains its score by the user's items), else the
    model's own explanation of the pair."""
    titles = ds.item_info["title"] if ds.item_info is not None else None

    def title(i: int) -> str:
        return str(titles.iloc[i]) if titles is not None else str(ds.items.id(i))

    if isinstance(model, ExplainsScore):
        mine, terms = model.score_contributions(u, j)
        order = np.argsort(-terms, kind="stable")[:2]
        # the closest purchase, and the next one when it is nearly as close
        top = [int(mine[o]) for o in order if terms[o] > 0 and terms[o] >= 0.5 * terms[order[0]]]
        if top:
            return "its text is closest to their " + " and ".join(
                f"\u201c{title(i)}\u201d" for i in top)
    if isinstance(model, ExplainsList):
        return str(model.explain_list(u, np.array([j]))[0].sentence)
    return ""


def new_products_view(section: NewProducts, n_new: int) -> RenderableType:
    """The "new products" section at any width: one block per shown product (title; category,
    date and buyers; the picked customers with the reason), wrapped, never cut."""
    from rich.console import Group

    parts: list[RenderableType] = [Text(
        f"\nNew products: the shop adds {n_new} products after the year the models learned "
        f"from. Nobody has bought them yet, so collaborative filtering gives them no score; "
        f"{section.model} reads each one's text and picks the {AUDIENCE_SIZE} customers whose "
        "own purchases read closest.", style="bold")]
    for p in section.shown:
        picked = Table.grid(padding=(0, 1))
        picked.add_column(justify="right", no_wrap=True)
        picked.add_column(overflow="fold")
        for rank, a in enumerate(p["audience"], start=1):
            shops = f" (shops in {a['departments']})" if a["departments"] else ""
            later = ", bought it" if a["bought_later"] else ""
            picked.add_row(f"{rank}.", f"{a['user_id']}{shops}{later}: {a['why']}")
        head = Text(p["title"], style="bold")
        head.append(f"\n{p['category']} ({p['department']}) · {p['item_id']} · added "
                    f"{p['added']} · {p['buyers']} buyers in the quarter, {p['hits']} of them "
                    f"among the {AUDIENCE_SIZE} picked; the first {len(p['audience'])}:",
                    style="dim")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("•", Group(head, picked))
        parts.append(grid)
    parts.append(Text(section.measured_line()))
    return Group(*parts)


def _explained_list(ds: InteractionDataset, model: Recommender,
                    user_index: int) -> list[dict[str, Any]]:
    """The user's top 5 with titles and the grounded explanation of each (template sentences
    from the model's own evidence: no LLM needed; the hybrid names the signals that put each
    item on the list)."""
    user = ds.users.id(user_index)
    ids, scores = model.recommend([user], 5)
    assert ds.item_info is not None
    info = ds.item_info
    explainer = Explainer(model, domain="products" if ds.name == "demo-shop" else "items").fit(ds)
    own: dict[Any, Any] = {}  # a model that explains itself: its list in one pass
    if isinstance(model, ExplainsList):
        listed = [i for i in ids[0] if i is not None]
        own = dict(zip(listed, model.explain_list(user_index, model.items_.indices(listed)),
                       strict=True))
    recs = []
    for rank, (item, score) in enumerate(zip(ids[0], scores[0], strict=True), start=1):
        if item is None:
            continue
        if item in own:
            why = own[item].text
            cited = [str(model.items_.id(j)) for _, j in own[item].cited]
        else:
            explanation = explainer.explain(user, item)
            why, cited = explanation.text, [str(c) for c in explanation.cited_items]
        title = str(info.loc[item, "title"]) if "title" in info else ""
        category = str(info.loc[item, "category"]) if "category" in info else ""
        department = str(info.loc[item, "department"]) if "department" in info else ""
        recs.append({"rank": rank, "item_id": item, "title": title, "category": category,
                     "department": department, "score": float(score),
                     "why": why, "cited": cited})
    return recs


def _history_line(ds: InteractionDataset, X: Any, u: int, top: int = 4) -> str:
    """``"rated 34 items: Audio 16 (Headphones 9, Bluetooth Speakers 7), ..."``: what the
    user's list rests on, by department when the catalogue has them, else by category."""
    info = ds.item_info
    if info is None or "category" not in info.columns:
        return ""
    cats = ds.item_categories()
    depts = info["department"].astype(str).tolist() if "department" in info.columns else None
    rated = X.indices[X.indptr[u]:X.indptr[u + 1]]
    counts: dict[str, int] = {}
    groups: dict[str, dict[str, int]] = {}
    for j in rated:
        for c in cats[j]:
            counts[c] = counts.get(c, 0) + 1
            if depts is not None:
                g = groups.setdefault(depts[j], {})
                g[c] = g.get(c, 0) + 1
    if not counts:
        return ""
    verb = "rated" if ds.rating_scale is not None else "chose"

    def listed(tally: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))

    if depts is not None:
        ranked = sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        parts = [f"{d} {sum(g.values())} ("
                 + ", ".join(f"{c} {n}" for c, n in listed(g)) + ")" for d, g in ranked[:top]]
        rest = ranked[top:]
    else:
        best = listed(counts)
        parts = [f"{c} {n}" for c, n in best[:top]]
        rest = [(c, {c: n}) for c, n in best[top:]]
    if rest:
        kind = ("department" if depts is not None else "categor") + (
            ("s" if depts is not None else "ies") if len(rest) != 1 else
            ("" if depts is not None else "y"))
        parts.append(f"{sum(sum(g.values()) for _, g in rest)} in {len(rest)} more {kind}")
    noun = "item" if len(rated) == 1 else "items"
    return f"{verb} {len(rated)} {noun}: " + ", ".join(parts)


def ranked_list(recs: list[dict[str, Any]], title: str) -> RenderableType:
    """A top-N list that reads at 80 columns: one block per item (title; category, id and
    score; the explanation), wrapped at word boundaries, never cut."""
    grid = Table.grid(padding=(0, 1))
    grid.title = title
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for r in recs:
        body = Text()
        body.append(r["title"] or str(r["item_id"]), style="bold")
        where = ", ".join(c for c in r["category"].split("|") if c) \
            + (f" ({r['department']})" if r.get("department") else "")
        meta = [x for x in (where, str(r["item_id"]), f"score {r['score']:.3f}") if x]
        body.append("\n" + " · ".join(meta), style="dim")
        body.append("\n" + r["why"])
        grid.add_row(f"{r['rank']}.", body)
    return grid


def console_hint() -> str | None:
    """How to open the web console on the demo shop, when this install has that command.

    The hint names ``synerec serve --demo`` (``make console`` when the serve extra is not
    installed, as after ``make demo``); it is printed only when the ``serve`` command exists and
    takes a ``--demo`` option, so ``make demo`` never points at a missing command.
    """
    import typer

    from synerec.cli.main import app

    group = typer.main.get_command(app)
    serve = getattr(group, "commands", {}).get("serve")
    if serve is None or not any("--demo" in getattr(p, "opts", ()) for p in serve.params):
        return None
    import importlib.util

    if importlib.util.find_spec("fastapi") is None:  # the serve extra is not installed
        return ("Open the web console on the demo shop: [bold]make console[/bold] (installs the "
                "serve extra, then runs synerec serve --demo).")
    return ("Open the web console on the demo shop: [bold]synerec serve --demo[/bold] "
            "(fits and serves the demo shop in one command).")


def write_report(out: Path, ds: InteractionDataset, fold: Fold, summary: pd.DataFrame, user: Any,
                 model_name: str, recs: list[dict[str, Any]],
                 new_products: NewProducts | None = None) -> Path:
    """Write ``report.md`` and its PNG plots into ``out`` (with a "New products" section when
    ``new_products`` is given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    plots = []
    for name, metrics in (("accuracy.png", ["mae", "rmse"]),
                          ("ranking.png", ["precision@10", "recall@10", "ndcg@10"])):
        present = [m for m in metrics if m in summary.columns]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
        summary[present].plot.bar(ax=ax, rot=0)
        ax.set_xlabel("model")
        ax.set_ylabel("error (lower is better)" if name == "accuracy.png"
                      else "score (higher is better)")
        ax.set_title(f"{', '.join(present)} on {ds.name} ({fold.name})")
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        plots.append(name)
    lines = [f"# synerec report: {ds.name}", ""]
    s = ds.summary()
    lines += [f"{s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions; "
              f"split `{fold.name}`: {fold.train.n_interactions:,} train / "
              f"{fold.test.n_interactions:,} test.", "", "## Models", ""]
    lines += md_table(["model", *summary.columns],
                      [[model, *(f"{v:.4f}" for v in row)] for model, row in summary.iterrows()],
                      ["left"] + ["right"] * len(summary.columns))
    lines += ["", *[f"![{p}]({p})" for p in plots], "",
              f"## Top 5 for user {user} ({model_name})", ""]
    lines += md_table(["rank", "item", "title", "category", "score", "why"],
                      [[r["rank"], r["item_id"], r["title"], r["category"], f"{r['score']:.3f}",
                        r["why"]] for r in recs],
                      ["right", "left", "left", "left", "right", "left"])
    if new_products is not None:
        lines += ["", f"## New products ({new_products.model})", "",
                  new_products.measured_line(), ""]
        rows = [[p["item_id"], p["title"], p["added"], p["buyers"], p["hits"],
                 "; ".join(f"{a['user_id']}: {a['why']}" for a in p["audience"])]
                for p in new_products.shown]
        lines += md_table(["item", "title", "added", "buyers", "in audience", "picked (why)"],
                          rows, ["left", "left", "left", "right", "right", "left"])
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
