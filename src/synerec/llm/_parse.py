"""The strict parser of a generated ranking: only candidate numbers count.

An instruction-tuned model is asked to answer with the numbers of the candidates, best first
(``3, 1, 7, ...``). Models answer in prose, JSON, numbered lists, with titles and years, with
repetitions or with numbers that are not on the list; this module turns any text into a valid
ordering of the candidates, or says that it could not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParsedRanking", "complete_ranking", "parse_ranking"]

# A whole number standing alone: not part of a word ("Se7en"), a decimal ("3.5"), a negative
# number ("-2") or a longer digit run. "1." at the end of a sentence and "1," are allowed.
_STANDALONE = re.compile(r"(?<![\w.\-])(\d+)(?![\w]|\.\d)")
# A number written as a label: "[3]", "(3)", "#3", "candidate 3", "item 3", "no. 3".
_LABELLED = re.compile(
    r"\[\s*(\d+)\s*\]|\(\s*(\d+)\s*\)|#\s*(\d+)\b|\b(?:candidate|item|option|number|no\.?)"
    r"\s*#?\s*(\d+)\b",
    re.IGNORECASE,
)
# A line-leading enumerator of a numbered list ("1. ", "2) ", "3 - "), removed when labels
# are present so that list positions are not mistaken for candidates.
_ENUMERATOR = re.compile(r"^\s*\d+\s*[.):-]\s+", re.MULTILINE)
_MAX_DIGITS = 6


@dataclass(frozen=True)
class ParsedRanking:
    """What a model's answer says about the order of ``n`` candidates.

    Attributes
    ----------
    order
        0-based candidate positions in the order the answer gives them: every entry is in
        ``0..n-1`` and appears once. May be shorter than ``n`` (a partial answer) or empty.
    n_duplicates
        Candidate numbers that were repeated (only the first mention counts).
    n_out_of_range
        Numbers that are not candidate numbers (``0``, ``n + 1``, a year, ...), dropped.
    """

    order: tuple[int, ...]
    n_duplicates: int
    n_out_of_range: int

    @property
    def ok(self) -> bool:
        """Whether the answer named at least one candidate (else it is unparseable)."""
        return len(self.order) > 0


def parse_ranking(text: str | None, n: int) -> ParsedRanking:
    """Read an ordering of candidates ``1..n`` (as numbered in the prompt) from model output.

    Parameters
    ----------
    text
        The model's answer; ``None`` and the empty string give an empty ordering.
    n
        Number of candidates.

    Returns
    -------
    ParsedRanking
        The candidates named, 0-based, first mention first; never a position outside
        ``0..n-1`` and never one twice.

    Notes
    -----
    When the answer labels candidates (``[3]``, ``(3)``, ``#3``, ``candidate 3``), only the
    labelled numbers count, so that the positions of a numbered list, years in titles and other
    numbers in prose are ignored. Otherwise every stand-alone whole number counts (a bare list
    such as ``3, 1, 2`` or a JSON array ``[3, 1, 2]``); numbers that are not candidate numbers
    are dropped and counted.

    Examples
    --------
    >>> parse_ranking("[2] Heat (1995)\\n[1] Fargo (1996)\\n[2] again", 3).order
    (1, 0)
    >>> parse_ranking('{"ranking": [3, 3, 9, 1]}', 3)
    ParsedRanking(order=(2, 0), n_duplicates=1, n_out_of_range=1)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not text:
        return ParsedRanking((), 0, 0)
    labelled = [next(g for g in m.groups() if g is not None)
                for m in _LABELLED.finditer(_ENUMERATOR.sub(" ", text))]
    numbers = labelled if labelled else _STANDALONE.findall(text)
    seen: set[int] = set()
    order: list[int] = []
    dup = out = 0
    for raw in numbers:
        value = int(raw) if len(raw) <= _MAX_DIGITS else -1
        if not 1 <= value <= n:
            out += 1
        elif value - 1 in seen:
            dup += 1
        else:
            seen.add(value - 1)
            order.append(value - 1)
    return ParsedRanking(tuple(order), dup, out)


def complete_ranking(order: tuple[int, ...] | list[int], n: int) -> list[int]:
    """``order`` followed by the candidates it misses, in the retriever's order (``0..n-1``).

    ``order`` must hold distinct positions in ``0..n-1`` (as :func:`parse_ranking` returns).
    """
    given = set(order)
    return list(order) + [i for i in range(n) if i not in given]
