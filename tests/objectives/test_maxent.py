"""MaxEnt-GRPO weights and loss: the closed form really maximises its objective, and the loss trains towards it."""

from __future__ import annotations

import math

import pytest
import torch as th

from rlvr.objectives import maxent_loss, maxent_weights, sequence_logps, weight_entropy


def _objective(w: th.Tensor, u: th.Tensor, seq_ref: th.Tensor, q_temp: float, eps: float, tau: float, beta: float):
    """J(w) = sum_i w_i log q_i + tau H(w) - beta KL(w || p_ref), written from the definitions, independently."""
    k = u.numel()
    q = th.exp(u / q_temp) / th.exp(u / q_temp).sum()
    q = (1 - eps * k) * q + eps
    q = q / q.sum()
    p_ref = th.exp(seq_ref - seq_ref.max())
    p_ref = p_ref / p_ref.sum()
    entropy = -(w * th.log(w)).sum()
    kl = (w * (th.log(w) - th.log(p_ref))).sum()
    return (w * th.log(q)).sum() + tau * entropy - beta * kl


def _numerical_argmax(u, seq_ref, q_temp, eps, tau, beta) -> th.Tensor:
    z = th.zeros_like(u, requires_grad=True)
    opt = th.optim.LBFGS(
        [z], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = -_objective(th.softmax(z, dim=0), u, seq_ref, q_temp, eps, tau, beta)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    return th.softmax(z.detach(), dim=0)


@pytest.mark.parametrize("seed", range(12))
def test_closed_form_weights_maximise_the_objective(seed: int) -> None:
    gen = th.Generator().manual_seed(seed)
    k = int(th.randint(2, 7, (1,), generator=gen))
    t_max = 7
    u = th.randn(k, generator=gen, dtype=th.float64) * 2
    tok = -th.rand(k, t_max, generator=gen, dtype=th.float64) * 3
    lengths = th.randint(1, t_max + 1, (k,), generator=gen)
    mask = (th.arange(t_max)[None, :] < lengths[:, None]).long()
    tau = float(th.rand(1, generator=gen)) * 2
    beta = float(th.rand(1, generator=gen)) * 2
    if seed % 4 == 0:
        beta = 0.0  # pure entropy-regularised target
    if seed % 4 == 1:
        tau = 0.0  # pure KL-regularised target
    q_temp = 0.2 + float(th.rand(1, generator=gen)) * 2
    eps = float(th.rand(1, generator=gen)) * 0.9 / k
    length_normalize = bool(seed % 2)

    w = maxent_weights(u, tok, mask, k, q_temp, eps, tau, beta, length_normalize)

    seq_ref = (tok * mask).sum(-1) / (mask.sum(-1) if length_normalize else 1)
    w_star = _numerical_argmax(u, seq_ref, q_temp, eps, tau, beta)
    assert th.allclose(w, w_star, atol=1e-6, rtol=0), (w, w_star)
    # and it is a maximum: no random point of the simplex does better
    best = _objective(w, u, seq_ref, q_temp, eps, tau, beta)
    others = th.distributions.Dirichlet(th.ones(k, dtype=th.float64)).sample((200,))
    assert all(_objective(o, u, seq_ref, q_temp, eps, tau, beta) <= best + 1e-12 for o in others)


def test_weights_sum_to_one_per_group_and_groups_are_independent() -> None:
    gen = th.Generator().manual_seed(0)
    b, k, t = 4, 5, 6
    u = th.randn(b, k, generator=gen)
    ref = -th.rand(b * k, t, generator=gen)
    mask = th.ones(b * k, t)
    w = maxent_weights(u, ref, mask, k, q_temperature=0.5, q_epsilon=0.02, tau=0.3, beta=0.1)
    assert w.shape == (b * k,)
    assert th.allclose(w.view(b, k).sum(-1), th.ones(b), atol=1e-6)
    assert (w > 0).all()
    # changing group 0 leaves the others' weights untouched; flat [B*K] input gives the same as [B, K]
    u2 = u.clone()
    u2[0] += th.randn(k, generator=gen)
    w2 = maxent_weights(u2.reshape(-1), ref, mask, k, q_temperature=0.5, q_epsilon=0.02, tau=0.3, beta=0.1)
    assert th.equal(w2[k:], w[k:])
    assert not th.allclose(w2[:k], w[:k])


def test_higher_utility_gets_more_weight_and_smoothing_floors_it() -> None:
    u = th.tensor([[0.0, 1.0, 5.0]])
    w = maxent_weights(u, None, None, 3, q_temperature=0.1, q_epsilon=0.0, tau=1.0, beta=0.0)
    assert w[0] < w[1] < w[2]
    assert w[0] < 1e-10
    w_eps = maxent_weights(u, None, None, 3, q_temperature=0.1, q_epsilon=0.1, tau=1.0, beta=0.0)
    assert w_eps[0] == pytest.approx(0.1, abs=1e-6)  # with tau=1, beta=0 the weights are the smoothed q itself


def test_invalid_hyperparameters_raise() -> None:
    u = th.zeros(2, 4)
    with pytest.raises(ValueError, match="q_epsilon"):
        maxent_weights(u, None, None, 4, q_epsilon=0.25)
    with pytest.raises(ValueError, match="q_epsilon"):
        maxent_weights(u, None, None, 4, q_epsilon=0.3)
    maxent_weights(u, None, None, 4, q_epsilon=0.24)  # just below the bound is fine
    with pytest.raises(ValueError, match="tau \\+ beta"):
        maxent_weights(u, None, None, 4, tau=0.0, beta=0.0)
    with pytest.raises(ValueError, match="tau \\+ beta"):
        maxent_weights(u, th.zeros(8), None, 4, tau=-1.0, beta=0.5)
    with pytest.raises(ValueError, match="q_temperature"):
        maxent_weights(u, None, None, 4, q_temperature=0.0)
    with pytest.raises(ValueError, match="ref_logps"):
        maxent_weights(u, None, None, 4, beta=0.1)
    with pytest.raises(ValueError, match="groups"):
        maxent_weights(th.zeros(7), None, None, 4)


def test_length_normalisation_of_the_reference_matters_only_for_unequal_lengths() -> None:
    """Every token has log-prob -1 under pi_ref: the per-token mean sees equally likely sequences, the sum favours
    short ones. With equal lengths the two agree (the sum is then the same for every candidate too)."""
    k, t = 3, 8
    u = th.tensor([0.3, 0.0, -0.2])
    ref = th.full((k, t), -1.0)
    kw = dict(q_temperature=1.0, q_epsilon=0.0, tau=0.5, beta=1.0)
    no_ref = maxent_weights(u, None, None, k, **{**kw, "tau": 1.5, "beta": 0.0})  # same tau + beta, no pi_ref term
    unequal = th.tensor([[1] * 8, [1] * 5 + [0] * 3, [1] * 2 + [0] * 6])
    w_mean = maxent_weights(u, ref, unequal, k, length_normalize_ref=True, **kw)
    w_sum = maxent_weights(u, ref, unequal, k, length_normalize_ref=False, **kw)
    assert th.allclose(w_mean, no_ref, atol=1e-6)
    assert not th.allclose(w_sum, w_mean, atol=1e-3)
    assert w_sum[2] > w_mean[2] and w_sum[0] < w_mean[0]  # the short completion gains, the long one loses
    equal = th.ones(k, t, dtype=th.long)
    w_mean_eq = maxent_weights(u, ref, equal, k, length_normalize_ref=True, **kw)
    w_sum_eq = maxent_weights(u, ref, equal, k, length_normalize_ref=False, **kw)
    assert th.allclose(w_mean_eq, w_sum_eq, atol=1e-6)
    assert th.allclose(w_sum_eq, no_ref, atol=1e-6)


def test_sequence_logps_sum_and_mean() -> None:
    tok = th.tensor([[-1.0, -2.0, -9.0], [-3.0, -9.0, -9.0], [-9.0, -9.0, -9.0]])
    mask = th.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    assert th.equal(sequence_logps(tok, mask, length_normalize=False), th.tensor([-3.0, -3.0, 0.0]))
    assert th.equal(sequence_logps(tok, mask, length_normalize=True), th.tensor([-1.5, -3.0, 0.0]))


def test_nan_utilities_count_as_the_group_minimum() -> None:
    u = th.tensor([[2.0, float("nan"), -1.0, 0.5], [float("nan")] * 4])
    w = maxent_weights(u, None, None, 4, tau=1.0, beta=0.0).view(2, 4)
    assert th.isfinite(w).all()
    assert w[0, 1] == pytest.approx(float(w[0, 2]))
    assert th.allclose(w[1], th.full((4,), 0.25))


def test_weights_carry_no_gradient() -> None:
    u = th.randn(2, 3, requires_grad=True)
    ref = th.randn(6, 4, requires_grad=True)
    w = maxent_weights(u, ref, th.ones(6, 4), 3, beta=0.5)
    assert not w.requires_grad


def test_weight_entropy() -> None:
    w = th.tensor([0.25, 0.25, 0.25, 0.25, 1.0, 0.0, 0.0, 0.0])
    h = weight_entropy(w, 4)
    assert th.allclose(h, th.tensor([math.log(4), 0.0]))


def _batch(seed: int = 0, b: int = 2, k: int = 3, t: int = 5):
    gen = th.Generator().manual_seed(seed)
    logps = (-th.rand(b * k, t, generator=gen, dtype=th.float64)).requires_grad_(True)
    lengths = th.randint(1, t + 1, (b * k,), generator=gen)
    mask = (th.arange(t)[None, :] < lengths[:, None]).long()
    w = th.softmax(th.randn(b, k, generator=gen, dtype=th.float64), -1).reshape(-1)
    return logps, mask, w, lengths


def test_loss_gradient_is_weight_over_length_per_token() -> None:
    b, k = 2, 3
    logps, mask, w, lengths = _batch(b=b, k=k)
    w_leaf = w.clone().requires_grad_(True)
    loss, metrics = maxent_loss(logps, mask, w_leaf, k)
    loss.backward()
    expected = -(w / lengths.double() / b)[:, None] * mask
    assert th.allclose(logps.grad, expected, atol=1e-12)
    assert w_leaf.grad is None  # weights are constants
    assert float(metrics["loss"]) == pytest.approx(loss.item())


def test_kl_term_is_beta_times_masked_token_mean() -> None:
    k = 3
    logps, mask, w, _ = _batch(k=k)
    kl = th.rand(logps.shape, dtype=th.float64, requires_grad=True)
    base, _ = maxent_loss(logps, mask, w, k)
    loss, metrics = maxent_loss(logps, mask, w, k, beta=0.3, per_token_kl=kl)
    expected_kl = (kl * mask).sum() / mask.sum()
    assert loss.item() == pytest.approx(base.item() + 0.3 * expected_kl.item())
    assert float(metrics["kl"]) == pytest.approx(expected_kl.item())
    loss.backward()
    assert th.allclose(kl.grad, 0.3 * mask.double() / mask.sum())


def test_clipped_term_on_policy_adds_the_baselined_gradient() -> None:
    b, k = 2, 3
    logps, mask, w, lengths = _batch(b=b, k=k)
    loss, metrics = maxent_loss(logps, mask, w, k, old_per_token_logps=logps.detach().clone(), clip_eps=0.2)
    loss.backward()
    nll_grad = -(w / lengths.double() / b)[:, None] * mask
    clip_grad = -((w - 1 / k) / lengths.double() / b)[:, None] * mask
    assert th.allclose(logps.grad, nll_grad + clip_grad, atol=1e-12)
    assert float(metrics["clip_loss"]) == pytest.approx(0.0, abs=1e-12)  # sum_i (w_i - 1/K) = 0 per group
    assert float(metrics["clip_ratio"]) == 0.0


def test_clipped_term_stops_pushing_beyond_the_trust_region() -> None:
    k = 2
    logps = th.zeros(2, 3, dtype=th.float64, requires_grad=True)
    mask = th.ones(2, 3)
    w = th.tensor([0.9, 0.1], dtype=th.float64)  # advantages +0.4, -0.4
    old = th.tensor([[-0.5] * 3, [0.5] * 3], dtype=th.float64)  # ratio e^0.5 > 1.2 with A>0; e^-0.5 < 0.8 with A<0
    loss, metrics = maxent_loss(logps, mask, w, k, old_per_token_logps=old, clip_eps=0.2)
    nll, _ = maxent_loss(logps, mask, w, k)
    expected_clip = -(1.2 * 0.4 + 0.8 * -0.4)
    assert loss.item() == pytest.approx(nll.item() + expected_clip)
    assert float(metrics["clip_ratio"]) == 1.0
    loss.backward()
    # both sequences are clipped: only the likelihood term's gradient remains
    assert th.allclose(logps.grad, -(w / 3)[:, None].expand(2, 3))
    # without old log-probs the clipped term is skipped
    no_old, m = maxent_loss(logps, mask, w, k, clip_eps=0.2)
    assert no_old.item() == pytest.approx(nll.item()) and "clip_loss" not in m


def test_weighted_likelihood_moves_a_policy_towards_the_weights() -> None:
    """Minimising the loss over a free categorical policy of the K candidates recovers w (the fixed point)."""
    k = 4
    w = maxent_weights(th.tensor([0.0, 1.0, 2.0, 0.5]), None, None, k, q_temperature=1.0, tau=1.0)
    logits = th.zeros(k, requires_grad=True)
    opt = th.optim.Adam([logits], lr=0.1)
    for _ in range(400):
        opt.zero_grad()
        loss, _ = maxent_loss(th.log_softmax(logits, 0)[:, None], th.ones(k, 1), w, k)
        loss.backward()
        opt.step()
    assert th.allclose(th.softmax(logits.detach(), 0), w, atol=1e-3)
