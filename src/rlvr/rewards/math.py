"""Math rewards: TRL's math-verify accuracy on ``\\boxed{}`` answers."""

from __future__ import annotations

from typing import Any

from trl.rewards import accuracy_reward

from rlvr.rewards.registry import completion_text, register


def as_gold(answer: Any) -> str:
    """Wrap a bare gold answer in ``\\boxed{}`` so math-verify parses expressions like ``x^2+1``."""
    text = "" if answer is None else str(answer).strip()
    if not text or "\\boxed" in text or "$" in text:
        return text
    return f"\\boxed{{{text}}}"


@register("accuracy")
def accuracy(**_: Any):
    """1.0 when the first ``\\boxed{}`` answer equals the gold (math-verify), else 0.0; ``None``
    when the gold itself cannot be parsed."""

    def reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
        texts = [[{"role": "assistant", "content": completion_text(c)}] for c in completions]
        golds = [as_gold(s) for s in solution]
        return accuracy_reward(texts, golds, log_extra=kwargs.get("log_extra"))

    return reward
