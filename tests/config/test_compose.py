"""Every option of every config group composes against its schema; bad keys fail at compose time;
``training.*`` and ``model.generation_kwargs`` really reach TRL's GRPOConfig."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from rlvr.checkpoints import mark_complete, resolve_resume
from rlvr.config import MANAGED, RootConfig, TrainingConfig, to_typed
from rlvr.errors import UserError
from rlvr.trainers.args import grpo_args
from tests.helpers.cli import CONF_DIR
from tests.helpers.config import compose_cfg, typed_cfg

GROUPS = ["model", "dataset", "training", "objective", "rewards", "replay", "logging", "experiment"]
OPTIONS = [(g, p.stem) for g in GROUPS if (CONF_DIR / g).is_dir() for p in sorted((CONF_DIR / g).glob("*.yaml"))]
NAMED = {"model", "dataset", "objective", "rewards", "replay", "logging"}  # groups whose options carry `name`


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    cfg = compose_cfg([f"{group}={option}"])
    typed = to_typed(cfg)  # full structured validation, every value typed, every __post_init__ run
    assert isinstance(typed, RootConfig)
    if group in NAMED:
        assert cfg[group].name == option, f"conf/{group}/{option}.yaml should set name: {option}"


def test_default_config_is_the_offline_recipe() -> None:
    cfg = typed_cfg([])
    assert cfg.seed == 0
    assert (cfg.model.name, cfg.dataset.name, cfg.objective.name) == ("tiny", "arith", "grpo")
    assert (cfg.rewards.name, cfg.replay.name, cfg.logging.name) == ("math", "none", "none")
    assert cfg.training.max_steps == 120 and cfg.training.use_cpu  # conf/training/cpu_tiny.yaml


def test_training_group_is_exactly_the_grpo_config_fields_rlvr_does_not_set() -> None:
    import trl
    from trl import GRPOConfig

    from rlvr.config import grpo_fields
    from rlvr.config.snapshot import grpo_fields_from_trl

    trl_fields = {f.name for f in dataclasses.fields(GRPOConfig) if f.init and not f.name.startswith("_")}
    ours = {f.name for f in dataclasses.fields(TrainingConfig)}
    assert ours == trl_fields - set(MANAGED)
    snapshot = (grpo_fields.TRL_VERSION, grpo_fields.FIELDS)
    assert snapshot == (trl.__version__, grpo_fields_from_trl()), (
        "src/rlvr/config/grpo_fields.py is stale for the installed TRL: run `uv run python -m rlvr.config.snapshot`"
    )


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
    args = grpo_args(to_typed(cfg), tmp_path, [1.0])
    assert (args.learning_rate, args.max_steps, args.num_generations) == (1e-4, 50, 4)
    assert (args.max_completion_length, args.temperature, args.top_p, args.top_k) == (7, 0.7, 0.9, 5)
    assert args.seed == 3 and args.output_dir == str(tmp_path)


def test_resume_auto_picks_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    for step, complete in [(2, True), (10, True), (12, False)]:
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "trainer_state.json").write_text("{}")
        if complete:
            mark_complete(ckpt, step)
    cfg = typed_cfg(["training.resume_from_checkpoint=auto"])
    assert resolve_resume(cfg.training.resume_from_checkpoint, tmp_path) == str(tmp_path / "checkpoint-10")
    assert resolve_resume(None, tmp_path) is None


def test_experiment_presets_override_top_level_keys_and_groups() -> None:
    cfg = compose_cfg(["experiment=replay_arith"])
    assert cfg.exp_name == "replay_arith" and cfg.replay.name == "ucb"
    assert list(cfg.model.tiny.warmup_levels) == list(cfg.dataset.generator_kwargs.levels) == ["1+1", "2+1", "2+2"]
    assert compose_cfg(["experiment=debug", "exp_name=mine"]).exp_name == "mine"  # the CLI still wins


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["replay=ucb", "replay.ratio_schedule=linear", "replay.ratio_start=2"],
            "replay.ratio_start must be in \\[0, 1\\]",
        ),
        (["replay=ucb", "replay.sampling=greedy"], "replay.sampling: 'greedy' is not one of ucb, proportional"),
        (["replay=ucb", "replay.ratio_points=[[0,1.5]]"], "replay.ratio_points: each point"),
        (["replay=skip", "replay.skip.explore_solved=1.5"], "replay.skip.explore_solved must be in \\[0, 1\\]"),
        (["replay=skip", "replay.skip.fill=buffer"], "replay.skip.fill: 'buffer' is not one of pool, replay"),
        (["replay=skip", "replay.skip.target_zero_std=2"], "replay.skip.target_zero_std must be in"),
        (["replay=refill", "replay.refill.max_rounds=0"], "replay.refill.max_rounds must be >= 1"),
        (["callbacks.max_generated_tokens=0"], "callbacks.max_generated_tokens must be >= 1 or null"),
        (["model.model_kwargs.dtype=fp8"], "model.model_kwargs.dtype: 'fp8' is not one of"),
        (["dataset.answer_format=latex"], "dataset.answer_format: 'latex' is not one of raw, gsm8k, boxed"),
        (["logging.backend=tensorboard"], "logging.backend: 'tensorboard' is not one of none, wandb"),
        (["eval.every_steps=-1"], "eval.every_steps must be >= 0"),
        (["seed=-1"], "seed must be >= 0"),
        (["paths.cache_dir=''"], "paths.cache_dir is empty"),
        (["callbacks.eval_on_save=submitit"], "callbacks.eval_on_save: 'submitit' is not one of none, inline, slurm"),
        (["callbacks.eval_overrides=['checkpoints=all']"], "callbacks.eval_overrides: 'checkpoints=all'"),
        (["callbacks.eval_overrides=['eval.n_samples']"], "callbacks.eval_overrides: 'eval.n_samples'"),
        (["dataset.path=/data/mine.jsonl"], "dataset.path=/data/mine.jsonl and dataset.generator=arith exclude each"),
        (
            ["model.reasoning_vocab.size=8", "training.use_transformers_continuous_batching=true"],
            "model.reasoning_vocab with training.use_transformers_continuous_batching",
        ),
        (
            ["model.reasoning_vocab.size=8", "training.use_transformers_paged=true"],
            "model.reasoning_vocab with training.use_transformers_continuous_batching \\(or use_transformers_paged",
        ),
        (["replay=refill", "training.scale_rewards=batch"], "replay.refill with training.scale_rewards=batch"),
    ],
)
def test_bad_values_fail_when_the_config_is_converted_naming_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        typed_cfg(overrides)
