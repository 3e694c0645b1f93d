"""The paper's recommend-or-not decision by method name, on the two neighbourhood models.

:func:`recommend_item` and :class:`PaperCF` take a method name (``"user_cosine"``,
``"user_pearson"``, ``"item_cosine"``, ``"item_adjusted_cosine"``: eq. 3 with cosine or
Pearson similarity, eq. 4 with cosine or adjusted cosine) and decide with the paper's threshold
rule (:mod:`synerec.algorithms.decision`); ``PaperCF(data, k=3, **PLAIN_FORMULAS)`` runs the
paper's plain formulas (docs/notation.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from synerec.algorithms.base import Decision
from synerec.algorithms.knn import ItemKNN, UserKNN, _NeighborhoodModel
from synerec.data.dataset import InteractionDataset
from synerec.exceptions import ConfigError

__all__ = ["PAPER_METHODS", "PLAIN_FORMULAS", "PaperCF", "recommend_item"]


# -- the paper's decision by method name ---------------------------------------------------------

#: Method name -> (model class, similarity).
PAPER_METHODS: dict[str, tuple[type[_NeighborhoodModel], str]] = {
    "user_cosine": (UserKNN, "cosine"),
    "user_pearson": (UserKNN, "pearson"),
    "item_cosine": (ItemKNN, "cosine"),
    "item_adjusted_cosine": (ItemKNN, "adjusted_cosine"),
}

#: The options that turn the tuned models into the paper's plain formulas: no significance
#: weighting (``min_support=1``), no shrinkage, and eq. 4 as printed (``center=False``, item
#: methods only). The readings of the paper's ambiguous points (``norms``, ``neighbor_mean``,
#: ``denominator``, the threshold) are separate options; docs/notation.md works through them.
PLAIN_FORMULAS: Mapping[str, Any] = MappingProxyType(
    {"min_support": 1, "shrinkage": 0.0, "center": False})

Method = Literal["user_cosine", "user_pearson", "item_cosine", "item_adjusted_cosine"]


def _method_class(method: str) -> tuple[type[_NeighborhoodModel], str]:
    try:
        return PAPER_METHODS[method]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown method {method!r}; expected one of "
                          f"{', '.join(PAPER_METHODS)}") from None


def _check_paper_options(options: dict[str, Any]) -> None:
    """Every option must be a parameter of UserKNN or ItemKNN, other than ``similarity``."""
    if "similarity" in options:
        raise ConfigError("the method name sets the similarity; do not pass similarity=")
    known = set(UserKNN._param_names()) | set(ItemKNN._param_names())
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for the paper's methods; "
                          f"options: {', '.join(sorted(known - {'similarity', 'k'}))}")


class PaperCF:
    """The paper's four CF methods on one data set, each fitted once, on first use.

    Parameters
    ----------
    data
        The training interactions.
    k
        Neighbours per prediction.
    **options
        Further model parameters for every method. Each method's model takes those of its
        parameters that are given (``center`` and ``binarize`` only reach the item methods;
        ``neighbor_mean`` and ``denominator`` only the user methods). Without them the models'
        tuned defaults apply; :data:`PLAIN_FORMULAS` (``min_support=1, shrinkage=0,
        center=False``) gives the paper's plain formulas.

    Raises
    ------
    ConfigError
        An option that neither model takes, or ``similarity`` (the method sets it).

    Examples
    --------
    >>> cf = PaperCF(data, k=20)                                        # doctest: +SKIP
    >>> cf.recommend_item("u1", "i9", method="item_adjusted_cosine")    # doctest: +SKIP
    >>> plain = PaperCF(data, k=3, **PLAIN_FORMULAS)                    # doctest: +SKIP
    """

    def __init__(self, data: InteractionDataset, *, k: int = 40, **options: Any) -> None:
        if not isinstance(data, InteractionDataset):
            raise TypeError(f"PaperCF needs an InteractionDataset, got {type(data).__name__}")
        _check_paper_options(options)
        self._data: InteractionDataset | None = data
        self.k = k
        self.options = dict(options)
        self._models: dict[str, _NeighborhoodModel] = {}

    @property
    def data(self) -> InteractionDataset:
        """The training data set."""
        assert self._data is not None
        return self._data

    def model(self, method: str) -> _NeighborhoodModel:
        """The fitted model of ``method`` (fitted on the first call, then reused).

        Raises
        ------
        ConfigError
            An unknown method name, or an invalid option value.
        """
        cls, similarity = _method_class(method)
        model = self._models.get(method)
        if model is None:
            accepted = set(cls._param_names())
            options = {key: v for key, v in self.options.items() if key in accepted}
            model = cls.from_config({**options, "k": self.k, "similarity": similarity})
            model.fit(self.data)
            self._models[method] = model
        return model

    def recommend_item(self, user: Any, item: Any, method: str = "user_cosine",
                       threshold: float | None = None) -> Decision:
        """The paper's decision: recommend when unrated and the prediction exceeds ``threshold``.

        ``threshold`` defaults to 6 on a 1..10 scale (:func:`~synerec.algorithms.
        default_threshold` of the data's rating scale); ``threshold=6`` is the paper's number
        taken as it is printed. See :meth:`Recommender.recommend_item`.
        """
        return self.model(method).recommend_item(user, item, threshold=threshold)


# fitted PaperCF per data set for recommend_item(data=...), by (k, options); entries vanish with
# the data set
_PAPER_CACHE: weakref.WeakKeyDictionary[
    InteractionDataset, dict[tuple[int, tuple[tuple[str, Any], ...]], PaperCF]] = (
    weakref.WeakKeyDictionary())


def recommend_item(
    user: Any,
    item: Any,
    method: str = "user_cosine",
    threshold: float | None = None,
    *,
    data: InteractionDataset | PaperCF | UserKNN | ItemKNN,
    k: int = 40,
    **options: Any,
) -> Decision:
    """Whether to recommend ``item`` to ``user``, by the paper's method name.

    Parameters
    ----------
    user, item
        External ids (unknown ids use the prediction fallbacks).
    method
        ``"user_cosine"``, ``"user_pearson"`` (eq. 3), ``"item_cosine"`` or
        ``"item_adjusted_cosine"`` (eq. 4).
    threshold
        Recommend when the prediction exceeds it; default 6 on a 1..10 scale, mapped onto the
        data's rating scale (``threshold=6``: the paper's number as printed).
    data
        An :class:`InteractionDataset` (the matching model is fitted once per
        ``(data, method, k, options)`` and cached while the data set lives), a
        :class:`PaperCF` (its own cache and options; ``k`` is then ignored), or a fitted
        :class:`UserKNN` / :class:`ItemKNN` whose kind and similarity must match ``method``.
    k
        Neighbours per prediction (for a data set).
    **options
        Model options for a data set, as in :class:`PaperCF`: ``center=False`` reaches the
        plain eq. 4, ``**PLAIN_FORMULAS`` the paper's plain formulas, ``norms``,
        ``neighbor_mean`` and ``denominator`` the readings of eqs. 1-3.

    Returns
    -------
    Decision
        ``prediction``, ``recommend``, ``reason`` and ``threshold``; an item the user already
        rated is never recommended.

    Raises
    ------
    ConfigError
        An unknown method or option, a fitted model that does not match the method, or
        options given with a :class:`PaperCF` or a fitted model (they carry their own).
    """
    _method_class(method)
    if options and not isinstance(data, InteractionDataset):
        raise ConfigError(f"options ({', '.join(sorted(options))}) apply only when data is a "
                          f"data set; a {type(data).__name__} carries its own")
    if isinstance(data, PaperCF):
        return data.recommend_item(user, item, method=method, threshold=threshold)
    if isinstance(data, _NeighborhoodModel):
        cls, similarity = PAPER_METHODS[method]
        if not isinstance(data, cls) or data.get_params()["similarity"] != similarity:
            raise ConfigError(f"method {method!r} needs a {cls.__name__} with similarity "
                              f"{similarity!r}, got {data!r}")
        return data.recommend_item(user, item, threshold=threshold)
    if not isinstance(data, InteractionDataset):
        raise TypeError("data must be an InteractionDataset, a PaperCF or a fitted UserKNN / "
                        f"ItemKNN, got {type(data).__name__}")
    _check_paper_options(options)
    key = (k, tuple(sorted(options.items())))
    try:
        hash(key)
    except TypeError:
        raise ConfigError(f"option values must be numbers, strings, booleans or None, got "
                          f"{options!r}") from None
    by_key = _PAPER_CACHE.setdefault(data, {})
    cf = by_key.get(key)
    if cf is None:
        cf = by_key[key] = _CachedPaperCF(data, k=k, **options)
    return cf.recommend_item(user, item, method=method, threshold=threshold)


class _CachedPaperCF(PaperCF):
    """A PaperCF that holds its data set weakly (so the module cache does not keep it alive)."""

    def __init__(self, data: InteractionDataset, *, k: int, **options: Any) -> None:
        super().__init__(data, k=k, **options)
        self._data_ref = weakref.ref(data)
        self._data = None

    @property
    def data(self) -> InteractionDataset:
        data = self._data_ref()
        if data is None:  # pragma: no cover - the cache entry dies with the data set
            raise RuntimeError("the data set was garbage-collected")
        return data
