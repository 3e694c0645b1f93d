"""A/B tests between served models: bucketing, variants served over HTTP, results and their
intervals (known answers from the papers), the CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.algorithms import Recommender
from synerec.exceptions import ConfigError
from synerec.service import ServiceSettings, load_settings
from synerec.service.attribution import UserTotals
from synerec.service.experiments import (
    ExperimentConfig,
    bucket,
    experiment_results,
    newcombe_interval,
    results_csv,
    wilson_interval,
)
from tests.service import API_KEY, DEMO, fit_demo_model, serve_in_thread

KEY = {"X-API-Key": API_KEY}


def _config(name: str, shares: list[float], **extra: Any) -> ExperimentConfig:
    return ExperimentConfig(name=name, variants=[{"name": f"v{k}", "share": s}
                                                 for k, s in enumerate(shares)], **extra)


# -- bucketing --------------------------------------------------------------------------------
def test_bucket_is_the_documented_hash() -> None:
    import hashlib

    d = hashlib.sha256(b"exp-1\x1fuser-42").digest()
    assert bucket("exp-1", "user-42") == int.from_bytes(d[:8], "big") / 2**64
    assert 0 <= bucket("x", "") < 1


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
       user=st.text(min_size=1, max_size=40))
def test_a_user_gets_the_same_variant_every_time(name: str, user: str) -> None:
    cfg = _config(name, [0.3, 0.3, 0.4])
    first = cfg.variant_of(user)
    assert first is not None  # shares sum to 1: everybody is in
    assert all(cfg.variant_of(user) == first for _ in range(3))
    # a rebuilt configuration (a restart reads it again) gives the same variant
    again = ExperimentConfig.model_validate_json(cfg.model_dump_json())
    assert again.variant_of(user) == first


@settings(max_examples=12, deadline=None)
@given(shares=st.lists(st.integers(1, 20), min_size=2, max_size=4),
       outside=st.integers(0, 10), name=st.sampled_from(["exp", "homepage-ab", "t2"]))
def test_observed_shares_are_within_one_point_over_100000_users(
        shares: list[int], outside: int, name: str) -> None:
    total = sum(shares) + outside
    cfg = _config(name, [s / total for s in shares])
    counts = {v.name: 0 for v in cfg.variants}
    none = 0
    n = 100_000
    for k in range(n):
        v = cfg.variant_of(f"user-{k}")
        if v is None:
            none += 1
        else:
            counts[v.name] += 1
    for v in cfg.variants:
        assert abs(counts[v.name] / n - v.share) < 0.01, (v, counts[v.name])
    assert abs(none / n - outside / total) < 0.01


def test_configurations_are_checked_with_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shares sum to 1\.2"):
        _config("e", [0.6, 0.6])
    with pytest.raises(ValueError, match="variant name 'v' appears more than once"):
        ExperimentConfig(name="e", variants=[{"name": "v", "share": 0.5}] * 2)
    with pytest.raises(ValueError, match="control 'x' is not a variant"):
        _config("e", [0.5, 0.5], control="x")
    with pytest.raises(ValueError, match="stop must be after start"):
        _config("e", [0.5, 0.5], start="2026-01-02T00:00:00Z", stop="2026-01-01T00:00:00")
    f = tmp_path / "s.toml"
    f.write_text('model_dir = "m"\n[[experiments]]\nname = "e"\n'
                 '[[experiments.variants]]\nname = "a"\nshare = 0.5\nmodel_dir = "rel"\n'
                 '[[experiments.variants]]\nname = "b"\nshare = 0.5\nmodel_dir = "/x"\n'
                 'rules = {in_stock = true}\n')
    got = load_settings(f).experiments[0]
    assert [v.name for v in got.variants] == ["a", "b"]
    assert got.variants[0].model_dir == tmp_path / "rel"  # relative to the settings file
    assert got.variants[1].rules == {"in_stock": True}  # checked by the rules engine
    f.write_text(f.read_text().replace("in_stock = true", 'filter = "in_stock"'))
    with pytest.raises(ConfigError, match=r"experiments\.0\.variants\.1\.rules: .*unknown key "
                                          r"'filter'"):
        load_settings(f)
    f.write_text('model_dir = "m"\n[[experiments]]\nname = "e"\nvariants = []\n')
    with pytest.raises(ConfigError, match=r"experiments\.0\.variants"):
        load_settings(f)


def test_start_and_stop_times() -> None:
    cfg = _config("e", [0.5, 0.5], start="2026-01-01T00:00:00", stop="2026-01-02T00:00:00Z")
    t0 = cfg.start.timestamp()  # type: ignore[union-attr]
    assert not cfg.active(t0 - 1) and cfg.active(t0) and cfg.active(t0 + 86_399)
    assert not cfg.active(t0 + 86_400)


# -- statistics -------------------------------------------------------------------------------
def test_wilson_and_newcombe_match_the_published_examples() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    # Newcombe (1998), "Interval estimation for the difference ...", method 10: 56/70 - 48/80
    lo, hi = newcombe_interval(56, 70, 48, 80)
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_results_per_variant_by_hand() -> None:
    cfg = _config("e", [0.5, 0.5])
    users = {"v0": {"a": UserTotals(lists=4, clicks=1, clicked_lists=1),
                    "b": UserTotals(lists=6, clicks=3, clicked_lists=2, purchases=1,
                                    revenue=30.0)},
             "v1": {"c": UserTotals(lists=5, clicks=5, clicked_lists=5, purchases=2,
                                    revenue=10.0),
                    "d": UserTotals(lists=5), "e": UserTotals(lists=10, purchases=1,
                                                              revenue=20.0)}}
    r0, r1 = experiment_results(cfg, users)
    assert (r0["users"], r0["lists"], r0["clicked_lists"], r0["converted_users"]) == (2, 10, 3, 1)
    assert r0["ctr"] == 0.3 and r0["conversion"] == 0.5 and r0["revenue_per_user"] == 15.0
    assert r0["ctr_ci"] == list(wilson_interval(3, 10)) and r0["vs_control"] is None
    assert r1["ctr"] == 0.25 and r1["conversion"] == pytest.approx(2 / 3)
    assert r1["revenue_per_user"] == 10.0
    vs = r1["vs_control"]
    assert vs["ctr_diff"] == pytest.approx(-0.05)
    assert vs["ctr_diff_ci"] == list(newcombe_interval(5, 20, 3, 10))
    assert vs["revenue_per_user_diff"] == -5.0
    lo, hi = vs["revenue_per_user_diff_ci"]
    assert lo < -5.0 < hi
    # the bootstrap interval of a mean lies within the range of the possible means
    assert 0.0 <= r0["revenue_per_user_ci"][0] <= 15.0 <= r0["revenue_per_user_ci"][1] <= 30.0
    rows = list(csv.DictReader(io.StringIO(results_csv([r0, r1]))))
    assert [r["variant"] for r in rows] == ["v0", "v1"]
    assert float(rows[1]["ctr_diff_low"]) == vs["ctr_diff_ci"][0]
    assert rows[0]["ctr_diff"] == ""


def test_bootstrap_covers_the_mean_like_the_normal_interval_on_a_large_sample() -> None:
    rng = np.random.default_rng(3)
    rev = rng.exponential(10.0, 4000) * (rng.random(4000) < 0.2)
    cfg = _config("e", [0.5, 0.5])
    users = {"v0": {str(k): UserTotals(lists=1, purchases=int(x > 0), revenue=float(x))
                    for k, x in enumerate(rev)}, "v1": {}}
    lo, hi = experiment_results(cfg, users)[0]["revenue_per_user_ci"]
    half = 1.96 * rev.std(ddof=1) / np.sqrt(rev.size)
    assert lo == pytest.approx(rev.mean() - half, rel=0.06)
    assert hi == pytest.approx(rev.mean() + half, rel=0.06)


# -- served over HTTP -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("exp")
    return fit_demo_model(base / "item-cf"), fit_demo_model(base / "ease", "ease")


def _settings(dirs: tuple[Path, Path], state: Path, **extra: Any) -> ServiceSettings:
    return ServiceSettings(model_dir=dirs[0], state_dir=state, api_keys=(API_KEY,),
                           base_dataset="demo-shop", base_dataset_options=DEMO, **extra)


def test_variants_serve_their_models_and_keep_users_across_restarts(
        dirs: tuple[Path, Path], tmp_path: Path) -> None:
    other = dirs[1]
    ease = Recommender.load(other)
    cfg = {"name": "ease-vs-cf", "variants": [
        {"name": "control", "share": 0.5},
        {"name": "ease", "share": 0.5, "model_dir": str(other),
         "rules": {"in_stock": True}}]}  # every item is in stock: the lists unchanged
    users = [f"u{k:03d}" for k in range(1, 41)]
    seen: dict[str, str] = {}
    with serve_in_thread(_settings(dirs, tmp_path / "state")) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/v1/experiments", json=cfg, headers=KEY)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "running"
        assert c.post("/v1/experiments", json=cfg, headers=KEY).status_code == 409
        assert c.post("/v1/experiments", json=cfg).status_code == 401
        bad = {**cfg, "name": "x", "variants": [cfg["variants"][0],
                                                {"name": "b", "share": 0.5,
                                                 "model_dir": str(tmp_path / "none")}]}
        r = c.post("/v1/experiments", json=bad, headers=KEY)
        assert r.status_code == 422 and "variant 'b': cannot load model_dir" in r.text
        expected = ExperimentConfig.model_validate(cfg)
        for u in users:
            for _ in range(2):  # the same variant on every request
                body = c.get(f"/v1/users/{u}/recommendations", params={"n": 5}).json()
                assert body["experiment"] == "ease-vs-cf"
                assert body["variant"] == expected.variant_of(u).name  # type: ignore[union-attr]
                seen.setdefault(u, body["variant"])
                assert body["variant"] == seen[u]
            if body["variant"] == "ease":  # the variant's own model made the list
                ids, _ = ease.recommend([u], 5)
                assert [e["item_id"] for e in body["items"]] == list(ids[0])
        assert set(seen.values()) == {"control", "ease"}
        # a click on each ease list item 0 counts for ease, in the experiment's results
        body = c.get(f"/v1/users/{users[0]}/recommendations", params={"n": 5}).json()
        r = c.post("/v1/events", headers=KEY, json={"events": [
            {"user_id": users[0], "item_id": body["items"][0]["item_id"], "event": "click",
             "rec_id": body["rec_id"]}]})
        assert r.status_code == 200
        res = {v["variant"]: v for v in
               c.get("/v1/experiments/ease-vs-cf").json()["results"]}
        mine = res[seen[users[0]]]
        assert mine["clicks"] == 1 and mine["clicked_lists"] == 1
        assert mine["users"] == sum(1 for v in seen.values() if v == seen[users[0]])
        assert mine["lists"] == 2 * mine["users"] + 1
        rows = {(r["model"], r["variant"]): r for r in c.get("/v1/attribution").json()["rows"]}
        model = "ease" if seen[users[0]] == "ease" else "item-cf"
        assert rows[(model, seen[users[0]])]["clicks"] == 1
        text = c.get("/v1/experiments/ease-vs-cf/results.csv")
        assert text.headers["content-type"].startswith("text/csv")
        assert [r["variant"] for r in csv.DictReader(io.StringIO(text.text))] == \
            ["control", "ease"]
        assert c.get("/v1/experiments/nope").status_code == 404
    # a restarted server reads the posted experiment back and serves the same variants
    with serve_in_thread(_settings(dirs, tmp_path / "state")) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        for u in users:
            assert c.get(f"/v1/users/{u}/recommendations").json()["variant"] == seen[u]
        assert c.get("/v1/experiments/ease-vs-cf").json()["results"][0]["lists"] > 0
        r = c.post("/v1/experiments/ease-vs-cf/stop", headers=KEY)
        assert r.status_code == 200 and r.json()["status"] == "stopped"
        body = c.get(f"/v1/users/{users[0]}/recommendations").json()
        assert body["experiment"] is None and body["variant"] is None


def test_an_experiment_of_the_settings_with_placements(dirs: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    exp = ExperimentConfig(name="home-only", placements=("home",), variants=[
        {"name": "a", "share": 0.5}, {"name": "b", "share": 0.5, "model_dir": dirs[1]}])
    placements = {"home": {}, "cart": {}}  # declared placements without rules
    with serve_in_thread(_settings(dirs, tmp_path / "state", experiments=(exp,),
                                   placements=placements)) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        home = c.get("/v1/users/u005/recommendations", params={"placement": "home"}).json()
        cart = c.get("/v1/users/u005/recommendations", params={"placement": "cart"}).json()
        plain = c.get("/v1/users/u005/recommendations").json()
        assert home["experiment"] == "home-only"
        assert home["variant"] == exp.variant_of("u005").name  # type: ignore[union-attr]
        assert cart["experiment"] is None and plain["experiment"] is None
        got = c.get("/v1/experiments").json()["experiments"]
        assert [(e["name"], e["configured_in"]) for e in got] == [("home-only", "settings")]
        assert c.post("/v1/experiments/home-only/stop", headers=KEY).status_code == 409


def test_a_variants_rules_apply_to_its_lists_only(dirs: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    """A variant is a model and rules: its rules filter its users' lists (an item marked out
    of stock leaves them), the other variant's lists keep the item (no base rules here);
    rules that are not valid are refused when the experiment is posted, in one line."""
    cfg = {"name": "stock-rule", "variants": [
        {"name": "plain", "share": 0.5},
        {"name": "ruled", "share": 0.5, "rules": {"in_stock": True}}]}
    exp = ExperimentConfig.model_validate(cfg)
    by_variant: dict[str, list[str]] = {"plain": [], "ruled": []}
    for k in range(1, 60):
        u = f"u{k:03d}"
        by_variant[exp.variant_of(u).name].append(u)  # type: ignore[union-attr]
    with serve_in_thread(_settings(dirs, tmp_path / "state", base_rules={})) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        bad = {**cfg, "name": "bad", "variants": [
            cfg["variants"][0], {"name": "b", "share": 0.5, "rules": {"price": {"max": "x"}}}]}
        r = c.post("/v1/experiments", json=bad, headers=KEY)
        assert r.status_code == 422 and "rules" in r.text
        assert c.post("/v1/experiments", json=cfg, headers=KEY).status_code == 201
        for variant, users in by_variant.items():
            u = users[0]
            before = c.get(f"/v1/users/{u}/recommendations", params={"n": 5}).json()
            assert before["variant"] == variant
            top = before["items"][0]["item_id"]
            r = c.patch(f"/v1/items/{top}", json={"in_stock": False}, headers=KEY)
            assert r.status_code == 200, r.text
            after = c.get(f"/v1/users/{u}/recommendations", params={"n": 5}).json()
            ids = [it["item_id"] for it in after["items"]]
            assert len(ids) == 5
            assert (top in ids) == (variant == "plain"), (variant, top, ids)
