"""Reward functions, selected by name from ``conf/rewards/*.yaml`` through ``REGISTRY``."""

from rlvr.rewards import math as _math  # noqa: F401  (registers its rewards)
from rlvr.rewards.registry import REGISTRY, build_reward, build_rewards, completion_text, register

__all__ = ["REGISTRY", "build_reward", "build_rewards", "completion_text", "register"]
