"""Reward functions, selected by name from ``conf/rewards/*.yaml`` through ``REGISTRY``."""

from rlvr.rewards import answer_tag as _answer_tag  # noqa: F401  (each module registers its rewards)
from rlvr.rewards import crossword as _crossword  # noqa: F401
from rlvr.rewards import format as _format  # noqa: F401
from rlvr.rewards import math as _math  # noqa: F401
from rlvr.rewards import rubric as _rubric  # noqa: F401
from rlvr.rewards import rush_hour as _rush_hour  # noqa: F401
from rlvr.rewards.registry import REGISTRY, build_reward, build_rewards, completion_text, register

__all__ = ["REGISTRY", "build_reward", "build_rewards", "completion_text", "register"]
