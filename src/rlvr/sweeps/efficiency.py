"""How fast a run learns, against a baseline of the same seed: tokens to reach a share of the baseline's final
gain, and the mean gain over a token budget. Curves are ``(generated tokens, held-out accuracy)`` arrays that
start at the accuracy before training (``rlvr.sweeps.render.curve``)."""

from __future__ import annotations

import math

import numpy as np

GAIN_SHARE = 0.9  # "reaches the baseline": 90% of its final gain (the last 10% is where seeds differ most)


def tokens_to_reach(curve: np.ndarray, target: float) -> float | None:
    """Generated tokens at which the (linearly interpolated) curve first reaches ``target``; None if it never does."""
    for (t0, a0), (t1, a1) in zip(curve[:-1], curve[1:], strict=True):
        if a1 >= target:
            return float(t0 if a0 >= target else t0 + (t1 - t0) * (target - a0) / (a1 - a0))
    return None


def reach_ratio(curve: np.ndarray, base: np.ndarray, base_final: float, share: float = GAIN_SHARE) -> float:
    """Tokens ``curve`` needs to gain ``share`` of the baseline's final gain (``base_final`` over the baseline's
    start), over the tokens the baseline needs: below 1 is faster. inf when the run never gets there, nan when the
    baseline did not gain."""
    start = base[0, 1]
    if not base_final > start:
        return math.nan
    target = start + share * (base_final - start)
    base_tokens = tokens_to_reach(base, target)
    tokens = tokens_to_reach(curve, target)
    if tokens is None:
        return math.inf
    return tokens / max(base_tokens or 1.0, 1.0)


def gain_auc(curve: np.ndarray, budget: float) -> float:
    """Mean held-out gain over the run's start across ``[0, budget]`` generated tokens, in points: the area under
    the gain-vs-tokens curve divided by the budget (a run that stopped earlier holds its last value)."""
    grid = np.linspace(0, budget, 201)
    return float(100 * (np.interp(grid, curve[:, 0], curve[:, 1]) - curve[0, 1]).mean())
