"""One source turned into prompt rows: gold-answer formats, the per-task columns each task module fills,
and the typed ``DatasetConfig`` read into a source spec."""

from __future__ import annotations

import pytest
from datasets import Dataset

from rlvr.config import DatasetConfig
from rlvr.data.sources import extract_answer, spec_from_dataset, to_prompt_rows
from rlvr.errors import UserError
from rlvr.tasks import TASKS, crossword, rubric, rush_hour, task_fields


@pytest.mark.parametrize(
    ("raw", "answer_format", "expected"),
    [
        (" 85 ", "raw", "85"),
        ("", "raw", None),
        (None, "raw", None),
        (["Bv2", " A>2"], "raw", "Bv2,A>2"),  # a list of moves is comma-joined
        ("Work.\n#### 1,234", "gsm8k", "1234"),
        ("no hashes", "gsm8k", None),
        ("so $\\boxed {\\frac{1}{2}}$", "boxed", "\\frac{1}{2}"),
        ("\\boxed{1} or \\boxed{2}", "boxed", "2"),
        ("\\boxed{1} or \\boxed{2", "boxed", None),
    ],
)
def test_extract_answer(raw: object, answer_format: str, expected: str | None) -> None:
    assert extract_answer(raw, answer_format) == expected


def test_unknown_answer_format_is_a_user_error() -> None:
    with pytest.raises(UserError, match="answer_format"):
        extract_answer("1", "latex")


def test_task_fields_dispatch_to_the_task_modules() -> None:
    fields = {label: task.fields for label, task in TASKS.items() if task.fields is not None}
    assert {
        "rush_hour": rush_hour.task_fields,
        "crossword": crossword.task_fields,
        "rubric": rubric.task_fields,
    } == fields
    assert task_fields("math", {"solution": "1"}, "1+0") == {}
    assert task_fields("crossword", {}, "Clue (5)") == {"enumeration": "(5)"}


def test_spec_from_a_typed_dataset_config() -> None:
    cfg = DatasetConfig(
        name="d",
        generator=None,
        path="x.jsonl",
        generator_kwargs={"n_train": 3},
        prompt_column="messages",
        columns={"rubric": "criteria"},
        task="rubric",
        eval_size=7,
    )
    spec = spec_from_dataset(cfg)
    assert (spec.key, spec.label, spec.path, spec.generator) == ("dataset", "d", "x.jsonl", None)
    assert spec.generator_kwargs == {"n_train": 3} and spec.generator_kwargs is not cfg.generator_kwargs
    assert (spec.prompt_column, spec.columns, spec.task, spec.eval_size) == (
        "messages",
        {"rubric": "criteria"},
        "rubric",
        7,
    )


def test_rows_of_several_tasks_get_every_task_column() -> None:
    """A source whose rows carry their own ``task``: each row gets its task's columns, and the columns
    of the other tasks as None; Rush Hour rows without a readable board are dropped."""
    rows = [
        {"problem": "Sea beast (3,4)", "answer": "sea lion", "task": "crossword"},
        {"problem": "Board size: 4x4\nBoard: AAoBoooBxooooooo", "answer": "Bv2,A>2", "task": "rush_hour"},
        {"problem": "Board: nonsense!", "answer": "A>1", "task": "rush_hour"},
        {"problem": "Explain.", "answer": "Because.", "task": "rubric"},
        {"problem": "1+1", "answer": "2", "task": None},
    ]
    spec = spec_from_dataset(DatasetConfig(name="mixed", generator=None, path="unused"))
    out = to_prompt_rows(Dataset.from_list(rows), spec).to_list()
    assert [r["task"] for r in out] == ["crossword", "rush_hour", "rubric", "math"]
    cross, rush, rub, math = out
    assert cross["enumeration"] == "(3,4)" and cross["board"] is None
    assert rush["board"] == "AA.B\n...B\n#...\n...." and rush["enumeration"] is None
    assert rub["reference_answer"] == "Because." and rub["rubric"] == []
    assert math["prompt"] == [{"role": "user", "content": "1+1"}] and math["solution"] == "2"
