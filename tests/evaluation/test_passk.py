"""pass@k (unbiased estimator) against the closed form, maj@k on constructed answers, answer extraction per task."""

from __future__ import annotations

from math import comb

import pytest

from rlvr.config import EvalConfig
from rlvr.errors import UserError
from rlvr.evaluation.passk import (
    ProblemResult,
    Sample,
    breakdown,
    maj_at_k,
    majority_vote,
    metrics,
    pass_at_k,
)
from rlvr.tasks import answer_key


def closed_form(n: int, c: int, k: int) -> float:
    return 1.0 - comb(n - c, k) / comb(n, k)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 40])
def test_pass_at_k_matches_closed_form(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases() -> None:
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 0, 10) == 0.0  # c = 0: never
    assert pass_at_k(10, 10, 1) == 1.0 and pass_at_k(10, 10, 10) == 1.0  # c = n: always
    assert pass_at_k(10, 7, 4) == 1.0  # k > n - c: every draw of k holds a correct one
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the fraction correct
    big = pass_at_k(1000, 5, 100)  # no overflow, no binomials formed
    assert big == pytest.approx(closed_form(1000, 5, 100), rel=1e-9)
    for bad in [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_majority_vote_and_maj_at_k() -> None:
    assert majority_vote(["3", "5", "5", None]) == 1
    assert majority_vote(["7", "5", "7", "5"]) == 0  # tie: the answer seen first
    assert majority_vote([None, None]) is None
    keys = ["5", "5", "3", None]
    assert maj_at_k(keys, [True, True, False, False], 4) == 1.0  # "5" wins and its completion is correct
    assert maj_at_k(keys, [False, False, True, False], 4) == 0.0  # the correct answer is the minority
    assert maj_at_k([None, None], [False, False], 2) == 0.0  # no answer, no vote
    # k=2: groups (5,5) -> correct, (3,None) -> 3 correct? no: solved[2] is False
    assert maj_at_k(keys, [True, True, False, False], 2) == 0.5
    assert maj_at_k(keys, [True, False, True, False], 1) == 0.5  # maj@1 is the fraction correct
    with pytest.raises(ValueError):
        maj_at_k(keys, [True], 1)


def test_answer_key_per_task() -> None:
    assert answer_key("arith", "so \\boxed{12} no \\boxed{ 85 }") == "85"
    assert answer_key("math", "<answer>\\boxed{\\frac{1}{2}}</answer>") == answer_key("math", "\\boxed{1/2}")
    assert answer_key("arith", "no box here") is None
    a = answer_key("rush_hour", "think <answer>A>2 B^1</answer>")
    assert a and a == answer_key("rush_hour", "<answer> A>2   B^1 </answer>")
    assert answer_key("crossword", "<answer>Apple</answer>") == answer_key("crossword", "<answer>APPLE</answer>")


def problem(i: int, solved: list[bool], keys: list[str | None], task: str = "arith", group: str = "a") -> ProblemResult:
    samples = [Sample(s, 3, False, k) for s, k in zip(solved, keys, strict=True)]
    return ProblemResult(i, task, group, Sample(solved[0], 4, i == 0, keys[0]), samples)


def test_metrics_and_breakdown() -> None:
    probs = [
        problem(0, [True, False, False, False], ["1", "2", "2", "2"]),
        problem(1, [False, False, False, False], [None, "9", "8", "9"], task="math", group="b"),
    ]
    m = metrics(probs, [1, 4])
    assert m["greedy"] == 0.5 and m["pass@1"] == pytest.approx(0.125) and m["pass@4"] == 0.5
    assert m["maj@4"] == 0.0 and m["maj@1"] == pytest.approx(0.125)
    assert m["greedy_truncation_rate"] == 0.5 and m["greedy_mean_tokens"] == 4 and m["sample_truncation_rate"] == 0
    out = breakdown(probs, [1, 4])
    assert set(out["per_task"]) == {"arith", "math"} and set(out["per_group"]) == {"a", "b"}
    assert out["per_task"]["arith"]["pass@4"] == 1.0


def test_eval_config_sampling_keys() -> None:
    assert EvalConfig().n_samples == 0 and EvalConfig().k_values == []  # training's eval unchanged
    assert EvalConfig(n_samples=8).k_values == [1, 8]
    with pytest.raises(UserError, match="eval.k_values"):
        EvalConfig(n_samples=4, k_values=[1, 8])
    with pytest.raises(UserError, match="eval.temperature"):
        EvalConfig(temperature=0.0)
    with pytest.raises(UserError, match="eval.backend"):
        EvalConfig(backend="sglang")
