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
class DataSource:
    """One source of a dataset mixture (``dataset.sources``); the keys mean what they mean in
    ``DatasetConfig``, for this source only."""

    source: str = "arith"  # a generator name (arith, rush_hour) or a hub id / local path
    weight: float = 1.0  # <= 1: that fraction of the source's train rows; > 1: that many rows
    task: str | None = None  # `task` label of its rows (reward routing); None: as in DatasetConfig
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    config_name: str | None = None
    split: str = "train"
    eval_split: str | None = None
    eval_size: int | None = None  # None: dataset.eval_size
    problem_column: str = "problem"
    prompt_column: str | None = None
    answer_column: str = "answer"
    answer_format: str = "raw"
    columns: dict[str, str] = field(default_factory=dict)
    system_prompt: str | None = None


@dataclass
class DatasetConfig:
    name: str = "arith"
    # Where rows come from: `generator` (synthetic, built by our code: arith, rush_hour) or `path`,
    # which may be a hub dataset id, a local `save_to_disk` directory, or a .json/.jsonl/.parquet/
    # .csv file (or a directory of them). A non-empty `sources` list makes a mixture instead.
    generator: str | None = "arith"
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    config_name: str | None = None  # hub dataset configuration, e.g. "main" for gsm8k
    split: str = "train"
    problem_column: str = "problem"  # text of the user turn
    prompt_column: str | None = None  # chat messages column (e.g. "messages"); used instead of problem_column
    answer_column: str = "answer"  # gold answer -> the `solution` column
    answer_format: str = "raw"  # raw | gsm8k (final number after ####) | boxed (last \boxed{} in text)
    columns: dict[str, str] = field(default_factory=dict)  # {column rewards read: source column}, copied
    task: str | None = None  # `task` column (reward routing): math, rush_hour, crossword, rubric, ...
    # None: the generator's task (arith -> math, rush_hour -> rush_hour), else the rows' own `task`, else math
    system_prompt: str | None = None  # injected only into rows without a system turn; None: none
    max_prompt_length: int | None = None  # tokens after the chat template; longer prompts are dropped
    max_train_samples: int | None = None
    eval_split: str | None = None  # held-out split; None carves eval_size rows out of the train split
    eval_size: int = 200  # held-out rows (per source in a mixture)
    group_column: str | None = None  # column to break eval accuracy down by (e.g. arith "level", "task")
    sources: list[DataSource] = field(default_factory=list)  # mixture: see conf/dataset/mixture_*.yaml


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
class EasyPoolConfig:
    """EASY pool: whole groups from a second dataset, mixed in with probability ``p_schedule(step)``."""

    enabled: bool = False
    dataset: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(name="arith_easy", generator_kwargs={"levels": ["1+1"]}, eval_size=0)
    )
    # [[step, p], ...] piecewise constant: p applies from that step on (before the first point: its value).
    p_schedule: list[Any] = field(default_factory=lambda: [[0, 0.2], [60, 0.0]])


@dataclass
class ReplayConfig:
    """Prioritised prompt replay (``rlvr.replay``); every knob is documented in README.md."""

    name: str = "none"
    enabled: bool = False
    capacity: int = 4096  # prompts held; at capacity the lowest-priority entry is evicted
    sampling: str = "ucb"  # ucb: top-k priority | proportional: sample proportional to priority
    ucb_c: float = 0.2  # exploration bonus c * sqrt(ln N / n) added to the learnability estimate
    temperature: float = 1.0  # proportional sampling: p ~ priority ** (1 / temperature)
    ratio: float = 0.5  # fraction of each generation batch's prompt groups taken from the buffer
    ratio_schedule: str = "constant"  # constant | linear (ratio_start -> ratio over ratio_ramp_steps) | piecewise
    ratio_start: float = 0.0
    ratio_ramp_steps: int = 0
    ratio_points: list[Any] = field(default_factory=list)  # piecewise: [[step, ratio], ...]
    min_size: int = 8  # replay starts once the buffer holds this many prompts
    warmup_steps: int = 0  # ... and not before this optimizer step
    admit: str = "informative"  # informative: reward variance > 0 | success: at least one correct completion
    success_threshold: float = 1.0  # a completion with reward >= this counts as solved
    retire_after: int = 3  # retire a prompt all-solved or all-failed this many pulls in a row (0: never)
    easy: EasyPoolConfig = field(default_factory=EasyPoolConfig)


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
    every_steps: int = 0  # > 0: also evaluate every this many steps (eval/accuracy in metrics.jsonl)


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


# ---------------------------------------------------------------------------------------------
# rlvr-only `training.*` keys (not GRPOConfig fields): objective, MaxEnt-GRPO, KL / entropy
# controllers, sampling-temperature schedule. `rlvr.train.grpo_args` pops them before building
# GRPOConfig; `rlvr.train.build` hands them to the trainer (rlvr.objectives.mixin.ObjectivesMixin).
# The math and every knob: README "Objectives" and rlvr/objectives/maxent.py.
# ---------------------------------------------------------------------------------------------
@dataclass
class TemperatureScheduleConfig:
    """``training.temperature_schedule``: the sampling temperature per optimizer step (off by default).

    Linear from ``temp_start`` (step 0) to ``temp_end`` (step ``anneal_steps``); after that ``temp_start``
    on every step divisible by ``high_temp_period`` and ``temp_end`` otherwise. When enabled it replaces
    ``model.generation_kwargs.temperature`` for sampling only (log-probabilities keep that temperature).
    """

    enabled: bool = False
    temp_start: float = 1.0
    temp_end: float = 1.0
    anneal_steps: int = 0  # 0: no anneal
    high_temp_period: int = 0  # 0: no periodic high-temperature steps


@dataclass
class ObjectivesConfig:
    """The rlvr-only keys of ``training``; see the block comment above."""

    objective: str = "grpo"  # grpo: TRL's GRPO loss | maxent: sequence-level MaxEnt-GRPO (weighted max. likelihood)
    # -- MaxEnt-GRPO (objective=maxent) --
    maxent_q_temperature: float = 1.0  # T_q > 0: listwise target q = softmax(u / T_q) over each group's utilities
    maxent_q_epsilon: float = 0.0  # eps >= 0: q <- (1 - eps*K) q + eps, renormalised; needs eps * K < 1
    maxent_tau: float = 1.0  # tau >= 0: entropy coefficient (initial value when the entropy controller is on)
    maxent_length_normalize_ref: bool = True  # l_i = per-token mean of log pi_ref (true) or its sum (false)
    maxent_clip: bool = False  # add the PPO-style clipped term on the sequence ratio, range training.epsilon
    # Entropy controller: drive tau so an EMA of the mean weight entropy (nats, 0..log K) tracks this; null: off.
    maxent_target_weight_entropy: float | None = None
    maxent_tau_lr: float = 0.05  # log tau += tau_lr * (target - ema)
    maxent_tau_min: float = 1e-3  # tau clamped to [tau_min, tau_max]; tau_min > 0
    maxent_tau_max: float = 10.0
    maxent_tau_warmup_steps: int = 0  # optimizer steps that only feed the EMA before tau moves
    maxent_entropy_ema_decay: float = 0.9  # ema <- decay * ema + (1 - decay) * entropy
    # -- adaptive KL coefficient (both objectives); off when any of kl_target / kl_horizon / kl_ctl_step_size is 0 --
    init_kl_coeff: float | None = None  # initial beta; null: training.beta. > 0 makes TRL load the reference model
    kl_target: float = 0.0  # KL the controller steers towards (TRL's k3 estimate, mean per token)
    kl_horizon: float = 0.0  # beta <- max(0, beta * (1 + clip(KL / kl_target - 1, +-step) / kl_horizon))
    kl_ctl_step_size: float = 0.0  # the clip on the proportional error
    # -- sampling-temperature schedule (both objectives) --
    temperature_schedule: TemperatureScheduleConfig = field(default_factory=TemperatureScheduleConfig)


OBJECTIVE_KEYS = tuple(f.name for f in dataclasses.fields(ObjectivesConfig))


def _objective_fields() -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(ObjectivesConfig)
    clash = set(OBJECTIVE_KEYS) & {f.name for f in dataclasses.fields(GRPOConfig)}
    if clash:
        raise RuntimeError(f"rlvr training keys clash with GRPOConfig fields: {sorted(clash)}")
    return [
        (f.name, hints[f.name], dataclasses.field(default=f.default, default_factory=f.default_factory))
        for f in dataclasses.fields(ObjectivesConfig)
    ]


TrainingConfig = dataclasses.make_dataclass(
    "TrainingConfig",
    [
        ("name", str, field(default="cpu_tiny")),
        *_training_fields(),
        *_objective_fields(),  # rlvr-only keys, see ObjectivesConfig
    ],
)
TrainingConfig.__doc__ = (
    "Every field of trl.GRPOConfig (same name, same default), plus `name` and the rlvr-only keys of ObjectivesConfig."
)


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
