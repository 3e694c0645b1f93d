"""``synerec serve`` with the console: --demo, --compare, --reports, the [console] settings."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from synerec.cli.main import main
from synerec.cli.serve_commands import console_extensions
from synerec.console.settings import ConsoleSettings, load_console_settings
from synerec.exceptions import ConfigError
from synerec.service.settings import load_settings
from tests.service import free_port


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_settings_from_a_file_resolve_relative_paths(tmp_path: Path) -> None:
    f = tmp_path / "conf" / "service.toml"
    f.parent.mkdir()
    f.write_text('model_dir = "m/item-cf"\n[console]\ncompare = { "user-cf" = "m/user-cf", '
                 '"abs" = "/srv/models/mf" }\nreports = ["reports/sweep"]\n'
                 'text_encoder = "tfidf"\n')
    # the service reads its own settings, the console its table (synerec serve reads both)
    assert load_settings(f, other_tables=("console",)).model_dir == f.parent / "m" / "item-cf"
    with pytest.raises(ConfigError, match=re.escape("unknown setting 'console'")):
        load_settings(f)  # the service alone knows nothing of a console
    s = load_console_settings(f)
    assert s.compare == {"user-cf": f.parent / "m" / "user-cf", "abs": Path("/srv/models/mf")}
    assert s.reports == (f.parent / "reports" / "sweep",)
    assert s.text_encoder == "tfidf" and s.enabled
    assert not load_console_settings(f, enabled=False).enabled  # --no-console
    f.write_text('model_dir = "m"\n[console]\ncompare = { "bad label" = "m2" }\n')
    with pytest.raises(ConfigError, match="comparison label 'bad label'"):
        load_console_settings(f)
    f.write_text('model_dir = "m"\n[console]\ncolour = "red"\n')
    with pytest.raises(ConfigError, match=re.escape("unknown setting 'console.colour'")):
        load_console_settings(f)
    assert load_console_settings(None) == ConsoleSettings()


def test_serve_mounts_the_console_only_when_it_is_on() -> None:
    assert console_extensions(None) == []
    assert console_extensions(ConsoleSettings(enabled=False)) == []
    assert len(console_extensions(ConsoleSettings())) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--model-dir", "m", "--compare", "no-equals-sign"], "--compare takes LABEL=MODEL_DIR"),
    (["--model-dir", "m", "--compare", "a=x", "--compare", "a=y"], "--compare names 'a' twice"),
    (["--demo", "--model-dir", "m"], "--demo fits and serves its own models"),
])
def test_serve_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str],
                                     message: str) -> None:
    code, _, err = run(capsys, "serve", *args)
    assert code == 2 and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_a_missing_comparison_model_stops_the_server_before_it_listens(
        capsys: pytest.CaptureFixture[str], console_models: tuple[Path, dict[str, Path]],
        tmp_path: Path) -> None:
    _, models = console_models
    code, _, err = run(capsys, "serve", "--model-dir", str(models["item-cf"]), "--state-dir",
                       str(tmp_path / "state"), "--compare", f"ucf={tmp_path / 'nowhere'}",
                       "--port", str(free_port()))
    assert code == 2 and "nowhere" in err and "Traceback" not in err


@pytest.mark.slow
def test_serve_demo_fits_and_serves_the_demo_shop(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SYNEREC_API_KEYS",)}
    code = "import sys; from synerec.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--demo", "--port", str(port),
                             "--state-dir", str(tmp_path / "demo")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    out: list[str] = []
    url = key = None
    try:
        deadline = time.monotonic() + 300
        while key is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "".join(out)
                continue
            out.append(line)
            if m := re.match(r"synerec console: (http://\S+/)", line):
                url = m.group(1)
            if m := re.match(r"API key for writes .*: (\S+)$", line.strip()):
                key = m.group(1)
        assert url == f"http://127.0.0.1:{port}/" and key, "".join(out)
        text = "".join(out)
        assert "demo shop: 1,000 customers, 2,000 products" in text
        assert "evaluated" in text and "swept K" in text
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "".join(out)
            time.sleep(0.3)
        home = httpx.get(url, timeout=30)
        assert home.status_code == 200 and "comparing with" in home.text
        model_page = httpx.get(url + "model", timeout=30).text
        assert "Accuracy and ranking of the models" in model_page and "K sweep" in model_page
        r = httpx.post(url + "v1/events", headers={"X-API-Key": key}, timeout=30,
                       json={"events": [{"user_id": "u0001", "item_id": "p0001",
                                         "event": "purchase"}]})
        assert r.status_code == 200, r.text  # the printed key is the server's write key
        assert key not in home.text and key not in model_page
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
