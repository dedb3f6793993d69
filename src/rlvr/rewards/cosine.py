"""``cosine``: TRL's length-scaled accuracy, a shaping reward on top of math correctness.

Correct answers score more when shorter, wrong ones are penalised less when longer. Correctness
is math-verify's on ``\\boxed{}`` answers, so it serves the math task's rows by default
(``rlvr.tasks.math.MATH_TASKS``); gold answers are wrapped by ``as_gold`` so bare golds like
``85`` parse.
"""

from __future__ import annotations

from typing import Any

from trl.rewards import get_cosine_scaled_reward

from rlvr.errors import UserError
from rlvr.rewards.common import column, score_each
from rlvr.rewards.registry import completion_text, register
from rlvr.tasks.math import MATH_TASKS
from rlvr.tasks.math_norm import as_gold


@register("cosine", tasks=MATH_TASKS)
def cosine(
    max_len: int | None = None,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
):
    """TRL's cosine length-scaled accuracy (correct: shorter is better, wrong: longer is less bad).
    ``max_len`` is in tokens (usually the training max_completion_length). ``None`` without
    ``completion_ids``."""
    if not isinstance(max_len, int) or max_len <= 0:
        raise UserError(f"rewards.funcs[cosine].kwargs.max_len must be a positive token count, got {max_len!r}")
    scaled = get_cosine_scaled_reward(max_len, min_value_wrong, max_value_wrong, min_value_correct, max_value_correct)

    def one(completion: Any, gold: Any, ids: Any) -> float | None:
        if ids is None:
            return None
        text = [[{"role": "assistant", "content": completion_text(completion)}]]
        return scaled(text, [as_gold(gold)], [list(ids)])[0]

    def reward(completions: list, solution: list, completion_ids: list | None = None, **_: Any):
        ids = column({"completion_ids": completion_ids}, "completion_ids", len(completions), "cosine", required=False)
        return score_each("cosine", one, completions, solution, ids)

    return reward
