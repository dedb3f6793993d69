"""Reward functions, selected by name from ``conf/rewards/*.yaml`` through ``REGISTRY``.

The registry itself is :mod:`rlvr.registry.rewards`; this package holds the generic shaping rewards that serve
any task (:mod:`.format`: ``think_format``, ``tag_count``, ``soft_overlong``, ``repetition``; :mod:`.cosine`:
length-scaled math correctness) and imports :mod:`rlvr.tasks`, whose modules register each task's rewards, so
that importing ``rlvr.rewards`` makes every built-in reward name exist.
"""

import rlvr.tasks  # noqa: F401  (registers every task's rewards)
from rlvr.registry.rewards import (
    REGISTRY,
    build_reward,
    build_rewards,
    check_rewards_serve,
    completion_text,
    declared_routes,
    register,
)
from rlvr.rewards import cosine as _cosine  # noqa: F401  (each module registers its rewards)
from rlvr.rewards import format as _format  # noqa: F401

__all__ = [
    "REGISTRY",
    "build_reward",
    "build_rewards",
    "check_rewards_serve",
    "completion_text",
    "declared_routes",
    "register",
]
