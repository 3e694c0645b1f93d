"""The prompts of the reranker and the explainer, in one place.

Two ranking prompts (see ``docs/llm.md``):

* **likelihood** (base models): the user's history as a list that the candidate continues,

  .. code-block:: text

      A list of movies that one person liked:
      - Star Wars (1977)
      - Fargo (1996)
      - <candidate title>\\n          <- the continuation that is scored

  and the same list with no history lines for the calibration term;
* **generate** (instruction-tuned chat models): the history and the numbered candidates, with
  the instruction to answer with bracketed candidate numbers, best first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from synerec.llm.base import Message

__all__ = [
    "clean_title",
    "explanation_messages",
    "generate_messages",
    "likelihood_continuation",
    "likelihood_prompt",
    "profile_messages",
]

_SPACE = re.compile(r"\s+")


def clean_title(title: str, max_chars: int = 80) -> str:
    """One line of at most ``max_chars`` characters (whitespace collapsed, ``...`` when cut)."""
    text = _SPACE.sub(" ", str(title)).strip()
    if len(text) > max_chars:
        text = text[: max(1, max_chars - 3)].rstrip() + "..."
    return text


def likelihood_prompt(history: Sequence[str], domain: str = "items") -> str:
    """The list that a candidate title continues; ``history=[]`` gives the calibration prompt."""
    lines = "".join(f"- {t}\n" for t in history)
    return f"A list of {domain} that one person liked:\n{lines}- "


def likelihood_continuation(title: str) -> str:
    """The scored text: the candidate's title and the newline that ends its list entry."""
    return f"{title}\n"


def generate_messages(history: Sequence[str], candidates: Sequence[str],
                      domain: str = "items") -> list[Message]:
    """Chat messages asking for an ordering of the numbered candidates."""
    m = len(candidates)
    system = (f"You are a recommender system. You rank candidate {domain} for one user from "
              f"the {domain} that user liked. Answer only with the candidate numbers in "
              f"square brackets, best first, for example: [3] [1] [2].")
    liked = "\n".join(f"- {t}" for t in history) or "- (nothing yet)"
    cands = "\n".join(f"[{i + 1}] {t}" for i, t in enumerate(candidates))
    user = (f"The user liked these {domain}, most relevant first:\n{liked}\n\n"
            f"Candidates:\n{cands}\n\n"
            f"Rank all {m} candidates for this user. Answer with the {m} bracketed numbers "
            f"only.")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def explanation_messages(item_title: str, facts: Sequence[str], draft: str) -> list[Message]:
    """Chat messages asking the model to rephrase a grounded explanation without new facts."""
    system = ("You write one or two short, friendly sentences that explain a recommendation. "
              "Use only the facts given. Do not mention any other title.")
    user = ("Recommended: " + item_title + "\nFacts:\n" + "\n".join(f"- {f}" for f in facts)
            + "\nPlain version: " + draft + "\nRewrite the plain version in one or two "
            "sentences, keeping every title exactly as written.")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def profile_messages(history: Sequence[str], features: Sequence[str],
                     domain: str = "items") -> list[Message]:
    """Chat messages asking for a short summary of a user's taste."""
    system = f"You summarise a shopper's taste in {domain} in two sentences, without lists."
    user = (f"{domain.capitalize()} this person liked:\n" + "\n".join(f"- {t}" for t in history)
            + ("\nMost frequent categories: " + ", ".join(features) if features else "")
            + "\nSummary:")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
