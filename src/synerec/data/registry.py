"""The named data sets that ``load_dataset`` and ``synerec datasets`` know."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synerec._config import data_home as _data_home
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError, DatasetNotFoundError

__all__ = ["DatasetInfo", "dataset_info", "describe_source", "list_datasets", "load_dataset",
           "load_source", "register_dataset", "register_dataset_family"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    """How to find, fetch and read one named data set.

    Attributes
    ----------
    name
        The name users type (``ml-100k``); also the folder name in the data home.
    description
        One line for listings.
    files
        The publisher's file names that must be in the folder for the data set to be present.
    loader
        ``loader(folder, **options) -> InteractionDataset``.
    download
        ``download(folder)`` fetching the files from the publisher with checksums, or ``None``
        when the data set is generated (``demo-shop``) or cannot be downloaded.
    source
        The publisher's page.
    builtin
        Generated locally, needs no files.
    folder_name
        The folder in the data home when it is not ``name`` (several data sets of a family
        sharing one folder, as ``amazon-2014-sequences``).
    """

    name: str
    description: str
    files: tuple[str, ...]
    loader: Callable[..., InteractionDataset]
    download: Callable[[Path], None] | None = None
    source: str = ""
    builtin: bool = False
    optional_files: tuple[str, ...] = field(default_factory=tuple)
    folder_name: str | None = None

    def folder(self, home: str | Path | None = None) -> Path:
        """This data set's folder inside the data home."""
        return _data_home(home) / (self.folder_name or self.name)

    def is_present(self, home: str | Path | None = None) -> bool:
        """Whether the required files are in the data home (always true for built-ins)."""
        if self.builtin:
            return True
        folder = self.folder(home)
        return all((folder / f).is_file() for f in self.files)


_REGISTRY: dict[str, DatasetInfo] = {}
_FAMILIES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], DatasetInfo], str]] = []
#: Per family, a function listing the names present in a data home (for families whose
#: folders are not named after their data sets).
_SCANNERS: list[Callable[[Path], list[str]]] = []


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add a named data set to the registry (replacing one of the same name)."""
    _REGISTRY[info.name] = info
    return info


def register_dataset_family(pattern: str, make: Callable[[re.Match[str]], DatasetInfo],
                            example: str,
                            scan: Callable[[Path], list[str]] | None = None) -> None:
    """Register a family of names (``amazon-2018-<category>``) resolved by a regular expression.

    ``scan(data_home)`` lists the family's names present there, when its folders are not named
    after its data sets (by default a folder named like a family member is one).
    """
    _FAMILIES.append((re.compile(pattern), make, example))
    if scan is not None:
        _SCANNERS.append(scan)


_LOADER_MODULES = ("amazon", "amazon_seq", "demo_shop", "movielens", "retail")


def _ensure_builtin_loaders() -> None:
    # Importing the loader modules registers their data sets.
    import importlib

    for mod in _LOADER_MODULES:
        importlib.import_module(f"synerec.data.{mod}")


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    _ensure_builtin_loaders()
    if name in _REGISTRY:
        return _REGISTRY[name]
    for pattern, make, _ in _FAMILIES:
        m = pattern.fullmatch(name)
        if m:
            return make(m)
    known = ", ".join([*sorted(_REGISTRY), *(ex for _, _, ex in _FAMILIES)])
    raise DatasetNotFoundError(f"unknown data set {name!r}; known: {known}")


def list_datasets(home: str | Path | None = None) -> list[tuple[DatasetInfo, bool]]:
    """Every registered data set, and for families those present in the data home, with presence."""
    _ensure_builtin_loaders()
    infos = dict(_REGISTRY)
    root = _data_home(home)
    if root.is_dir():
        for scan in _SCANNERS:
            for name in scan(root):
                infos.setdefault(name, dataset_info(name))
        for sub in sorted(p.name for p in root.iterdir() if p.is_dir()):
            if sub in infos:
                continue
            for pattern, make, _ in _FAMILIES:
                m = pattern.fullmatch(sub)
                if m:
                    try:
                        infos[sub] = make(m)
                    except DatasetNotFoundError:
                        pass
    return [(info, info.is_present(home)) for info in sorted(infos.values(), key=lambda i: i.name)]


def load_dataset(name: str, *, data_home: str | Path | None = None, download: bool = True,
                 **options: Any) -> InteractionDataset:
    """Load a named data set from the data home, downloading it first when missing.

    Parameters
    ----------
    name
        A name from :func:`list_datasets` (``ml-100k``, ``ml-latest-small``,
        ``amazon-2018-<category>``, ``uci-online-retail``, ``demo-shop``) or a path to an
        interaction file.
    data_home
        Override ``$SYNEREC_DATA_HOME`` / ``~/.cache/synerec``.
    download
        Fetch missing files from the publisher (with checksum) instead of raising.
    **options
        Passed to the data set's loader.

    Raises
    ------
    DatasetNotFoundError
        Unknown name, or files missing and not downloadable; the message says where to put them.
    """
    path = Path(name)
    if name not in _REGISTRY and (path.suffix or "/" in name or os.sep in name):
        if not path.exists():
            raise DatasetNotFoundError(f"no data set file {name!r} (and no data set of that "
                                       "name; see `synerec datasets`)")
        from synerec.data.config import DatasetConfig, read_config_file

        if path.suffix.lower() == ".toml":
            if options:
                raise ConfigError(f"{name} is a data-set config file: put the reading options "
                                  f"in it, not in load_dataset ({', '.join(options)})")
            return read_config_file(path).load()
        from synerec.data.options import renamed_keywords
        from synerec.data.readers import read_interactions

        options = renamed_keywords(dict(options), stacklevel=2)  # warn the caller
        data = read_interactions(path, **options)
        try:
            config = DatasetConfig.from_reader_options(path, **options)
        except (ConfigError, TypeError, ValueError):
            config = None  # options a file cannot hold (a catalogue DataFrame): not re-readable
        if config is not None:
            data.source = {"config": config.model_dump(mode="json")}
        return data
    info = dataset_info(name)
    folder = info.folder(data_home)
    if not info.is_present(data_home):
        missing = [f for f in info.files if not (folder / f).is_file()]
        if not download or info.download is None:
            raise DatasetNotFoundError(
                f"data set {name!r} is missing {', '.join(missing)} in {folder}; download it from "
                f"{info.source or 'its publisher'} into that folder"
                + ("" if download else " or allow downloading"))
        log.info("data set %s is missing %s in %s: downloading", name, missing, folder)
        try:
            info.download(folder)
        except DatasetNotFoundError as exc:
            raise DatasetNotFoundError(
                f"data set {name!r} is missing {', '.join(missing)} in {folder} and the download "
                f"failed: {exc}. Put the publisher's files there ({info.source}) or set "
                "SYNEREC_DATA_HOME to a folder that has them") from exc
    data = info.loader(folder, **options)
    if data.source is None:
        source: dict[str, Any] = {"name": info.name}
        if options:
            source["options"] = options
        if data_home is not None:
            source["data_home"] = str(Path(data_home).resolve())
        try:
            json.dumps(source, allow_nan=False)
        except (TypeError, ValueError):
            pass  # options that are not plain values: the data set cannot be named again
        else:
            data.source = source
    return data


def load_source(source: Mapping[str, Any], *, download: bool = True) -> InteractionDataset:
    """Read a data set again from its :attr:`~synerec.data.InteractionDataset.source` (as a
    saved model keeps it).

    Raises
    ------
    DatasetNotFoundError
        The data set or its file is not there any more; the message says what was read then.
    ConfigError
        A source this version of synerec cannot read.
    """
    if "config" in source:
        from synerec.data.config import DatasetConfig

        try:
            config = DatasetConfig.from_saved(source["config"])
        except Exception as exc:  # pydantic's ValidationError: an unreadable source
            raise ConfigError(f"cannot read the data source {dict(source)!r}: {exc}") from None
        if not Path(config.path).exists():
            raise DatasetNotFoundError(f"the data file {config.path} is not there any more; "
                                       "pass --dataset to name where it is now")
        return config.load()
    if "name" in source:
        return load_dataset(str(source["name"]), data_home=source.get("data_home"),
                            download=download, **dict(source.get("options") or {}))
    raise ConfigError(f"cannot read the data source {dict(source)!r}")


def describe_source(source: Mapping[str, Any] | None) -> str:
    """A data source in words: the data set's name, or its file (for messages)."""
    if not source:
        return "(unknown)"
    if "config" in source:
        return str(source["config"].get("path"))
    return str(source.get("name"))
