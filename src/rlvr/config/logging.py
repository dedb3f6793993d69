"""``logging`` group: where metrics go besides ``metrics.jsonl`` (none, or Weights & Biases)."""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import UserError

BACKENDS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")


@dataclass
class LoggingConfig:
    name: str = "none"
    backend: str = "none"  # none | wandb
    project: str = "rlvr"
    entity: str | None = None
    mode: str = "offline"  # offline | online | disabled; WANDB_MODE in the environment wins
    group: str | None = None
    logging_steps: int = 1

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"logging.backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.mode not in WANDB_MODES:
            raise UserError(f"logging.mode: {self.mode!r} is not one of {', '.join(WANDB_MODES)}")
        if self.logging_steps < 1:
            raise UserError(f"logging.logging_steps must be >= 1, got {self.logging_steps}")
