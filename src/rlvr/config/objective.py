"""``objective`` group: the policy loss (TRL's GRPO or MaxEnt-GRPO), the adaptive KL and entropy controllers,
and the sampling-temperature schedule. The math of every knob: docs/objectives.md.

The initial KL coefficient is TRL's ``training.beta`` (> 0 makes TRL load a reference model); ``kl_ctl`` adapts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlvr.errors import UserError


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass
class KLControlConfig:
    """Adaptive KL coefficient (both objectives), as verl's ``algorithm.kl_ctrl``; off while any value is 0.

    beta <- max(0, beta * (1 + clip(KL / target - 1, -step_size, step_size) / horizon)) after each optimizer step.
    """

    target: float = 0.0  # KL the controller steers towards (TRL's k3 estimate, mean per token)
    horizon: float = 0.0
    step_size: float = 0.0  # the clip on the proportional error

    def __post_init__(self) -> None:
        for key in ("target", "horizon", "step_size"):
            value = getattr(self, key)
            if not (_finite(value) and value >= 0):
                raise UserError(f"objective.kl_ctl.{key} must be a finite number >= 0, got {value}")

    @property
    def enabled(self) -> bool:
        return self.target > 0 and self.horizon > 0 and self.step_size > 0


@dataclass
class EntropyControlConfig:
    """MaxEnt only: drive tau so an EMA of the mean weight entropy (nats, 0..log K) tracks ``target``."""

    target: float | None = None  # null: off (tau stays objective.tau)
    lr: float = 0.05  # log tau += lr * (target - ema)
    tau_min: float = 1e-3  # tau clamped to [tau_min, tau_max]; tau_min > 0
    tau_max: float = 10.0
    warmup_steps: int = 0  # optimizer steps that only feed the EMA before tau moves
    ema_decay: float = 0.9  # ema <- decay * ema + (1 - decay) * entropy

    def __post_init__(self) -> None:
        if self.target is not None and not (_finite(self.target) and self.target >= 0):
            raise UserError(f"objective.entropy_ctl.target must be >= 0 nats or null, got {self.target}")
        if not (_finite(self.lr) and self.lr >= 0):
            raise UserError(f"objective.entropy_ctl.lr must be >= 0, got {self.lr}")
        if not (_finite(self.tau_min) and self.tau_min > 0):
            raise UserError(f"objective.entropy_ctl.tau_min must be > 0, got {self.tau_min}")
        if not (_finite(self.tau_max) and self.tau_max > self.tau_min):
            raise UserError(
                f"objective.entropy_ctl.tau_max must be finite and > tau_min={self.tau_min}, got {self.tau_max}"
            )
        if self.warmup_steps < 0:
            raise UserError(f"objective.entropy_ctl.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"objective.entropy_ctl.ema_decay must be in [0, 1), got {self.ema_decay}")

    @property
    def enabled(self) -> bool:
        return self.target is not None


@dataclass
class TemperatureScheduleConfig:
    """The sampling temperature per optimizer step (off by default; both objectives).

    Linear from ``temp_start`` (step 0) to ``temp_end`` (step ``anneal_steps``); after that ``temp_start``
    on every step divisible by ``high_temp_period`` and ``temp_end`` otherwise. When enabled it replaces
    ``model.generation_kwargs.temperature`` for sampling only (log-probabilities keep that temperature).
    """

    enabled: bool = False
    temp_start: float = 1.0
    temp_end: float = 1.0
    anneal_steps: int = 0  # 0: no anneal
    high_temp_period: int = 0  # 0: no periodic high-temperature steps

    def __post_init__(self) -> None:
        for key in ("temp_start", "temp_end"):
            value = getattr(self, key)
            if not (_finite(value) and value > 0):
                raise UserError(f"objective.temperature_schedule.{key} must be a positive number, got {value!r}")
        for key in ("anneal_steps", "high_temp_period"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UserError(f"objective.temperature_schedule.{key} must be an integer >= 0, got {value!r}")


@dataclass
class ObjectiveConfig:
    """``objective=grpo`` runs TRL's loss unchanged; ``objective=maxent`` the sequence-level MaxEnt-GRPO loss; any
    other registered objective (``rlvr.objectives.mixin.register_objective``) by its name."""

    name: str = "grpo"  # a registered objective (rlvr.objectives.mixin.register_objective): grpo | maxent
    # -- MaxEnt-GRPO (name=maxent) --
    q_temperature: float = 1.0  # T_q > 0: listwise target q = softmax(u / T_q) over each group's utilities
    q_epsilon: float = 0.0  # eps >= 0: q <- (1 - eps*K) q + eps, renormalised; needs eps * K < 1
    tau: float = 1.0  # tau >= 0: entropy coefficient (initial value when entropy_ctl is on)
    length_normalize_ref: bool = True  # l_i = per-token mean of log pi_ref (true) or its sum (false)
    clip: bool = False  # add the PPO-style clipped term on the sequence ratio, range training.epsilon
    entropy_ctl: EntropyControlConfig = field(default_factory=EntropyControlConfig)
    # -- both objectives --
    kl_ctl: KLControlConfig = field(default_factory=KLControlConfig)
    temperature_schedule: TemperatureScheduleConfig = field(default_factory=TemperatureScheduleConfig)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():  # which names exist: the registry, checked by rlvr.run.build (plugins first)
            raise UserError(f"objective.name must name a registered objective (grpo, maxent, ...), got {self.name!r}")
        if not (_finite(self.q_temperature) and self.q_temperature > 0):
            raise UserError(f"objective.q_temperature must be > 0, got {self.q_temperature}")
        if not (_finite(self.q_epsilon) and self.q_epsilon >= 0):
            raise UserError(f"objective.q_epsilon must be >= 0, got {self.q_epsilon}")
        if not (_finite(self.tau) and self.tau >= 0):
            raise UserError(f"objective.tau must be >= 0, got {self.tau}")
        ctl = self.entropy_ctl
        if self.name == "maxent" and ctl.enabled and not ctl.tau_min <= self.tau <= ctl.tau_max:
            raise UserError(
                f"objective.tau={self.tau} must lie in [objective.entropy_ctl.tau_min, tau_max] = "
                f"[{ctl.tau_min}, {ctl.tau_max}] when the entropy controller is on"
            )

    @property
    def is_maxent(self) -> bool:
        return self.name == "maxent"

    def check_with(self, num_generations: int, beta: float) -> None:
        """Checks that need the ``training`` group: K = ``training.num_generations``, initial beta = ``training.beta``."""
        if self.kl_ctl.enabled and beta == 0:
            raise UserError(
                "objective.kl_ctl is on (target, horizon, step_size > 0) but training.beta is 0, so beta would stay 0 "
                "and no reference model is loaded: set training.beta > 0 (the initial KL coefficient)"
            )
        if not self.is_maxent:
            return
        if self.q_epsilon * num_generations >= 1:
            raise UserError(
                f"objective.q_epsilon * training.num_generations must be < 1, got {self.q_epsilon} * {num_generations}: "
                "the smoothed target would leave no mass to the rewards"
            )
        if self.tau + beta <= 0:
            raise UserError(
                "objective.tau + training.beta must be > 0 (the weights are a softmax with temperature tau + beta): "
                "set objective.tau > 0 or training.beta > 0"
            )
        if self.entropy_ctl.enabled and self.entropy_ctl.target > math.log(num_generations):
            raise UserError(
                f"objective.entropy_ctl.target={self.entropy_ctl.target} nats is above "
                f"log(training.num_generations)={math.log(num_generations):.3f}, the largest weight entropy of a group"
            )
