"""Format and length rewards; they serve every task (no routing by default).

- ``think_format``: TRL's ``think_format_reward`` (1.0 when the text starts with one
  ``<think>...</think>`` block).
- ``tag_count``: open-r1's partial credit, 0.25 for each of ``<think>\\n``, ``\\n</think>\\n``,
  ``\\n<answer>\\n``, ``\\n</answer>`` appearing exactly once.
- ``soft_overlong``: TRL's DAPO soft overlong punishment on ``completion_ids`` (0 down to -1).
- ``repetition``: TRL's repeated-n-gram penalty on ``completion_ids`` (0 down to ``max_penalty``).

The token-based ones need ``completion_ids`` (TRL passes them); without them they return None.
"""

from __future__ import annotations

from typing import Any

from trl.rewards import get_repetition_penalty_reward, get_soft_overlong_punishment, think_format_reward

from rlvr.errors import UserError
from rlvr.registry.reward_helpers import column, score_each
from rlvr.registry.rewards import completion_text, register

TAGS = ("<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>")


@register("think_format")
def think_format():
    def one(completion: Any) -> float:
        return think_format_reward([[{"role": "assistant", "content": completion_text(completion)}]])[0]

    def reward(completions: list, **_: Any) -> list[float | None]:
        return score_each("think_format", one, completions)

    return reward


def count_tags(text: str) -> float:
    return float(sum(0.25 for tag in TAGS if text.count(tag) == 1))


@register("tag_count")
def tag_count():
    def reward(completions: list, **_: Any) -> list[float | None]:
        return score_each("tag_count", lambda c: count_tags(completion_text(c)), completions)

    return reward


def _token_reward(name: str, func: Any):
    def reward(completions: list, completion_ids: list | None = None, **_: Any) -> list[float | None]:
        ids = column({"completion_ids": completion_ids}, "completion_ids", len(completions), name, required=False)
        return score_each(name, lambda x: None if x is None else func([list(x)])[0], ids)

    return reward


def _int_kwarg(reward: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"rewards.funcs[{reward}].kwargs.{key} must be an integer >= {minimum}, got {value!r}")
    return value


@register("soft_overlong")
def soft_overlong(max_completion_len: int | None = None, soft_punish_cache: int | float | None = None):
    """Penalise completions within ``soft_punish_cache`` tokens of ``max_completion_len`` (linearly
    to -1) and beyond it (-1); shorter ones get 0. A ``soft_punish_cache`` between 0 and 1 is a
    fraction of ``max_completion_len`` (so one config serves every generation length)."""
    max_len = _int_kwarg("soft_overlong", "max_completion_len", max_completion_len, 1)
    if isinstance(soft_punish_cache, float) and 0.0 < soft_punish_cache < 1.0:
        soft_punish_cache = max(1, round(soft_punish_cache * max_len))
    cache = _int_kwarg("soft_overlong", "soft_punish_cache", soft_punish_cache, 0)
    if cache > max_len:
        raise UserError(
            f"rewards.funcs[soft_overlong].kwargs: soft_punish_cache {cache} > max_completion_len {max_len}"
        )
    return _token_reward("soft_overlong", get_soft_overlong_punishment(max_len, cache))


@register("repetition")
def repetition(ngram_size: int = 3, max_penalty: float = -1.0):
    """``(1 - unique/total token n-grams) * max_penalty``: 0 for no repeats, ``max_penalty`` (<= 0) at worst."""
    size = _int_kwarg("repetition", "ngram_size", ngram_size, 1)
    if not isinstance(max_penalty, int | float) or max_penalty > 0:
        raise UserError(f"rewards.funcs[repetition].kwargs.max_penalty must be <= 0, got {max_penalty!r}")
    return _token_reward("repetition", get_repetition_penalty_reward(size, float(max_penalty)))
