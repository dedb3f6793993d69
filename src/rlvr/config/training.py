"""``training`` group: exactly the fields of TRL's ``GRPOConfig`` that rlvr does not set itself.

``TrainingConfig`` is generated from a snapshot of ``GRPOConfig``'s fields (``grpo_fields.py``, checked against
the installed TRL by the tests), so every TRL field is reachable as ``training.<field>=...``
with TRL's name and default, and a typo fails at compose time. rlvr sets the fields in ``MANAGED`` from other
keys (paths, ``seed``, ``logging.*``, ``rewards.funcs[*].weight``, and the sampling settings in
``model.generation_kwargs``, their single source).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import field
from typing import Any

from rlvr.config.grpo_fields import FIELDS
from rlvr.errors import UserError

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


TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "int|None": int | None,
    "float|None": float | None,
    "bool|None": bool | None,
    "str|None": str | None,
    "Any": Any,
}


def _make_training_config() -> type:
    out = []
    for name, tp, default in FIELDS:
        if isinstance(default, list | dict):
            out.append((name, Any, field(default_factory=lambda d=default: copy.deepcopy(d))))
        else:
            out.append((name, TYPES[tp], field(default=default)))
    cls = dataclasses.make_dataclass("TrainingConfig", out, namespace={"__post_init__": _check_training})
    cls.__doc__ = "Every field of trl.GRPOConfig that rlvr does not set (same name, same default)."
    cls.__module__ = __name__
    return cls


def _check_training(self: Any) -> None:
    """Values TRL or torch would only reject after the model loaded (or never)."""
    if self.learning_rate is None or self.learning_rate < 0:
        raise UserError(f"training.learning_rate must be >= 0, got {self.learning_rate}")
    if self.num_generations is not None and self.num_generations < 2:
        raise UserError(
            f"training.num_generations must be >= 2 (GRPO compares completions of one prompt), got {self.num_generations}"
        )
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps", "num_iterations"):
        value = getattr(self, key)
        if value is not None and value < 1:
            raise UserError(f"training.{key} must be >= 1, got {value}")
    if self.max_steps is not None and self.max_steps == 0:
        raise UserError("training.max_steps must be > 0 (or -1: train for num_train_epochs)")
    if self.beta is not None and self.beta < 0:
        raise UserError(f"training.beta must be >= 0, got {self.beta}")
    if self.num_generations and self.per_device_train_batch_size and (
        self.per_device_train_batch_size * (self.steps_per_generation or self.gradient_accumulation_steps or 1)
    ) % self.num_generations:
        raise UserError(
            "training.per_device_train_batch_size x steps_per_generation (default: gradient_accumulation_steps) = "
            f"{self.per_device_train_batch_size} x {self.steps_per_generation or self.gradient_accumulation_steps} "
            f"must be a multiple of training.num_generations={self.num_generations} on one process"
        )


TrainingConfig = _make_training_config()
