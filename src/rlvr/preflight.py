"""Checks of a run's inputs that need neither torch nor a row of data, so that ``exp/grpo_train.py`` answers a
mistyped reward, a missing data file or model directory, or rewards that score none of the dataset's tasks in
seconds, before it imports torch, transformers and TRL (6-7 s instead of 15-16 s on a 2-core CPU machine:
README.md, "Overriding and sweeping").

``rlvr.api.prepare`` runs them the same way, before it imports the trainer or writes the run directory.
``rlvr.run.build`` checks what needs the data where it loads (columns, empty or malformed files, task labels read
from a ``task`` column), and again the names and paths for a caller that went around both.
"""

from __future__ import annotations

from pathlib import Path

from rlvr.config import DatasetConfig, RootConfig
from rlvr.data.sources import check_source_exists
from rlvr.errors import UserError
from rlvr.rewards import check_rewards_serve, declared_routes  # the package: every built-in reward registered
from rlvr.tasks import is_generator


def check_model_path(path: str) -> str:
    """A local ``model.name_or_path`` must be a saved model; returns it with ``~`` expanded. A hub id passes (it is
    checked when it loads)."""
    local = Path(path).expanduser()
    if path.startswith(("/", "./", "../", "~")) and not local.exists():
        raise UserError(f"model.name_or_path: directory {path} does not exist")
    if local.is_dir() and not (local / "config.json").exists():
        raise UserError(
            f"model.name_or_path: {path} has no config.json: not a saved model (write one with save_pretrained)"
        )
    return str(local) if path.startswith("~") else path


def declared_tasks(dataset: DatasetConfig) -> set[str] | None:
    """The task labels of the dataset's rows when its config fixes them (every source sets ``task``), else None:
    rows without a fixed task take theirs from a ``task`` column, known once the data loads."""
    tasks = [source.task for source in dataset.sources] if dataset.sources else [dataset.task]
    return None if any(not task for task in tasks) else {str(task) for task in tasks}


def check_inputs(cfg: RootConfig) -> None:
    """One line (:class:`UserError`) naming the key for an unknown reward, a local data source or model that is not
    there, or rewards that score none of the rows of a task the dataset declares."""
    routes = declared_routes(cfg.rewards.funcs)
    if cfg.dataset.sources:
        for index, source in enumerate(cfg.dataset.sources):
            if not is_generator(str(source.source)):
                check_source_exists(str(source.source), f"dataset.sources[{index}].source")
    elif cfg.dataset.path:  # (with a generator as well, to_typed has refused it)
        check_source_exists(str(cfg.dataset.path), "dataset.path")
    if (tasks := declared_tasks(cfg.dataset)) is not None:
        check_rewards_serve(routes, tasks, str(cfg.dataset.name))
    if cfg.model.name_or_path != "tiny":
        check_model_path(str(cfg.model.name_or_path))
