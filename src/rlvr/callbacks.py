"""Trainer callbacks of every run: metrics as JSON lines, periodic held-out evaluation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


class MetricsJsonl(TrainerCallback):
    """Appends every log event of the trainer as one JSON line (main process only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if logs is None or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3)}
        record.update({k: v for k, v in logs.items() if isinstance(v, int | float | str | bool) or v is None})
        append_jsonl(self.path, record)


class PeriodicEval(TrainerCallback):
    """Held-out greedy accuracy every ``every_steps`` optimizer steps (main process), appended to
    ``metrics.jsonl`` with the generated-token count so learning curves can be drawn against compute.

    ``evaluate(label)`` returns an object with ``accuracy`` and ``n``; ``generated_tokens()`` the count so far.
    """

    def __init__(
        self, every_steps: int, evaluate: Callable[[str], Any], generated_tokens: Callable[[], int], path: Path
    ) -> None:
        self.every_steps, self.evaluate, self.generated_tokens, self.path = every_steps, evaluate, generated_tokens, path

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        every = self.every_steps
        if every <= 0 or state.global_step % every or not state.is_world_process_zero:
            return
        result = self.evaluate(f"at step {state.global_step}")
        append_jsonl(
            self.path,
            {
                "step": state.global_step,
                "eval/accuracy": result.accuracy,
                "eval/n": result.n,
                "generated_tokens": self.generated_tokens(),
            },
        )
