"""Math rewards: TRL's math-verify accuracy on ``\\boxed{}`` answers, and its length-scaled
(cosine) variant. Both serve the ``math`` and ``arith`` tasks by default."""

from __future__ import annotations

from typing import Any

from trl.rewards import accuracy_reward, get_cosine_scaled_reward

from rlvr.errors import UserError
from rlvr.rewards.common import column, last_boxed, score_each
from rlvr.rewards.mathnorm import as_gold, as_number, canon_math
from rlvr.rewards.registry import completion_text, register

MATH_TASKS = ("math", "arith")

__all__ = ["MATH_TASKS", "accuracy", "as_gold", "cosine"]


def _echo_guard(text: str, gold: Any) -> bool:
    """True when a number gold meets a boxed answer that is not a number literal (``47+38``)."""
    if as_number(canon_math(gold)) is None:
        return False
    boxed = last_boxed(text)
    return boxed is not None and as_number(canon_math(boxed)) is None


@register("accuracy", tasks=MATH_TASKS)
def accuracy(strict_numeric: bool = False):
    """1.0 when the first ``\\boxed{}`` answer equals the gold (math-verify), else 0.0; ``None``
    when the gold itself cannot be parsed.

    ``strict_numeric``: a number gold only matches a boxed number literal. Without it,
    math-verify evaluates expressions, so ``\\boxed{47+38}`` scores 1.0 against the gold ``85``.
    """

    def reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
        raw = [completion_text(c) for c in completions]
        texts = [[{"role": "assistant", "content": t}] for t in raw]
        golds = [as_gold(s) for s in solution]
        scores = accuracy_reward(texts, golds, log_extra=kwargs.get("log_extra"))
        if strict_numeric:
            scores = [0.0 if s and _echo_guard(t, g) else s for s, t, g in zip(scores, raw, solution, strict=True)]
        return scores

    return reward


@register("cosine", tasks=MATH_TASKS)
def cosine(
    max_len: int | None = None,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
):
    """TRL's cosine length-scaled accuracy (correct: shorter is better, wrong: longer is less bad),
    with gold answers wrapped by ``as_gold`` so bare golds like ``85`` parse. ``max_len`` is in
    tokens (usually the training max_completion_length). ``None`` without ``completion_ids``."""
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
