"""Feedback controllers for the MaxEnt objective's coefficients: KL coefficient ``beta`` and entropy coefficient ``tau``.

Both are plain Python objects updated once per optimizer step, with ``state_dict()`` / ``load_state_dict()`` so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
from typing import Any

from loguru import logger


class KLController:
    """Adaptive KL coefficient (Ziegler et al. 2019) driving the measured KL towards ``kl_target``.

    After each optimizer step with measured KL: ``e = clip(KL / kl_target - 1, -step_size, +step_size)`` and
    ``beta <- max(0, beta * (1 + e / kl_horizon))``. The controller is disabled (``beta`` stays at
    ``init_kl_coeff``) when any of ``kl_target``, ``kl_horizon``, ``kl_ctl_step_size`` is 0.
    """

    def __init__(
        self, init_kl_coeff: float, kl_target: float = 0.0, kl_horizon: float = 0.0, kl_ctl_step_size: float = 0.0
    ) -> None:
        for name, value in (
            ("init_kl_coeff", init_kl_coeff),
            ("kl_target", kl_target),
            ("kl_horizon", kl_horizon),
            ("kl_ctl_step_size", kl_ctl_step_size),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"KLController: {name} must be a finite number >= 0, got {value}")
        self.beta = float(init_kl_coeff)
        self.kl_target = float(kl_target)
        self.kl_horizon = float(kl_horizon)
        self.kl_ctl_step_size = float(kl_ctl_step_size)
        self.num_updates = 0

    @property
    def enabled(self) -> bool:
        return self.kl_target > 0 and self.kl_horizon > 0 and self.kl_ctl_step_size > 0

    def update(self, kl: float) -> float:
        """Adapt ``beta`` to the KL measured at this step; returns the new ``beta``. Non-finite KL is skipped."""
        if not self.enabled:
            return self.beta
        kl = float(kl)
        if not math.isfinite(kl):
            logger.warning(f"KLController: ignoring non-finite KL {kl}; beta stays {self.beta:.4g}")
            return self.beta
        error = min(max(kl / self.kl_target - 1.0, -self.kl_ctl_step_size), self.kl_ctl_step_size)
        self.beta = max(0.0, self.beta * (1.0 + error / self.kl_horizon))
        self.num_updates += 1
        return self.beta

    def state_dict(self) -> dict[str, Any]:
        return {"beta": self.beta, "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.beta = float(state["beta"])
        self.num_updates = int(state.get("num_updates", 0))


class EntropyController:
    """Drives ``tau`` so that an EMA of the mean weight entropy (nats, between 0 and log K) tracks ``target_entropy``.

    On each update the EMA absorbs the new entropy (the first observation initialises it). From
    ``step >= warmup_steps`` on, ``log tau += tau_lr * (target_entropy - ema)`` and tau is clamped to
    ``[tau_min, tau_max]``: entropy below target raises tau (flatter weights, more entropy), above target lowers it.
    """

    def __init__(
        self,
        tau_init: float,
        target_entropy: float,
        tau_lr: float = 0.05,
        tau_min: float = 1e-4,
        tau_max: float = 10.0,
        ema_decay: float = 0.9,
        warmup_steps: int = 0,
    ) -> None:
        if not (math.isfinite(tau_min) and tau_min > 0):
            raise ValueError(f"EntropyController: tau_min must be > 0, got {tau_min}")
        if not (math.isfinite(tau_max) and tau_max > tau_min):
            raise ValueError(f"EntropyController: tau_max must be finite and > tau_min={tau_min}, got {tau_max}")
        if not tau_min <= tau_init <= tau_max:
            raise ValueError(
                f"EntropyController: tau_init={tau_init} must lie in [tau_min, tau_max]=[{tau_min}, {tau_max}]"
            )
        if not (math.isfinite(target_entropy) and target_entropy >= 0):
            raise ValueError(f"EntropyController: target_entropy must be >= 0 (nats), got {target_entropy}")
        if not (math.isfinite(tau_lr) and tau_lr >= 0):
            raise ValueError(f"EntropyController: tau_lr must be >= 0, got {tau_lr}")
        if not 0 <= ema_decay < 1:
            raise ValueError(f"EntropyController: ema_decay must be in [0, 1), got {ema_decay}")
        if warmup_steps < 0:
            raise ValueError(f"EntropyController: warmup_steps must be >= 0, got {warmup_steps}")
        self.tau = float(tau_init)
        self.target_entropy = float(target_entropy)
        self.tau_lr = float(tau_lr)
        self.tau_min = float(tau_min)
        self.tau_max = float(tau_max)
        self.ema_decay = float(ema_decay)
        self.warmup_steps = int(warmup_steps)
        self.ema: float | None = None
        self.num_updates = 0

    def update(self, mean_entropy: float, step: int) -> float:
        """Fold ``mean_entropy`` into the EMA and, after warmup, adapt tau; returns the new tau."""
        mean_entropy = float(mean_entropy)
        if not math.isfinite(mean_entropy):
            logger.warning(f"EntropyController: ignoring non-finite entropy {mean_entropy}; tau stays {self.tau:.4g}")
            return self.tau
        if self.ema is None:
            self.ema = mean_entropy
        else:
            self.ema = self.ema_decay * self.ema + (1.0 - self.ema_decay) * mean_entropy
        self.num_updates += 1
        if step >= self.warmup_steps:
            log_tau = math.log(self.tau) + self.tau_lr * (self.target_entropy - self.ema)
            self.tau = min(max(math.exp(log_tau), self.tau_min), self.tau_max)
        return self.tau

    def state_dict(self) -> dict[str, Any]:
        return {"tau": self.tau, "ema": self.ema, "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tau = float(state["tau"])
        self.ema = None if state.get("ema") is None else float(state["ema"])
        self.num_updates = int(state.get("num_updates", 0))
