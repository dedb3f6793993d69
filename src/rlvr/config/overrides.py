"""Checks of command-line overrides that need no composition: a moved key, or a group option that does not exist.
Used by ``exp/grpo_train.py`` before Hydra (``rlvr.cli``) and by :func:`rlvr.config.compose.compose`."""

from __future__ import annotations

from pathlib import Path

from rlvr.config.legacy import moved_key_error

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"  # the repository's conf/ (src/rlvr/config/ -> root)
# Selectable config groups (folders of conf/ that hold options) and what each one chooses.
GROUPS = {
    "model": "the policy: the offline tiny model or a hub / local checkpoint, dtype, sampling, LoRA",
    "dataset": "where prompts come from: a generator, a hub id, local files, or a mixture",
    "training": "TRL GRPOConfig fields by name (batch, steps, learning rate, vLLM, ...)",
    "objective": "the loss: grpo or maxent, with the adaptive KL / entropy controllers",
    "rewards": "the weighted reward functions (task-routed)",
    "replay": "prioritised prompt replay (none or ucb)",
    "logging": "metrics besides metrics.jsonl: none or wandb",
    "experiment": "full recipes that set several groups at once",
}
HYDRA_GROUPS = {"hydra/launcher": "where a -m sweep runs: basic (default), slurm, slurm_local"}


def search_dirs(overrides: list[str]) -> list[Path]:
    """The config folders a ``hydra.searchpath=[file:///my/conf,...]`` override adds (your own presets, outside the
    repository); ``pkg://`` entries are left to Hydra."""
    dirs: list[Path] = []
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "hydra.searchpath":
            for item in value.strip("[]").split(","):
                item = item.strip().strip("'\"")
                if item.startswith("file://"):
                    dirs.append(Path(item.removeprefix("file://")))
    return dirs


def group_options(group: str, extra_dirs: list[Path] | None = None) -> list[str]:
    """The options of a group: the YAML files under ``conf/<group>/`` and under each extra config folder."""
    return sorted({p.stem for d in [CONF_DIR, *(extra_dirs or [])] for p in (d / group).glob("*.yaml")})


def override_error(overrides: list[str]) -> str | None:
    """One line for the first override that names a moved key, an internal option or an unknown option."""
    if message := moved_key_error(overrides):
        return message
    extra = search_dirs(overrides)
    for override in overrides:
        text = override.lstrip("+~")
        key, sep, value = text.partition("=")
        if not sep or key not in GROUPS or value in ("", "null") or "," in value or "(" in value:
            continue  # not a group choice, or a sweep / glob over options that Hydra expands
        options = group_options(key, extra)
        if value not in options:
            return (
                f"{key}={value}: not an option of {key}; choose one of: {', '.join(options)} (a {key} of your own: "
                f"add the folder that holds {key}/{value}.yaml with hydra.searchpath=[file:///path/to/conf])"
            )
    return None
