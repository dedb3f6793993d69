"""cosine: TRL's length-scaled math accuracy (a shaping reward), with bare golds and without token ids."""

from __future__ import annotations

import pytest

from rlvr.errors import UserError
from rlvr.rewards import build_reward


def conv(text: str | None) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_cosine_prefers_short_correct_answers_and_reads_bare_golds() -> None:
    reward = build_reward("cosine", {"max_len": 100})
    scores = reward(
        completions=[conv("\\boxed{85}"), conv("\\boxed{85}"), conv("\\boxed{84}"), conv("\\boxed{84}")],
        solution=["85"] * 4,
        completion_ids=[[1] * 10, [1] * 90, [1] * 10, [1] * 90],
    )
    short_right, long_right, short_wrong, long_wrong = scores
    assert short_right > long_right >= 0.5
    assert short_wrong < long_wrong <= -0.5


def test_cosine_without_token_ids_is_not_applicable() -> None:
    reward = build_reward("cosine", {"max_len": 100})
    assert reward(completions=["\\boxed{85}"], solution=["85"]) == [None]


def test_cosine_needs_max_len() -> None:
    with pytest.raises(UserError, match="max_len"):
        build_reward("cosine")
