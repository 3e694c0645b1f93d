"""Whether a language model's explanation says only what the evidence says.

:func:`check_grounded` accepts a generated explanation only when every title it mentions is one
the evidence allows (and the required ones are there), every rating it states is the user's
real rating, it is complete (one or two finished sentences, balanced brackets) and it is not chat
markup or an echo of the prompt; otherwise it names the first problem, and :func:`reason_kind`
sorts that reason into one of :data:`REASON_KINDS` for the counts the commands report. Titles
are found by :class:`TitleIndex` (as written, without the year, with a trailing article moved
to the front).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["PROMPT_ECHOES", "REASON_KINDS", "TitleIndex", "check_grounded", "reason_kind"]

_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE = re.compile(r"^(.*), (The|A|An|Les|La|Le|Il|Das|Der|Die|El)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
#: Chat-template markup that never belongs in an explanation.
_MARKUP = re.compile(r"<<|>>|<\||\|>|\[/?INST\]|</?s>|<start_of_turn>|<end_of_turn>|"
                     r"<bos>|<eos>|\[/?SYS\]", re.IGNORECASE)
#: The explanation prompt's own wording (:func:`synerec.llm.prompts.explanation_messages`):
#: an answer repeating it echoes the prompt instead of answering.
PROMPT_ECHOES = ("facts:", "plain version", "rewrite the plain version", "recommended:",
                 "one or two short, friendly sentences", "use only the facts given",
                 "do not mention any other title", "keeping every title exactly as written",
                 "- the user ", "shared categories:", "answer:")
_NUMBER = r"(\d+(?:\.\d+)?)"
_RATING_PATTERNS = (
    re.compile(_NUMBER + r"\s*(?:/|out of)\s*" + _NUMBER, re.IGNORECASE),
    re.compile(_NUMBER + r"[\s-]*(?:stars?|-star)\b", re.IGNORECASE),
    re.compile(r"\b(?:rated|rating of|rating|gave it|scored)\s+(?:it\s+|them\s+)?(?:an?\s+)?"
               + _NUMBER + r"(?![\d.])(?!\s*(?:/|out of|[\s-]*stars?))", re.IGNORECASE),
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _variants(title: str) -> set[str]:
    """Lower-case forms a text may use for a title: as is, without the year, article moved."""
    t = title.strip().lower()
    out = {t}
    base = _YEAR.sub("", t).strip()
    out.add(base)
    m = _ARTICLE.match(base)
    if m:
        out.add(f"{m.group(2)} {m.group(1)}".lower())
    return {v for v in out if v}


class TitleIndex:
    """Find which catalogue titles a text mentions (case-insensitive, whole words).

    A title counts in any of its forms (with or without a trailing ``(year)``, with a trailing
    ``", The"`` moved to the front). Forms shorter than ``min_chars`` characters and one-word
    forms that are common lower-case words in the text are too ambiguous to search for and
    are skipped, so the check errs toward rejecting a model's sentence, never toward
    accepting an unsupported one silently when the title is distinctive.

    Parameters
    ----------
    titles
        Title per item index.
    min_chars
        Shortest title form searched for.
    """

    def __init__(self, titles: Sequence[str], min_chars: int = 4) -> None:
        self.titles = list(titles)
        forms: dict[str, set[int]] = {}
        for i, t in enumerate(self.titles):
            for v in _variants(t):
                if len(v) >= min_chars:
                    forms.setdefault(v, set()).add(i)
        self._forms = forms
        # one regex per first word keeps the scan linear in the text
        self._by_first: dict[str, list[str]] = {}
        for v in forms:
            first = re.split(r"\W+", v, maxsplit=1)[0] or v[:1]
            self._by_first.setdefault(first, []).append(v)

    def mentions(self, text: str) -> set[int]:
        """Item indices whose title appears in ``text``."""
        low = text.lower()
        words = set(re.findall(r"\w+", low)) | {w for w in re.findall(r"\S+", low)}
        found: set[int] = set()
        for first, forms in self._by_first.items():
            if first and first not in words and not any(first in w for w in words):
                continue
            for v in forms:
                if re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", low):
                    found |= self._forms[v]
        return found


def check_grounded(text: str, index: TitleIndex, allowed: set[int], required: set[int],
                   max_sentences: int = 2, *, ratings: Mapping[int, float] | None = None,
                   other_ratings: Sequence[float] = (), scale: float | None = None
                   ) -> str | None:
    """Why ``text`` is not a trustworthy explanation, or ``None`` when it is.

    Parameters
    ----------
    text
        A model's explanation.
    index
        The catalogue's titles.
    allowed
        Item indices the text may name (the recommended item and the evidence items).
    required
        Item indices of which the text must name at least one (the evidence items); empty
        means no requirement.
    max_sentences
        Longest accepted answer, in sentences.
    ratings
        The rating the evidence gives for each item index (checked against every rating the
        text states); ``None`` skips the rating check, ``{}`` allows no rating at all (except
        ``other_ratings``).
    other_ratings
        Ratings the evidence states without an item of the user's (a neighbour's rating of the
        recommended item).
    scale
        The top of the rating scale (``5``): a rating stated out of another number is wrong.
    """
    stripped = text.strip()
    if not stripped:
        return "empty"
    if len(stripped) > 400:
        return "too long"
    if _MARKUP.search(stripped):
        return "contains chat markup"
    low = " ".join(stripped.lower().split())
    echo = next((e for e in PROMPT_ECHOES if e in low), None)
    if echo is not None:
        return f"echoes the prompt ({echo.strip()!r})"
    why = _incomplete(stripped)
    if why is not None:
        return why
    # Titles may hold sentence punctuation ("Mr. Holland's Opus"): blank them out first.
    plain = stripped
    for i in sorted(allowed):
        for v in sorted(_variants(index.titles[i]), key=len, reverse=True):
            plain = re.sub(re.escape(v), "title", plain, flags=re.IGNORECASE)
    n_sentences = len(_SENTENCE_END.findall(plain + " "))
    if n_sentences > max_sentences:
        return f"{n_sentences} sentences"
    named = index.mentions(stripped)
    extra = named - allowed
    # An item that shares a title form with an allowed one (remakes) is not a new claim.
    extra = {i for i in extra
             if not (_variants(index.titles[i]) & set().union(
                 *(_variants(index.titles[a]) for a in allowed)))} if allowed else extra
    if extra:
        names = ", ".join(repr(index.titles[i]) for i in sorted(extra)[:3])
        return f"names items that are not evidence: {names}"
    if required and not (named & required):
        return "cites none of the evidence items"
    if ratings is not None:
        return _check_ratings(stripped, index, allowed, ratings, other_ratings, scale)
    return None


#: The kinds of :func:`check_grounded`'s reasons, as counted by :attr:`Explainer.rejections_`.
REASON_KINDS = ("empty", "too long", "contains chat markup", "echoes the prompt",
                "does not start a sentence", "not a complete sentence", "unbalanced brackets",
                "names items that are not evidence", "cites none of the evidence items",
                "states a rating out of", "states the rating")


def reason_kind(why: str) -> str:
    """The kind of a :func:`check_grounded` reason (``"states the rating"``, ...)."""
    for kind in REASON_KINDS:
        if why.startswith(kind):
            return kind
    if why.endswith("sentences"):
        return "too many sentences"
    return "other"


def _incomplete(text: str) -> str | None:
    """Why ``text`` is not complete sentences (cut off, unbalanced), or ``None``."""
    if not (text[0].isalnum() or text[0] in "\"'“‘"):
        return f"does not start a sentence ({text[:12]!r})"
    end = text.rstrip("\"'”’)]")
    if not end or end[-1] not in ".!?":
        return "not a complete sentence (no final . ! or ?)"
    depth: list[str] = []
    for ch in text:
        if ch in _CLOSERS:
            depth.append(_CLOSERS[ch])
        elif ch in _CLOSERS.values():
            if not depth or depth.pop() != ch:
                return "unbalanced brackets"
    if depth:
        return "not a complete sentence (a bracket is left open)"
    if text.count('"') % 2:
        return "not a complete sentence (a quote is left open)"
    return None


def _mention_spans(text: str, index: TitleIndex, items: set[int]) -> list[tuple[int, int]]:
    """(start position, item index) of every mention of the given items, in text order."""
    out = []
    for i in items:
        for v in _variants(index.titles[i]):
            for m in re.finditer(r"(?<!\w)" + re.escape(v) + r"(?!\w)", text, re.IGNORECASE):
                out.append((m.start(), i))
    return sorted(out)


def _check_ratings(text: str, index: TitleIndex, allowed: set[int],
                   ratings: Mapping[int, float], other: Sequence[float],
                   scale: float | None) -> str | None:
    spans = _mention_spans(text, index, set(ratings) & allowed)
    # Title spans are blanked so that a year or number in a title is not read as a rating.
    blank = text
    for v in sorted({v for i in allowed for v in _variants(index.titles[i])}, key=len,
                    reverse=True):
        blank = re.sub(re.escape(v), lambda m: "x" * len(m.group(0)), blank,
                       flags=re.IGNORECASE)
    sentence_starts = [0] + [m.end() for m in _SENTENCE_END.finditer(blank)]
    known = [float(r) for r in ratings.values()] + [float(r) for r in other]
    seen: set[int] = set()
    for pattern in _RATING_PATTERNS:
        for m in pattern.finditer(blank):
            if m.start() in seen:
                continue
            seen.add(m.start())
            value = float(m.group(1))
            if pattern is _RATING_PATTERNS[0]:
                out_of = float(m.group(2))
                if scale is not None and abs(out_of - scale) > 1e-9:
                    return f"states a rating out of {out_of:g}; the scale's top is {scale:g}"
            start = max(p for p in sentence_starts if p <= m.start())
            before = [i for pos, i in spans if start <= pos < m.start()]
            if before:
                expected = float(ratings[before[-1]])
                if abs(value - expected) > 1e-9:
                    return (f"states the rating {value:g} for {index.titles[before[-1]]!r}; "
                            f"the evidence says {expected:g}")
            elif not any(abs(value - r) <= 1e-9 for r in known):
                return f"states the rating {value:g}, which no evidence gives"
    return None
