"""Unit tests of the prompt-level prioritised replay buffer (rlvr.replay.buffer)."""

from __future__ import annotations

import numpy as np
import pytest

from rlvr.errors import UserError
from rlvr.replay import ReplayBuffer
from rlvr.replay.keys import prompt_key


def rows_of(n: int, start: int = 0) -> list[dict]:
    return [
        {"prompt": [{"role": "user", "content": f"what is {i}+1?"}], "solution": str(i + 1)}
        for i in range(start, start + n)
    ]


def key_of(row: dict) -> str:
    return prompt_key(row["prompt"])


# ---------------------------------------------------------------- statistics
def test_welford_matches_numpy_over_all_rollouts():
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(capacity=50, retire_after=0, seed=3)
    rows = rows_of(20)
    keys = [key_of(r) for r in rows]
    seen: dict[str, list[float]] = {k: [] for k in keys}
    first = [rng.normal(size=int(rng.integers(1, 9))) for _ in rows]
    assert buf.admit(rows, first, step=0) == 20
    for k, r in zip(keys, first, strict=True):
        seen[k].extend(r)
    for step in range(1, 40):
        pick = rng.choice(20, size=12, replace=True)  # duplicates within a call are merged in order
        groups = [rng.choice([0.0, 1.0, 0.5, 3.0], size=int(rng.integers(1, 9))) for _ in pick]
        if step % 2:  # equal-length fast path too
            groups = [rng.normal(size=8) for _ in pick]
        assert buf.update([keys[i] for i in pick], groups, step=step) == len(pick)
        for i, g in zip(pick, groups, strict=True):
            seen[keys[i]].extend(g)
    for k in keys:
        e = buf.entry(k)
        assert e["n"] == len(seen[k])
        assert e["mean"] == pytest.approx(np.mean(seen[k]), rel=1e-10, abs=1e-12)
        assert e["learnability"] == pytest.approx(np.var(seen[k]), rel=1e-9, abs=1e-12)
    assert buf.stats()["total_pulls"] == 20 + 39 * 12


def test_binary_rewards_learnability_and_counts():
    buf = ReplayBuffer(capacity=4)
    (row,) = rows_of(1)
    buf.admit([row], [[1, 0, 0, 0]], step=5)
    buf.update([key_of(row)], [np.array([1.0, 1.0, 0.0, 0.0])], step=7)
    e = buf.entry(key_of(row))
    p = 3 / 8
    assert e["learnability"] == pytest.approx(p * (1 - p))
    assert (e["pulls"], e["n"], e["successes"], e["last_step"], e["admitted_step"]) == (2, 8, 3, 7, 5)
    assert e["consecutive_uniform"] == 0
    buf.update([key_of(row)], [[1, 1, 1, 1]], step=8)
    buf.update([key_of(row)], [[0, 0, 0, 0]], step=9)
    assert buf.entry(key_of(row))["consecutive_uniform"] == 2
    assert buf.update(["not-a-key"], [[1.0]], step=10) == 0  # unknown keys are ignored
    with pytest.raises(ValueError, match="finite"):
        buf.update([key_of(row)], [[float("nan")]], step=11)
    with pytest.raises(ValueError, match="one 1-D sequence"):
        buf.update([key_of(row)], [1.0], step=11)  # a flat list of rewards, not groups
    with pytest.raises(ValueError, match="at least one reward"):
        buf.update([key_of(row), key_of(row)], [[1.0], []], step=11)
    with pytest.raises(ValueError, match="keys but"):
        buf.update([key_of(row)], [[1.0], [0.0]], step=11)


# ---------------------------------------------------------------- priorities
def test_priority_prefers_learnable_and_less_pulled():
    buf = ReplayBuffer(capacity=10, ucb_c=1.0)
    half, solved, failed = rows_of(3)
    buf.admit([half, solved, failed], [[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], step=0)
    pr = dict(zip(buf.keys(), buf.priorities(), strict=True))
    assert pr[key_of(half)] > pr[key_of(solved)] and pr[key_of(half)] > pr[key_of(failed)]
    assert buf.sample(1)[0][0] == key_of(half)
    # Equal learnability (both 0): fewer pulls -> larger UCB bonus.
    for s in range(1, 6):
        buf.update([key_of(solved)], [[1, 1, 1, 1]], step=s)
    assert buf.entry(key_of(failed))["priority"] > buf.entry(key_of(solved))["priority"]
    assert [k for k, _ in buf.sample(3)] == [key_of(half), key_of(failed), key_of(solved)]
    # Without the bonus the two uniform prompts tie at the floor.
    flat = ReplayBuffer(capacity=10, ucb_c=0.0)
    flat.admit([half, solved, failed], [[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], step=0)
    flat.update([key_of(solved)], [[1, 1, 1, 1]], step=1)
    assert flat.entry(key_of(solved))["priority"] == flat.entry(key_of(failed))["priority"] == pytest.approx(1e-3)
    assert flat.entry(key_of(half))["priority"] == pytest.approx(0.25 + 1e-3)


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("sampling", ["ucb", "proportional"])
def test_sample_distinct_exclusion_and_short(sampling):
    buf = ReplayBuffer(capacity=100, sampling=sampling, seed=1)
    rows = rows_of(30)
    rng = np.random.default_rng(1)
    buf.admit(rows, [rng.integers(0, 2, size=8).astype(float) for _ in rows], step=0)
    got = buf.sample(10)
    assert len(got) == 10 and len({k for k, _ in got}) == 10
    assert all(k == key_of(row) and row in rows for k, row in got)
    excl = {key_of(r) for r in rows[:25]}
    got = buf.sample(10, exclude_keys=excl | {"unknown"})
    assert sorted(k for k, _ in got) == sorted(key_of(r) for r in rows[25:])
    assert len(buf.sample(1000)) == 30
    assert buf.sample(0) == [] and ReplayBuffer(capacity=3, sampling=sampling).sample(5) == []
    got[0][1]["solution"] = "mutated"  # rows come back as copies
    assert buf.get(got[0][0])["solution"] != "mutated"


def test_ucb_ties_broken_at_random_but_deterministically():
    rows = rows_of(50)
    picks = []
    for seed in (0, 0, 1):
        buf = ReplayBuffer(capacity=100, seed=seed)
        buf.admit(rows, [[1.0, 0.0]] * 50, step=0)  # all tie
        picks.append([k for k, _ in buf.sample(5)] + [k for k, _ in buf.sample(5)])
    assert picks[0] == picks[1]
    assert picks[0] != picks[2]
    assert len(set(picks[0][:5])) == 5


def test_proportional_frequencies_follow_priorities():
    buf = ReplayBuffer(capacity=10, sampling="proportional", seed=0, priority_floor=1e-3)
    rows = rows_of(3)
    # learnabilities 0.25, 0.1875, 0 (+ floor): with k=1 sampling is proportional to priority.
    buf.admit(rows, [[1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], step=0)
    w = np.array([0.25, 0.1875, 0.0]) + 1e-3
    counts = dict.fromkeys(buf.keys(), 0)
    trials = 4000
    for _ in range(trials):
        counts[buf.sample(1)[0][0]] += 1
    freq = np.array([counts[key_of(r)] for r in rows]) / trials
    assert freq == pytest.approx(w / w.sum(), abs=0.03)
    # Temperature -> 0 sharpens towards the top entry.
    cold = ReplayBuffer(capacity=10, sampling="proportional", temperature=0.1, seed=0)
    cold.admit(rows, [[1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], step=0)
    top = sum(cold.sample(1)[0][0] == key_of(rows[0]) for _ in range(500))
    assert top > 0.9 * 500


def test_determinism_with_seed():
    def run(seed: int) -> tuple[list, str]:
        rng = np.random.default_rng(7)
        buf = ReplayBuffer(capacity=40, sampling="proportional", seed=seed, retire_after=3)
        out = []
        for step in range(10):
            rows = rows_of(16, start=step * 5)
            buf.admit(rows, [rng.integers(0, 2, size=4).astype(float) for _ in rows], step=step)
            got = [k for k, _ in buf.sample(8)]
            buf.update(got, [rng.integers(0, 2, size=4).astype(float) for _ in got], step=step)
            out.append(got)
        return out, buf.digest()

    a, b, c = run(0), run(0), run(1)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]


# ---------------------------------------------------------------- admission
def test_eviction_of_lowest_priority_and_readmission():
    buf = ReplayBuffer(capacity=3, ucb_c=0.0)
    rows = rows_of(5)
    assert buf.admit(rows[:3], [[1, 0], [1, 1], [0, 0, 0, 1]], step=0) == 3
    # Lowest: rows[1] (var 0). A var-0 newcomer does not beat it (strictly higher needed).
    assert buf.admit([rows[3]], [[0, 0]], step=1) == 0
    assert key_of(rows[3]) not in buf and buf.stats()["rejected"] == 1
    assert buf.admit([rows[4]], [[1, 0, 1, 0]], step=1) == 1
    assert key_of(rows[1]) not in buf and key_of(rows[4]) in buf
    assert buf.stats()["evictions"] == 1 and len(buf) == 3
    # Next lowest is rows[2] (var 3/16); the evicted rows[1] may come back with fresh stats.
    assert buf.admit([rows[1]], [[1, 0]], step=2) == 1
    assert key_of(rows[2]) not in buf
    e = buf.entry(key_of(rows[1]))
    assert (e["pulls"], e["n"], e["admitted_step"]) == (1, 2, 2)
    s = buf.stats()
    assert (s["admissions"], s["evictions"], s["size"]) == (5, 2, 3)


def test_batch_admission_keeps_the_best_of_buffer_and_newcomers():
    buf = ReplayBuffer(capacity=4, ucb_c=0.0)
    old, new = rows_of(4), rows_of(4, start=10)
    buf.admit(old, [[1, 0]] * 2 + [[0, 0]] * 2, step=0)  # var .25, .25, 0, 0
    n = buf.admit(new, [[1, 1, 1, 0], [1, 0], [0, 0], [1, 0, 0, 0]], step=1)  # .1875, .25, 0, .1875
    assert n == 2  # two newcomers replace the two var-0 entries; the rest tie or lose
    assert sorted(buf.learnability().tolist()) == [0.1875, 0.25, 0.25, 0.25]
    assert len(buf) == 4


def test_merge_on_readmission():
    buf = ReplayBuffer(capacity=5)
    (row,) = rows_of(1)
    assert buf.admit([row], [[1, 0]], step=0) == 1
    assert buf.admit([{**row, "extra": 1}], [[1, 1]], step=3) == 0  # merged, not inserted
    e = buf.entry(key_of(row))
    assert (e["pulls"], e["n"], e["successes"], e["last_step"], e["admitted_step"]) == (2, 4, 3, 3, 0)
    assert e["learnability"] == pytest.approx(np.var([1, 0, 1, 1]))
    assert len(buf) == 1 and buf.stats()["merges"] == 1
    # Duplicate prompts inside one call: the first inserts, the next merges.
    buf2 = ReplayBuffer(capacity=5)
    assert buf2.admit([row, row], [[1, 0], [0, 0]], step=0) == 1
    assert buf2.entry(key_of(row))["pulls"] == 2


def test_retirement_after_uniform_pulls():
    buf = ReplayBuffer(capacity=5, retire_after=2)
    a, b = rows_of(2)
    buf.admit([a, b], [[1, 1], [1, 0]], step=0)
    assert buf.entry(key_of(a))["consecutive_uniform"] == 1
    buf.update([key_of(a), key_of(b)], [[0, 0], [1, 1]], step=1)  # all failed also counts
    assert key_of(a) not in buf and key_of(b) in buf
    assert buf.stats()["retirements"] == 1
    buf.update([key_of(b)], [[1, 0]], step=2)  # a mixed pull resets the streak
    buf.update([key_of(b)], [[1, 1]], step=3)
    assert key_of(b) in buf
    buf.update([key_of(b)], [[1, 1]], step=4)
    assert len(buf) == 0 and buf.stats()["retirements"] == 2
    once = ReplayBuffer(capacity=5, retire_after=1)
    assert once.admit([a, b], [[1, 1], [1, 0]], step=0) == 1 and key_of(a) not in once


# ---------------------------------------------------------------- state
@pytest.mark.parametrize("sampling", ["ucb", "proportional"])
def test_save_load_round_trip(tmp_path, sampling):
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(capacity=30, sampling=sampling, seed=5, retire_after=3)
    for step in range(6):
        rows = rows_of(12, start=step * 7)
        buf.admit(rows, [rng.integers(0, 2, size=4).astype(float) for _ in rows], step=step)
        got = [k for k, _ in buf.sample(6)]
        buf.update(got, [rng.integers(0, 2, size=4).astype(float) for _ in got], step=step)
    path = buf.save(tmp_path / "sub" / "replay.pkl")
    assert path.exists() and not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    other = ReplayBuffer.load(path)
    assert other.digest() == buf.digest()
    assert other.stats() == buf.stats()
    assert sorted(other.keys()) == sorted(buf.keys())
    for step in range(6, 10):
        rows = rows_of(5, start=step * 7)
        groups = [rng.integers(0, 2, size=4).astype(float) for _ in rows]
        assert buf.admit(rows, groups, step=step) == other.admit(rows, groups, step=step)
        a, b = buf.sample(6, exclude_keys={key_of(rows[0])}), other.sample(6, exclude_keys={key_of(rows[0])})
        assert a == b
        groups = [rng.integers(0, 2, size=4).astype(float) for _ in a]
        buf.update([k for k, _ in a], groups, step=step)
        other.update([k for k, _ in b], groups, step=step)
        assert other.digest() == buf.digest()
    # load_state_dict into a differently configured buffer adopts the saved config.
    third = ReplayBuffer(capacity=2)
    third.load_state_dict(buf.state_dict())
    assert third.digest() == buf.digest() and third.sampling == sampling
    assert buf.digest() != ReplayBuffer(capacity=30, sampling=sampling, seed=5, retire_after=3).digest()


# ---------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"capacity": 8, "sampling": "greedy"}, "sampling"),
        ({"capacity": 8, "ucb_c": -1.0}, "ucb_c"),
        ({"capacity": 8, "retire_after": -1}, "retire_after"),
        ({"capacity": 8, "temperature": 0.0}, "temperature"),
        ({"capacity": 8, "sampling": "proportional", "priority_floor": 0.0}, "priority_floor"),
        ({"capacity": 8, "priority_floor": -1e-3}, "priority_floor"),
        ({"capacity": 8, "seed": -1}, "seed"),
        ({"capacity": 8, "success_threshold": float("nan")}, "success_threshold"),
        ({"capacity": 8, "failure_threshold": 1.0}, "failure_threshold"),
    ],
)
def test_bad_arguments(kwargs, name):
    """A library class: a plain one-line ValueError naming the constructor argument, no config key."""
    with pytest.raises(ValueError, match=f"^ReplayBuffer: {name} ") as err:
        ReplayBuffer(**kwargs)
    assert not isinstance(err.value, UserError) and "\n" not in str(err.value)
    assert "replay." not in str(err.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ReplayBuffer.load"):
        ReplayBuffer.load(tmp_path / "nope.pkl")
