"""Rules applied to ranked candidates: filters as masks, boosts, caps, and widening.

A :class:`Plan` is a rule set compiled against an :class:`~synerec.rules.table.AttributeTable`
(once per rule set and table version): the filters become one boolean mask, the boosts and
buries a factor ``F`` and an addition ``A`` per item, the caps each item's groups. Applying it
to a ranked window of candidates (:meth:`Plan.rerank`) is a few numpy gathers plus a loop over
the window only when there are caps.

:func:`select` asks a caller's ranking for the best ``m`` candidates (the model's own list,
through the shared top-k) and widens ``m`` (x4 each time, up to ``bound``) until ``n`` items
pass the rules, or every rankable item was seen (then the list is short because not enough
items pass), or ``bound`` is reached (short, said so). Boosts re-rank the candidates seen: a
boosted item outside the window is pulled in when the window covers it (with
:func:`rank_scores`, which sees the whole catalogue, always).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from synerec.rules.spec import Rules
from synerec.rules.table import AttributeTable
from synerec.topk import PAD_INDEX, topk

__all__ = ["Plan", "Selection", "compile_rules", "multiply", "rank_scores", "select"]


def multiply(scores: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``s * F`` for ``s >= 0``, ``s / F`` for ``s < 0``: a factor above 1 never lowers a score,
    one below 1 never raises one, and factors compose (``m(m(s, F), G) = m(s, F G)``)."""
    return np.where(scores >= 0, scores * factors, scores / factors)  # factors > 0


@dataclass(frozen=True)
class Plan:
    """A rule set compiled against one table (arrays of ``N + 1``: the last, no attributes)."""

    rules: Rules
    table: AttributeTable
    passes: np.ndarray
    factors: np.ndarray
    additions: np.ndarray
    caps: tuple[tuple[int, np.ndarray, tuple[tuple[int, ...], ...], int], ...]

    @property
    def boosts(self) -> bool:
        """Whether any boost or bury applies."""
        return bool(self.rules.boosts)

    def rerank(self, positions: np.ndarray, raw: np.ndarray, n: int,
               exclude: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """The rules on a ranked window: ``positions`` (table positions, best first) and
        their ``raw`` scores (``-inf``: no score, kept after the scored ones).

        Returns the chosen window indices (at most ``n``, in their new order) and their
        final scores. Ties keep the window's order.
        """
        pos = np.asarray(positions, dtype=np.int64)
        keep = self.passes[pos]
        ex = exclude if isinstance(exclude, tuple) else tuple(exclude)
        if ex:
            keep &= ~np.isin(pos, np.asarray(ex, dtype=np.int64))
        k = np.flatnonzero(keep)
        adj = np.asarray(raw, dtype=np.float64)[k]
        if self.rules.boosts:
            p = pos[k]
            adj = multiply(adj, self.factors[p]) + self.additions[p]
            order = np.argsort(-adj, kind="stable")  # k rises: ties keep the window's order
            k, adj = k[order], adj[order]
        if not self.caps:
            return k[:n], adj[:n]
        return self._capped(pos, k, adj, n)

    def _capped(self, pos: np.ndarray, k: np.ndarray, adj: np.ndarray, n: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """Greedy in the window's order: an item is taken while each of its groups is under
        its cap (plain Python over the window: a few dozen items)."""
        window = pos[k]
        caps = [(limit, per_code, codes[window].tolist(), [0] * groups)
                for limit, codes, per_code, groups in self.caps]
        chosen: list[int] = []
        for j in range(len(k)):
            full = False
            for limit, per_code, codes, counts in caps:
                for g in per_code[codes[j]]:
                    if counts[g] >= limit:
                        full = True
                        break
                if full:
                    break
            if full:
                continue
            for _, per_code, codes, counts in caps:
                for g in per_code[codes[j]]:
                    counts[g] += 1
            chosen.append(j)
            if len(chosen) == n:
                break
        sel = np.asarray(chosen, dtype=np.int64)
        return k[sel], adj[sel]


def compile_rules(rules: Rules, table: AttributeTable) -> Plan:
    """Compile ``rules`` against ``table`` (vectorised: a mask per condition)."""
    size = table.n + 1
    passes = np.ones(size, dtype=bool)
    for f in rules.filters:
        passes &= table.mask(f)
    factors = np.ones(size, dtype=np.float64)
    additions = np.zeros(size, dtype=np.float64)
    for b in rules.boosts:
        m = table.mask(b.where)
        if b.multiply is not None:
            factors[m] *= b.multiply
        else:
            assert b.add is not None
            additions[m] += b.add
    caps = []
    for c in rules.caps:
        got = table.groups(c.attr)
        if got is not None:
            groups = 1 + max((g for gs in got[1] for g in gs), default=0)
            caps.append((c.max, got[0], got[1], groups))
    return Plan(rules, table, passes, factors, additions, tuple(caps))


@dataclass
class Selection:
    """What :func:`select` chose: the window it kept (``payload``), the chosen indices into
    it with their final scores, and whether (and why) the list is short."""

    payload: Any
    chosen: np.ndarray
    scores: np.ndarray
    candidates: int
    short: bool
    reason: str | None

    def summary(self, placement: str | None = None) -> dict[str, Any]:
        """The ``rules`` object of a list response."""
        return {"placement": placement, "short": self.short, "reason": self.reason,
                "candidates": self.candidates}


Window = Callable[[int], tuple[np.ndarray, np.ndarray, Any]]


def select(window: Window, n: int, plan: Plan, *, start: int, bound: int,
           exclude: Iterable[int] = ()) -> Selection:
    """Widen the candidate window until ``n`` items pass ``plan`` (module docstring).

    ``window(m)`` returns the best ``m`` candidates as table positions, their scores
    (``-inf``: none) and a payload (what the caller needs to build its answer); fewer than
    ``m`` means there are no more.
    """
    ex = tuple(exclude)
    m = max(1, min(max(start, n), bound))
    while True:
        pos, raw, payload = window(m)
        chosen, scores = plan.rerank(pos, raw, n, ex)
        exhausted = len(pos) < m
        if len(chosen) >= n or exhausted or m >= bound:
            short = len(chosen) < n
            reason = None
            if short and exhausted:
                reason = (f"only {len(chosen)} of the {len(pos)} items the model may "
                          "recommend here pass the rules")
            elif short:
                reason = (f"{len(chosen)} of the best {m} candidates pass the rules (the "
                          f"most examined: {bound})")
            return Selection(payload, chosen, scores, len(pos), short, reason)
        m = min(bound, m * 4)


def rank_scores(scores: np.ndarray, n: int, plan: Plan, *,
                positions: np.ndarray | None = None,
                exclude: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray, Selection]:
    """Rank a score vector over the catalogue under ``plan``: the whole catalogue is the
    window (NaN / inf: not rankable), so boosts reach every item.

    ``positions[i]``: the table position of item ``i`` (default: ``i``). Returns the item
    indices, their final scores and the :class:`Selection`.
    """
    s = np.asarray(scores, dtype=np.float64)
    pos_of = np.arange(len(s)) if positions is None else np.asarray(positions)
    idx, sc = topk(s[None, :], len(s))
    valid = idx[0] != PAD_INDEX
    items = idx[0][valid]

    def window(m: int) -> tuple[np.ndarray, np.ndarray, Any]:
        return pos_of[items[:m]], sc[0][valid][:m].astype(np.float64), items[:m]

    # one more than there are: the window is seen to be exhausted
    sel = select(window, n, plan, start=len(s) + 1, bound=len(s) + 1, exclude=exclude)
    return np.asarray(sel.payload)[sel.chosen], sel.scores, sel

