"""The task registry (``rlvr.registry.tasks``): every built-in task declares itself once, and what it declares is
what data loading, scoring and pass@k use; a generator named by reference labels its rows with ``dataset.task``."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlvr.api import compose
from rlvr.data.loading import load_datasets
from rlvr.errors import UserError
from rlvr.evaluation.scoring import correctness_scorer, score_rows
from rlvr.registry.tasks import GENERATORS, correctness_rewards
from rlvr.rewards import REGISTRY
from rlvr.tasks import TASKS, Task, answer_key, register_task

GENERATOR_FILE = """
def make_rows(n_train, n_eval, kwargs, seed):
    rows = [{"problem": f"{i}+{seed}", "answer": str(i + seed)} for i in range(n_train + n_eval)]
    return rows[n_eval:], rows[:n_eval]
"""


def test_every_built_in_task_declares_registered_rewards_and_an_answer_key() -> None:
    assert {t.name for t in TASKS.values()} == {"math", "rush_hour", "crossword", "rubric"}
    assert TASKS["arith"] is TASKS["math"]  # an alias: rows labelled arith are math rows
    for task in TASKS.values():
        assert task.correctness and task.answer_key is not None, task.name
        assert set(task.correctness) | set(task.shaping) <= set(REGISTRY), task.name
    assert correctness_rewards() == {"accuracy", "answer_tag", "rush_hour_exact", "crossword", "rubric"}
    assert {name: task for name, (_, task) in GENERATORS.items()} == {"arith": "math", "rush_hour": "rush_hour"}


def test_a_label_or_generator_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="task label 'math' is registered twice"):
        register_task(Task("math", correctness=("accuracy",)))
    with pytest.raises(ValueError, match="generator 'arith' is registered twice"):
        register_task(Task("not_math", correctness=(), generators=dict(TASKS["math"].generators)))
    assert "not_math" not in TASKS


def test_an_unregistered_task_falls_back_to_the_default_answer_key() -> None:
    assert answer_key("some_hub_label", "so \\boxed{85}") == answer_key("math", "\\boxed{85}") == "85"


def test_a_generator_by_reference_labels_its_rows_with_dataset_task(tmp_path: Path) -> None:
    (tmp_path / "rows.py").write_text(GENERATOR_FILE)
    cfg = compose(
        [f"dataset.generator={tmp_path}/rows.py:make_rows", "dataset.generator_kwargs={n_train:6}", "dataset.eval_size=2",
         "dataset.task=math", "dataset.group_column=null"]
    )  # fmt: skip
    train, held_out = load_datasets(cfg.dataset, seed=3)
    assert (len(train), len(held_out)) == (6, 2) and set(train["task"]) == {"math"}
    solved = score_rows(held_out.to_list(), [f"\\boxed{{{s}}}" for s in held_out["solution"]],
                        correctness_scorer(cfg.rewards))  # fmt: skip
    assert solved == [1.0, 1.0]
    with pytest.raises(UserError, match=r"dataset.generator: unknown generator 'nope' \(known: arith, rush_hour\)"):
        load_datasets(compose(["dataset.generator=nope"]).dataset, seed=0)
