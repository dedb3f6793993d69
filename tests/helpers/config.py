"""Compose the real config tree from the tests (Hydra's compose API), raw or typed."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from rlvr.config import RootConfig, register_configs, to_typed
from tests.helpers.cli import CONF_DIR


def compose_cfg(overrides: list[str]) -> DictConfig:
    """``conf/config.yaml`` with ``overrides``, as ``exp/grpo_train.py`` would compose it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def typed_cfg(overrides: list[str]) -> RootConfig:
    """The same, converted and validated (``rlvr.config.to_typed``)."""
    return to_typed(compose_cfg(overrides))
