"""Sampling-temperature schedule: a linear anneal, then optional periodic high-temperature steps."""

from __future__ import annotations

import math

_KEY = "training.temperature_schedule"


class TemperatureSchedule:
    """``at(step)``: linear from ``temp_start`` (step 0) to ``temp_end`` (step ``anneal_steps``); from then on
    ``temp_start`` on every step with ``step % high_temp_period == 0`` and ``temp_end`` otherwise.
    ``high_temp_period = 0`` disables the spikes; ``anneal_steps = 0`` skips the anneal.
    """

    def __init__(self, temp_start: float, temp_end: float, anneal_steps: int = 0, high_temp_period: int = 0) -> None:
        for name, value in (("temp_start", temp_start), ("temp_end", temp_end)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value > 0)
            ):
                raise ValueError(f"{_KEY}.{name} must be a positive number, got {value!r}")
        for name, value in (("anneal_steps", anneal_steps), ("high_temp_period", high_temp_period)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{_KEY}.{name} must be an integer >= 0, got {value!r}")
        self.temp_start = float(temp_start)
        self.temp_end = float(temp_end)
        self.anneal_steps = anneal_steps
        self.high_temp_period = high_temp_period

    def at(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"temperature schedule step must be >= 0, got {step}")
        if step < self.anneal_steps:
            return self.temp_start + (self.temp_end - self.temp_start) * step / self.anneal_steps
        if self.high_temp_period > 0 and step % self.high_temp_period == 0:
            return self.temp_start
        return self.temp_end

    def __repr__(self) -> str:
        return (
            f"TemperatureSchedule(temp_start={self.temp_start}, temp_end={self.temp_end}, "
            f"anneal_steps={self.anneal_steps}, high_temp_period={self.high_temp_period})"
        )
