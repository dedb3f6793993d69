"""``replay`` group: prioritised prompt replay (``rlvr.replay``); every knob is documented in docs/replay.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlvr.config.dataset import DatasetConfig
from rlvr.errors import UserError

SAMPLINGS = ("ucb", "proportional")
SKIP_FILLS = ("pool", "replay")
ADMITS = ("informative", "success")
RATIO_SCHEDULES = ("constant", "linear", "piecewise")


def check_points(points: Sequence[Any], key: str) -> None:
    """Reject malformed ``[[step, value], ...]`` lists with a message naming ``key``."""
    for p in points:
        try:
            ok = len(p) == 2 and int(p[0]) >= 0 and 0.0 <= float(p[1]) <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UserError(f"{key}: each point must be [step >= 0, value in [0, 1]], got {p}")


@dataclass
class EasyPoolConfig:
    """EASY pool: whole groups from a second dataset, mixed in with probability ``p_schedule(step)``."""

    enabled: bool = False
    dataset: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(name="arith_easy", generator_kwargs={"levels": ["1+1"]}, eval_size=0)
    )
    # [[step, p], ...] piecewise constant: p applies from that step on (before the first point: its value).
    p_schedule: list[Any] = field(default_factory=lambda: [[0, 0.2], [60, 0.0]])

    def __post_init__(self) -> None:
        check_points(self.p_schedule, "replay.easy.p_schedule")


@dataclass
class SkipConfig:
    """Pre-rollout skipping (GRESO-style): a prompt whose last pulls were all solved (or all failed) is skipped
    before generation with probability ``1 - explore ** streak``, its slot refilled; see docs/replay.md."""

    enabled: bool = False
    explore_solved: float = 0.25  # keep probability per all-solved pull in a row: kept with explore_solved**streak
    explore_failed: float = 0.5  # the same for all-failed pulls (hard prompts may become solvable)
    min_streak: int = 1  # skipping starts once a prompt has this many uniform pulls in a row
    fill: str = "pool"  # pool: the next fresh prompt from the training pool | replay: a buffer sample (pool if empty)
    max_draws: int = 8  # pool candidates tried per skipped slot (each may be skipped too) before one is kept anyway
    target_zero_std: float | None = None  # adapt both explore values so zero-std groups stay near this share
    adapt_rate: float = 0.1  # multiplicative step of that adaptation per generation

    def __post_init__(self) -> None:
        for key in ("explore_solved", "explore_failed"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise UserError(f"replay.skip.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.min_streak < 1:
            raise UserError(f"replay.skip.min_streak must be >= 1, got {self.min_streak}")
        if self.fill not in SKIP_FILLS:
            raise UserError(f"replay.skip.fill: {self.fill!r} is not one of {', '.join(SKIP_FILLS)}")
        if self.max_draws < 1:
            raise UserError(f"replay.skip.max_draws must be >= 1, got {self.max_draws}")
        if self.target_zero_std is not None and not 0.0 <= self.target_zero_std <= 1.0:
            raise UserError(f"replay.skip.target_zero_std must be in [0, 1] or null, got {self.target_zero_std}")
        if not 0.0 < self.adapt_rate < 1.0:
            raise UserError(f"replay.skip.adapt_rate must be in (0, 1), got {self.adapt_rate}")


@dataclass
class RefillConfig:
    """Dynamic-sampling refill (DAPO-style): zero-variance groups are dropped after scoring and further groups
    generated until every process has a full batch of informative groups or ``max_rounds`` is reached."""

    enabled: bool = False
    max_rounds: int = 3  # extra generation rounds per generation batch at most (each one a whole batch)

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise UserError(f"replay.refill.max_rounds must be >= 1, got {self.max_rounds}")


@dataclass
class ReplayConfig:
    """Prioritised prompt replay (``rlvr.replay``)."""

    name: str = "none"
    enabled: bool = False
    capacity: int = 4096  # prompts held; at capacity the lowest-priority entry is evicted
    sampling: str = "ucb"  # ucb: top-k priority | proportional: sample proportional to priority
    ucb_c: float = 0.2  # exploration bonus c * sqrt(ln N / n) added to the learnability estimate
    temperature: float = 1.0  # proportional sampling: p ~ priority ** (1 / temperature)
    ratio: float = 0.5  # fraction of each generation batch's prompt groups taken from the buffer
    ratio_schedule: str = "constant"  # constant | linear (ratio_start -> ratio over ratio_ramp_steps) | piecewise
    ratio_start: float = 0.0
    ratio_ramp_steps: int = 0
    ratio_points: list[Any] = field(default_factory=list)  # piecewise: [[step, ratio], ...]
    min_size: int = 8  # replay starts once the buffer holds this many prompts
    warmup_steps: int = 0  # ... and not before this optimizer step
    admit: str = "informative"  # informative: correctness varies within the group | success: >= 1 correct completion
    success_threshold: float = 1.0  # a completion whose correctness reward is >= this counts as solved
    retire_after: int = 3  # retire a prompt all-solved or all-failed this many pulls in a row (0: never)
    easy: EasyPoolConfig = field(default_factory=EasyPoolConfig)
    skip: SkipConfig = field(default_factory=SkipConfig)
    refill: RefillConfig = field(default_factory=RefillConfig)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise UserError(f"replay.capacity must be >= 1, got {self.capacity}")
        if self.sampling not in SAMPLINGS:
            raise UserError(f"replay.sampling: {self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        if self.ucb_c < 0:
            raise UserError(f"replay.ucb_c must be >= 0, got {self.ucb_c}")
        if self.temperature <= 0:
            raise UserError(f"replay.temperature must be > 0, got {self.temperature}")
        for key in ("ratio", "ratio_start"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise UserError(f"replay.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.ratio_schedule not in RATIO_SCHEDULES:
            raise UserError(
                f"replay.ratio_schedule: {self.ratio_schedule!r} is not one of {', '.join(RATIO_SCHEDULES)}"
            )
        if self.ratio_ramp_steps < 0:
            raise UserError(f"replay.ratio_ramp_steps must be >= 0, got {self.ratio_ramp_steps}")
        check_points(self.ratio_points, "replay.ratio_points")
        if self.admit not in ADMITS:
            raise UserError(f"replay.admit: {self.admit!r} is not one of {', '.join(ADMITS)}")
        if not self.success_threshold > 0:
            raise UserError(
                f"replay.success_threshold must be > 0 (a correctness reward above it is a solve), got {self.success_threshold}"
            )
        if self.min_size < 1:
            raise UserError(f"replay.min_size must be >= 1, got {self.min_size}")
        if self.warmup_steps < 0:
            raise UserError(f"replay.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.retire_after < 0:
            raise UserError(f"replay.retire_after must be >= 0 (0: never), got {self.retire_after}")
