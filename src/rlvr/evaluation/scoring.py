"""Held-out scoring: every row is judged by the correctness reward of ITS task, never by a shaping reward.

A run's ``rewards.funcs`` may mix correctness rewards (a task's verifier: ``accuracy``, ``rush_hour_exact``,
...) with shaping terms (format, length, ``cosine``) that cannot say "solved". :func:`correctness_scorer`
builds, in this order, the correctness rewards the run configured (with their kwargs and task routing), then
the correctness rewards every registered task declares (``rlvr.registry.tasks``: each task's first one, in
registration order, then the others), and scores each row with the first of them that
applies to its task. ``eval.reward`` overrides that with one named reward for every row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlvr.config import RewardsConfig
from rlvr.registry.tasks import TASKS, is_correctness_reward
from rlvr.rewards import build_reward

Scorer = Callable[..., list[float | None]]


def default_order() -> list[str]:
    """The registered tasks' correctness rewards, in the order they are tried for tasks the run's rewards do not
    cover: every task's first (its main verifier) before the alternatives (``answer_tag`` after ``accuracy``)."""
    tasks = list(dict.fromkeys(TASKS.values()))  # registration order, each task once (aliases share it)
    names = [t.correctness[0] for t in tasks if t.correctness] + [n for t in tasks for n in t.correctness[1:]]
    return list(dict.fromkeys(names))


@dataclass
class EvalResult:
    accuracy: float
    n: int
    mean_completion_tokens: float
    seconds: float
    per_group: dict[str, float]  # accuracy per value of a grouping column (e.g. arith level)
    per_task: dict[str, float] = field(default_factory=dict)  # accuracy per task (rows' `task` column)
    unscored: int = 0  # rows no correctness reward could score (counted as unsolved)
    ranks: int = 1  # processes the rows were sharded over


def correctness_scorer(rewards: RewardsConfig, eval_reward: str | None = None) -> Scorer:
    """A reward-like function that scores each completion with the correctness reward of its row's task."""
    if eval_reward:
        kwargs = next((dict(s.kwargs) for s in rewards.funcs if s.name == eval_reward), {})
        return build_reward(eval_reward, kwargs)
    configured = [s for s in rewards.funcs if is_correctness_reward(s.name)]
    chain = [build_reward(s.name, dict(s.kwargs)) for s in configured]
    names = {s.name for s in configured}
    chain += [build_reward(name) for name in default_order() if name not in names]

    def score(completions: list, **columns: Any) -> list[float | None]:
        out: list[float | None] = [None] * len(completions)
        for reward in chain:
            todo = [i for i, s in enumerate(out) if s is None]
            if not todo:
                break
            values = reward(completions=completions, **columns)
            for i in todo:
                out[i] = values[i]
        return out

    score.__name__ = "correctness"
    return score


def score_rows(rows: Sequence[dict[str, Any]], texts: Sequence[str], score: Scorer) -> list[float | None]:
    """The score of each completion (one per row), the way TRL calls reward functions."""
    if not rows:
        return []
    prompts = [r["prompt"] for r in rows]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
    return list(score(prompts=prompts, completions=completions, **columns))


def summarize(
    rows: Sequence[dict[str, Any]],
    scores: Sequence[float | None],
    lengths: Sequence[int],
    success_threshold: float = 1.0,
    group_column: str | None = None,
    seconds: float = 0.0,
    ranks: int = 1,
) -> EvalResult:
    """Accuracy over ``rows``: a row is solved when its score reaches ``success_threshold`` (None: unsolved)."""
    solved = [s is not None and s >= success_threshold for s in scores]

    def by(column: str | None) -> dict[str, float]:
        if not column or not rows or column not in rows[0]:
            return {}
        groups: dict[str, list[bool]] = {}
        for r, ok in zip(rows, solved, strict=True):
            groups.setdefault(str(r[column]), []).append(ok)
        return {k: round(sum(v) / len(v), 4) for k, v in sorted(groups.items())}

    return EvalResult(
        accuracy=sum(solved) / max(1, len(solved)),
        n=len(solved),
        mean_completion_tokens=sum(lengths) / max(1, len(lengths)),
        seconds=round(seconds, 2),
        per_group=by(group_column),
        per_task=by("task"),
        unscored=sum(s is None for s in scores),
        ranks=ranks,
    )
