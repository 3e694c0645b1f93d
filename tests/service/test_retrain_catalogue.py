"""A retrained model keeps the item catalogue (titles, categories) the lists show."""

from __future__ import annotations

from pathlib import Path

import pytest

from synerec.algorithms import Recommender
from synerec.service.events import EventRecord, EventStore
from synerec.service.retrain import run_retrain
from tests.service import DEMO, fit_demo_model


@pytest.mark.parametrize("base", [None, "demo-shop"])
def test_a_retrained_model_keeps_the_catalogue(tmp_path: Path, base: str | None) -> None:
    first = fit_demo_model(tmp_path / "first")
    original = Recommender.load(first)
    store = EventStore(tmp_path / "events.sqlite3")
    store.add([EventRecord("u001", "p005", 5.0, "purchase"),
               EventRecord("newcomer", "p007", None, "cart")])
    store.close()
    out = run_retrain({
        "base_dataset": base, "base_dataset_options": DEMO if base else {},
        "base_model_dir": str(first), "events_db": str(tmp_path / "events.sqlite3"),
        "events_upto": 2, "model": "item-cf", "config": {}, "out_dir": str(tmp_path / "v2"),
        "implied_ratings": {"cart": 0.75}, "event_weights": {"cart": 2.0}})
    model = Recommender.load(out)
    new_pair = original.train_[original.users_.index("u001"),
                               original.items_.index("p005")] == 0
    assert "newcomer" in model.users_
    assert model.train_.nnz == original.train_.nnz + 1 + int(new_pair)
    assert list(model.items_.ids) == list(original.items_.ids)
    for col in ("title", "category"):
        assert list(model.catalogue_[col]) == list(original.catalogue_[col])
    assert model.data_name_ == f"{'base-model' if base is None else 'demo-shop'}+events"
