"""Every registered reward survives malformed model output: one score per completion, no exception."""

from __future__ import annotations

import time

import pytest

from rlvr.rewards import REGISTRY, build_reward

KWARGS = {
    "cosine": {"max_len": 64},
    "soft_overlong": {"max_completion_len": 64, "soft_punish_cache": 16},
}
BOARD = "..B.\nAAB.\n....\n...."
HUGE = "85 <answer>A>1</answer> " * 45_000  # about 1 MB

MALFORMED = [
    "",
    None,
    [{"role": "assistant", "content": None}],
    [{"role": "assistant", "content": ""}],
    [],
    {"content": None},
    HUGE,
    "<answer>" * 120_000,  # 1 MB of unclosed tags: extraction must stay linear
    "</answer><answer>" * 60_000,
    "\\boxed{" * 50_000,
    "日本語の答え <answer>八十五</answer> 🚗💨 \u0000 \ud800",
    "<think>unclosed reasoning with no answer",
    "<answer>" + "A>1," * 50_000 + "</answer>",
    "\\boxed{\\frac{1}{0}}  <answer>\\frac{1}{0}</answer>",
]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_malformed_completions_never_raise(name: str) -> None:
    reward = build_reward(name, KWARGS.get(name))
    n = len(MALFORMED)
    columns = {
        "solution": ["85"] * n,
        "board": [BOARD] * n,
        "moves": [2] * n,
        "rubric": [["states the answer 85"]] * n,
        "reference_answer": ["The answer is 85."] * n,
        "completion_ids": [[1, 2, 3] * (i + 1) for i in range(n)],
        "trainer_state": None,
        "log_extra": lambda column, values: None,
        "log_metric": lambda name, value: None,
    }
    start = time.perf_counter()
    scores = reward(prompts=["question"] * n, completions=MALFORMED, **columns)
    assert time.perf_counter() - start < 60
    assert len(scores) == n
    assert all(s is None or (isinstance(s, float) and -1.0 <= s <= 1.0) for s in scores), scores
    if name in ("answer_tag", "crossword", "rush_hour_exact", "rush_hour_shaped"):
        assert all(s in (0.0, None) for s in scores), scores  # no malformed text earns a reward
