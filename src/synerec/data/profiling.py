"""What a data set holds, and whether it can give personal recommendations.

:func:`profile` reads an :class:`~synerec.data.InteractionDataset` once and answers the questions
a shop asks before trusting a model: how many customers came back, how many products nobody
bought, how many have no name or category, over what time; and it turns the answers into
warnings a shop can act on, each a sentence with its numbers:

- ``one-per-order``: the user ids look like one id per order (almost every user has a single
  order, while the items recur across users): the export's per-order customer id was read
  instead of the person's;
- ``few-repeat-users``: too few users with a second interaction for personal lists (or for
  figures that are not noise);
- ``cold-split``: a random split will be mostly cold (its test users have no training
  interaction, so every model serves them the popular list);
- ``items-without-text``: many items without a title or a category (text models and
  explanations need them).

:func:`cold_share` and :func:`split_profile` say the same of a split made (a train and a test
set), so that ``evaluate`` can print it beside its figures. :func:`format_profile` renders a
profile as text, :meth:`DataProfile.to_dict` as JSON.

Each threshold is declared once below, with its reason.

The names are re-exported from :mod:`synerec.data` (``synerec.data.profile(data)``); the
module is not called ``profile`` so that the function does not hide it.

Examples
--------
>>> from synerec.data import format_profile, load_dataset, profile
>>> print(format_profile(profile(load_dataset("ml-100k"))))  # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from synerec.data.dataset import InteractionDataset

__all__ = ["COLD_SPLIT_SHARE", "FEW_REPEAT_SHARE", "FEW_REPEAT_USERS", "MIN_USERS_FOR_SHARES",
           "MISSING_TEXT_SHARE", "ONE_PER_ORDER_SHARE", "RANDOM_SPLIT_FOLDS",
           "RECURRING_ITEMS_SHARE", "DataProfile", "ProfileWarning", "SplitProfile",
           "cold_share", "format_profile", "profile", "split_profile"]

# -- thresholds (each declared once, with its reason) -------------------------------------------
#: Share of users with a single order (one distinct time) from which user ids look like one id
#: per order. Per-order ids give 100% (each id is one order, so one time); a real shop's
#: customers stay below, even a marketplace where 96% of persons bought once (the multi-table
#: fixture, as the Olist export it imitates), so that a person-level id never trips it.
ONE_PER_ORDER_SHARE = 0.99
#: Share of interactions on items that two or more users chose, from which items "recur across
#: users": with per-order ids, the items still recur (many orders buy the same products), which
#: tells the ids apart from a log where nothing repeats at all.
RECURRING_ITEMS_SHARE = 0.25
#: Fewer users than this, and a share says little (the one-per-order verdict is not given).
MIN_USERS_FOR_SHARES = 100
#: Below this share of users with a second interaction, most users can only be shown popular
#: or similar items: a personal list needs something of the user's to start from, and a held-out
#: test needs one interaction to learn from and one to test on.
FEW_REPEAT_SHARE = 0.20
#: Fewer users with a second interaction than this, and a test on them is noise: with under 50
#: test users, one or two hits move NDCG by more than the models differ.
FEW_REPEAT_USERS = 50
#: A split whose test users are at least this share cold (no training interaction) measures the
#: popular list more than the models: every model serves a cold user the same fallback.
COLD_SPLIT_SHARE = 0.5
#: The random split the profile's verdict is about: ``evaluate``'s default of 5 folds.
RANDOM_SPLIT_FOLDS = 5
#: From this share of items without a title (or without a category), text models (t-item-cf,
#: text) and explanations lose too much to be trusted: one item in five known only by its id.
MISSING_TEXT_SHARE = 0.20


@dataclass(frozen=True)
class ProfileWarning:
    """One verdict: a ``code`` (``one-per-order``, ``few-repeat-users``, ``cold-split``,
    ``items-without-text``) and a sentence with the numbers and what to do."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class DataProfile:
    """What a data set holds (see :func:`profile`).

    Attributes
    ----------
    name
        The data set's name.
    users
        Users with at least one interaction.
    items
        Items of the catalogue (the item vocabulary: those with interactions and, with a
        catalogue, those without).
    interactions
        Interactions (repeated pairs merged as the reading's duplicates policy says).
    feedback
        ``"explicit"`` (ratings on :attr:`rating_scale`) or ``"implicit"``.
    rating_scale
        ``(low, high)`` of explicit ratings, ``None`` for implicit feedback.
    repeat_users
        Users with more than one interaction.
    one_interaction_users
        Users with exactly one interaction.
    repeat_order_users, single_order_users
        With timestamps: users with more than one distinct time (a second order or visit), and
        with exactly one; ``None`` without timestamps.
    items_never_interacted
        Catalogue items nobody interacted with.
    items_without_title, items_without_category
        Items whose title (category) is empty.
    first_time, last_time
        Unix seconds of the first and last interaction; ``None`` without timestamps.
    recurring_items_share
        Share of interactions on items that two or more users chose.
    cold_share_random_split
        The expected share of test users without a training interaction in a random
        :data:`RANDOM_SPLIT_FOLDS`-fold split of the interactions.
    warnings
        The verdicts.
    """

    name: str
    users: int
    items: int
    interactions: int
    feedback: str
    rating_scale: tuple[float, float] | None
    repeat_users: int
    one_interaction_users: int
    repeat_order_users: int | None
    single_order_users: int | None
    items_never_interacted: int
    items_without_title: int
    items_without_category: int
    first_time: int | None
    last_time: int | None
    recurring_items_share: float
    cold_share_random_split: float
    warnings: tuple[ProfileWarning, ...] = field(default=())

    @property
    def repeat_share(self) -> float:
        """Share of users with more than one interaction."""
        return _share(self.repeat_users, self.users)

    @property
    def one_interaction_share(self) -> float:
        """Share of users with exactly one interaction."""
        return _share(self.one_interaction_users, self.users)

    @property
    def single_order_share(self) -> float | None:
        """Share of users with a single distinct time (``None`` without timestamps)."""
        if self.single_order_users is None:
            return None
        return _share(self.single_order_users, self.users)

    @property
    def warning_codes(self) -> tuple[str, ...]:
        """The codes of :attr:`warnings`."""
        return tuple(w.code for w in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: every count, the shares, the time span (unix seconds and ISO
        dates) and the warnings."""
        return {
            "name": self.name, "users": self.users, "items": self.items,
            "interactions": self.interactions, "feedback": self.feedback,
            "rating_scale": list(self.rating_scale) if self.rating_scale else None,
            "repeat_users": self.repeat_users, "repeat_share": self.repeat_share,
            "one_interaction_users": self.one_interaction_users,
            "one_interaction_share": self.one_interaction_share,
            "repeat_order_users": self.repeat_order_users,
            "single_order_users": self.single_order_users,
            "single_order_share": self.single_order_share,
            "items_never_interacted": self.items_never_interacted,
            "items_without_title": self.items_without_title,
            "items_without_category": self.items_without_category,
            "first_time": self.first_time, "last_time": self.last_time,
            "first_date": _date(self.first_time), "last_date": _date(self.last_time),
            "recurring_items_share": self.recurring_items_share,
            "random_split_folds": RANDOM_SPLIT_FOLDS,
            "cold_share_random_split": self.cold_share_random_split,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def profile(data: InteractionDataset) -> DataProfile:
    """Profile a data set and give its verdicts (see the module docstring).

    Parameters
    ----------
    data
        The data set (a training part of a split too: users without interactions in it are
        not counted).

    Returns
    -------
    DataProfile
        The counts and the warnings, in the order of the module docstring.
    """
    n = data.n_interactions
    per_user = np.bincount(data.user_index, minlength=data.n_users)
    per_item = np.bincount(data.item_index, minlength=data.n_items)
    active = per_user[per_user > 0]
    single_orders = repeat_orders = None
    first = last = None
    if data.timestamps is not None and n:
        orders = _distinct_times_per_user(data)[per_user > 0]
        single_orders = int((orders == 1).sum())
        repeat_orders = int((orders > 1).sum())
        first, last = int(data.timestamps.min()), int(data.timestamps.max())
    info = data.item_info
    no_title = _empty_cells(info, "title", data.n_items)
    no_category = _empty_cells(info, "category", data.n_items)
    recurring = _share(int((per_item[data.item_index] >= 2).sum()), n)
    out = DataProfile(
        name=data.name, users=len(active), items=data.n_items, interactions=n,
        feedback="implicit" if data.implicit else "explicit",
        rating_scale=data.rating_scale, repeat_users=int((active > 1).sum()),
        one_interaction_users=int((active == 1).sum()),
        repeat_order_users=repeat_orders, single_order_users=single_orders,
        items_never_interacted=int((per_item == 0).sum()), items_without_title=no_title,
        items_without_category=no_category, first_time=first, last_time=last,
        recurring_items_share=recurring,
        cold_share_random_split=_random_split_cold_share(active, RANDOM_SPLIT_FOLDS))
    warnings = [w for w in (_one_per_order(out), _few_repeat_users(out),
                            _cold_random_split(out), _items_without_text(out))
                if w is not None]
    return replace(out, warnings=tuple(warnings))


# -- the verdicts -------------------------------------------------------------------------------
def _one_per_order(p: DataProfile) -> ProfileWarning | None:
    share = p.single_order_share
    if share is None or p.users < MIN_USERS_FOR_SHARES or share < ONE_PER_ORDER_SHARE \
            or p.recurring_items_share < RECURRING_ITEMS_SHARE:
        return None
    return ProfileWarning("one-per-order", (
        f"user ids look like one id per order: {p.users:,} users, {_pct(share)} with a single "
        f"order (one time each), while {_pct(p.recurring_items_share)} of the interactions are "
        "on items that several users chose; join the customers table to get the person's id "
        "(in a data-set config, user_col names the customers table's person-level id)"))


def _few_repeat_users(p: DataProfile) -> ProfileWarning | None:
    if p.users == 0 or (p.repeat_share >= FEW_REPEAT_SHARE
                        and p.repeat_users >= FEW_REPEAT_USERS):
        return None
    orders = ""
    if p.repeat_order_users is not None:
        orders = (f" ({p.repeat_order_users:,}, {_pct(_share(p.repeat_order_users, p.users))},"
                  " a second order)")
    why = []
    if p.repeat_share < FEW_REPEAT_SHARE:
        why.append(f"the other {_pct(p.one_interaction_share)} can only be shown popular or "
                   "similar items")
    if p.repeat_users < FEW_REPEAT_USERS:
        why.append(f"with fewer than {FEW_REPEAT_USERS} such users, a test on them is noise")
    return ProfileWarning("few-repeat-users", (
        f"too few repeat users for personal lists: {p.repeat_users:,} of {p.users:,} users "
        f"({_pct(p.repeat_share)}) have a second interaction{orders}; {'; '.join(why)}; a "
        "split that holds out each user's last interaction tests only these users"))


def _cold_random_split(p: DataProfile) -> ProfileWarning | None:
    if p.users == 0 or p.cold_share_random_split < COLD_SPLIT_SHARE:
        return None
    return ProfileWarning("cold-split", (
        f"a random split will be mostly cold: {_about(p.cold_share_random_split)} of its "
        f"test users would have no training interaction ({RANDOM_SPLIT_FOLDS} folds), and every "
        "model serves them the popular list, so the models tie with popularity; split by time "
        "per user (temporal, last-1) and read how many users it tests"))


def _items_without_text(p: DataProfile) -> ProfileWarning | None:
    if p.items == 0:
        return None
    missing, needs = [], []
    for n, what, need in ((p.items_without_title, "title",
                           "text models (t-item-cf, text) need titles"),
                          (p.items_without_category, "category",
                           "category signals and explanations need categories")):
        if _share(n, p.items) >= MISSING_TEXT_SHARE:
            missing.append(f"{n:,} of {p.items:,} items ({_pct(_share(n, p.items))}) have no "
                           f"{what}")
            needs.append(need)
    if not missing:
        return None
    if p.items_without_title == p.items_without_category == p.items:
        head = f"no item has a title or a category ({p.items:,} items known by id only)"
    else:
        head = "many items without text: " + " and ".join(missing)
    return ProfileWarning("items-without-text", (
        f"{head}; {' and '.join(needs)}: name the columns (title_col, category_col) or give a "
        "catalogue (items)"))


# -- a split made -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitProfile:
    """A split's test users and how many of them are cold (no training interaction)."""

    test_users: int
    cold_users: int
    warnings: tuple[ProfileWarning, ...] = ()

    @property
    def cold_share(self) -> float:
        """Share of test users without a training interaction (0 without test users)."""
        return _share(self.cold_users, self.test_users)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"test_users": self.test_users, "cold_users": self.cold_users,
                "cold_share": self.cold_share, "warnings": [w.to_dict() for w in self.warnings]}


def split_profile(train: InteractionDataset, test: InteractionDataset) -> SplitProfile:
    """The test users of a split, the cold ones among them, and the ``cold-split`` verdict
    (at least :data:`COLD_SPLIT_SHARE` of them cold).

    Parameters
    ----------
    train, test
        The two parts (of :func:`~synerec.data.kfold_split` and the others, or any two data
        sets: users are matched by id when the vocabularies differ).
    """
    test_users = np.unique(test.user_index)
    if train.users is test.users:
        known = np.bincount(train.user_index, minlength=test.n_users)[test_users] > 0
    else:
        trained = set(train.users.ids_of(np.unique(train.user_index)).tolist())
        known = np.asarray([u in trained for u in test.users.ids_of(test_users).tolist()],
                           dtype=bool)
    n_test, n_cold = len(test_users), int((~known).sum())
    split = SplitProfile(test_users=n_test, cold_users=n_cold)
    if n_test and split.cold_share >= COLD_SPLIT_SHARE:
        warning = ProfileWarning("cold-split", (
            f"the split is mostly cold: {n_cold:,} of {n_test:,} test users "
            f"({_pct(split.cold_share)}) have no training interaction; every model serves them "
            f"the popular list, so the models differ only on the other {n_test - n_cold:,}"))
        split = SplitProfile(test_users=n_test, cold_users=n_cold, warnings=(warning,))
    return split


def cold_share(train: InteractionDataset, test: InteractionDataset) -> float:
    """Share of the test users of a split with no training interaction (0 without test
    users); see :func:`split_profile`."""
    return split_profile(train, test).cold_share


# -- text ---------------------------------------------------------------------------------------
def format_profile(p: DataProfile, width: int = 80) -> str:
    """The profile as lines of text no wider than ``width`` (the warnings wrapped, each
    starting with ``!``)."""
    head = (f"{p.name}: {p.users:,} users, {p.items:,} items, {p.interactions:,} interactions "
            f"({_feedback(p)})")
    rows: list[tuple[str, str]] = []
    repeat = f"{p.repeat_users:,} ({_pct(p.repeat_share)}) with a second interaction"
    if p.repeat_order_users is not None:
        repeat += (f", {p.repeat_order_users:,} ({_pct(_share(p.repeat_order_users, p.users))})"
                   " with a second order (time)")
    rows.append(("repeat users", repeat))
    rows.append(("one interaction", f"{p.one_interaction_users:,} users "
                                    f"({_pct(p.one_interaction_share)})"))
    if p.single_order_users is not None:
        rows.append(("one order (time)", f"{p.single_order_users:,} users "
                                         f"({_pct(p.single_order_share or 0.0)})"))
    rows.append(("never interacted", f"{p.items_never_interacted:,} of {p.items:,} items "
                                     f"({_pct(_share(p.items_never_interacted, p.items))})"))
    rows.append(("without title", f"{p.items_without_title:,} items "
                                  f"({_pct(_share(p.items_without_title, p.items))})"))
    rows.append(("without category", f"{p.items_without_category:,} items "
                                     f"({_pct(_share(p.items_without_category, p.items))})"))
    if p.first_time is not None and p.last_time is not None:
        days = (p.last_time - p.first_time) / 86400
        rows.append(("time span", f"{_date(p.first_time)} .. {_date(p.last_time)} "
                                  f"({days:,.0f} days)"))
    rows.append((f"random {RANDOM_SPLIT_FOLDS}-fold split",
                 f"{_about(p.cold_share_random_split)} of test users cold"))
    label = max(len(k) for k, _ in rows)
    lines = textwrap.wrap(head, width, subsequent_indent="  ")
    for key, value in rows:
        lines += textwrap.wrap(f"  {key:<{label}}  {value}", width,
                               subsequent_indent=" " * (label + 4))
    if p.warnings:
        lines.append("warnings:")
        for w in p.warnings:
            lines += textwrap.wrap(w.message, width, initial_indent="  ! ",
                                   subsequent_indent="    ")
    else:
        lines.append("no warnings")
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------------
def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(x: float) -> str:
    """A share as a percentage that never rounds to 0% or 100% unless it is."""
    text = f"{x:.0%}"
    if (text == "100%" and x < 1.0) or (text == "0%" and x > 0.0):
        text = f"{x:.1%}"
        if text in ("100.0%", "0.0%"):
            text = "99.9%" if x < 1.0 and text == "100.0%" else "<0.1%"
    return text


def _about(x: float) -> str:
    text = _pct(x)
    return text if text.startswith("<") else "about " + text


def _date(t: int | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d")


def _feedback(p: DataProfile) -> str:
    if p.rating_scale is None:
        return "implicit feedback"
    return f"ratings {p.rating_scale[0]:g}..{p.rating_scale[1]:g}"


def _empty_cells(info: Any, column: str, n: int) -> int:
    if info is None or column not in info.columns:
        return n
    cells = info[column].fillna("").astype(str).str.strip()
    return int((cells == "").sum())


def _distinct_times_per_user(data: InteractionDataset) -> np.ndarray:
    """Each user's number of distinct interaction times (orders, visits)."""
    assert data.timestamps is not None
    u, t = data.user_index, data.timestamps
    order = np.lexsort((t, u))
    us, ts = u[order], t[order]
    new = np.ones(len(us), dtype=bool)
    new[1:] = (us[1:] != us[:-1]) | (ts[1:] != ts[:-1])
    return np.bincount(us[new], minlength=data.n_users)


def _random_split_cold_share(per_user: np.ndarray, k: int) -> float:
    """The expected share of cold test users when each interaction goes to the test fold
    with probability ``1/k``: a user with ``n`` interactions is tested with probability
    ``1 - (1 - 1/k)^n`` and cold (all of them in the test) with probability ``(1/k)^n``."""
    if per_user.size == 0:
        return 0.0
    n = per_user.astype(np.float64)
    tested = 1.0 - (1.0 - 1.0 / k) ** n
    cold = (1.0 / k) ** n
    return float(cold.sum() / tested.sum())
