"""The rewards registry: task routing (a reward scores only the rows of the tasks it serves, and None
elsewhere), building rewards from typed specs, and clear errors."""

from __future__ import annotations

import pytest

from rlvr.config import RewardSpec
from rlvr.errors import UserError
from rlvr.rewards import REGISTRY, build_reward, build_rewards

BOARD = "....\nAA..\n....\n...."


def mixed_batch(k: int = 2) -> dict:
    """Three rows (math, rush_hour, crossword) with k correct completions each, flattened like TRL."""
    rows = [
        {"task": "math", "solution": "85", "board": None, "moves": None, "text": "\\boxed{85}"},
        {"task": "rush_hour", "solution": "A>2", "board": BOARD, "moves": 1, "text": "<answer>A>2</answer>"},
        {"task": "crossword", "solution": "APPLE", "board": None, "moves": None, "text": "<answer>apple</answer>"},
    ]
    flat = [r for r in rows for _ in range(k)]
    return {
        "completions": [[{"role": "assistant", "content": r["text"]}] for r in flat],
        **{key: [r[key] for r in flat] for key in ("task", "solution", "board", "moves")},
    }


@pytest.mark.parametrize(
    ("name", "scored_task"),
    [("accuracy", "math"), ("rush_hour_exact", "rush_hour"), ("crossword", "crossword")],
)
def test_each_reward_scores_only_its_task(name: str, scored_task: str) -> None:
    batch = mixed_batch()
    scores = build_reward(name)(**batch)
    for task, score in zip(batch["task"], scores, strict=True):
        assert score == (1.0 if task == scored_task else None), (task, score)


def test_format_rewards_serve_every_task() -> None:
    batch = mixed_batch()
    batch["completions"] = ["<think>\nx\n</think>\n<answer>\n1\n</answer>"] * len(batch["task"])
    assert build_reward("tag_count")(**batch) == [1.0] * 6
    assert build_reward("think_format")(**batch) == [1.0] * 6


def test_tasks_kwarg_overrides_the_default_set() -> None:
    batch = mixed_batch()
    assert build_reward("crossword", {"tasks": ["other"]})(**batch) == [None] * 6
    only_math = build_reward("tag_count", {"tasks": ["math"]})(**batch)
    assert [s is not None for s in only_math] == [True, True, False, False, False, False]
    # null serves every task: the math reward then scores the crossword rows too (as wrong)
    everything = build_reward("accuracy", {"tasks": None})(**batch)
    assert everything[:2] == [1.0, 1.0] and everything[4:] == [0.0, 0.0]


def test_rows_without_a_task_are_always_scored() -> None:
    batch = mixed_batch()
    del batch["task"]
    assert build_reward("accuracy")(**batch)[:2] == [1.0, 1.0]
    batch["task"] = [None, "", "rush_hour", "rush_hour", "crossword", "crossword"]
    assert build_reward("accuracy")(**batch)[:2] == [1.0, 1.0]


def test_every_registered_factory_accepts_tasks() -> None:
    for name, factory in REGISTRY.items():
        kwargs = {"max_len": 8} if name == "cosine" else {}
        if name == "soft_overlong":
            kwargs = {"max_completion_len": 8, "soft_punish_cache": 2}
        func = factory(tasks=["nothing"], **kwargs)
        assert func(completions=["x"], task=["something"], solution=["1"], board=[BOARD]) == [None], name


def test_log_extra_is_padded_back_to_the_full_batch() -> None:
    batch = mixed_batch()
    logged: dict[str, list] = {}
    build_reward("accuracy")(**batch, log_extra=lambda column, values: logged.setdefault(column, []).extend(values))
    assert len(logged["solution"]) == 6
    assert logged["solution"][2:] == [None] * 4 and logged["solution"][0] is not None


def test_bad_tasks_value_is_a_user_error() -> None:
    with pytest.raises(UserError, match="tasks"):
        build_reward("crossword", {"tasks": 3})
    with pytest.raises(UserError, match="unknown reward"):
        build_rewards([RewardSpec(name="no_such_reward")])
    with pytest.raises(UserError, match="is empty"):
        build_rewards([])
    with pytest.raises(UserError, match=r"rewards\.funcs\[crossword\]\.kwargs: .*colour"):
        build_reward("crossword", {"colour": "red"})


def test_build_rewards_reads_name_weight_and_kwargs_of_each_spec() -> None:
    specs = [
        RewardSpec(name="accuracy", weight=1.0),
        RewardSpec(name="tag_count", weight=0.2, kwargs={"tasks": ["math"]}),
    ]
    funcs, weights = build_rewards(specs)
    assert [f.__name__ for f in funcs] == ["accuracy", "tag_count"] and weights == [1.0, 0.2]
    assert funcs[1](completions=["x", "x"], task=["math", "rush_hour"]) == [0.0, None]
