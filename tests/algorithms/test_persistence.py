"""Model directories: round trip, atomic replacement, and every way a file can be broken."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synerec.algorithms import (
    Baseline,
    MatrixFactorization,
    Popularity,
    Recommender,
    register_model,
)
from synerec.algorithms.persistence import (
    manifest_digest,
    memory_mapped,
    open_model_dir,
    read_model_dir,
    sha256_file,
    verify_model_dir,
    write_model_dir,
)
from synerec.data import InteractionDataset
from synerec.exceptions import ConfigError, ModelFileError


@pytest.fixture
def data() -> InteractionDataset:
    df = pd.DataFrame({"user_id": ["a", "a", "b", "c", "c"],
                       "item_id": ["x", "y", "x", "y", "z"],
                       "rating": [4, 2, 5, 3, 1]})
    return InteractionDataset.from_dataframe(df, rating_scale=(1, 5))


@pytest.fixture
def saved(tmp_path: Path, data: InteractionDataset) -> Path:
    return MatrixFactorization(factors=3, epochs=5, random_state=1).fit(data).save(
        tmp_path / "mf")


def test_manifest_content(saved: Path) -> None:
    manifest = json.loads((saved / "model.json").read_text())
    assert manifest["format"] == "synerec-model" and manifest["format_version"] == 4
    assert manifest["chunk_bytes"] == 1 << 20
    assert manifest["manifest_sha256"] == manifest_digest(manifest)
    assert manifest["class"] == "mf"
    assert manifest["config"]["factors"] == 3 and manifest["config"]["random_state"] == 1
    assert manifest["rating_scale"] == [1.0, 5.0]
    assert manifest["arrays_sha256"] == sha256_file(saved / "arrays.npz")
    with zipfile.ZipFile(saved / "arrays.npz") as z:
        member = hashlib.sha256(z.read("model.user_factors.npy")).hexdigest()
    assert manifest["arrays"]["model.user_factors"] == {"shape": [3, 3], "dtype": "<f8",
                                                        "sha256": member}
    assert manifest["arrays"]["base.users"]["dtype"].startswith("<U")
    with np.load(saved / "arrays.npz", allow_pickle=False) as npz:  # readable without pickle
        assert npz["base.users"].tolist() == ["a", "b", "c"]


def test_generic_write_read_round_trip(tmp_path: Path) -> None:
    arrays = {"ints": np.arange(5), "text": np.array(["é", "b"]), "flags": np.array([True]),
              "scalar": np.array(2.5)}
    write_model_dir(tmp_path / "m", class_name="x", config={"k": 3}, arrays=arrays,
                    rating_scale=None, metadata={"note": "hi"})
    back = read_model_dir(tmp_path / "m")
    assert back.class_name == "x" and back.config == {"k": 3} and back.rating_scale is None
    assert back.metadata == {"note": "hi"}
    for k, v in arrays.items():
        np.testing.assert_array_equal(back.arrays[k], v)
        assert back.arrays[k].dtype == v.dtype
    with pytest.raises(ModelFileError, match="without pickle"):
        write_model_dir(tmp_path / "o", class_name="x", config={},
                        arrays={"bad": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ModelFileError, match="JSON"):
        write_model_dir(tmp_path / "o", class_name="x", config={"f": float("nan")}, arrays={})
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary leftovers


def test_replace_existing_model_atomically(tmp_path: Path, data: InteractionDataset,
                                           saved: Path) -> None:
    before = MatrixFactorization.load(saved).predict(["a"], ["z"])
    Baseline().fit(data).save(saved)
    replaced = Recommender.load(saved)
    assert isinstance(replaced, Baseline)
    assert not np.array_equal(replaced.predict(["a"], ["z"]), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mf"]
    with pytest.raises(ModelFileError, match="not a MatrixFactorization"):
        MatrixFactorization.load(saved)


def test_refuses_to_overwrite_other_things(tmp_path: Path, data: InteractionDataset) -> None:
    model = Popularity().fit(data)
    (tmp_path / "file").write_text("precious")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("precious")
    for target in ("file", "dir"):
        with pytest.raises(ModelFileError, match="refusing"):
            model.save(tmp_path / target)
    assert (tmp_path / "file").read_text() == "precious"
    assert (tmp_path / "dir" / "notes.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    model.save(tmp_path / "empty")  # an empty directory is fine
    assert isinstance(Recommender.load(tmp_path / "empty"), Popularity)


def _rewrite_manifest(path: Path, **changes) -> None:
    """Edit model.json *and* its checksum: what lies behind the checksum must be checked too."""
    manifest = json.loads((path / "model.json").read_text())
    manifest.update(changes)
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "model.json").write_text(json.dumps(manifest))


def _manifest(path: Path) -> dict:
    return json.loads((path / "model.json").read_text())


def _edit_manifest_text(path: Path, old: str, new: str) -> None:
    """Edit model.json by hand, as a person with a text editor would (checksum untouched)."""
    text = (path / "model.json").read_text()
    assert old in text
    (path / "model.json").write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "model.json").unlink(), "model.json is missing"),
    (lambda p: (p / "arrays.npz").unlink(), "arrays.npz is missing"),
    (lambda p: (p / "model.json").write_text('{"format": "synerec-mo'), "not valid JSON"),
    (lambda p: (p / "model.json").write_text("[1, 2]"), "JSON object"),
    (lambda p: _rewrite_manifest(p, format="other"), "not a synerec model"),
    (lambda p: _rewrite_manifest(p, format_version=99), "format version 99"),
    (lambda p: _rewrite_manifest(p, config={"factors": -3}), "factors"),
    (lambda p: _rewrite_manifest(p, config={"evil": "os.system"}), "unknown option 'evil'"),
    (lambda p: _rewrite_manifest(p, **{"class": "builtins.eval"}), "unknown model"),
    (lambda p: _rewrite_manifest(p, arrays={
        **_manifest(p)["arrays"], "base.users": {**_manifest(p)["arrays"]["base.users"],
                                                 "sha256": "0" * 64}}), "sha256"),
])
def test_broken_files_raise_model_file_error(saved: Path, damage, message) -> None:
    damage(saved)
    with pytest.raises(ModelFileError, match=message):
        Recommender.load(saved)


def test_truncated_and_corrupted_arrays(saved: Path) -> None:
    raw = (saved / "arrays.npz").read_bytes()
    (saved / "arrays.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="corrupted"):
        Recommender.load(saved)
    # Truncated *and* the checksum updated: the npz reader itself must fail cleanly.
    _rewrite_manifest(saved, arrays_sha256=sha256_file(saved / "arrays.npz"))
    with pytest.raises(ModelFileError, match="cannot read"):
        Recommender.load(saved)
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    (saved / "arrays.npz").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match="sha256"):
        Recommender.load(saved)


def _replace_array(path: Path, name: str, value: np.ndarray) -> None:
    with np.load(path / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[name] = value
    np.savez(path / "arrays.npz", **arrays)
    manifest = json.loads((path / "model.json").read_text())
    with zipfile.ZipFile(path / "arrays.npz") as z:  # np.savez stores members uncompressed
        member = hashlib.sha256(z.read(f"{name}.npy")).hexdigest()
    manifest["arrays"][name] = {"shape": list(value.shape), "dtype": value.dtype.str,
                                "sha256": member}
    manifest["arrays_sha256"] = sha256_file(path / "arrays.npz")
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "model.json").write_text(json.dumps(manifest))


def test_inconsistent_arrays(saved: Path) -> None:
    _replace_array(saved, "model.user_factors", np.zeros((7, 3)))
    with pytest.raises(ModelFileError, match="user_factors"):
        Recommender.load(saved)


def test_object_array_in_file_is_never_unpickled(saved: Path) -> None:
    _replace_array(saved, "model.item_bias", np.array([object(), 1], dtype=object))
    with pytest.raises(ModelFileError, match="cannot read"):
        Recommender.load(saved)


def test_array_listing_must_match_manifest(saved: Path) -> None:
    with zipfile.ZipFile(saved / "arrays.npz", "a") as z:
        z.writestr("extra.npy", np.lib.format.header_data_from_array_1_0(np.zeros(1)).__repr__())
    _rewrite_manifest(saved, arrays_sha256=sha256_file(saved / "arrays.npz"))
    with pytest.raises(ModelFileError, match="manifest lists"):
        Recommender.load(saved)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        Recommender.load(tmp_path / "nowhere")


def test_unregistered_class_cannot_be_saved(tmp_path: Path, data: InteractionDataset) -> None:
    class Private(Popularity):
        pass

    with pytest.raises(ConfigError, match="not a registered model"):
        Private().fit(data).save(tmp_path / "p")
    with pytest.raises(ConfigError, match="already registered"):
        register_model("mf", Private)
    with pytest.raises(ConfigError, match="not a Recommender"):
        register_model("thing", dict)  # type: ignore[arg-type]


def test_unwritable_location_is_a_model_file_error(tmp_path: Path,
                                                   data: InteractionDataset) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    model = Popularity().fit(data)
    with pytest.raises(ModelFileError, match="cannot write a model to"):
        model.save(blocker / "model")
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing half-written


@pytest.mark.parametrize("old, new", [
    ('"factors": 3', '"factors": 4'),
    ('"factors": 3', '"factors": 1'),
    ("1.0,\n    5.0", "1.0,\n    6.0"),
])
def test_an_edited_model_json_is_refused(saved: Path, old: str, new: str) -> None:
    _edit_manifest_text(saved, old, new)
    with pytest.raises(ModelFileError, match="corrupted or was edited"):
        Recommender.load(saved)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_model_json_are_refused(saved: Path, value: str) -> None:
    _edit_manifest_text(saved, "1.0,\n    5.0", f"{value},\n    5.0")
    with pytest.raises(ModelFileError, match="non-finite number"):
        Recommender.load(saved)


@pytest.mark.parametrize("scale, message", [
    ([5.0, 1.0], "low < high"), ([3.0, 3.0], "low < high"), ([1.0], r"\[low, high\]"),
    (["1", "5"], r"\[low, high\]"), ([True, 5], r"\[low, high\]"),
])
def test_rating_scale_is_validated(saved: Path, scale: list, message: str) -> None:
    _rewrite_manifest(saved, rating_scale=scale)
    with pytest.raises(ModelFileError, match=message):
        Recommender.load(saved)


def test_format_version_1_files_still_load(saved: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    expected = MatrixFactorization.load(saved).predict(["a", "b"], ["z", "y"])
    manifest = json.loads((saved / "model.json").read_text())
    del manifest["manifest_sha256"]
    manifest["format_version"] = 1
    (saved / "model.json").write_text(json.dumps(manifest))
    with caplog.at_level("WARNING"):
        old = MatrixFactorization.load(saved)
    assert "not checksummed" in caplog.text
    np.testing.assert_array_equal(old.predict(["a", "b"], ["z", "y"]), expected)
    (saved / "model.json").write_text(json.dumps({**manifest, "format_version": 2}))
    with pytest.raises(ModelFileError, match="corrupted or was edited"):  # v2 needs the sum
        Recommender.load(saved)


def _flip_inside(path: Path, member: str) -> None:
    """Flip one byte of an array's data (not of the zip's structure)."""
    with zipfile.ZipFile(path / "arrays.npz") as z:
        info = z.getinfo(f"{member}.npy")
    raw = bytearray((path / "arrays.npz").read_bytes())
    n, m = np.frombuffer(bytes(raw[info.header_offset + 26:info.header_offset + 30]), "<u2")
    start = info.header_offset + 30 + int(n) + int(m)
    raw[start + info.compress_size - 1] ^= 0xFF  # the last byte of the member's data
    (path / "arrays.npz").write_bytes(bytes(raw))


@pytest.mark.parametrize("mmap", [False, True])
def test_a_corrupted_array_is_refused_when_first_taken(saved: Path, mmap: bool) -> None:
    _flip_inside(saved, "model.item_factors")
    mf = open_model_dir(saved, mmap=mmap)  # opening reads only the zip's directory
    np.testing.assert_array_equal(mf.arrays["base.users"], ["a", "b", "c"])
    for _ in range(2):  # refused every time it is asked for, never handed out
        with pytest.raises(ModelFileError, match=r"'model\.item_factors' has sha256"):
            mf.arrays["model.item_factors"]
    with pytest.raises(ModelFileError, match="corrupted"):
        Recommender.load(saved)
    for read in (read_model_dir, verify_model_dir):  # these verify every array at once
        with pytest.raises(ModelFileError, match=r"model\.item_factors"):
            read(saved)


def test_opening_a_model_reads_no_array(saved: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Format 3: an array is read (and hashed) when taken, not when the model is opened."""
    from synerec.algorithms import _npz, persistence

    taken: list[str] = []
    real = _npz._member_digest
    monkeypatch.setattr(_npz, "_member_digest",
                        lambda f, member: taken.append(member.name) or real(f, member))
    mf = open_model_dir(saved)
    assert taken == []
    mf.arrays["base.items"]
    mf.arrays["base.items"]
    assert taken == ["base.items"]  # verified once, then kept
    monkeypatch.setattr(persistence, "sha256_file", lambda p: pytest.fail("whole file read"))
    MatrixFactorization.load(saved)


def test_verify_checks_the_whole_file(saved: Path) -> None:
    verify_model_dir(saved)
    _rewrite_manifest(saved, arrays_sha256="0" * 64)
    read_model_dir(saved)  # every member is intact: reading succeeds
    with pytest.raises(ModelFileError, match=r"arrays\.npz is corrupted: sha256"):
        verify_model_dir(saved)


def test_format_version_2_files_are_verified_whole_when_opened(saved: Path) -> None:
    expected = MatrixFactorization.load(saved).predict(["a", "b"], ["z", "y"])
    manifest = _manifest(saved)
    for spec in manifest["arrays"].values():
        del spec["sha256"]
    manifest["format_version"] = 2
    _rewrite_manifest(saved, **manifest)
    assert isinstance(open_model_dir(saved).arrays, dict)  # read whole when opened, as before
    np.testing.assert_array_equal(
        MatrixFactorization.load(saved).predict(["a", "b"], ["z", "y"]), expected)
    with memory_mapped():
        np.testing.assert_array_equal(
            MatrixFactorization.load(saved).predict(["a", "b"], ["z", "y"]), expected)
    _flip_inside(saved, "model.item_factors")
    with pytest.raises(ModelFileError, match=r"arrays\.npz is corrupted: sha256"):
        read_model_dir(saved)


def test_arrays_are_aligned_for_memory_mapping(saved: Path) -> None:
    with zipfile.ZipFile(saved / "arrays.npz") as z, open(saved / "arrays.npz", "rb") as f:
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            f.seek(info.header_offset + 26)
            n, m = np.frombuffer(f.read(4), "<u2")
            f.seek(info.header_offset + 30 + int(n) + int(m))
            np.lib.format.read_magic(f)
            np.lib.format.read_array_header_1_0(f)
            assert f.tell() % 64 == 0, info.filename


@pytest.mark.parametrize("name", ["popularity", "baseline", "item-cf", "user-cf", "mf"])
def test_memory_mapped_models_predict_and_rank_like_loaded_ones(
        tmp_path: Path, data: InteractionDataset, name: str) -> None:
    from synerec.algorithms import create_model

    path = create_model(name).fit(data).save(tmp_path / name)
    plain = Recommender.load(path)
    with memory_mapped():
        mapped = Recommender.load(path)
    users, items = ["a", "b", "c", "a"], ["x", "y", "z", "z"]
    np.testing.assert_array_equal(mapped.predict(users, items), plain.predict(users, items))
    for exclude in (True, False):
        a, b = mapped.recommend(["a", "c"], 2, exclude_seen=exclude), \
            plain.recommend(["a", "c"], 2, exclude_seen=exclude)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_array_equal(a[1], b[1])
    raw = read_model_dir(path, mmap=True)
    assert any(isinstance(a.base, np.memmap) for a in raw.arrays.values())
    before = sha256_file(path / "arrays.npz")
    for a in raw.arrays.values():  # copy-on-write: writing changes memory, never the file
        if a.size and a.dtype.kind in "fi":
            a.flat[0] = a.flat[0] + 1
    assert sha256_file(path / "arrays.npz") == before


def test_extra_files_round_trip_with_checksums(tmp_path: Path) -> None:
    arrays = {"a": np.arange(3)}
    write_model_dir(tmp_path / "m", class_name="x", config={}, arrays=arrays,
                    files={"ranker.txt": "tree\nversion=v4\n", "blob.bin": b"\x00\x01"})
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    assert manifest["files"]["ranker.txt"] == {
        "sha256": sha256_file(tmp_path / "m" / "ranker.txt"), "bytes": 16}
    back = read_model_dir(tmp_path / "m")
    assert back.files == {"ranker.txt": b"tree\nversion=v4\n", "blob.bin": b"\x00\x01"}
    (tmp_path / "m" / "blob.bin").write_bytes(b"\x00\x02")
    with pytest.raises(ModelFileError, match=r"blob\.bin is corrupted"):
        read_model_dir(tmp_path / "m")
    (tmp_path / "m" / "blob.bin").unlink()
    with pytest.raises(ModelFileError, match=r"blob\.bin is missing"):
        read_model_dir(tmp_path / "m")


@pytest.mark.parametrize("name", ["model.json", "arrays.npz", "../escape.txt", "a/b", "",
                                  ".hidden"])
def test_extra_file_names_are_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelFileError, match="not allowed"):
        write_model_dir(tmp_path / "m", class_name="x", config={}, arrays={},
                        files={name: b"x"})
    assert not (tmp_path / "m").exists()


def test_a_manifest_listing_an_escaping_file_is_refused(tmp_path: Path) -> None:
    write_model_dir(tmp_path / "m", class_name="x", config={}, arrays={"a": np.arange(2)},
                    files={"r.txt": "x"})
    path = tmp_path / "m" / "model.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {"../../etc/passwd": {"sha256": "0", "bytes": 1}}
    manifest["manifest_sha256"] = manifest_digest(manifest)  # checksummed: only the entry is bad
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="invalid extra file entry"):
        read_model_dir(tmp_path / "m")


def test_a_model_without_extra_files_refuses_them(tmp_path: Path,
                                                 data: InteractionDataset) -> None:
    saved = Popularity().fit(data).save(tmp_path / "pop")
    back = read_model_dir(saved)
    assert back.files == {}
    assert "files" not in json.loads((saved / "model.json").read_text())
    write_model_dir(saved, class_name="popularity", config=back.config, arrays=back.arrays,
                    rating_scale=back.rating_scale, files={"extra.txt": "?"})
    with pytest.raises(ModelFileError, match="stores no extra files"):
        Recommender.load(saved)
