"""The crossword task: letters-only exact match, enumeration checks, adversarial golds and answers, and
the enumeration taken from a clue while rows are loaded."""

from __future__ import annotations

import pytest

from rlvr.rewards import build_reward
from rlvr.tasks.crossword import canon_letters, enumeration_length, task_fields


def score(texts: list, golds: list, **columns: list) -> list:
    return build_reward("crossword")(completions=texts, solution=golds, **columns)


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("<answer>SEAHORSE</answer>", "SEAHORSE"),
        ("<answer>sea-horse</answer>", "SEA HORSE"),
        ("<answer>Café</answer>", "CAFE"),
        ("<answer>rock & roll</answer>", "ROCK AND ROLL"),
        ("<answer>o\u2019clock</answer>", "O'CLOCK"),
        ("I think about it...\nAnswer: apple", "APPLE"),
        ("the answer is below\n\nAPPLE\n", "apple"),
        ([{"role": "assistant", "content": "<answer>ÉCLAIR</answer>"}], "eclair"),
    ],
)
def test_matches(text: object, gold: str) -> None:
    assert score([text], [gold]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [
        "<answer>APPLES</answer>",
        "<answer>APPLE PEAR GRAPE</answer>",  # several answers stuffed into one block
        "<answer>A P P L E or PEACH</answer>",
        "<answer></answer>",
        "I think it is APPLE",  # no tags: the whole last line is the answer
        "<answer>APPLE</answer>\n<answer>PEACH</answer>",  # the last block counts
    ],
)
def test_non_matches(text: str) -> None:
    assert score([text], ["APPLE"]) == [0.0]


@pytest.mark.parametrize("gold", ["???", "", None, "123", "— …"])
def test_gold_without_letters_never_matches(gold: object) -> None:
    """A letterless gold would equal every letterless answer; such rows are not applicable."""
    assert score(["<answer>???</answer>", "", "<answer>123</answer>"], [gold] * 3) == [None, None, None]


def test_enumeration_and_length_columns_check_the_letter_count() -> None:
    texts = ["<answer>sea horse</answer>"] * 2
    assert score(texts, ["SEAHORSE"] * 2, enumeration=["(3,5)", "(8)"]) == [1.0, 1.0]
    assert score(texts, ["SEAHORSE"] * 2, enumeration=["(3,4)", None]) == [0.0, 1.0]
    assert score(texts, ["SEAHORSE"] * 2, length=[8, 7]) == [1.0, 0.0]


def test_enumeration_parsing() -> None:
    assert [enumeration_length(x) for x in (5, "(5)", "(3,4)", "3-4", "(2,3-4)", None, "", "(?)")] == [
        5,
        5,
        7,
        7,
        9,
        None,
        None,
        None,
    ]
    assert canon_letters("Rock’n’roll & Co.") == "ROCKNROLLANDCO"


def test_each_completion_is_scored_against_its_own_row() -> None:
    golds = ["APPLE", "PEAR"]
    answers = ["apple", "pear", "apple", "pear", "apple", "pear"]
    texts = [f"<answer>{a}</answer>" for a in answers]
    assert score(texts, [g for g in golds for _ in range(3)]) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_task_fields_take_the_enumeration_from_the_clue() -> None:
    assert task_fields({}, "Flower of the river (5)") == {"enumeration": "(5)"}
    assert task_fields({}, "Sea beast (3,4)  ") == {"enumeration": "(3,4)"}
    assert task_fields({}, "No count here") == {"enumeration": None}
    assert task_fields({"length": 5}, "Clue (5)") == {}  # the source's own column wins
    assert task_fields({"enumeration": None}, "Clue (5)") == {}
