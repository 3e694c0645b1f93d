"""The strict ranking parser on adversarial model outputs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synerec.llm import complete_ranking, parse_ranking

N = 5


@pytest.mark.parametrize(("text", "order", "dup", "out"), [
    # plain answers
    ("3, 1, 2, 5, 4", (2, 0, 1, 4, 3), 0, 0),
    ("[3] [1] [2]", (2, 0, 1), 0, 0),
    # JSON, as an array and as an object
    ("[3, 1, 2]", (2, 0, 1), 0, 0),
    (json.dumps({"ranking": [4, 2], "reason": "fits"}), (3, 1), 0, 0),
    # repeated numbers: first mention wins
    ("2, 2, 2, 1, 2", (1, 0), 3, 0),
    # numbers outside the list: 0, n + 1, huge, negative
    ("0, 6, 99999999999999999999, -1, 3", (2,), 0, 3),
    # prose with labels: list positions and years are not candidates
    ("Sure! Here is my ranking:\n1. [4] Heat (1995)\n2. [2] Fargo (1996)\n3. [4] again",
     (3, 1), 1, 2),
    ("I would pick candidate 5 first, then item #1.", (4, 0), 0, 0),
    # prose without labels: every stand-alone whole number counts, decimals and words do not
    ("Ranking: 4 then 1. Se7en scores 3.5 stars, 2nd place", (3, 0), 0, 0),
    # partial and truncated answers
    ("[5] [3", (4,), 0, 0),
    ("3,", (2,), 0, 0),
])
def test_adversarial_outputs(text: str, order: tuple[int, ...], dup: int, out: int) -> None:
    parsed = parse_ranking(text, N)
    assert parsed.order == order
    assert parsed.n_duplicates == dup
    assert parsed.n_out_of_range == out
    assert parsed.ok


@pytest.mark.parametrize("text", [None, "", "   ", "I cannot rank these movies.",
                                  "{}", "[]", "null", "0", "6 7 8", "1995 1996",
                                  "\x00\x01", "one, two, three"])
def test_unparseable_outputs_name_no_candidate(text: str | None) -> None:
    parsed = parse_ranking(text, N)
    assert parsed.order == ()
    assert not parsed.ok


def test_no_candidates() -> None:
    assert parse_ranking("1, 2", 0).order == ()
    with pytest.raises(ValueError):
        parse_ranking("1", -1)


def test_complete_ranking_appends_missing_in_retriever_order() -> None:
    assert complete_ranking((3, 1), 5) == [3, 1, 0, 2, 4]
    assert complete_ranking((), 3) == [0, 1, 2]
    assert complete_ranking([2, 1, 0], 3) == [2, 1, 0]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
       n=st.integers(min_value=0, max_value=30))
def test_any_text_never_crashes_and_never_returns_a_non_candidate(text: str, n: int) -> None:
    parsed = parse_ranking(text, n)
    assert all(0 <= i < n for i in parsed.order)
    assert len(set(parsed.order)) == len(parsed.order)
    full = complete_ranking(parsed.order, n)
    assert sorted(full) == list(range(n))


@settings(max_examples=200, deadline=None)
@given(perm=st.permutations(list(range(1, 13))), style=st.sampled_from(
    ["{}", "[{}]", "({})", "#{}", "candidate {}"]), sep=st.sampled_from([", ", " ", "\n", "; "]))
def test_a_well_formed_permutation_round_trips(perm: list[int], style: str, sep: str) -> None:
    text = sep.join(style.format(k) for k in perm)
    assert parse_ranking(text, 12).order == tuple(k - 1 for k in perm)


@settings(max_examples=200, deadline=None)
@given(numbers=st.lists(st.integers(min_value=-5, max_value=40), max_size=30),
       n=st.integers(min_value=1, max_value=20))
def test_matches_a_slow_reference(numbers: list[int], n: int) -> None:
    text = ", ".join(str(x) for x in numbers)
    expected: list[int] = []
    for x in numbers:  # obviously correct: keep first mentions of 1..n, skip negatives
        if 1 <= x <= n and x - 1 not in expected:
            expected.append(x - 1)
    assert list(parse_ranking(text, n).order) == expected
