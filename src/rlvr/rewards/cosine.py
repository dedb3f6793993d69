"""``cosine``: length-scaled math correctness, a shaping reward (TRL's ``get_cosine_scaled_reward``
schedule, from "Demystifying Long Chain-of-Thought Reasoning", appendix C.1).

Correct answers score more when shorter, wrong ones are penalised less when longer. Correctness is
the ``accuracy`` reward's (:func:`rlvr.tasks.math_norm.score_boxed`: the last ``\\boxed{}`` against
the gold, words compared as words, percentages as numbers, optional ``strict_numeric``), so it
serves the math task's rows by default (``MATH_TASKS``) and scores ``None`` where ``accuracy``
does (a gold that cannot be scored), never a penalty.
"""

from __future__ import annotations

import math
from typing import Any

from rlvr.errors import UserError
from rlvr.registry.reward_helpers import column, score_each
from rlvr.registry.rewards import completion_text, register
from rlvr.tasks.math_norm import MATH_TASKS, score_boxed


def cosine_scaled(
    correct: bool, length: int, max_len: int, wrong: tuple[float, float], right: tuple[float, float]
) -> float:
    """TRL's schedule: ``lo + (hi - lo) * (1 + cos(pi * min(length / max_len, 1))) / 2``, where
    ``(lo, hi)`` is ``right`` (min, max) for a correct answer and ``wrong`` (max, min) for a wrong one."""
    lo, hi = right if correct else (wrong[1], wrong[0])
    progress = min(length / max_len, 1.0)
    return float(lo + 0.5 * (hi - lo) * (1.0 + math.cos(progress * math.pi)))


@register("cosine", tasks=MATH_TASKS)
def cosine(
    max_len: int | None = None,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    strict_numeric: bool = False,
):
    """Cosine length-scaled accuracy (correct: shorter is better, wrong: longer is less bad).
    ``max_len`` is in tokens (usually the training max_completion_length). ``None`` without
    ``completion_ids`` or when the gold cannot be scored; ``strict_numeric`` as in ``accuracy``."""
    if not isinstance(max_len, int) or max_len <= 0:
        raise UserError(f"rewards.funcs[cosine].kwargs.max_len must be a positive token count, got {max_len!r}")
    wrong, right = (min_value_wrong, max_value_wrong), (min_value_correct, max_value_correct)

    def one(completion: Any, gold: Any, ids: Any) -> float | None:
        if ids is None:
            return None
        correct = score_boxed(completion_text(completion), gold, strict_numeric)
        if correct is None:
            return None
        return cosine_scaled(correct == 1.0, len(ids), max_len, wrong, right)

    def reward(completions: list, solution: list, completion_ids: list | None = None, **_: Any):
        ids = column({"completion_ids": completion_ids}, "completion_ids", len(completions), "cosine", required=False)
        return score_each("cosine", one, completions, solution, ids)

    return reward
