"""``logging`` group: where metrics go besides ``metrics.jsonl`` (none, or Weights & Biases)."""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.errors import UserError

BACKENDS = ("none", "wandb")
WANDB_MODES = ("offline", "online", "disabled")
CONSOLE_MODES = ("compact", "verbose")


@dataclass
class LoggingConfig:
    name: str = "none"
    backend: str = "none"  # none | wandb
    project: str = "rlvr"
    entity: str | None = None
    mode: str = "offline"  # offline | online | disabled; WANDB_MODE in the environment wins
    group: str | None = None
    logging_steps: int = 1
    console: str = "compact"  # compact: banners + one progress line | verbose: also TRL's per-step dicts
    progress_every: int = 10  # without a terminal (SLURM logs): one progress line every this many steps

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"logging.backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.mode not in WANDB_MODES:
            raise UserError(f"logging.mode: {self.mode!r} is not one of {', '.join(WANDB_MODES)}")
        if self.console not in CONSOLE_MODES:
            raise UserError(f"logging.console: {self.console!r} is not one of {', '.join(CONSOLE_MODES)}")
        if self.progress_every < 1:
            raise UserError(f"logging.progress_every must be >= 1, got {self.progress_every}")
        if self.logging_steps < 1:
            raise UserError(f"logging.logging_steps must be >= 1, got {self.logging_steps}")
