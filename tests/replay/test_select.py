"""Unit tests of the replay buffer's selection algorithms (rlvr.replay.select)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlvr.replay.select import (
    priorities,
    proportional_sample,
    select_smallest,
    successive_sample,
    tempered_weights,
    ucb_bonus_scale,
    ucb_top_k,
)


def pcg(seed: int) -> np.random.Generator:
    """The generator a ReplayBuffer with this seed uses."""
    return np.random.Generator(np.random.PCG64(seed))


# ---------------------------------------------------------------- priorities
def test_priorities_and_bonus_scale():
    assert ucb_bonus_scale(0.0, 100) == 0.0
    assert ucb_bonus_scale(2.0, 1) == 0.0 and ucb_bonus_scale(2.0, 0) == 0.0  # no bonus before a 2nd pull
    assert ucb_bonus_scale(2.0, 50) == pytest.approx(2.0 * math.sqrt(math.log(50)))
    learn = np.array([0.25, 0.0, 0.1875])
    pulls = np.array([1, 4, 9])
    np.testing.assert_array_equal(priorities(learn, 1e-3), learn + 1e-3)
    np.testing.assert_allclose(priorities(learn, 1e-3, 0.5, 1 / np.sqrt(pulls)), learn + 1e-3 + 0.5 / np.sqrt(pulls))
    np.testing.assert_allclose(priorities(learn, 0.0, 0.5), learn + 0.5)  # new entries: one pull
    assert learn[0] == 0.25  # inputs untouched


# ---------------------------------------------------------------- select_smallest
def test_select_smallest_matches_sorting():
    rng = np.random.default_rng(0)
    cases = [
        rng.random(20_000),
        rng.integers(0, 5, 30_000) / 7.0,  # heavy ties
        np.concatenate([np.sort(rng.integers(0, 9, 10_000) / 9.0) for _ in range(3)]),  # sorted runs
        np.full(10_000, 0.25),
        np.concatenate([rng.random(9_000) * 1e-12, [1e6]]),  # concentrated range
        rng.normal(size=50),
    ]
    for a in cases:
        a = a.copy()
        a[rng.choice(len(a), size=len(a) // 10, replace=False)] = np.inf  # excluded entries
        finite = int(np.isfinite(a).sum())
        for k in sorted({min(k, finite) for k in (1, 7, 512, finite)}):
            strict, ties = select_smallest(a, k)
            t = np.sort(a)[k - 1]
            np.testing.assert_array_equal(strict, np.flatnonzero(a < t))
            np.testing.assert_array_equal(ties, np.flatnonzero(a == t))


# ---------------------------------------------------------------- ucb_top_k
@pytest.mark.parametrize("n", [50, 20_000])  # small, and large enough for the bucket selection
def test_ucb_top_k_picks_the_highest_in_order(n):
    rng = np.random.default_rng(n)
    pr = rng.permutation(n).astype(np.float64) / n  # distinct priorities
    before = pr.copy()
    for k in (1, 10, n // 2):
        got = ucb_top_k(pr, k, pcg(0))
        np.testing.assert_array_equal(got, np.argsort(-pr)[:k])  # highest first
    np.testing.assert_array_equal(pr, before)  # overwrite=False leaves the input alone
    excl = np.argsort(-pr)[:5]
    got = ucb_top_k(pr, 10, pcg(0), np.concatenate([excl, excl[:2]]))  # repeats allowed
    np.testing.assert_array_equal(got, np.argsort(-pr)[5:15])
    scratch = pr.copy()
    np.testing.assert_array_equal(ucb_top_k(scratch, 10, pcg(0), excl, overwrite=True), got)


def test_ucb_top_k_ties_random_but_reproducible():
    pr = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1])
    picks = [tuple(ucb_top_k(pr, 3, pcg(seed)).tolist()) for seed in range(200)]
    assert picks[:10] == [tuple(ucb_top_k(pr, 3, pcg(seed)).tolist()) for seed in range(10)]  # same seed
    assert all(p[0] == 0 and len(set(p)) == 3 and set(p[1:]) <= {1, 2, 3, 4, 5, 6} for p in picks)
    assert len(set(picks)) > 20  # different seeds: different tie-breaks ...
    counts = np.bincount([i for p in picks for i in p[1:]], minlength=8)[1:7]
    assert counts.min() > 0.5 * counts.mean()  # ... spread over all tied entries
    # Entries of equal priority come out in random order even when all of them are taken.
    orders = {tuple(ucb_top_k(pr, 7, pcg(seed)).tolist()[1:]) for seed in range(20)}
    assert len(orders) > 10 and all(sorted(o) == [1, 2, 3, 4, 5, 6] for o in orders)


def test_ucb_top_k_uses_the_generator_state():
    pr = np.full(30, 0.25)
    rng = pcg(3)
    first, second = ucb_top_k(pr, 5, rng), ucb_top_k(pr, 5, rng)
    again = pcg(3)
    np.testing.assert_array_equal(ucb_top_k(pr, 5, again), first)
    np.testing.assert_array_equal(ucb_top_k(pr, 5, again), second)
    assert first.tolist() != second.tolist()


# ---------------------------------------------------------------- proportional
def test_tempered_weights():
    pr = np.array([0.5, 0.25, 0.001, 0.25])
    np.testing.assert_array_equal(tempered_weights(pr, 1.0), pr)
    assert tempered_weights(pr, 1.0) is not pr and tempered_weights(pr, 1.0, overwrite=True) is pr
    w = tempered_weights(pr, 0.5)
    np.testing.assert_allclose(w, (pr / pr.max()) ** 2)
    assert pr[0] == 0.5
    assert (tempered_weights(np.array([1.0, 1e-300]), 1e-3) > 0).all()  # never underflows to 0


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_proportional_sample_law_matches_priorities(temperature):
    pr = np.array([0.4, 0.2, 0.1, 0.05, 0.25, 0.3])
    excl = np.array([5])
    rng = pcg(0)
    trials = 20_000
    counts = np.bincount(
        [int(proportional_sample(pr, 1, rng, excl, temperature)[0]) for _ in range(trials)], minlength=6
    )
    w = pr ** (1 / temperature)
    w[excl] = 0.0
    assert counts[5] == 0
    np.testing.assert_allclose(counts / trials, w / w.sum(), atol=0.015)
    got = proportional_sample(pr, 5, rng, excl, temperature)
    assert sorted(got.tolist()) == [0, 1, 2, 3, 4]  # k == available: everything but the excluded
    seeded = [proportional_sample(pr, 3, pcg(7), temperature=temperature).tolist() for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_successive_sampling_law_both_stages():
    """Ordered draws follow P(i, j) = w_i / S * w_j / (S - w_i); weight 0 is never drawn.

    With the weight concentrated on one entry the rejection stage often runs out of rounds,
    so the exponential-race stage is exercised as well."""
    rng = pcg(0)
    w = np.array([50.0, 1.0, 2.0, 0.0])
    s = w[:3].sum()
    counts: dict[tuple[int, int], int] = {}
    trials = 6000
    for _ in range(trials):
        got = successive_sample(w, 3, rng).tolist()
        assert sorted(got) == [0, 1, 2]
        counts[(got[0], got[1])] = counts.get((got[0], got[1]), 0) + 1
    for (i, j), c in counts.items():
        expect = w[i] / s * w[j] / (s - w[i])
        assert c / trials == pytest.approx(expect, abs=0.015), (i, j)
    assert w.tolist() == [50.0, 1.0, 2.0, 0.0]  # input untouched
