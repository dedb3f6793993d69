"""``answer_tag``: the last ``<answer>...</answer>`` payload against the gold ``solution``."""

from __future__ import annotations

from typing import Any

from rlvr.rewards.common import answer_block, score_each
from rlvr.rewards.math import MATH_TASKS
from rlvr.rewards.mathnorm import canon_math, math_equal
from rlvr.rewards.registry import completion_text, register


def score_answer_tag(text: str, gold: Any, strict_numeric: bool = True, max_chars: int = 256) -> float | None:
    """1.0 when the last ``<answer>`` payload equals the gold after canonicalisation (or is
    math-verify equivalent; number golds need a number literal with ``strict_numeric``), 0.0
    otherwise, None when the gold is empty. Payloads longer than ``max(max_chars, 20 x gold)``
    score 0.0 without parsing: no correct answer is that long, and parsing would be slow."""
    gold_text = "" if gold is None else str(gold).strip()
    if not canon_math(gold_text):
        return None
    payload = answer_block(text)
    if payload is None or not payload.strip() or len(payload) > max(max_chars, 20 * len(gold_text)):
        return 0.0
    return 1.0 if math_equal(payload, gold_text, strict_numeric=strict_numeric) else 0.0


@register("answer_tag", tasks=MATH_TASKS)
def answer_tag(strict_numeric: bool = True, max_chars: int = 256):
    """Math answer inside ``<answer>`` tags; see :func:`score_answer_tag`."""

    def one(completion: Any, gold: Any) -> float | None:
        return score_answer_tag(completion_text(completion), gold, strict_numeric, max_chars)

    def reward(completions: list, solution: list, **_: Any) -> list[float | None]:
        return score_each("answer_tag", one, completions, solution)

    return reward
