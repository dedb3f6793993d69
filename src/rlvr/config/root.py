"""The root config: one field per group plus the top-level keys; cross-group checks run here."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlvr.config.dataset import DatasetConfig
from rlvr.config.evaluation import CallbacksConfig, EvalConfig, eval_dataset_config
from rlvr.config.logging import LoggingConfig
from rlvr.config.model import ModelConfig, check_training_overlap
from rlvr.config.objective import ObjectiveConfig
from rlvr.config.replay import ReplayConfig
from rlvr.config.rewards import RewardsConfig
from rlvr.config.training import TrainingConfig
from rlvr.errors import UserError

PRINT_ALIASES = {"false": "none", "no": "none", "off": "none", "true": "full", "yes": "full"}


@dataclass
class PathsConfig:
    output_root: str = "outputs"
    multirun_root: str = "multirun"
    cache_dir: str = "~/.cache/rlvr"  # tiny model cache; RLVR_CACHE_DIR overrides (see conf/config.yaml)

    def __post_init__(self) -> None:
        if not str(self.cache_dir).strip():  # would build the tiny model in the current directory
            raise UserError("paths.cache_dir is empty (is RLVR_CACHE_DIR set to ''?): unset it or name a directory")


@dataclass
class RootConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    exp_name: str = "default"
    seed: int = 0
    tags: list[str] = field(default_factory=list)
    print_config: str = "diff"  # diff: keys that differ from the defaults | full: the resolved tree | none
    plugins: list[str] = field(default_factory=list)  # modules or .py files imported at start (rlvr.plugins)

    def __post_init__(self) -> None:
        self.print_config = PRINT_ALIASES.get(str(self.print_config).lower(), str(self.print_config).lower())
        if self.print_config not in ("diff", "full", "none"):
            raise UserError(f"print_config: {self.print_config!r} is not one of diff, full, none")
        if self.seed < 0:
            raise UserError(f"seed must be >= 0, got {self.seed}")
        check_training_overlap(self.training, self.model)
        if self.callbacks.push_revisions and not self.training.hub_model_id:
            raise UserError("callbacks.push_revisions=true needs training.hub_model_id (the hub repo to push to)")
        self.objective.check_with(int(self.training.num_generations or 8), float(self.training.beta or 0.0))
        eval_dataset_config(self.eval)  # an unknown eval.dataset preset or a bad override fails here
        if self.model.reasoning_vocab.enabled and (
            self.training.use_transformers_continuous_batching or self.training.use_transformers_paged
        ):
            raise UserError(
                "model.reasoning_vocab with training.use_transformers_continuous_batching (or use_transformers_paged): "
                "TRL's continuous-batching generation bypasses the thinking mask; turn it off"
            )
        if self.replay.refill.enabled and str(self.training.scale_rewards).lower() == "batch":
            raise UserError(
                "replay.refill with training.scale_rewards=batch: each refill round would be scaled by its own "
                "batch's std, so the joined batch mixes advantage scales; use scale_rewards=group (or none)"
            )
        if self.model.reasoning_vocab.enabled and self.training.use_vllm and self.training.vllm_mode != "colocate":
            raise UserError(
                "model.reasoning_vocab with training.use_vllm=true needs training.vllm_mode=colocate: the thinking "
                "mask is not built for a vLLM server, and rollouts must never be sampled unmasked"
            )
