"""``eval`` keys (in conf/config.yaml): held-out greedy accuracy before, during and after training."""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import UserError


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

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserError(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if self.max_samples is not None and self.max_samples < 1:
            raise UserError(f"eval.max_samples must be >= 1 or null, got {self.max_samples}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"eval.max_new_tokens must be >= 1 or null, got {self.max_new_tokens}")
        if self.every_steps < 0:
            raise UserError(f"eval.every_steps must be >= 0 (0: off), got {self.every_steps}")
