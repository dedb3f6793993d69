"""Sampling-temperature schedule: linear anneal, then periodic high-temperature steps."""

from __future__ import annotations

import pytest

from rlvr.objectives import TemperatureSchedule


def test_anneal_endpoints_and_midpoint() -> None:
    s = TemperatureSchedule(temp_start=1.2, temp_end=0.6, anneal_steps=100, high_temp_period=0)
    assert s.at(0) == pytest.approx(1.2)
    assert s.at(50) == pytest.approx(0.9)
    assert s.at(100) == pytest.approx(0.6)
    assert s.at(1000) == pytest.approx(0.6)
    values = [s.at(i) for i in range(101)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_periodic_spikes_after_the_anneal() -> None:
    s = TemperatureSchedule(temp_start=1.0, temp_end=0.7, anneal_steps=10, high_temp_period=4)
    assert s.at(8) == pytest.approx(1.0 + (0.7 - 1.0) * 0.8)  # still annealing: no spike at 8
    assert [s.at(i) for i in range(11, 21)] == [0.7, 1.0, 0.7, 0.7, 0.7, 1.0, 0.7, 0.7, 0.7, 1.0]


def test_spikes_disabled_and_no_anneal() -> None:
    s = TemperatureSchedule(temp_start=1.0, temp_end=0.7, anneal_steps=0, high_temp_period=0)
    assert {s.at(i) for i in range(50)} == {0.7}
    spiky = TemperatureSchedule(temp_start=1.0, temp_end=0.7, anneal_steps=0, high_temp_period=5)
    assert [i for i in range(20) if spiky.at(i) == 1.0] == [0, 5, 10, 15]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temp_start": 0.0}, "temp_start"),
        ({"temp_end": -0.5}, "temp_end"),
        ({"anneal_steps": -1}, "anneal_steps"),
        ({"high_temp_period": -3}, "high_temp_period"),
        ({"anneal_steps": 2.5}, "anneal_steps"),
    ],
)
def test_invalid_inputs_name_the_config_key(kwargs: dict, field: str) -> None:
    base = {"temp_start": 1.0, "temp_end": 0.7, "anneal_steps": 10, "high_temp_period": 0}
    with pytest.raises(ValueError, match=f"training\\.temperature_schedule\\.{field}"):
        TemperatureSchedule(**{**base, **kwargs})


def test_negative_step_raises() -> None:
    with pytest.raises(ValueError, match="step"):
        TemperatureSchedule(1.0, 0.7, 10, 0).at(-1)
