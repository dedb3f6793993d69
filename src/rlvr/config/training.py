"""``training`` group: exactly the fields of TRL's ``GRPOConfig`` that rlvr does not set itself.

``TrainingConfig`` is generated from ``GRPOConfig``, so every TRL field is reachable as ``training.<field>=...``
with TRL's name and default, and a typo fails at compose time. rlvr sets the fields in ``MANAGED`` from other
keys (paths, ``seed``, ``logging.*``, ``rewards.funcs[*].weight``, and the sampling settings in
``model.generation_kwargs``, their single source).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import field
from typing import Any

from trl import GRPOConfig

# GRPOConfig field -> the rlvr key that sets it.
MANAGED = {
    "output_dir": "the run directory (hydra.run.dir)",
    "logging_dir": "the run directory (hydra.run.dir)",
    "report_to": "logging.backend",
    "run_name": "exp_name",
    "seed": "seed",
    "data_seed": "seed",
    "reward_weights": "rewards.funcs[*].weight",
    "logging_steps": "logging.logging_steps",
    "max_completion_length": "model.generation_kwargs.max_new_tokens",
    "temperature": "model.generation_kwargs.temperature",
    "top_p": "model.generation_kwargs.top_p",
    "top_k": "model.generation_kwargs.top_k",
    "min_p": "model.generation_kwargs.min_p",
    "repetition_penalty": "model.generation_kwargs.repetition_penalty",
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
        if not f.init or f.name in MANAGED or f.name.startswith("_"):
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


TrainingConfig = dataclasses.make_dataclass("TrainingConfig", _training_fields())
TrainingConfig.__doc__ = "Every field of trl.GRPOConfig that rlvr does not set (same name, same default)."
TrainingConfig.__module__ = __name__
