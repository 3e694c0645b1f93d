"""Evaluation reports the model page shows: an evaluation, the K sweep, the ablation.

A report folder holds the JSON that synerec's commands write:

* ``synerec evaluate --format json`` (or :meth:`EvaluationResult.to_dict`): ``summary`` per model;
* ``synerec experiment k-sweep --out DIR``: ``DIR/results.json`` with ``ks`` and ``results``;
* ``synerec experiment ablation --out DIR``: ``DIR/results.json`` with ``rows`` and
  ``bootstrap``.

Each file is recognised by its keys (not its name), in a configured folder or one level below
it, and turned into a table and an SVG chart; a file that is not one of these is skipped (and
logged once). Parsed files are cached by modification time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synerec.console.charts import bar_chart, line_chart

__all__ = ["Report", "ReportFinder"]

log = logging.getLogger(__name__)

#: Ranking metrics charted, in order, when present.
RANKING = ("ndcg@10", "precision@10", "recall@10")
#: Columns of the evaluation table, when present.
EVAL_COLUMNS = ("mae", "rmse", "precision@10", "recall@10", "ndcg@10", "coverage",
                "category_coverage", "fit_seconds")
LABELS = {"mae": "MAE", "rmse": "RMSE", "precision@10": "P@10", "recall@10": "R@10",
          "ndcg@10": "NDCG@10", "coverage": "coverage", "category_coverage": "cat. coverage",
          "fit_seconds": "fit s"}


@dataclass
class Report:
    """One report, ready for the page.

    Attributes
    ----------
    kind
        ``"evaluation"``, ``"k-sweep"`` or ``"ablation"``.
    title
        A heading.
    note
        Data set, folds and list length, in words.
    columns, rows
        The table: ``rows`` are ``(label, [cell text...], highlighted)``.
    charts
        SVG charts (markup).
    """

    kind: str
    title: str
    note: str
    columns: list[str]
    rows: list[tuple[str, list[str], bool]]
    charts: list[str] = field(default_factory=list)
    mtime: float = 0.0


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _cell(v: Any, metric: str) -> str:
    x = _num(v)
    if x is None:
        return "–"
    if metric.endswith("seconds"):
        return f"{x:.2f}"
    return f"{x:.4f}"


def _folds(data: dict[str, Any]) -> str:
    folds = data.get("folds") or []
    names = list(dict.fromkeys(f.get("fold", "?") if isinstance(f, dict) else str(f)
                               for f in folds))
    if not names:
        return ""
    return f"fold{'s' if len(names) > 1 else ''} {', '.join(map(str, names[:6]))}"


def parse_evaluation(data: dict[str, Any], served: str | None) -> Report:
    summary: dict[str, dict[str, Any]] = data["summary"]
    metrics = [m for m in EVAL_COLUMNS if any(m in row for row in summary.values())]
    rows = [(model, [_cell(row.get(m), m) for m in metrics], model == served)
            for model, row in summary.items()]
    present = [m for m in RANKING if m in metrics]
    charts = []
    if present:
        charts.append(bar_chart(list(summary), {LABELS[m]: [_num(summary[g].get(m))
                                                             for g in summary]
                                                for m in present},
                                title="Ranking quality (higher is better)", y_label="score",
                                highlight=served))
    if "rmse" in metrics or "mae" in metrics:
        acc = [m for m in ("mae", "rmse") if m in metrics]
        charts.append(bar_chart(list(summary), {LABELS[m]: [_num(summary[g].get(m))
                                                             for g in summary] for m in acc},
                                title="Rating error (lower is better)", y_label="error",
                                highlight=served))
    note = f"{data.get('dataset', '?')}, {_folds(data)}, top-{data.get('n', 10)} lists"
    return Report("evaluation", "Accuracy and ranking of the models", note,
                  [LABELS.get(m, m) for m in metrics], rows, charts)


def parse_k_sweep(data: dict[str, Any], served: str | None) -> Report:
    ks = [int(k) for k in data["ks"]]
    results = [r for r in data["results"] if isinstance(r, dict)]
    models = [m for m in data.get("models", []) if any(r.get("model") == m for r in results)]
    metrics = [m for m in ("mae", "rmse", *RANKING)
               if any(_num(r.get(m)) is not None for r in results)]

    def value(model: str, k: int, metric: str) -> float | None:
        for r in results:
            if r.get("model") == model and int(r.get("k", -1)) == k:
                return _num(r.get(metric))
        return None

    charts = []
    shown = [m for m in metrics if m in ("mae", "rmse")][:1] + \
        [m for m in metrics if m in RANKING][:1]
    for metric in shown:
        charts.append(line_chart(ks, {m: [value(m, k, metric) for k in ks] for m in models},
                                 title=f"{LABELS.get(metric, metric)} against K",
                                 x_label="K (neighbours)", y_label=LABELS.get(metric, metric),
                                 highlight=served))
    first = metrics[0] if metrics else None
    rows = []
    if first is not None:
        for m in models:
            rows.append((m, [_cell(value(m, k, first), first) for k in ks], m == served))
    note = (f"{data.get('dataset', '?')}, folds {', '.join(map(str, data.get('folds', [])))}; "
            f"table: {LABELS.get(first or '', first or '')} by K")
    return Report("k-sweep", "K sweep", note, [f"K={k}" for k in ks], rows, charts)


def parse_ablation(data: dict[str, Any], served: str | None) -> Report:
    rows_in = [r for r in data["rows"] if isinstance(r, dict)]
    metrics = [m for m in RANKING if any(_num(r.get(m)) is not None for r in rows_in)]
    cols = [LABELS[m] for m in metrics] + ["coverage"]
    rows = []
    for r in rows_in:
        cells = []
        for m in metrics:
            cell = _cell(r.get(m), m)
            d = (r.get("delta") or {}).get(m)
            if isinstance(d, dict) and _num(d.get("mean")) is not None:
                cell += (f" ({d['mean']:+.4f} [{_num(d.get('low')) or 0:+.4f}, "
                         f"{_num(d.get('high')) or 0:+.4f}])")
            cells.append(cell)
        cells.append(_cell(r.get("coverage"), "coverage"))
        rows.append((str(r.get("label", "?")), cells, False))
    labels = [str(r.get("label", "?")) for r in rows_in]
    charts = [bar_chart(labels, {LABELS[m]: [_num(r.get(m)) for r in rows_in] for m in metrics},
                        title="Ablation: each signal added", y_label="score",
                        width=760)] if metrics else []
    note = (f"{data.get('dataset', '?')}, folds {', '.join(map(str, data.get('folds', [])))}; "
            f"in brackets: the difference from the row above with its paired bootstrap 95% "
            f"interval")
    return Report("ablation", "Ablation", note, cols, rows, charts)


def classify(data: Any) -> str | None:
    """The kind of a report's JSON, or ``None``."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("ks"), list) and isinstance(data.get("results"), list):
        return "k-sweep"
    if isinstance(data.get("rows"), list) and "bootstrap" in data:
        return "ablation"
    if isinstance(data.get("summary"), dict) and data["summary"] and all(
            isinstance(v, dict) for v in data["summary"].values()):
        return "evaluation"
    return None


_PARSERS = {"evaluation": parse_evaluation, "k-sweep": parse_k_sweep,
            "ablation": parse_ablation}
_ORDER = {"evaluation": 0, "k-sweep": 1, "ablation": 2}


class ReportFinder:
    """Finds and parses the reports of some folders (cached by file modification time)."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._cache: dict[Path, tuple[float, str | None, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._warned: set[Path] = set()

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            out += sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json"))
        return out

    def reports(self, served: str | None) -> list[Report]:
        """Every report found, evaluation first, then K sweeps, then ablations."""
        found: list[Report] = []
        for path in self._files():
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            with self._lock:
                cached = self._cache.get(path)
            if cached is None or cached[0] != mtime:
                kind, data = None, None
                try:
                    if os.stat(path).st_size <= 20_000_000:
                        data = json.loads(path.read_text(encoding="utf-8"))
                        kind = classify(data)
                except (OSError, ValueError) as exc:
                    if path not in self._warned:
                        log.warning("console: report %s is unreadable: %s", path.name, exc)
                        self._warned.add(path)
                cached = (mtime, kind, data if kind else None)
                with self._lock:
                    self._cache[path] = cached
            _, kind, data = cached
            if kind is None or data is None:
                continue
            try:
                report = _PARSERS[kind](data, served)
            except (KeyError, TypeError, ValueError) as exc:
                if path not in self._warned:
                    log.warning("console: report %s does not have the %s layout: %s",
                                path.name, kind, exc)
                    self._warned.add(path)
                continue
            report.mtime = mtime
            found.append(report)
        found.sort(key=lambda r: (_ORDER[r.kind], -r.mtime))
        return found
