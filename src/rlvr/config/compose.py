"""``compose(overrides)``: the typed config ``exp/grpo_train.py <overrides>`` would compose, through Hydra's compose
API, with the CLI's one-line errors. The config layer's entry for the Python API (``rlvr.api.compose``), the
notebook and the secondary entry points' override check (``rlvr.cli.compose_error``)."""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from rlvr.config import RootConfig, register_configs, to_typed
from rlvr.config.overrides import CONF_DIR, override_error
from rlvr.credentials import load_dotenv
from rlvr.errors import UserError

# What compose() saw for each config it returned: the raw DictConfig and the overrides (keyed by id, dropped with it).
_COMPOSED: dict[int, tuple[DictConfig, list[str]]] = {}


def composed_with(cfg: RootConfig) -> tuple[DictConfig | None, list[str]]:
    """The raw config and the overrides :func:`compose` built ``cfg`` from; ``(None, [])`` for a config built
    another way."""
    return _COMPOSED.get(id(cfg), (None, []))


def as_overrides(overrides: Sequence[str] | Mapping[str, Any] | None) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            if isinstance(value, bool):
                text = str(value).lower()
            elif value is None:
                text = "null"
            elif isinstance(value, (list, tuple)):
                text = json.dumps(list(value))
            elif isinstance(value, Mapping):
                text = "{" + ",".join(f"{k}:{json.dumps(v)}" for k, v in value.items()) + "}"
            else:
                text = str(value)
            out.append(f"{key}={text}")
        return out
    if isinstance(overrides, str):
        raise UserError("compose(overrides=...): give a list of 'key=value' strings or a dict, not one string")
    return [str(o) for o in overrides]


def compose(overrides: Sequence[str] | Mapping[str, Any] | None = None, config_name: str = "config") -> RootConfig:
    """The typed config ``exp/grpo_train.py <overrides>`` would compose (``conf/`` + Hydra's compose API).

    ``overrides`` are ``key=value`` strings as on the command line, or a dict (``{"training.max_steps": 10}``).
    Bad overrides and bad values raise :class:`UserError` with the CLI's one-line message (unknown options,
    moved keys, typos, types, and every value check of ``rlvr.config``). ``.env`` is read (see
    :mod:`rlvr.credentials`).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    items = as_overrides(overrides)
    if message := override_error([o for o in items if not o.startswith("-")]):
        raise UserError(message)
    load_dotenv()
    register_configs()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            raw = hydra_compose(config_name, overrides=items)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        raise UserError(" ".join(str(err).split())) from None
    typed = to_typed(raw)
    key = id(typed)
    _COMPOSED[key] = (raw, items)
    weakref.finalize(typed, _COMPOSED.pop, key, None)
    return typed
