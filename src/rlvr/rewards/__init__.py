"""Reward functions, selected by name from ``conf/rewards/*.yaml`` through ``REGISTRY``.

This package holds the registry (:mod:`.registry`) and the generic shaping rewards that serve
any task (:mod:`.format`: ``think_format``, ``tag_count``, ``soft_overlong``, ``repetition``;
:mod:`.cosine`: length-scaled math correctness). A task's correctness rewards live with the task
in :mod:`rlvr.tasks`; they are imported here so that every reward name is registered.
"""

from rlvr.rewards import cosine as _cosine  # noqa: F401  (each module registers its rewards)
from rlvr.rewards import format as _format  # noqa: F401
from rlvr.rewards.registry import REGISTRY, build_reward, build_rewards, completion_text, register
from rlvr.tasks import crossword as _crossword  # noqa: F401
from rlvr.tasks import math as _math  # noqa: F401
from rlvr.tasks import rubric as _rubric  # noqa: F401
from rlvr.tasks import rush_hour as _rush_hour  # noqa: F401

__all__ = ["REGISTRY", "build_reward", "build_rewards", "completion_text", "register"]
