"""Format and length rewards: think_format, tag_count, soft_overlong, repetition."""

from __future__ import annotations

import pytest

from rlvr.errors import UserError
from rlvr.rewards import build_reward

GOOD = "<think>\nadd the tens\n</think>\n<answer>\n85\n</answer>"


def test_think_format() -> None:
    reward = build_reward("think_format")
    texts = [GOOD, [{"role": "assistant", "content": GOOD}], "85", "<think>no close", "x <think>late</think>"]
    assert reward(completions=texts) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert reward(completions=["<think>a</think><think>b</think>"]) == [0.0]  # a second think block


def test_tag_count_gives_a_quarter_per_tag_seen_exactly_once() -> None:
    reward = build_reward("tag_count")
    texts = [
        GOOD,
        "<think>\nreasoning\n</think>\n85",
        "85",
        GOOD + GOOD,  # every tag twice: no credit
        "<think>\n\n<answer>\n85\n</answer>",
    ]
    assert reward(completions=texts) == [1.0, 0.5, 0.0, 0.0, 0.75]


def test_soft_overlong_penalises_only_near_and_past_the_limit() -> None:
    reward = build_reward("soft_overlong", {"max_completion_len": 100, "soft_punish_cache": 20})
    ids = [[1] * 50, [1] * 80, [1] * 90, [1] * 100, [1] * 101]
    assert reward(completions=["x"] * 5, completion_ids=ids) == [0.0, 0.0, -0.5, -1.0, -1.0]
    assert reward(completions=["x"]) == [None]  # no token ids (e.g. held-out evaluation): not applicable


def test_repetition_penalty_on_token_ngrams() -> None:
    reward = build_reward("repetition", {"ngram_size": 2, "max_penalty": -1.0})
    scores = reward(completions=["a", "b", "c"], completion_ids=[[1, 2, 3, 4], [5, 5, 5, 5, 5], [7]])
    assert scores == [0.0, -0.75, 0.0]


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("soft_overlong", {}, "max_completion_len"),
        ("soft_overlong", {"max_completion_len": 10, "soft_punish_cache": 20}, "soft_punish_cache"),
        ("repetition", {"max_penalty": 0.5}, "max_penalty"),
        ("repetition", {"ngram_size": 0}, "ngram_size"),
        ("tag_count", {"unknown": 1}, None),
    ],
)
def test_bad_kwargs_are_user_errors(name: str, kwargs: dict, match: str | None) -> None:
    with pytest.raises(UserError, match=match):
        build_reward(name, kwargs)


def test_soft_overlong_cache_as_a_fraction_of_the_budget() -> None:
    reward = build_reward("soft_overlong", {"max_completion_len": 100, "soft_punish_cache": 0.2})
    assert reward(completions=["x"] * 3, completion_ids=[[1] * 80, [1] * 90, [1] * 120]) == [0.0, -0.5, -1.0]
