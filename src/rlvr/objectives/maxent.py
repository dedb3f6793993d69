"""Sequence-level maximum-entropy GRPO: closed-form target weights over each group's candidates and their loss.

For one prompt with K sampled completions ``y_1..y_K`` (a *group*), we build a distribution ``w`` over the K
candidates and fit the policy to it by weighted maximum likelihood.

1. Utility ``u_i``: the already-weighted sum of the reward functions for completion ``i``.
2. Listwise target ``q = softmax(u / T_q)``, smoothed to ``q <- (1 - eps * K) q + eps`` (then renormalised), so
   every candidate keeps at least ``eps`` mass and ``log q`` stays finite.
3. Reference term ``l_i = log pi_ref(y_i | x)`` (summed over the completion's tokens, or their per-token mean when
   ``length_normalize_ref`` is set). ``p_ref`` is ``pi_ref`` restricted to the K candidates and renormalised:
   ``p_ref_i = exp(l_i) / sum_j exp(l_j)``.
4. The weights maximise, over the probability simplex of the K candidates,

       J(w) = sum_i w_i log q_i + tau * H(w) - beta * KL(w || p_ref),     H(w) = -sum_i w_i log w_i.

   Since ``-beta * KL(w || p_ref) = beta * sum_i w_i l_i + beta * H(w) - beta * log sum_j exp(l_j)``,
   ``J(w) = sum_i w_i (log q_i + beta l_i) + (tau + beta) H(w) + const``: a linear term plus a positive multiple of
   the entropy, strictly concave when ``tau + beta > 0``. Setting the gradient of the Lagrangian to zero,
   ``log q_i + beta l_i - (tau + beta)(log w_i + 1) - lambda = 0``, gives the unique maximiser

       w_i = exp((log q_i + beta l_i) / (tau + beta)) / sum_j exp((log q_j + beta l_j) / (tau + beta)).

   (``tests/objectives/test_maxent.py`` checks this against direct numerical maximisation of J.)

The weights are constants for the policy update: :func:`maxent_weights` returns a detached tensor and
:func:`maxent_loss` detaches whatever it is given.
"""

from __future__ import annotations

import math

import torch as th


def _check_group_size(numel: int, num_generations: int) -> int:
    if num_generations < 1:
        raise ValueError(f"num_generations must be >= 1, got {num_generations}")
    if numel % num_generations != 0:
        raise ValueError(f"{numel} completions do not split into groups of num_generations={num_generations}")
    return numel // num_generations


def nan_to_group_min(u: th.Tensor) -> th.Tensor:
    """Replace NaN utilities by the smallest finite utility of their group (by 0 when the whole group is NaN).

    A NaN reward means "could not be scored", which should never make a completion look better than the worst
    completion that was scored; the group minimum gives it exactly the mass of the worst candidate.
    """
    nan = th.isnan(u)
    if not nan.any():
        return u
    group_min = th.where(nan, th.full_like(u, float("inf")), u).amin(dim=-1, keepdim=True)
    group_min = th.where(th.isinf(group_min), th.zeros_like(group_min), group_min)
    return th.where(nan, group_min.expand_as(u), u)


def sequence_logps(per_token_logps: th.Tensor, completion_mask: th.Tensor, length_normalize: bool) -> th.Tensor:
    """Sequence log-probabilities [N] from per-token log-probabilities [N, T] and a completion mask [N, T].

    ``length_normalize=True`` gives the per-token mean over valid tokens (0 for an empty completion),
    ``False`` the sum.
    """
    if per_token_logps.shape != completion_mask.shape:
        raise ValueError(
            f"per-token logps {tuple(per_token_logps.shape)} and completion mask "
            f"{tuple(completion_mask.shape)} must have the same shape"
        )
    mask = completion_mask.to(per_token_logps.dtype)
    total = (per_token_logps * mask).sum(dim=-1)
    if length_normalize:
        return total / mask.sum(dim=-1).clamp(min=1.0)
    return total


@th.no_grad()
def maxent_weights(
    utilities: th.Tensor,
    ref_logps: th.Tensor | None,
    completion_mask: th.Tensor | None,
    num_generations: int,
    q_temperature: float = 1.0,
    q_epsilon: float = 0.0,
    tau: float = 1.0,
    beta: float = 0.0,
    length_normalize_ref: bool = True,
) -> th.Tensor:
    """Target weights [B*K] over each group's K completions; they sum to 1 within every group (see module doc).

    Args:
        utilities: weighted rewards, [B*K] or [B, K], groups contiguous (completion ``g*K + k`` is in group ``g``).
            NaN entries are replaced by their group's smallest finite utility (0 if the whole group is NaN).
        ref_logps: reference-model log-probabilities: per token [B*K, T] (reduced with ``completion_mask``), or
            already per sequence [B*K]. ``None`` is allowed only when ``beta == 0``.
        completion_mask: [B*K, T] mask of valid completion tokens; needed with per-token ``ref_logps``.
        num_generations: K, the group size.
        q_temperature: ``T_q > 0`` of the listwise target ``softmax(u / T_q)``.
        q_epsilon: ``eps >= 0`` smoothing of the target; requires ``eps * K < 1``.
        tau: entropy coefficient of J. beta: KL coefficient of J. ``tau + beta > 0`` is required.
        length_normalize_ref: per-token mean (True) or sum (False) of the reference log-probabilities.

    Returns:
        Detached tensor [B*K] on the utilities' device: float64 for float64 utilities, float32 otherwise.
    """
    if not q_temperature > 0:
        raise ValueError(f"q_temperature must be > 0, got {q_temperature}")
    if not q_epsilon >= 0:
        raise ValueError(f"q_epsilon must be >= 0, got {q_epsilon}")
    if q_epsilon * num_generations >= 1:
        raise ValueError(
            f"q_epsilon * num_generations must be < 1 (got {q_epsilon} * {num_generations}); "
            "the smoothed target would leave no mass to the utilities"
        )
    if not tau + beta > 0:
        raise ValueError(f"tau + beta must be > 0 for the maximum-entropy weights, got tau={tau}, beta={beta}")

    dtype = th.float64 if utilities.dtype == th.float64 else th.float32  # never in half precision
    num_groups = _check_group_size(utilities.numel(), num_generations)
    u = nan_to_group_min(utilities.detach().to(dtype).reshape(num_groups, num_generations))

    # Smoothed listwise target, in log space.
    log_q = th.log_softmax(u / q_temperature, dim=-1)
    if q_epsilon > 0:
        # log((1 - eps K) q + eps), computed without leaving log space.
        log_q = th.logaddexp(log_q + math.log1p(-q_epsilon * num_generations), th.full_like(log_q, math.log(q_epsilon)))
        log_q = log_q - th.logsumexp(log_q, dim=-1, keepdim=True)

    logits = log_q
    if beta != 0:
        if ref_logps is None:
            raise ValueError("ref_logps are required when beta != 0")
        ref = ref_logps.detach().to(dtype)
        if ref.dim() == 2:
            if completion_mask is None:
                raise ValueError("completion_mask is required with per-token ref_logps [N, T]")
            ref = sequence_logps(ref, completion_mask.detach(), length_normalize_ref)
        elif ref.dim() != 1:
            raise ValueError(f"ref_logps must be [N, T] per token or [N] per sequence, got {tuple(ref.shape)}")
        if ref.numel() != u.numel():
            raise ValueError(f"ref_logps cover {ref.numel()} completions, utilities {u.numel()}")
        logits = logits + beta * ref.reshape(num_groups, num_generations).to(u.device)

    weights = th.softmax(logits / (tau + beta), dim=-1)
    return weights.reshape(-1)


def weight_entropy(weights: th.Tensor, num_generations: int) -> th.Tensor:
    """Entropy (nats) of the weights within each group, [B]; ``0 log 0 = 0``. Ranges from 0 to ``log K``."""
    num_groups = _check_group_size(weights.numel(), num_generations)
    w = weights.detach().reshape(num_groups, num_generations)
    return -th.xlogy(w, w).sum(dim=-1)


def maxent_loss(
    per_token_logps: th.Tensor,
    completion_mask: th.Tensor,
    weights: th.Tensor,
    num_generations: int,
    beta: float = 0.0,
    per_token_kl: th.Tensor | None = None,
    old_per_token_logps: th.Tensor | None = None,
    clip_eps: float | None = None,
) -> tuple[th.Tensor, dict[str, th.Tensor]]:
    """Weighted maximum-likelihood loss towards the MaxEnt weights, with optional KL and clipped terms.

    With ``N`` completions in the batch and ``G = N / K`` groups (the batch need not hold whole groups, e.g. a
    shuffled TRL micro-batch; the normaliser stays ``N / K``), and ``m_i = mean_t logp_it`` over valid tokens:

        loss = -(1/G) sum_i w_i m_i                                       (every valid token of y_i carries w_i / T_i)
             + beta * mean over valid tokens of per_token_kl             (if per_token_kl is given and beta != 0)
             + (1/G) sum_i -min(r_i A_i, clip(r_i, 1 - clip_eps, 1 + clip_eps) A_i)
                                                                          (if clip_eps and old_per_token_logps given)

    where ``r_i = exp(mean_t(logp_it - old_logp_it))`` is the sequence-level ratio and ``A_i = w_i - 1/K``. The
    clipped surrogate is summed within groups and averaged over groups like the likelihood term, so at ``r = 1``
    it adds the per-token gradient ``-(w_i - 1/K) / T_i / G``. Without old log-probabilities it is skipped.

    ``weights`` are treated as constants (detached). Returns ``(loss, metrics)``; metrics are detached 0-d tensors.
    """
    if per_token_logps.shape != completion_mask.shape:
        raise ValueError(
            f"per_token_logps {tuple(per_token_logps.shape)} and completion_mask "
            f"{tuple(completion_mask.shape)} must have the same shape"
        )
    n = per_token_logps.shape[0]
    if weights.numel() != n:
        raise ValueError(f"{weights.numel()} weights for {n} completions")
    if num_generations < 1:
        raise ValueError(f"num_generations must be >= 1, got {num_generations}")
    num_groups = n / num_generations
    mask = completion_mask.to(per_token_logps.dtype)
    lengths = mask.sum(dim=-1).clamp(min=1.0)
    w = weights.detach().to(per_token_logps.dtype).reshape(-1)

    mean_logp = (per_token_logps * mask).sum(dim=-1) / lengths
    nll = -(w * mean_logp).sum() / num_groups
    loss = nll
    metrics: dict[str, th.Tensor] = {"nll": nll.detach(), "mean_logp": mean_logp.detach().mean()}

    if per_token_kl is not None:
        kl = (per_token_kl * mask).sum() / mask.sum().clamp(min=1.0)
        metrics["kl"] = kl.detach()
        if beta != 0:
            loss = loss + beta * kl

    if clip_eps is not None and old_per_token_logps is not None:
        if not clip_eps > 0:
            raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
        log_ratio = ((per_token_logps - old_per_token_logps.detach()) * mask).sum(dim=-1) / lengths
        ratio = th.exp(log_ratio)
        adv = w - 1.0 / num_generations
        unclipped = ratio * adv
        clipped = th.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
        clip_loss = -th.minimum(unclipped, clipped).sum() / num_groups
        loss = loss + clip_loss
        is_clipped = (clipped < unclipped).to(per_token_logps.dtype)
        metrics["clip_loss"] = clip_loss.detach()
        metrics["clip_ratio"] = is_clipped.mean().detach()
        metrics["seq_ratio"] = ratio.detach().mean()

    metrics["loss"] = loss.detach()
    return loss, metrics
