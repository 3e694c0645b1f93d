"""fetch against a real HTTP server on 127.0.0.1, and extract_members."""

from __future__ import annotations

import hashlib
import socket
import zipfile
from pathlib import Path

import pytest

from synerec.data.download import extract_members, fetch, file_digest
from synerec.exceptions import ChecksumError, DatasetNotFoundError

PAYLOAD = b"user_id,item_id,rating\n" + b"u1,i1,5\n" * 50_000  # several 64 KiB chunks


@pytest.fixture
def server(file_server: tuple[Path, str]) -> str:
    """Serve a folder holding ``log.csv`` on 127.0.0.1; yields the base URL."""
    root, url = file_server
    (root / "log.csv").write_bytes(PAYLOAD)
    return url


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_checksum_writes_the_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "home" / "ds" / "log.csv"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    out = fetch(f"{server}/log.csv", dest, digest.upper(), show_progress=False)
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert file_digest(dest) == digest
    assert _leftovers(dest.parent) == ["log.csv"]  # no .part file left


def test_existing_file_is_not_downloaded_again(tmp_path: Path) -> None:
    dest = tmp_path / "log.csv"
    dest.write_bytes(b"already here")
    # An unreachable URL proves no request is made.
    assert fetch("http://127.0.0.1:9/log.csv", dest, "0" * 64, show_progress=False) == dest
    assert dest.read_bytes() == b"already here"


def test_progress_bar_path_downloads_too(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "p" / "log.csv"
    fetch(f"{server}/log.csv", dest, hashlib.sha256(PAYLOAD).hexdigest(), show_progress=True)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_keeps_nothing(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "home" / "log.csv"
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ChecksumError) as exc:
        fetch(f"{server}/log.csv", dest, wrong, show_progress=False)
    assert wrong in str(exc.value) and hashlib.sha256(PAYLOAD).hexdigest() in str(exc.value)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []  # neither the file nor a .part file


def test_http_error_raises_dataset_not_found(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "home" / "missing.csv"
    with pytest.raises(DatasetNotFoundError, match=r"could not download .*missing\.csv.*404"):
        fetch(f"{server}/missing.csv", dest, None, show_progress=False)
    assert _leftovers(dest.parent) == []


def test_unreachable_url_raises_dataset_not_found(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "x" / "log.csv"
    with pytest.raises(DatasetNotFoundError, match=f"could not download http://127.0.0.1:{port}"):
        fetch(f"http://127.0.0.1:{port}/log.csv", dest, None, timeout=5, show_progress=False)
    assert _leftovers(dest.parent) == []


def _zip(tmp_path: Path) -> Path:
    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pack/u.data", b"1\t2\t3\t4\n")
        zf.writestr("pack/u.item", b"2|Toy Story\n")
        zf.writestr("pack/README", b"readme")
    return archive


def test_extract_members_checks_each_members_checksum(tmp_path: Path) -> None:
    archive = _zip(tmp_path)
    out_dir = tmp_path / "out"
    good = {"pack/u.data": hashlib.sha256(b"1\t2\t3\t4\n").hexdigest(), "pack/u.item": None}
    written = extract_members(archive, out_dir, good, strip_prefix="pack/")
    assert written == [out_dir / "u.data", out_dir / "u.item"]
    assert (out_dir / "u.data").read_bytes() == b"1\t2\t3\t4\n"
    assert (out_dir / "u.item").read_bytes() == b"2|Toy Story\n"
    assert _leftovers(out_dir) == ["u.data", "u.item"]  # README not asked for

    bad_dir = tmp_path / "bad"
    with pytest.raises(ChecksumError, match=r"pack/u\.data in .* does not match sha256"):
        extract_members(archive, bad_dir, {"pack/u.data": "0" * 64}, strip_prefix="pack/")
    assert _leftovers(bad_dir) == []
    with pytest.raises(ChecksumError, match=r"lacks the expected member 'pack/u\.user'"):
        extract_members(archive, bad_dir, {"pack/u.user": None})


def test_extract_members_rejects_a_non_zip(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"<html>not found</html>")
    with pytest.raises(ChecksumError, match="not a valid zip archive"):
        extract_members(fake, tmp_path / "o", {"a": None})
