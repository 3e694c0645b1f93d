"""Which model for which job: what each registered model is for and what it measured.

``synerec models`` prints this guide. Every figure is one of docs/experiments.md (a test checks
that each appears there, so the guide cannot drift from the measurements); a model without a
measurement says so rather than borrowing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["USES", "Figure", "ModelGuide", "guide_for", "model_guides"]

#: The jobs a model can do, in the order the guide lists them.
USES = ("ranking", "rating prediction", "cold start", "text")


@dataclass(frozen=True)
class Figure:
    """One measured result of docs/experiments.md."""

    data: str
    protocol: str
    metrics: tuple[tuple[str, str], ...]
    section: str

    def text(self) -> str:
        """``ml-100k u1..u5: MAE 0.7221, RMSE 0.9229``."""
        values = ", ".join(f"{m} {v}" for m, v in self.metrics)
        return f"{self.data} {self.protocol}: {values}"


@dataclass(frozen=True)
class ModelGuide:
    """What one model is for.

    Attributes
    ----------
    name
        The registered name.
    summary
        One line: what it does.
    uses
        Jobs it is good for, among :data:`USES`.
    data
        What it accepts: ``"ratings"``, ``"implicit"`` (purchases, clicks, with optional
        weights), ``"item text"`` (titles, descriptions).
    choose_when
        One line: when to pick it.
    figures
        Its measurements from docs/experiments.md.
    """

    name: str
    summary: str
    uses: tuple[str, ...]
    data: tuple[str, ...]
    choose_when: str
    figures: tuple[Figure, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "summary": self.summary, "uses": list(self.uses),
                "data": list(self.data), "choose_when": self.choose_when,
                "figures": [{"data": f.data, "protocol": f.protocol,
                             "metrics": dict(f.metrics), "section": f.section}
                            for f in self.figures]}


_ML = "ml-100k"
_UCI = "uci-online-retail"
_K40 = "Accuracy and speed at K = 40"
_TOPN = "Top-N on u1"
_RETAIL = "Implicit purchases: UCI Online Retail"
_TEXT_RETAIL = "UCI Online Retail, temporal split"
_KSWEEP = "ML-100K, official folds u1..u5: MAE against K"
_COLD = "Cold start on ML-100K"
_RANK_U1 = "MovieLens 100K, fold u1"
_RANK_5 = "MovieLens 100K, folds u1..u5 (mean ± std over the folds)"
_RANK_UCI = "UCI Online Retail, temporal split (each customer's latest 20 %)"
_HYBRID = "Must-show figures (issue 12)"
_SASREC = "SASRec next-item: Amazon 2014 Beauty and Sports (issue 22)"

_GUIDES: tuple[ModelGuide, ...] = (
    ModelGuide(
        "popularity", "The most popular items for everyone (by interactions or weight).",
        ("ranking", "cold start"), ("ratings", "implicit"),
        "a floor to beat, and the fallback for visitors nobody knows",
        (Figure(_UCI, "temporal", (("NDCG@10", "0.0255"), ("P@10", "0.0225")), _RETAIL),
         Figure(_ML, "u1 top-N", (("NDCG@10", "0.2451"),), _TOPN))),
    ModelGuide(
        "baseline", "Global mean plus regularised user and item biases.",
        ("rating prediction",), ("ratings",),
        "a floor for rating prediction",
        (Figure(_ML, "u1..u5", (("MAE", "0.7499"), ("RMSE", "0.9457")), _K40),)),
    ModelGuide(
        "user-cf", "User-based CF (the paper's eq. 3): neighbours' ratings, Pearson or cosine.",
        ("ranking", "rating prediction"), ("ratings", "implicit"),
        "ranked lists with neighbours to show: the best neighbourhood lists measured on UCI "
        "Online Retail (cosine, its default for implicit data) and on ml-100k's top-N",
        (Figure(_ML, "u1..u5", (("MAE", "0.7299"), ("RMSE", "0.9375")), _K40),
         Figure(_ML, "u1 top-N, cosine", (("NDCG@10", "0.4195"),), _TOPN),
         Figure(_UCI, "temporal", (("NDCG@10", "0.1030"), ("P@10", "0.0698")), _RETAIL))),
    ModelGuide(
        "item-cf", "Item-based CF (the paper's eq. 4): items like the user's own; adjusted "
                   "cosine for ratings, cosine for implicit data.",
        ("ranking", "rating prediction"), ("ratings", "implicit"),
        "a shop's ranked lists and 'similar items'; stable, explainable, fast to refit",
        (Figure(_ML, "u1..u5", (("MAE", "0.7221"), ("RMSE", "0.9229")), _K40),
         Figure(_ML, "u1 top-N, cosine", (("NDCG@10", "0.3723"),), _TOPN),
         Figure(_UCI, "temporal", (("NDCG@10", "0.0805"), ("P@10", "0.0520")), _RETAIL))),
    ModelGuide(
        "mf", "Matrix factorisation trained by SGD on ratings.",
        ("rating prediction",), ("ratings",),
        "predicting ratings (the lowest RMSE measured); not for ranked lists",
        (Figure(_ML, "u1..u5", (("MAE", "0.7173"), ("RMSE", "0.9088")), _K40),
         Figure(_ML, "u1 top-N", (("NDCG@10", "0.1047"),), _TOPN))),
    ModelGuide(
        "t-item-cf", "Item CF blended with language-model similarity of item text; reaches "
                     "items nobody has bought yet.",
        ("ranking", "rating prediction", "cold start", "text"),
        ("ratings", "implicit", "item text"),
        "items have titles or descriptions: better lists than item-cf on purchases, and new "
        "items nobody has bought",
        (Figure(_UCI, "temporal", (("NDCG@10", "0.0963"), ("P@10", "0.0628")), _TEXT_RETAIL),
         Figure(_ML, "u1..u5, K = 30", (("MAE", "0.7157"),), _KSWEEP),
         Figure(_ML, "u1, 10% cold items", (("RMSE", "1.0251"), ("MAE", "0.8112")), _COLD))),
    ModelGuide(
        "t-user-cf", "User CF with users compared also by the text of the items they rated.",
        ("rating prediction", "text"), ("ratings", "implicit", "item text"),
        "ratings with item text, few co-rated items",
        (Figure(_ML, "u1..u5, K = 30", (("MAE", "0.7276"),), _KSWEEP),)),
    ModelGuide(
        "ease", "EASE (Steck): a closed-form item-item regression on the positives, with the "
                "EDLAE ridge; dense, or a sparse approximation for large catalogues.",
        ("ranking",), ("implicit", "ratings"),
        "ranked lists for a shop: the best single model measured on UCI Online Retail and on "
        "ml-100k u1, the default of `synerec fit` on data too small for the hybrid; up to a few "
        "tens of thousands of items dense (4 n^2 bytes), beyond with variant='sparse'",
        (Figure(_UCI, "temporal", (("NDCG@10", "0.1508"), ("P@10", "0.1001")), _RANK_UCI),
         Figure(_ML, "u1", (("NDCG@10", "0.4699"), ("P@10", "0.3914")), _RANK_U1),
         Figure(_ML, "u1..u5", (("NDCG@10", "0.4030 ± 0.0379"),), _RANK_5))),
    ModelGuide(
        "als", "Implicit-feedback ALS (Hu, Koren, Volinsky) trained by the implicit library, "
               "confidence from ratings or purchase counts.",
        ("ranking",), ("implicit", "ratings"),
        "ranked lists when a GPU is at hand (implicit's CUDA path) or the catalogue is too large "
        "for dense EASE; tune it per data set",
        (Figure(_ML, "u1..u5", (("NDCG@10", "0.4073 ± 0.0356"),), _RANK_5),
         Figure(_UCI, "temporal", (("NDCG@10", "0.1353"),), _RANK_UCI))),
    ModelGuide(
        "bpr", "Bayesian personalised ranking trained by the implicit library.",
        ("ranking",), ("implicit", "ratings"),
        "a pairwise-ranking baseline; needs tuning per data set (epochs)",
        (Figure(_ML, "u1", (("NDCG@10", "0.3860"),), _RANK_U1),
         Figure(_UCI, "temporal", (("NDCG@10", "0.0995"),), _RANK_UCI))),
    ModelGuide(
        "rp3beta", "RP3beta: three-step random walks on the user-item graph, popularity damped.",
        ("ranking",), ("implicit", "ratings"),
        "fast ranked lists with more long-tail items (the widest catalogue coverage on UCI)",
        (Figure(_ML, "u1", (("NDCG@10", "0.4292"),), _RANK_U1),
         Figure(_UCI, "temporal", (("NDCG@10", "0.1201"), ("coverage", "0.494")), _RANK_UCI))),
    ModelGuide(
        "text-knn", "A pure text retriever: the user's profile is the mean embedding "
                    "(all-MiniLM-L6-v2, frozen) of their items, scored against every item's.",
        ("ranking", "cold start", "text"), ("implicit", "ratings", "item text"),
        "products nobody has bought yet (new arrivals), where collaborative filtering gives "
        "them no score; no figures in this guide until bench/cold_items.py has been run",
        ()),
    ModelGuide(
        "text-knn-tuned", "text-knn with the encoder fine-tuned on the training interactions "
                          "first (synerec.text.finetune).",
        ("ranking", "cold start", "text"), ("implicit", "ratings", "item text"),
        "as text-knn, when the shop's own purchases should shape which descriptions are close; "
        "no figures in this guide until bench/cold_items.py has been run",
        ()),
    ModelGuide(
        "sasrec", "SASRec: causal self-attention over each user's items in time order, "
                  "predicting the next one (PyTorch; GPU when present); item embeddings "
                  "optionally initialised from the items' text.",
        ("ranking", "text"), ("implicit", "ratings", "item text"),
        "purchases in time order where the next item depends on the last ones (the Amazon "
        "next-item benchmarks; loss=sampled-softmax on catalogues of 10,000 items or more); "
        "minutes to train on a CPU",
        (Figure("amazon-2014-beauty-seq", "leave-one-out, all items ranked",
                (("NDCG@10", "0.0556"), ("HR@10", "0.0942")), _SASREC),)),
    ModelGuide(
        "hybrid", "Several retrievers (EASE, ALS, neighbourhoods, text, popularity) propose, a "
                  "LightGBM LambdaRank ranker trained on a validation part orders; explanations "
                  "name the signals and their evidence.",
        ("ranking", "text"), ("ratings", "implicit", "item text"),
        "the best ranked lists measured (the default of `synerec fit` when at least 50 users "
        "have a relevant held-out interaction); costs tens of seconds to fit instead of one",
        (Figure(_ML, "u1", (("NDCG@10", "0.4852"),), _HYBRID),
         Figure(_ML, "u1..u5", (("NDCG@10", "0.4238"),), _HYBRID),
         Figure(_UCI, "temporal", (("NDCG@10", "0.1679"), ("P@10", "0.1138")), _HYBRID))),
)


def model_guides(names: list[str] | None = None) -> list[ModelGuide]:
    """The guide of each registered model (or of ``names``), in the guide's order; a
    registered model without an entry gets a plain one saying so."""
    from synerec.algorithms.registry import list_models

    registered = list_models() if names is None else list(names)
    known = {g.name: g for g in _GUIDES}
    out = [known[n] for n in known if n in registered]
    for name in registered:
        if name not in known:
            out.append(ModelGuide(name, "(no guide entry yet)", (), (), ""))
    return out


def guide_for(name: str) -> ModelGuide | None:
    """The guide entry of one model name, or ``None``."""
    return next((g for g in _GUIDES if g.name == name), None)
