"""The offline replay of an A/B test's variants: known answers on a tiny log, and the CLI."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.data import InteractionDataset
from synerec.evaluation.replay import replay, replay_cases
from synerec.exceptions import ConfigError
from synerec.models import create_model

# 5 users, items a (3 users), b (2), c, d, e, f (1 each): popularity order a > b > c > d > e
# > f (ties by the lower index)
TRAIN = pd.DataFrame({
    "user_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u5", "u5"],
    "item_id": ["a", "b", "a", "c", "a", "b", "d", "e", "f"],
    "rating": [1.0] * 9})
CATALOGUE = pd.DataFrame({"item_id": list("abcdef")})


@pytest.fixture(scope="module")
def popularity():  # type: ignore[no-untyped-def]
    ds = InteractionDataset.from_dataframe(TRAIN, items=CATALOGUE, implicit=True)
    return create_model("popularity").fit(ds)


def _log() -> pd.DataFrame:
    return pd.DataFrame([
        # u1 viewed c, then bought e, then f; the impression is no interaction
        ("u1", "c", "view", 10.0), ("u1", "a", "impression", 11.0),
        ("u1", "e", "purchase", 20.0), ("u1", "f", "purchase", 30.0),
        # u2 bought d, then a (a was in training: a repeat purchase)
        ("u2", "d", "purchase", 5.0), ("u2", "a", "purchase", 6.0),
        # u3 only viewed: not a case
        ("u3", "e", "view", 1.0),
        # u9 is unknown to the model: gets the popular items; bought b and zz (unknown item)
        ("u9", "b", "purchase", 3.0), ("u9", "zz", "purchase", 4.0),
    ], columns=["user_id", "item_id", "event", "timestamp"])


def test_cases_cut_at_the_first_target_event() -> None:
    cases = {c.user_id: c for c in replay_cases(_log())}
    assert sorted(cases) == ["u1", "u2", "u9"]
    assert cases["u1"].cut == 20.0 and cases["u1"].history == [("c", None)]
    assert cases["u1"].relevant == ["e", "f"]
    assert cases["u2"].history == [] and cases["u2"].relevant == ["d", "a"]
    short = {c.user_id: c for c in replay_cases(_log(), horizon_s=5)}
    assert short["u1"].relevant == ["e"]
    with pytest.raises(ConfigError, match="lack the column"):
        replay_cases(_log().drop(columns="event"))
    with pytest.raises(ConfigError, match="no logged event of type click"):
        replay_cases(_log(), targets=("click",))


def test_known_answer_with_the_popularity_model(popularity) -> None:  # type: ignore[no-untyped-def]
    (row,) = replay({"pop": popularity}, _log(), n=3)
    # u1: seen a, b (training) and c (logged before the cut): list d, e, f -> e at 2, f at 3
    idcg2 = 1 + 1 / math.log2(3)
    u1 = (1 / math.log2(3) + 1 / math.log2(4)) / idcg2
    # u2: seen a, c: list b, d, e -> d at rank 2; a (seen) can never be ranked
    u2 = (1 / math.log2(3)) / idcg2
    # u9: unknown, popular list a, b, c -> b at rank 2; zz (unknown item) a miss
    u9 = (1 / math.log2(3)) / idcg2
    assert row.users == 3 and row.model == "popularity" and row.n == 3
    assert row.ndcg == pytest.approx((u1 + u2 + u9) / 3)
    assert row.recall == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    sd = np.std([u1, u2, u9], ddof=1)
    assert row.ndcg_high - row.ndcg == pytest.approx(1.959963984540054 * sd / math.sqrt(3))


def test_the_cli_replays_an_experiment_of_a_state_folder(tmp_path: Path,
                                                          popularity) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from synerec.cli.main import app
    from synerec.service.events import EventRecord, EventStore
    from synerec.service.experiments import ExperimentConfig

    pop_dir = popularity.save(tmp_path / "pop")
    ds = InteractionDataset.from_dataframe(TRAIN, items=CATALOGUE, implicit=True)
    cf_dir = create_model("item-cf").fit(ds).save(tmp_path / "cf")
    state = tmp_path / "state"
    store = EventStore(state / "events.sqlite3")
    log = _log()
    store.add([EventRecord(r.user_id, r.item_id, None, r.event, r.timestamp)
               for r in log.itertuples()])
    store.close()
    cfg = ExperimentConfig(name="pop-vs-cf", variants=[
        {"name": "control", "share": 0.5}, {"name": "cf", "share": 0.5, "model_dir": cf_dir}])
    with sqlite3.connect(state / "events.sqlite3") as conn:
        conn.execute("CREATE TABLE experiments (name TEXT PRIMARY KEY, config TEXT NOT NULL, "
                     "created_at REAL NOT NULL, stopped_at REAL)")
        conn.execute("INSERT INTO experiments VALUES (?, ?, 0, NULL)",
                     (cfg.name, cfg.model_dump_json()))
    runner = CliRunner()
    got = runner.invoke(app, ["experiment", "replay", "--state-dir", str(state),
                              "--experiment", "pop-vs-cf", "--model-dir", str(pop_dir),
                              "--n", "3", "--format", "json"])
    assert got.exit_code == 0, got.output
    body = json.loads(got.output)
    rows = {r["variant"]: r for r in body["variants"]}
    (expected,) = replay({"control": popularity}, log, n=3)
    assert rows["control"]["ndcg"] == pytest.approx(expected.ndcg)
    assert rows["cf"]["model"] == "item-cf" and rows["cf"]["users"] == 3
    table = runner.invoke(app, ["experiment", "replay", "--variant", f"p={pop_dir}",
                                "--events", str(_csv(tmp_path, log)), "--n", "3"])
    assert table.exit_code == 0, table.output
    assert "NDCG@3" in table.output and f"{expected.ndcg:.4f}" in table.output
    bad = runner.invoke(app, ["experiment", "replay", "--state-dir", str(state),
                              "--experiment", "nope"])
    assert bad.exit_code != 0


def _csv(tmp_path: Path, log: pd.DataFrame) -> Path:
    path = tmp_path / "events.csv"
    log.to_csv(path, index=False)
    return path
