"""Amazon 2014 next-item sequences (``amazon-2014-<name>-seq``), as sequential papers use them.

The widely used preprocessed files of S3-Rec, ICLRec and later work (Beauty,
Sports_and_Outdoors, ...): one line per user, ``user_id item_1 item_2 ...``, the items in time
order, 5-core, no text, no ratings, no timestamps. They live together in one folder of the data
home, ``amazon-2014-sequences/``; the data set ``amazon-2014-<name>-seq`` is the ``.txt`` file
there whose stem starts with ``<name>`` (case-insensitive, ``-`` read as ``_``):
``amazon-2014-beauty-seq`` is ``Beauty.txt``, ``amazon-2014-sports-seq`` is
``Sports_and_Outdoors.txt``, and any other category file in the same format dropped there works
too. The files' licence forbids redistribution; nothing is downloaded (PROVENANCE.md in that
folder says where they come from).

The interactions are implicit (weight 1). The order is kept as the time: the ``k``-th item of a
user's line gets timestamp ``k`` (seconds from 0), so the temporal splits and the sequential
models see each user's order; the standard protocol is leave-one-out with every item ranked
(``--folds leave-one-out``: each user's last item is the test target).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from synerec.data.dataset import InteractionDataset
from synerec.data.registry import DatasetInfo, register_dataset_family
from synerec.exceptions import DataFormatError, DatasetNotFoundError

__all__ = ["FOLDER", "load_amazon_2014_sequences", "sequence_file"]

#: The folder of the data home holding every category's file.
FOLDER = "amazon-2014-sequences"
SOURCE = ("http://jmcauley.ucsd.edu/data/amazon/ (preprocessed by S3-Rec / ICLRec; see "
          f"{FOLDER}/PROVENANCE.md)")
_PATTERN = r"amazon-2014-([a-z0-9]+(?:[-_][a-z0-9]+)*)-seq"


def _slug(stem: str) -> str:
    return stem.lower().replace("_", "-")


def sequence_file(folder: Path, name: str) -> Path:
    """The file of ``folder`` whose stem starts with ``name`` (case-insensitive).

    Raises
    ------
    DatasetNotFoundError
        No such file, or several (the message lists what is there).
    """
    files = sorted(p for p in folder.glob("*.txt") if p.is_file()) if folder.is_dir() else []
    want = _slug(name)
    hits = [p for p in files if _slug(p.stem).startswith(want)]
    exact = [p for p in hits if _slug(p.stem) == want]
    if len(exact) == 1:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    there = ", ".join(p.name for p in files) or "no .txt file"
    if not hits:
        raise DatasetNotFoundError(
            f"no sequence file for {name!r} in {folder} (there: {there}); put the preprocessed "
            f"'<Category>.txt' files there (see {SOURCE})")
    raise DatasetNotFoundError(f"{name!r} matches several sequence files in {folder}: "
                               f"{', '.join(p.name for p in hits)}; give more of the name")


def load_amazon_2014_sequences(folder: str | Path, *, name: str) -> InteractionDataset:
    """Read one category's sequence file into an implicit data set (order as the time).

    Parameters
    ----------
    folder
        The ``amazon-2014-sequences`` folder.
    name
        The category's name or the start of it (``beauty``, ``sports``).

    Raises
    ------
    DatasetNotFoundError
        No matching file.
    DataFormatError
        A line that is not ``user item item ...`` of integer ids (file and line named), or an
        item twice in one user's line.
    """
    path = sequence_file(Path(folder), name)
    users: list[str] = []
    lengths: list[int] = []
    items: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            bad = next((p for p in parts if not p.isdigit()), None)
            if bad is not None or len(parts) < 2:
                what = f"{bad!r} is not an integer id" if bad is not None else "no item"
                raise DataFormatError(f"{path}, line {line_no}: {what} (expected 'user_id item "
                                      "item ...')")
            seq = parts[1:]
            if len(set(seq)) != len(seq):
                dup = next(p for p in seq if seq.count(p) > 1)
                raise DataFormatError(f"{path}, line {line_no}: item {dup} appears twice in user "
                                      f"{parts[0]}'s sequence")
            users.append(parts[0])
            lengths.append(len(seq))
            items.extend(seq)
    counts = np.asarray(lengths, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    df = pd.DataFrame({
        "user_id": np.repeat(np.asarray(users, dtype=np.int64), counts),
        "item_id": np.asarray(items, dtype=np.int64),
        "timestamp": (np.arange(counts.sum(), dtype=np.int64) - starts).astype(np.float64),
    })
    slug = _slug(path.stem)
    return InteractionDataset.from_dataframe(df, name=f"amazon-2014-{slug}-seq", implicit=True,
                                             rating_col=None)


def _make_info(m: re.Match[str]) -> DatasetInfo:
    name = m.group(1)
    return DatasetInfo(
        name=f"amazon-2014-{name}-seq",
        description=f"Amazon 2014 {name.replace('-', ' ')} as item sequences in time order "
                    "(next-item benchmark, leave-one-out)",
        files=(),
        loader=partial(load_amazon_2014_sequences, name=name),
        source=SOURCE,
        folder_name=FOLDER,
    )


def _present(home: Path) -> list[str]:
    folder = home / FOLDER
    if not folder.is_dir():
        return []
    return [f"amazon-2014-{_slug(p.stem)}-seq" for p in sorted(folder.glob("*.txt"))
            if re.fullmatch(_PATTERN, f"amazon-2014-{_slug(p.stem)}-seq")]


register_dataset_family(_PATTERN, _make_info,
                        "amazon-2014-<name>-seq (e.g. amazon-2014-beauty-seq)", scan=_present)
