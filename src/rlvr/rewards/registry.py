"""The rewards registry: reward names -> factories that build TRL-compatible reward functions.

A reward function follows TRL's contract: it is called as ``f(prompts=..., completions=...,
**columns)`` where every dataset column arrives as a list aligned with the flattened B x K
completions, and returns one ``float`` (or ``None`` for "not applicable") per completion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rlvr.errors import UserError


class RewardFunc(Protocol):
    __name__: str

    def __call__(self, completions: list, **kwargs: Any) -> list[float | None]: ...


RewardFactory = Callable[..., Callable[..., list[float | None]]]
REGISTRY: dict[str, RewardFactory] = {}


def register(name: str) -> Callable[[RewardFactory], RewardFactory]:
    """Decorator: register ``factory(**kwargs) -> reward_func`` under ``name``."""

    def deco(factory: RewardFactory) -> RewardFactory:
        if name in REGISTRY:
            raise ValueError(f"reward {name!r} is registered twice")
        REGISTRY[name] = factory
        return factory

    return deco


def completion_text(completion: Any) -> str:
    """The text of one completion, conversational (list of messages) or plain string."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content", "")
            if isinstance(content, list):  # multimodal content blocks
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
            return str(content) if content is not None else ""
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return ""


def build_reward(name: str, kwargs: dict[str, Any] | None = None) -> Callable[..., list[float | None]]:
    if name not in REGISTRY:
        raise UserError(f"rewards.funcs: unknown reward {name!r}; registered rewards: {', '.join(sorted(REGISTRY))}")
    try:
        func = REGISTRY[name](**dict(kwargs or {}))
    except TypeError as err:
        raise UserError(f"rewards.funcs[{name}].kwargs: {err}") from None
    func.__name__ = name  # TRL names its reward metrics after __name__
    return func


def build_rewards(specs: Sequence[Any]) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """Turn ``[{name, weight, kwargs}, ...]`` into TRL ``reward_funcs`` and ``reward_weights``."""
    if not specs:
        raise UserError("rewards.funcs is empty: list at least one reward, e.g. rewards=math")
    funcs, weights = [], []
    for spec in specs:
        funcs.append(build_reward(spec["name"], spec.get("kwargs")))
        weights.append(float(spec.get("weight", 1.0)))
    return funcs, weights
