"""The math task: answer_tag (<answer> payloads after canonicalisation), accuracy (\\boxed{}) and its
strict_numeric guard, and the canonicalisation itself."""

from __future__ import annotations

import pytest

from rlvr.rewards import build_reward
from rlvr.tasks.math_norm import canon_math


def conv(text: str | None) -> list[dict]:
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("85", "85"),
        (" 85 ", "85"),
        ("$85$", "85"),
        ("{85}", "85"),
        ("85.0", "85"),
        ("\\dfrac{1}{2}", "1/2"),
        ("\\frac{1}{2}", "0.5"),
        ("\\left(1, 2\\right)", "(1,2)"),
        ("x^2 + 1", "1+x^2"),
        ("\\boxed{42}", "42"),
        ("-3", "-3"),
        ("1,000", "1000"),
    ],
)
def test_equivalent_answers_score_one(answer: str, gold: str) -> None:
    reward = build_reward("answer_tag")
    assert reward(completions=[conv(f"<think>work</think>\n<answer>{answer}</answer>")], solution=[gold]) == [1.0]


@pytest.mark.parametrize(
    "answer",
    ["84", "47+38", "0 85", "84, 85, 86", "85 or 86", "17\\cdot 5", "850", "8.5"],
)
def test_wrong_and_hacked_answers_score_zero(answer: str) -> None:
    """Expressions that evaluate to the gold (the prompt echoed back) and answer lists do not count."""
    reward = build_reward("answer_tag")
    assert reward(completions=[f"<answer>{answer}</answer>"], solution=["85"]) == [0.0]


def test_last_answer_block_counts_and_tags_are_required() -> None:
    reward = build_reward("answer_tag")
    texts = ["<answer>12</answer> no, <answer>85</answer>", "<answer>85</answer> then <answer>12</answer>", "85"]
    assert reward(completions=texts, solution=["85"] * 3) == [1.0, 0.0, 0.0]


def test_empty_gold_is_not_applicable() -> None:
    reward = build_reward("answer_tag")
    assert reward(completions=["<answer></answer>", "<answer>1</answer>"], solution=["", None]) == [None, None]


def test_stuffed_answer_block_scores_zero() -> None:
    reward = build_reward("answer_tag")
    stuffed = "<answer>" + ", ".join(str(i) for i in range(200)) + "</answer>"
    assert reward(completions=[stuffed], solution=["85"]) == [0.0]


def test_each_completion_is_scored_against_its_own_row() -> None:
    """2 rows x 3 completions, flattened the way TRL passes them."""
    golds = ["85", "12"]
    answers = [["85", "12", "85"], ["12", "85", "12"]]
    completions = [conv(f"<answer>{a}</answer>") for row in answers for a in row]
    solution = [g for g in golds for _ in range(3)]
    assert build_reward("answer_tag")(completions=completions, solution=solution) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_canonicalisation() -> None:
    assert canon_math("$\\dfrac{1}{2}$") == "1/2"
    assert canon_math("\\left( \\frac{x+1}{2} \\right)") == "((x+1)/2)"
    assert canon_math("{{85.00}}") == "85"
    assert canon_math("0 85") == "0 85"  # separate numbers stay separate


def test_accuracy_strict_numeric_rejects_echoed_expressions() -> None:
    texts = [conv("\\boxed{47+38}"), conv("\\boxed{85}"), conv("\\boxed{0 85}")]
    strict = build_reward("accuracy", {"strict_numeric": True})(completions=texts, solution=["85"] * 3)
    assert strict == [0.0, 1.0, 0.0]


def test_accuracy_reads_boxed_answers_and_routes_math_and_arith() -> None:
    reward = build_reward("accuracy")
    texts = [conv("so \\boxed{85}"), conv("\\boxed{\\frac{170}{2}}"), conv("\\boxed{84}"), conv("85")]
    assert reward(completions=texts, solution=["85"] * 4) == [1.0, 1.0, 0.0, 0.0]
    assert reward(completions=texts[:2], solution=["85"] * 2, task=["arith", "crossword"]) == [1.0, None]
