"""The parts of pre-rollout skipping and dynamic-sampling refill on their own: the streak statistics and skip
rule, the training-pool cursor, and the row selection and tensor joins the refill makes of TRL's scored batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from rlvr.replay.pool import PromptPool
from rlvr.replay.refill import choose_groups, concat_rows, take_rows
from rlvr.replay.skip import PromptStats, uniform_outcome


def test_uniform_outcome_and_streaks() -> None:
    assert uniform_outcome(np.array([1.0, 1.0]), 1.0) == 1
    assert uniform_outcome(np.array([0.0, -0.5]), 1.0) == -1
    assert uniform_outcome(np.array([1.0, 0.0]), 1.0) == 0
    assert uniform_outcome(np.array([0.5, 0.5]), 1.0) == 0  # neither solved nor failed: not uniform
    stats = PromptStats(explore_solved=0.5, explore_failed=0.8, min_streak=2)
    for verdict in (1, 1, 1):
        stats.record("a", verdict)
    stats.record("b", -1)
    stats.record("b", -1)
    stats.record("c", 1)
    assert stats.keep_probability("a") == pytest.approx(0.5**3)
    assert stats.keep_probability("b") == pytest.approx(0.8**2)
    assert stats.keep_probability("c") == 1.0  # streak 1 < min_streak
    assert stats.keep_probability("unseen") == 1.0
    stats.record("a", 0)  # a mixed pull resets the streak: the prompt teaches again
    assert stats.keep_probability("a") == 1.0
    stats.record("b", 1)  # a solve after failures starts a solved streak of 1
    assert stats.streak["b"] == 1
    assert stats.counts() == {"seen": 3, "solved_streak": 0, "failed_streak": 0, "skipped_total": 0}


def test_adaptation_moves_explore_toward_the_target_and_state_round_trips(tmp_path) -> None:
    stats = PromptStats(0.5, 0.5, target_zero_std=0.3, adapt_rate=0.5)
    stats.adapt(0.9)  # too many zero-variance groups: skip more
    assert stats.explore_solved == pytest.approx(0.25)
    stats.adapt(0.1)
    assert stats.explore_solved == pytest.approx(0.375)
    for _ in range(20):
        stats.adapt(1.0)
    assert stats.explore_failed == pytest.approx(0.01)  # clipped: a prompt is never excluded for good
    fixed = PromptStats(0.5, 0.5)
    fixed.adapt(1.0)
    assert fixed.explore_solved == 0.5
    stats.record("k", 1)
    stats.skipped_total = 7
    path = stats.save(tmp_path / "stats.pkl")
    again = PromptStats(0.9, 0.9)
    again.load(path)
    assert again.digest() == stats.digest() and again.keep_probability("k") == stats.keep_probability("k")
    again.record("k", 1)
    assert again.digest() != stats.digest()


def test_pool_walks_every_row_once_per_pass_and_resumes_exactly() -> None:
    rows = [{"prompt": f"p{i}"} for i in range(10)]
    pool = PromptPool(rows, seed=3)
    first = [pool.draw()["prompt"] for _ in range(10)]
    assert sorted(first) == sorted(r["prompt"] for r in rows)
    second = [pool.draw()["prompt"] for _ in range(4)]
    state = pool.state_dict()
    rest = [pool.draw()["prompt"] for _ in range(12)]
    resumed = PromptPool(rows, seed=0)
    resumed.load_state_dict(state)
    assert [resumed.draw()["prompt"] for _ in range(12)] == rest
    assert first != second + rest[:6]  # reshuffled between passes
    other = PromptPool([*rows, {"prompt": "x"}], 0)
    with pytest.raises(ValueError, match="10 rows, this run's has 11"):
        other.load_state_dict(state)


def test_choose_groups_prefers_informative_then_earliest_dropped() -> None:
    r0, r1 = np.array([False, True, False, False]), np.array([True, False, True, True])
    assert [k.tolist() for k in choose_groups([r0, r1], 4)] == [[1], [0, 2, 3]]
    # not enough informative groups after the cap: the earliest uninformative ones fill the rest
    assert [k.tolist() for k in choose_groups([r0, np.array([False] * 4)], 3)] == [[0, 1, 2], []]


def scored_batch(n: int, prompt_len: int, completion_len: int, seed: int) -> dict:
    g = th.Generator().manual_seed(seed)
    lengths = th.randint(1, completion_len + 1, (n,), generator=g)
    cmask = (th.arange(completion_len)[None, :] < lengths[:, None]).long()
    plens = th.randint(1, prompt_len + 1, (n,), generator=g)
    pmask = (th.arange(prompt_len)[None, :] >= prompt_len - plens[:, None]).long()  # left-padded
    return {
        "prompt_ids": th.randint(5, 50, (n, prompt_len), generator=g) * pmask,
        "prompt_mask": pmask,
        "completion_ids": th.randint(5, 50, (n, completion_len), generator=g) * cmask,
        "completion_mask": cmask,
        "old_per_token_logps": -th.rand(n, completion_len, generator=g) * cmask,
        "advantages": th.randn(n, generator=g),
        "num_items_in_batch": cmask.sum(),
    }


def unpadded(batch: dict, i: int) -> tuple:
    p = batch["prompt_ids"][i][batch["prompt_mask"][i].bool()].tolist()
    m = batch["completion_mask"][i].bool()
    return (
        p,
        batch["completion_ids"][i][m].tolist(),
        batch["old_per_token_logps"][i][m].tolist(),
        float(batch["advantages"][i]),
    )


def test_take_and_concat_keep_every_row_and_pad_on_the_right_side() -> None:
    a, b = scored_batch(6, 4, 5, 0), scored_batch(4, 7, 9, 1)
    joined = concat_rows([take_rows(a, th.tensor([1, 4])), take_rows(b, th.tensor([0, 2, 3]))])
    assert joined["prompt_ids"].shape == (5, 7) and joined["completion_ids"].shape == (5, 9)
    expected = [unpadded(a, 1), unpadded(a, 4), unpadded(b, 0), unpadded(b, 2), unpadded(b, 3)]
    assert [unpadded(joined, i) for i in range(5)] == expected
    # prompts stay left-padded (real tokens end at the last column), completions right-padded
    assert bool(joined["prompt_mask"][:, -1].all()) and bool(joined["completion_mask"][:, 0].all())
    with pytest.raises(RuntimeError, match="differ in their entries"):
        concat_rows([a, {k: v for k, v in b.items() if k != "old_per_token_logps"}])
