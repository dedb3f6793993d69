"""``rewards`` group: the weighted reward functions of a run (names from ``rlvr.rewards.REGISTRY``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rlvr.errors import UserError


@dataclass
class RewardSpec:
    name: str = "accuracy"  # a key of rlvr.rewards.REGISTRY
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.weight):
            raise UserError(f"rewards.funcs[{self.name}].weight must be a finite number, got {self.weight}")


@dataclass
class RewardsConfig:
    name: str = "math"
    funcs: list[RewardSpec] = field(default_factory=lambda: [RewardSpec()])

    def __post_init__(self) -> None:
        if not self.funcs:
            raise UserError("rewards.funcs is empty: name at least one reward")
