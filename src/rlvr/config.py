"""Structured configs for every Hydra group, registered in Hydra's ConfigStore.

Each YAML option under ``conf/<group>/`` names one of these schemas in its defaults list, so a
typo in a key or a wrong type fails at compose time with Hydra's own error, before any model
loads. ``TrainingConfig`` is generated from TRL's ``GRPOConfig`` so that every GRPOConfig
field is reachable as ``training.<field>=...`` and nothing else is.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from trl import GRPOConfig

from rlvr.tiny_model import TinyModelSpec


@dataclass
class ModelKwargs:
    """Passed to ``AutoModelForCausalLM.from_pretrained`` (quantisation flags build a BitsAndBytesConfig)."""

    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    trust_remote_code: bool = False
    attn_implementation: str | None = None  # e.g. sdpa, eager, flash_attention_2
    load_in_4bit: bool = False
    load_in_8bit: bool = False


@dataclass
class GenerationKwargs:
    """Sampling settings for training rollouts; they become GRPOConfig's generation fields."""

    max_new_tokens: int = 256  # -> GRPOConfig.max_completion_length
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k
    min_p: float | None = None
    repetition_penalty: float = 1.0


@dataclass
class LoraSettings:
    """Optional LoRA adapters through peft (``model.lora.enabled=true``)."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    name: str = "tiny"  # label used in run names
    name_or_path: str = "tiny"  # "tiny" builds our offline model; else a hub id or a local directory
    tokenizer_name_or_path: str | None = None  # defaults to name_or_path
    model_kwargs: ModelKwargs = field(default_factory=ModelKwargs)
    generation_kwargs: GenerationKwargs = field(default_factory=GenerationKwargs)
    lora: LoraSettings = field(default_factory=LoraSettings)
    tiny: TinyModelSpec = field(default_factory=TinyModelSpec)  # used only when name_or_path == "tiny"


@dataclass
class DatasetConfig:
    name: str = "arith"
    # Where rows come from: `generator` (synthetic, built by our code) or `path`, which may be a
    # hub dataset id, a local `save_to_disk` directory, or a .json/.jsonl/.parquet/.csv file.
    generator: str | None = "arith"
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    config_name: str | None = None  # hub dataset configuration, e.g. "main" for gsm8k
    split: str = "train"
    problem_column: str = "problem"
    answer_column: str = "answer"
    answer_format: str = "raw"  # raw | gsm8k (final number after ####) | boxed (last \boxed{} in text)
    system_prompt: str | None = None  # None: no system turn
    max_train_samples: int | None = None
    eval_split: str | None = None  # held-out split; None carves eval_size rows out of the train split
    eval_size: int = 200
    group_column: str | None = None  # column to break eval accuracy down by (e.g. arith "level")


@dataclass
class RewardSpec:
    name: str = "accuracy"  # a key of rlvr.rewards.REGISTRY
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardsConfig:
    name: str = "math"
    funcs: list[RewardSpec] = field(default_factory=lambda: [RewardSpec()])


@dataclass
class ReplayConfig:
    name: str = "none"
    enabled: bool = False


@dataclass
class LoggingConfig:
    name: str = "none"
    backend: str = "none"  # none | wandb
    project: str = "rlvr"
    entity: str | None = None
    mode: str = "offline"  # offline | online | disabled; WANDB_MODE in the environment wins
    group: str | None = None
    logging_steps: int = 1


@dataclass
class EvalConfig:
    enabled: bool = True  # greedy held-out accuracy before and after training
    before: bool = True
    after: bool = True
    max_samples: int | None = None  # None: the whole held-out split
    batch_size: int = 64
    max_new_tokens: int | None = None  # None: model.generation_kwargs.max_new_tokens
    reward: str | None = None  # reward name that defines success; None: the first of rewards.funcs
    success_threshold: float = 1.0


@dataclass
class PathsConfig:
    output_root: str = "outputs"
    multirun_root: str = "multirun"
    cache_dir: str = "~/.cache/rlvr"  # tiny model cache; RLVR_CACHE_DIR overrides (see conf/config.yaml)


# GRPOConfig fields the config tree does not expose under `training`: rlvr sets them from
# other keys (paths, `seed`, `logging.*`, `rewards.funcs[*].weight`, and the sampling settings
# in `model.generation_kwargs`, which are their single source of truth).
_MANAGED = {
    "output_dir",
    "logging_dir",
    "report_to",
    "run_name",
    "seed",
    "data_seed",
    "reward_weights",
    "logging_steps",
    "max_completion_length",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
}


def _omegaconf_type(tp: Any) -> Any:
    """Map a GRPOConfig annotation onto one OmegaConf can validate (else ``Any``)."""
    if isinstance(tp, str):
        return Any
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and args[0] in (int, float, bool, str):
            return args[0] | None
        return Any
    if tp in (int, float, bool, str):
        return tp
    return Any


def _training_fields() -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(GRPOConfig)
    out = []
    for f in dataclasses.fields(GRPOConfig):
        if not f.init or f.name in _MANAGED or f.name.startswith("_"):
            continue
        tp = _omegaconf_type(hints.get(f.name, Any))
        if f.default is not dataclasses.MISSING:
            default = f.default
            if hasattr(default, "value"):  # enums (e.g. IntervalStrategy): keep their string value
                default, tp = default.value, Any
            if isinstance(default, list | dict):
                out.append((f.name, Any, field(default_factory=lambda d=default: d.copy())))
                continue
            if default is not None and tp is not Any and not isinstance(default, typing.get_args(tp) or tp):
                tp = Any
            out.append((f.name, tp, field(default=default)))
        elif f.default_factory is not dataclasses.MISSING:
            out.append((f.name, Any, field(default_factory=f.default_factory)))
        else:
            out.append((f.name, Any, field(default=None)))
    return out


TrainingConfig = dataclasses.make_dataclass(
    "TrainingConfig",
    [
        ("name", str, field(default="cpu_tiny")),
        *_training_fields(),
    ],
)
TrainingConfig.__doc__ = "Every field of trl.GRPOConfig (same name, same default), plus `name`."


@dataclass
class RootConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    exp_name: str = "default"
    seed: int = 0
    tags: list[str] = field(default_factory=list)
    print_config: bool = True


def register_configs() -> None:
    """Register the schemas; YAML options name them as ``<group>/schema`` in their defaults."""
    cs = ConfigStore.instance()
    cs.store(name="root_schema", node=RootConfig)
    cs.store(group="model", name="schema", node=ModelConfig)
    cs.store(group="dataset", name="schema", node=DatasetConfig)
    cs.store(group="training", name="schema", node=TrainingConfig)
    cs.store(group="rewards", name="schema", node=RewardsConfig)
    cs.store(group="replay", name="schema", node=ReplayConfig)
    cs.store(group="logging", name="schema", node=LoggingConfig)
