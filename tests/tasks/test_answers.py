"""Answer extraction shared by data loading and rewards: the one ``last_boxed`` rule and ``answer_block``."""

from __future__ import annotations

import pytest

from rlvr.data.sources import extract_answer
from rlvr.tasks.answers import answer_block, last_boxed, payload_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{85}.", "85"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
        ("\\boxed{{a}+{b}}", "{a}+{b}"),
        ("\\boxed {7}", "7"),  # whitespace between \boxed and its brace
        ("\\boxed\n\t{ 7 }", "7"),
        ("\\boxed{1} then \\boxed{2}, finally \\boxed{3}", "3"),  # the last box wins
        ("\\boxed{1} and \\boxed 2", "1"),  # a \boxed without a brace is not a box
        ("\\boxed{1} but \\boxed{2", None),  # the last box is unbalanced: no answer, not the earlier box
        ("\\boxed{\\frac{1}{2}", None),
        ("no box", None),
        ("", None),
        ("\\boxed{}", ""),
        ("\\boxed{a \\boxed{b}}", "b"),  # the box that starts last
        ("\\boxed{85}, i.e. \\boxed{47+38}", "47+38"),  # the final answer is the last box, whatever it holds
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


def test_last_boxed_is_linear_on_adversarial_text() -> None:
    assert last_boxed("\\boxed{" * 200_000) is None
    assert last_boxed("\\boxed " * 200_000 + "\\boxed{1}") == "1"


@pytest.mark.parametrize("text", ["So \\boxed {7}.", "\\boxed{1}\\boxed{\\frac{1}{2}}", "\\boxed{1} \\boxed{2"])
def test_gold_extraction_uses_the_same_rule(text: str) -> None:
    """``dataset.answer_format=boxed`` reads gold answers with the very same function."""
    assert extract_answer(text, "boxed") == last_boxed(text)


def test_answer_block() -> None:
    assert answer_block("<answer>1</answer> then <answer>2</answer>") == "2"
    assert answer_block("<answer>1</answer> <answer>unclosed") == "1"
    assert answer_block("no tags") is None and answer_block("</answer>") is None
    assert answer_block("<answer>" * 100_000) is None


def test_payload_answer() -> None:
    """An ``<answer>`` payload answers with its last box when it holds one, else with its text."""
    assert payload_answer(" 85 ") == "85"
    assert payload_answer("so \\boxed {7}.") == "7"
    assert payload_answer("\\boxed{1} then \\boxed{2}") == "2"
    assert payload_answer("\\boxed{1} then \\boxed{2") is None
    assert payload_answer("\\boxed 2") is None
