"""The root config of ``exp/evaluate.py`` (``conf/evaluate.yaml``) and what it names: the models to evaluate
(:func:`targets`), where the report goes (:func:`default_output_dir`), the backend check.

It extends :class:`rlvr.config.RootConfig`, so the same groups (``model``, ``dataset``, ``rewards``) and the same
``eval`` keys compose and validate exactly as for training (``rlvr.config.to_typed`` converts it); the keys below
say which model(s) to evaluate and where the report goes. Light on purpose: no torch import, so a bad key fails
before any model loads.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from rlvr.checkpoints import checkpoint_folders, checkpoint_step, is_complete
from rlvr.config import RootConfig, register_configs
from rlvr.errors import UserError

CHECKPOINT_CHOICES = ("last", "all")  # or the name of one checkpoint folder: checkpoint-<N>
# Groups exp/evaluate.py takes from the run's own composed config (<run_dir>/.hydra/config.yaml) when run_dir is set,
# unless the command line chooses or changes them (dataset=math500, dataset.eval_size=100, ...).
RUN_GROUPS = ("model", "dataset", "rewards")
REPORT_JSON, REPORT_MD, PLOT = "eval.json", "eval.md", "accuracy.png"


@dataclass
class EvaluateConfig(RootConfig):
    # A run directory: evaluate its model/ (else its newest complete checkpoint) with checkpoints=last, or every
    # complete checkpoint-* plus model/ with checkpoints=all. null: evaluate model.name_or_path.
    run_dir: str | None = None
    checkpoints: str = "last"  # last | all | checkpoint-<N> (all and checkpoint-<N> need run_dir)
    # Where eval.json / eval.md / accuracy.png go. null: <run_dir>/eval/ for a run dir, <parent>/eval-<name>/ for
    # a local model directory, <paths.output_root>/eval/<timestamp>/ for a hub id or the tiny model.
    output_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoints not in CHECKPOINT_CHOICES and checkpoint_step(Path(self.checkpoints)) is None:
            raise UserError(
                f"checkpoints: {self.checkpoints!r} is not one of {', '.join(CHECKPOINT_CHOICES)} or checkpoint-<N>"
            )
        if self.checkpoints != "last" and not self.run_dir:
            raise UserError(
                f"checkpoints={self.checkpoints} needs run_dir=RUN_DIR (the run whose checkpoints to evaluate)"
            )


def register_evaluate_config() -> None:
    """Register the group schemas and ``evaluate_schema`` (the root of ``conf/evaluate.yaml``)."""
    register_configs()
    ConfigStore.instance().store(name="evaluate_schema", node=EvaluateConfig)


@dataclass
class Target:
    """One model to evaluate: a label for the tables, its training step (None: unknown) and where it is."""

    label: str
    path: str  # a local directory, a hub id, or "tiny"
    step: int | None = None


# ---------------------------------------------------------------------------------------------------- what to evaluate
def _run_step(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / "summary.json").read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        steps = [checkpoint_step(p) for p in checkpoint_folders(run_dir) if is_complete(p)]
        return max((s for s in steps if s is not None), default=None)


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file())


def targets(cfg: EvaluateConfig) -> list[Target]:
    """The models ``cfg`` asks for, oldest first (raises :class:`UserError` for a path that names none)."""
    if not cfg.run_dir:
        path = str(cfg.model.name_or_path)
        local = Path(path).expanduser()
        if local.is_dir():
            if not _is_model_dir(local):
                raise UserError(f"model.name_or_path: {path} holds no config.json or adapter_config.json")
            run = local.parent if local.name == "model" else None
            step = checkpoint_step(local) or (_run_step(run) if run is not None else None)
            return [Target(local.name, str(local), step)]
        if path.startswith(("/", "./", "../", "~")):
            raise UserError(f"model.name_or_path: directory {path} does not exist")
        return [Target(path, path, None)]
    run = Path(cfg.run_dir).expanduser()
    if not run.is_dir():
        raise UserError(f"run_dir: {cfg.run_dir} is not a directory")
    complete = [p for p in checkpoint_folders(run) if is_complete(p) and _is_model_dir(p)]
    final = run / "model"
    found: list[Target] = []
    if cfg.checkpoints == "all":
        found = [Target(p.name, str(p), checkpoint_step(p)) for p in complete]
        if _is_model_dir(final):
            found.append(Target("model", str(final), _run_step(run)))
    elif cfg.checkpoints != "last":
        one = run / cfg.checkpoints
        if not (is_complete(one) and _is_model_dir(one)):
            state = "is incomplete (still being written, or cut short)" if one.is_dir() else "does not exist"
            raise UserError(f"checkpoints={cfg.checkpoints}: {one} {state}")
        found = [Target(one.name, str(one), checkpoint_step(one))]
    elif _is_model_dir(final):
        found = [Target("model", str(final), _run_step(run))]
    elif complete:
        found = [Target(complete[-1].name, str(complete[-1]), checkpoint_step(complete[-1]))]
    if not found:
        raise UserError(f"run_dir: {cfg.run_dir} has no model/ and no complete checkpoint-* to evaluate")
    return found


def default_output_dir(cfg: EvaluateConfig, found: list[Target]) -> Path:
    if cfg.output_dir:
        return Path(cfg.output_dir).expanduser()
    if cfg.run_dir:
        return Path(cfg.run_dir).expanduser() / "eval"
    local = Path(found[0].path)
    if local.is_dir():
        return local.parent / f"eval-{local.name}"
    return Path(cfg.paths.output_root) / "eval" / time.strftime("%Y-%m-%d_%H-%M-%S")


def adopt_run_config(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """With ``run_dir`` set, evaluate as the run was trained: replace the ``model`` (all but ``name_or_path``),
    ``dataset`` and ``rewards`` groups, ``plugins`` and ``training.chat_template_kwargs`` of the composed ``cfg``
    by the run's own (``<run_dir>/.hydra/config.yaml``), except a group the command line ``overrides`` choose or change.

    Edits ``cfg`` in place (before conversion) and returns the names of what it took from the run.
    """
    if not cfg.get("run_dir"):
        return []
    saved = Path(str(cfg.run_dir)).expanduser() / ".hydra" / "config.yaml"
    if not saved.is_file():
        return []
    run = OmegaConf.load(saved)
    given = {o.lstrip("+~").split("=", 1)[0].split(".", 1)[0].split("@", 1)[0] for o in overrides}
    taken = []
    with open_dict(cfg):
        for group in RUN_GROUPS:
            if group in given or group not in run:
                continue
            value = OmegaConf.merge(OmegaConf.structured(OmegaConf.get_type(cfg[group])), run[group])
            if group == "model":
                value.name_or_path = cfg.model.name_or_path
            cfg[group] = value
            taken.append(group)
        if "plugins" not in given and run.get("plugins"):  # the user code that registers the run's task, rewards
            cfg.plugins = run.plugins
            taken.append("plugins")
        kwargs = OmegaConf.select(run, "training.chat_template_kwargs")
        if "training" not in given and kwargs is not None:
            cfg.training.chat_template_kwargs = kwargs
            taken.append("training.chat_template_kwargs")
    return taken


def check_backend(cfg: EvaluateConfig) -> None:
    if cfg.eval.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise UserError("eval.backend=vllm needs vLLM, which is not installed: run `uv sync --extra vllm`")
