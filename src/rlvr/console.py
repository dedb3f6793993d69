"""The console of a run: loguru sinks (compact by default, only rank 0 prints) and one live progress line.

TRL's per-step dicts still reach ``metrics.jsonl`` (``rlvr.callbacks.MetricsJsonl``) and ``train.log``; the
console shows a start banner, one progress line (a tqdm bar on a terminal; without one, e.g. in SLURM logs, a
compact line every ``logging.progress_every`` steps) and an end banner. ``logging.console=verbose`` also prints
the raw dicts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from transformers import TrainerCallback

CONSOLE_FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}"


def setup_console(verbose: bool, is_main: bool) -> Callable[[], None]:
    """Replace loguru's default console sink; returns a function that restores a default one."""
    logger.remove()
    level = "INFO" if is_main else "WARNING"

    def keep(record: dict[str, Any]) -> bool:
        return verbose or not record["extra"].get("file_only", False)

    sink = logger.add(sys.stderr, level=level, format=CONSOLE_FORMAT, filter=keep, colorize=None)

    def restore() -> None:
        logger.remove(sink)
        logger.add(sys.stderr)

    return restore


def quiet_library_progress() -> None:
    """No progress bars from transformers (e.g. "Writing model shards") or datasets: ours is the one line."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _fmt(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "-"


class ProgressLine(TrainerCallback):
    """One line per run: step/total, reward, frac_reward_zero_std, KL/beta, replay ratio, completions/s, tokens, ETA."""

    def __init__(self, every: int, completions_per_step: int, tty: bool | None = None) -> None:
        self.every = every
        self.completions_per_step = completions_per_step
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.bar: Any = None
        self.start = 0.0
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero:
            return
        self.start, self.first_step = time.time(), state.global_step
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True, leave=True)

    def describe(self, logs: dict[str, Any], step: int) -> str:
        elapsed = max(time.time() - self.start, 1e-9)
        done = max(step - self.first_step, 0)
        parts = [
            f"reward {_fmt(logs.get('reward'), '.3f')}",
            f"zero-std {_fmt(logs.get('frac_reward_zero_std'), '.2f')}",
        ]
        if logs.get("beta"):
            parts.append(f"beta {_fmt(logs.get('beta'), '.3g')} kl {_fmt(logs.get('kl'), '.3g')}")
        if "replay/ratio" in logs:
            parts.append(f"replay {_fmt(logs.get('replay/ratio'), '.2f')}")
        parts.append(f"{done * self.completions_per_step / elapsed:.0f} compl/s")
        if "generated_tokens" in logs:
            parts.append(f"{int(logs['generated_tokens']):,} tok")
        return " | ".join(parts)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        logger.bind(file_only=True).info(f"step {state.global_step}: {logs}")
        text = self.describe(logs, state.global_step)
        if self.bar is not None:
            self.bar.n = state.global_step
            self.bar.set_postfix_str(text, refresh=True)
        elif state.global_step % self.every == 0 or state.global_step == state.max_steps:
            done = max(state.global_step - self.first_step, 1)
            eta = (time.time() - self.start) / done * (state.max_steps - state.global_step)
            logger.info(f"step {state.global_step}/{state.max_steps} | {text} | eta {eta:.0f} s")

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if self.bar is not None:
            self.bar.close()
            self.bar = None
