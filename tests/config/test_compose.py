"""Every option of every config group composes against its schema; bad keys fail at compose time;
``training.*`` and ``model.generation_kwargs`` really reach TRL's GRPOConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from rlvr.config import RootConfig, register_configs
from rlvr.train import grpo_args

from .conftest import CONF_DIR

GROUPS = ["model", "dataset", "training", "rewards", "replay", "logging", "experiment"]
OPTIONS = [(g, p.stem) for g in GROUPS if (CONF_DIR / g).is_dir() for p in sorted((CONF_DIR / g).glob("*.yaml"))]


def compose_cfg(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    cfg = compose_cfg([f"{group}={option}"])
    typed = OmegaConf.to_object(cfg)  # full structured validation, every value typed
    assert isinstance(typed, RootConfig)
    if group != "experiment":
        assert cfg[group].name == option, f"conf/{group}/{option}.yaml should set name: {option}"


def test_default_config_is_the_offline_recipe() -> None:
    cfg = compose_cfg([])
    assert cfg.seed == 0
    assert (cfg.model.name, cfg.dataset.name, cfg.training.name) == ("tiny", "arith", "cpu_tiny")
    assert (cfg.rewards.name, cfg.replay.name, cfg.logging.name) == ("math", "none", "none")


@pytest.mark.parametrize(
    "override",
    ["training.learning_rte=1e-4", "model.generation_kwargs.max_new_token=8", "dataset.problem_col=q", "seeed=1"],
)
def test_unknown_key_fails_at_compose_time(override: str) -> None:
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        compose_cfg([override])


@pytest.mark.parametrize("override", ["training.max_steps=many", "seed=abc", "model.generation_kwargs.top_k=0.5"])
def test_wrong_type_fails_at_compose_time(override: str) -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg([override])


def test_training_and_generation_keys_reach_grpo_config(tmp_path: Path) -> None:
    cfg = compose_cfg(
        [
            "training.learning_rate=1e-4",
            "training.max_steps=50",
            "training.num_generations=4",
            "model.generation_kwargs.max_new_tokens=7",
            "model.generation_kwargs.temperature=0.7",
            "model.generation_kwargs.top_p=0.9",
            "model.generation_kwargs.top_k=5",
            "seed=3",
        ]
    )
    args, resume = grpo_args(cfg, tmp_path, [1.0])
    assert (args.learning_rate, args.max_steps, args.num_generations) == (1e-4, 50, 4)
    assert (args.max_completion_length, args.temperature, args.top_p, args.top_k) == (7, 0.7, 0.9, 5)
    assert args.seed == 3 and args.output_dir == str(tmp_path) and resume is None


def test_resume_auto_picks_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    for step, complete in [(2, True), (10, True), (12, False)]:
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        if complete:
            (ckpt / "trainer_state.json").write_text("{}")
    cfg = compose_cfg(["training.resume_from_checkpoint=auto"])
    _, resume = grpo_args(cfg, tmp_path, [1.0])
    assert resume == str(tmp_path / "checkpoint-10")


def test_experiment_presets_override_top_level_keys_and_groups() -> None:
    cfg = compose_cfg(["experiment=replay_arith"])
    assert cfg.exp_name == "replay_arith" and cfg.replay.name == "ucb"
    assert list(cfg.model.tiny.warmup_levels) == list(cfg.dataset.generator_kwargs.levels) == ["1+1", "2+1", "2+2"]
    assert compose_cfg(["experiment=debug", "exp_name=mine"]).exp_name == "mine"  # the CLI still wins
