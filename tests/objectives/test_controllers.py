"""KL and entropy controllers: direction, bounds, disabling, warmup, and exact resume from state."""

from __future__ import annotations

import math

import pytest
import torch as th

from rlvr.objectives import EntropyController, KLController


def test_kl_above_target_raises_beta_below_lowers_it() -> None:
    ctl = KLController(init_kl_coeff=0.1, kl_target=0.05, kl_horizon=10, kl_ctl_step_size=0.2)
    assert ctl.enabled
    up = ctl.update(0.06)  # e = 0.2, exactly at the bound
    assert up == pytest.approx(0.1 * (1 + 0.2 / 10))
    ctl = KLController(0.1, 0.05, 10, 0.2)
    down = ctl.update(0.045)  # e = -0.1
    assert down == pytest.approx(0.1 * (1 - 0.1 / 10))


def test_kl_error_is_clipped_at_the_step_size() -> None:
    huge = KLController(0.1, 0.05, 10, 0.2)
    huge.update(50.0)  # KL / target - 1 = 999, clipped to 0.2
    assert huge.beta == pytest.approx(0.1 * 1.02)
    zero = KLController(0.1, 0.05, 10, 0.2)
    zero.update(0.0)  # -1, clipped to -0.2
    assert zero.beta == pytest.approx(0.1 * 0.98)


def test_kl_controller_tracks_a_synthetic_policy() -> None:
    """Toy system: measured KL = 0.02 / beta. The controller settles where KL hits the target."""
    ctl = KLController(0.05, kl_target=0.1, kl_horizon=5, kl_ctl_step_size=0.5)
    for _ in range(400):
        ctl.update(0.02 / ctl.beta)
    assert ctl.beta == pytest.approx(0.2, rel=1e-2)


def test_beta_never_negative() -> None:
    # horizon < step size lets a single step overshoot below zero; beta is floored at 0
    ctl = KLController(1.0, kl_target=1.0, kl_horizon=0.1, kl_ctl_step_size=0.5)
    assert ctl.update(0.0) == 0.0
    assert ctl.update(0.0) == 0.0
    assert ctl.update(100.0) == 0.0  # and multiplicative updates cannot revive it


@pytest.mark.parametrize("knob", ["kl_target", "kl_horizon", "kl_ctl_step_size"])
def test_kl_controller_disabled_when_a_knob_is_zero(knob: str) -> None:
    kwargs = {"init_kl_coeff": 0.04, "kl_target": 0.1, "kl_horizon": 10.0, "kl_ctl_step_size": 0.2, knob: 0.0}
    ctl = KLController(**kwargs)
    assert not ctl.enabled
    assert ctl.update(5.0) == 0.04
    assert ctl.update(0.0) == 0.04


def test_kl_controller_validation_and_non_finite_kl() -> None:
    with pytest.raises(ValueError, match="kl_target"):
        KLController(0.1, kl_target=-1.0, kl_horizon=1, kl_ctl_step_size=0.1)
    ctl = KLController(0.1, 0.05, 10, 0.2)
    assert ctl.update(float("nan")) == 0.1


def test_kl_state_round_trip() -> None:
    a = KLController(0.1, 0.05, 10, 0.2)
    for kl in (0.2, 0.01, 0.07):
        a.update(kl)
    b = KLController(0.1, 0.05, 10, 0.2)
    b.load_state_dict(a.state_dict())
    assert [a.update(kl) for kl in (0.3, 0.02)] == [b.update(kl) for kl in (0.3, 0.02)]


def _toy_entropy(tau: float) -> float:
    """Entropy of softmax(scores / tau): increases monotonically with tau, from 0 towards log 4."""
    scores = th.tensor([0.0, 1.0, 2.0, 3.0], dtype=th.float64)
    p = th.softmax(scores / tau, dim=0)
    return float(-(p * p.log()).sum())


def test_entropy_below_target_raises_tau_above_lowers_it() -> None:
    ctl = EntropyController(tau_init=1.0, target_entropy=1.0, tau_lr=0.1)
    assert ctl.update(0.5, step=0) > 1.0
    ctl = EntropyController(tau_init=1.0, target_entropy=1.0, tau_lr=0.1)
    assert ctl.update(1.2, step=0) < 1.0


def test_entropy_controller_converges_on_a_toy_system() -> None:
    target = 0.9
    ctl = EntropyController(tau_init=0.05, target_entropy=target, tau_lr=0.5, ema_decay=0.5)
    assert _toy_entropy(ctl.tau) < 0.1  # starts far from the target
    for step in range(600):
        ctl.update(_toy_entropy(ctl.tau), step)
    assert _toy_entropy(ctl.tau) == pytest.approx(target, abs=1e-2)
    assert ctl.ema == pytest.approx(target, abs=1e-2)


def test_entropy_controller_clamps_tau() -> None:
    ctl = EntropyController(tau_init=1.0, target_entropy=math.log(4), tau_lr=1.0, tau_min=0.1, tau_max=2.0)
    for step in range(50):
        ctl.update(0.0, step)  # entropy stuck at 0: tau pushed up
    assert ctl.tau == 2.0
    for step in range(50, 200):
        ctl.update(5.0, step)  # entropy far above target: tau pushed down
    assert ctl.tau == 0.1


def test_entropy_controller_warmup_holds_tau_but_tracks_the_ema() -> None:
    ctl = EntropyController(tau_init=0.5, target_entropy=1.0, tau_lr=0.2, ema_decay=0.5, warmup_steps=3)
    assert [ctl.update(0.2, step) for step in range(3)] == [0.5, 0.5, 0.5]
    assert ctl.ema == pytest.approx(0.2)
    assert ctl.update(0.2, step=3) == pytest.approx(0.5 * math.exp(0.2 * 0.8))


def test_entropy_controller_validation() -> None:
    with pytest.raises(ValueError, match="tau_max"):
        EntropyController(tau_init=1.0, target_entropy=1.0, tau_max=0.0)  # would pin tau
    with pytest.raises(ValueError, match="tau_min"):
        EntropyController(tau_init=1.0, target_entropy=1.0, tau_min=0.0)
    with pytest.raises(ValueError, match="tau_max"):
        EntropyController(tau_init=1.0, target_entropy=1.0, tau_min=2.0, tau_max=1.0)
    with pytest.raises(ValueError, match="tau_init"):
        EntropyController(tau_init=20.0, target_entropy=1.0)
    with pytest.raises(ValueError, match="ema_decay"):
        EntropyController(tau_init=1.0, target_entropy=1.0, ema_decay=1.0)
    # the defaults leave tau free to move both ways
    ctl = EntropyController(tau_init=1.0, target_entropy=1.0)
    assert ctl.tau_min < 1.0 < ctl.tau_max


def test_entropy_state_round_trip_reproduces_next_updates() -> None:
    kwargs = dict(tau_init=0.3, target_entropy=1.0, tau_lr=0.3, ema_decay=0.8, warmup_steps=2)
    a = EntropyController(**kwargs)
    for step, h in enumerate([0.4, 0.6, 0.9, 1.3]):
        a.update(h, step)
    b = EntropyController(**kwargs)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    nxt = [(4, 0.7), (5, 1.1), (6, 0.2)]
    assert [a.update(h, s) for s, h in nxt] == [b.update(h, s) for s, h in nxt]
