"""Held-out scoring judges every row with the correctness reward of its task (never a shaping term)."""

from __future__ import annotations

import pytest

from rlvr.data.loading import load_datasets
from rlvr.evaluation.scoring import correctness_scorer, score_rows, summarize
from tests.helpers.config import typed_cfg


def gold_completion(row: dict) -> str:
    """A correct answer for the row, written the way its task's reward reads it."""
    if row["task"] == "rush_hour":
        return f"<answer>{row['solution']}</answer>"
    return f"\\boxed{{{row['solution']}}}"


@pytest.fixture(scope="module")
def mixture_rows() -> list[dict]:
    cfg = typed_cfg(["dataset=mixture_arith_rush", "dataset.eval_size=20"])
    held_out = load_datasets(cfg.dataset, cfg.seed)[1].to_list()
    assert {r["task"] for r in held_out} == {"math", "rush_hour"}
    return held_out


@pytest.mark.parametrize("rewards", ["mixture", "math", "math_format", "math_length", "rush_hour"])
def test_gold_answers_score_one_on_every_task_whatever_the_training_rewards(
    rewards: str, mixture_rows: list[dict]
) -> None:
    cfg = typed_cfg(["dataset=mixture_arith_rush", f"rewards={rewards}"])
    scorer = correctness_scorer(cfg.rewards, cfg.eval.reward)
    texts = [gold_completion(r) for r in mixture_rows]
    scores = score_rows(mixture_rows, texts, scorer)
    result = summarize(mixture_rows, scores, [1] * len(texts), group_column="task")
    assert result.per_task == {"math": 1.0, "rush_hour": 1.0} and result.accuracy == 1.0 and result.unscored == 0


def test_wrong_answers_score_zero_per_task(mixture_rows: list[dict]) -> None:
    scorer = correctness_scorer(typed_cfg(["rewards=mixture"]).rewards)
    texts = ["\\boxed{-1}" if r["task"] == "math" else "<answer>A<9</answer>" for r in mixture_rows]
    result = summarize(mixture_rows, score_rows(mixture_rows, texts, scorer), [1] * len(texts))
    assert result.per_task == {"math": 0.0, "rush_hour": 0.0}


def test_eval_reward_overrides_the_per_task_choice(mixture_rows: list[dict]) -> None:
    cfg = typed_cfg(["rewards=mixture", "eval.reward=accuracy"])
    scorer = correctness_scorer(cfg.rewards, cfg.eval.reward)
    scores = score_rows(mixture_rows, [gold_completion(r) for r in mixture_rows], scorer)
    by_task = {r["task"]: s for r, s in zip(mixture_rows, scores, strict=True)}
    assert by_task["math"] == 1.0 and by_task["rush_hour"] is None  # accuracy does not serve rush_hour rows
