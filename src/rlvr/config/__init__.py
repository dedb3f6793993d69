"""Typed configuration: one dataclass module per Hydra group, registered in Hydra's ConfigStore.

Each YAML option under ``conf/<group>/`` names its group's schema (``<group>/schema``) in its defaults list,
so a typo in a key or a wrong type fails at compose time with Hydra's own error. ``to_typed`` converts the
composed config ONCE into a :class:`RootConfig` of dataclasses: every ``__post_init__`` validates its values
and raises :class:`rlvr.errors.UserError` naming the key, before any model loads. Library code below
``rlvr.run`` takes these dataclasses, never a ``DictConfig``.
"""

from __future__ import annotations

from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from rlvr.config.dataset import ANSWER_FORMATS, DatasetConfig, DataSource
from rlvr.config.evaluation import CallbacksConfig, EvalConfig
from rlvr.config.legacy import MOVED_KEYS, moved_key_error
from rlvr.config.logging import LoggingConfig
from rlvr.config.model import GenerationKwargs, LoraSettings, ModelConfig, ModelKwargs, TinyModelSpec
from rlvr.config.objective import (
    EntropyControlConfig,
    KLControlConfig,
    ObjectiveConfig,
    TemperatureScheduleConfig,
)
from rlvr.config.replay import EasyPoolConfig, RefillConfig, ReplayConfig, SkipConfig
from rlvr.config.rewards import RewardsConfig, RewardSpec
from rlvr.config.root import PathsConfig, RootConfig
from rlvr.config.training import MANAGED, TrainingConfig
from rlvr.errors import UserError

__all__ = [
    "ANSWER_FORMATS",
    "CallbacksConfig",
    "MANAGED",
    "MOVED_KEYS",
    "DataSource",
    "DatasetConfig",
    "EasyPoolConfig",
    "EntropyControlConfig",
    "EvalConfig",
    "GenerationKwargs",
    "KLControlConfig",
    "LoggingConfig",
    "LoraSettings",
    "ModelConfig",
    "ModelKwargs",
    "ObjectiveConfig",
    "PathsConfig",
    "RefillConfig",
    "ReplayConfig",
    "RewardSpec",
    "RewardsConfig",
    "RootConfig",
    "SkipConfig",
    "TemperatureScheduleConfig",
    "TinyModelSpec",
    "TrainingConfig",
    "moved_key_error",
    "register_configs",
    "to_typed",
]

GROUP_SCHEMAS: dict[str, type] = {
    "model": ModelConfig,
    "dataset": DatasetConfig,
    "training": TrainingConfig,
    "objective": ObjectiveConfig,
    "rewards": RewardsConfig,
    "replay": ReplayConfig,
    "logging": LoggingConfig,
}


def register_configs() -> None:
    """Register the schemas; YAML options name them as ``<group>/schema`` in their defaults."""
    cs = ConfigStore.instance()
    cs.store(name="root_schema", node=RootConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name="schema", node=schema)


def to_typed(cfg: DictConfig | RootConfig) -> RootConfig:
    """The composed config as dataclasses, validated; the one place a ``DictConfig`` becomes typed."""
    if isinstance(cfg, RootConfig):
        return cfg
    try:
        typed: Any = OmegaConf.to_object(cfg)
    except UserError:
        raise
    except Exception as err:  # OmegaConf may wrap what a __post_init__ raised
        cause = err.__cause__ or err.__context__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
    if not isinstance(typed, RootConfig):
        raise TypeError(f"expected the composed config to be a RootConfig, got {type(typed).__name__}")
    load_user_code(typed)
    return typed


def load_user_code(cfg: RootConfig) -> None:
    """Import ``plugins`` and check every reward and generator named by reference (``module:function``,
    ``file.py:function``): in every process that converts a config, so ranks, SLURM jobs and the evaluation and
    generation scripts see the same registrations, and a bad path is one line naming its key before any model
    loads."""
    from rlvr.plugins import is_reference, load_plugins, resolve_callable

    load_plugins(cfg.plugins)
    for i, spec in enumerate(cfg.rewards.funcs):
        if is_reference(spec.name):
            resolve_callable(spec.name, f"rewards.funcs[{i}].name")
    if cfg.dataset.generator and is_reference(cfg.dataset.generator):
        resolve_callable(cfg.dataset.generator, "dataset.generator")
    for i, source in enumerate(cfg.dataset.sources):
        if is_reference(str(source.source)):
            resolve_callable(str(source.source), f"dataset.sources[{i}].source")
