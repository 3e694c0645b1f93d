"""``synerec llm recommend`` and ``synerec llm explain`` end to end on the demo shop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synerec.cli.main import main
from tests.llm.test_openai import _Server, server  # noqa: F401 - the server fixture


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("llm-cli") / "item-cf"
    assert main(["fit", "--dataset", "demo-shop", "--model", "item-cf", "--out", str(out)]) == 0
    return out


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _first_user(capsys: pytest.CaptureFixture[str], model_dir: Path) -> str:
    from synerec.algorithms import Recommender

    model = Recommender.load(model_dir)
    return str(model.users_.id(int((model.user_count_ > 3).nonzero()[0][0])))


def test_recommend_with_explanations_without_llm(capsys, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    user = _first_user(capsys, model_dir)
    code, out, err = _run(capsys, "llm", "recommend", "--model-dir", str(model_dir),
                          "--user", user, "--rerank", "none", "--explain", "--n", "3",
                          "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    items = payload["recommendations"][0]["items"]
    assert [e["rank"] for e in items] == [1, 2, 3]
    for e in items:
        assert e["explanation"].startswith("Recommended because")
        assert e["explanation_source"] == "template"
    code, out, err = _run(capsys, "llm", "explain", "--model-dir", str(model_dir), "--user",
                          user, "--item", str(items[0]["item_id"]), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["text"] == items[0]["explanation"]


def test_recommend_reranked_by_a_chat_server(capsys, model_dir: Path, server: _Server,  # noqa: F811
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("SYNEREC_LLM_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("SYNEREC_LLM_MODEL", "tiny")
    user = _first_user(capsys, model_dir)
    base = ["llm", "recommend", "--model-dir", str(model_dir), "--user", user, "--n", "4",
            "--candidates", "4", "--format", "json"]
    code, out, err = _run(capsys, *base, "--rerank", "none")
    assert code == 0, err
    plain = [e["item_id"] for e in json.loads(out)["recommendations"][0]["items"]]
    code, out, err = _run(capsys, *base, "--llm", "openai", "--cache", str(tmp_path / "c"))
    assert code == 0, err
    payload = json.loads(out)
    reranked = [e["item_id"] for e in payload["recommendations"][0]["items"]]
    assert reranked == plain[::-1]  # the test server answers the candidates in reverse
    assert payload["rerank"]["mode"] == "generate"
    assert sum(payload["rerank"]["fallbacks"].values()) == 0


def test_user_errors_are_one_line(capsys, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "llm", "recommend", "--model-dir", str(model_dir), "--user",
                        "no-such-user", "--rerank", "none")
    assert code == 2 and "unknown user id" in err
    code, _, err = _run(capsys, "llm", "recommend", "--model-dir", str(model_dir), "--user",
                        "x", "--rerank", "maybe")
    assert code == 2 and "--rerank" in err
