"""rlvr.preflight: what it may reject before any data loads, and what it must leave to the loader (the end-to-end
ordering, before torch is imported, is in tests/test_grpo_train.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.data.sources import load_source
from rlvr.errors import UserError
from rlvr.preflight import check_inputs, check_model_path, declared_tasks
from tests.helpers.config import typed_cfg


def test_tasks_read_from_a_task_column_are_left_to_the_loader(tmp_path: Path) -> None:
    """Without dataset.task the rows' own `task` column decides: rush_hour rewards may fit the data, so the check
    waits for the rows instead of assuming the default task."""
    data = tmp_path / "puzzles.jsonl"
    data.write_text(json.dumps({"problem": "p", "answer": "A>1", "task": "rush_hour"}) + "\n")
    cfg = typed_cfg(["dataset.generator=null", f"dataset.path={data}", "dataset.task=null", "rewards=rush_hour"])
    assert declared_tasks(cfg.dataset) is None
    check_inputs(cfg)
    with pytest.raises(UserError, match="no reward scores the task"):  # the config fixes the task: caught now
        check_inputs(typed_cfg(["dataset.generator=null", f"dataset.path={data}", "rewards=rush_hour"]))


def test_a_mixture_declares_its_tasks_only_when_every_source_does() -> None:
    cfg = typed_cfg(["dataset=mixture_arith_rush", "rewards=mixture"])
    assert declared_tasks(cfg.dataset) == {"math", "rush_hour"}
    check_inputs(cfg)
    cfg.dataset.sources[1].task = None
    assert declared_tasks(cfg.dataset) is None
    with pytest.raises(UserError, match=r"no reward scores the task\(s\) rush_hour of dataset mixture_arith_rush"):
        check_inputs(typed_cfg(["dataset=mixture_arith_rush", "rewards=math"]))


def test_hub_ids_pass_and_local_paths_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_inputs(typed_cfg(["dataset=deepscaler", "model=qwen3_0.6b"]))  # hub ids: checked when they load
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert check_model_path("~/m") == str(tmp_path / "m")
    with pytest.raises(UserError, match=r"model.name_or_path: directory ~/nothere does not exist"):
        check_model_path("~/nothere")


def test_an_existing_file_that_is_not_data_is_named_as_such(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a dataset")
    with pytest.raises(UserError, match=r"dataset.path: .*notes.txt is not a dataset"):
        load_source(str(notes), "train")
    check_inputs(typed_cfg(["dataset.generator=null", f"dataset.path={notes}"]))  # it exists: the loader says more


def test_a_task_only_the_rows_name_is_checked_when_the_rows_load(tmp_path: Path) -> None:
    """The other half of the division: rows whose `task` column names a task no reward serves pass the preflight
    (it cannot know) and are rejected by the build before the model loads."""
    from rlvr.run import build

    data = tmp_path / "words.jsonl"
    data.write_text(
        "".join(json.dumps({"problem": f"w{i}", "answer": "CAT", "task": "crossword"}) + "\n" for i in range(4))
    )
    cfg = typed_cfg(["dataset.generator=null", f"dataset.path={data}", "dataset.task=null", "dataset.eval_size=1"])
    check_inputs(cfg)
    with pytest.raises(UserError, match=r"no reward scores the task\(s\) crossword of dataset arith"):
        build(cfg, tmp_path / "run")


def test_the_python_api_checks_before_it_starts_the_run(tmp_path: Path) -> None:
    """rlvr.api.prepare checks as the CLI does: a typo is answered before the run directory, its log file and a
    tracker run exist."""
    from rlvr import api

    cfg = typed_cfg(["rewards.funcs.0.name=accuracyy", "logging=wandb"])
    with pytest.raises(UserError, match="unknown reward 'accuracyy'"):
        api.prepare(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "train.log").exists() and not (tmp_path / "run" / "wandb").exists()
    assert not (tmp_path / "run").exists()
