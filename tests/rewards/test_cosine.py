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


def test_cosine_skips_unscorable_golds() -> None:
    """An unreadable gold is not applicable (None), never a wrong answer (about -1)."""
    reward = build_reward("cosine", {"max_len": 100})
    scores = reward(
        completions=[conv("\\boxed{answer}"), conv("\\boxed{sey}"), conv("\\boxed{yes}")],
        solution=["unparseable_latex", "Yes", "Yes"],
        completion_ids=[[1] * 10] * 3,
    )
    assert scores[0] is None
    assert scores[1] < 0 < scores[2]  # words are compared as words, not as the product y*e*s


def test_cosine_correctness_is_accuracy_correctness() -> None:
    """Same final answer (the last box), same gold rules as ``accuracy``; strict_numeric too."""
    texts = [
        "\\boxed{84} no, \\boxed{85}",
        "\\boxed {85}",
        "\\boxed{85\\%}",
        "\\boxed{47+38}",
        "\\boxed{85} no, \\boxed{84}",
    ]
    completions = [conv(t) for t in texts]
    n = len(texts)
    for strict in (False, True):
        accuracy = build_reward("accuracy", {"strict_numeric": strict})(completions=completions, solution=["85"] * n)
        cosine = build_reward("cosine", {"max_len": 100, "strict_numeric": strict})
        scores = cosine(completions=completions, solution=["85"] * n, completion_ids=[[1] * 10] * n)
        assert [s > 0 for s in scores] == [a == 1.0 for a in accuracy]
    assert accuracy == [1.0, 1.0, 1.0, 0.0, 0.0]
