"""Trainer callbacks of every run: metrics as JSON lines, periodic held-out evaluation, a token budget."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from rlvr.jsonl import append_record


class MetricsJsonl(TrainerCallback):
    """Appends every log event of the trainer as one JSON line (main process only)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if logs is None or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3)}
        record.update({k: v for k, v in logs.items() if isinstance(v, int | float | str | bool) or v is None})
        append_record(self.path, record)


class PeriodicEval(TrainerCallback):
    """Held-out greedy accuracy every ``every_steps`` optimizer steps, appended to ``metrics.jsonl`` (main process)
    with the generated-token count so learning curves can be drawn against compute.

    ``evaluate(label)`` is a collective (every rank calls it, see ``rlvr.evaluation.heldout``) returning an object
    with ``accuracy``, ``n`` and ``per_task``; ``generated_tokens()`` is the count so far.
    """

    def __init__(
        self, every_steps: int, evaluate: Callable[[str], Any], generated_tokens: Callable[[], int], path: Path
    ) -> None:
        self.every_steps, self.evaluate, self.generated_tokens, self.path = (
            every_steps,
            evaluate,
            generated_tokens,
            path,
        )

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        every = self.every_steps
        if every <= 0 or state.global_step % every:
            return
        result = self.evaluate(f"at step {state.global_step}")
        if not state.is_world_process_zero:
            return
        record = {
            "step": state.global_step,
            "eval/accuracy": result.accuracy,
            "eval/n": result.n,
            "generated_tokens": self.generated_tokens(),
        }
        record.update({f"eval/accuracy/{task}": acc for task, acc in getattr(result, "per_task", {}).items()})
        append_record(self.path, record)


class EvalAtStart(TrainerCallback):
    """The "before" evaluation, run when training starts: the model is then on the training device and wrapped
    (DDP, DeepSpeed, FSDP) on every rank, so the evaluation is the same collective as the later ones."""

    def __init__(self, evaluate: Callable[[], Any]) -> None:
        self.evaluate = evaluate
        self.result: Any = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self.result = self.evaluate()


class EvalOnSave(TrainerCallback):
    """``callbacks.eval_on_save=inline``: held-out accuracy of every saved checkpoint, in the training job.

    ``on_save`` runs on every rank after the checkpoint is written, so the evaluation is the same collective as
    the others; rank 0 appends ``eval/*`` at that step to ``metrics.jsonl`` (and wandb when a run is open) and
    writes ``eval.json`` into the checkpoint folder.
    """

    def __init__(self, evaluate: Callable[[str], Any], run_dir: Path, log: Callable[[dict[str, Any]], None]) -> None:
        self.evaluate, self.run_dir, self.log = evaluate, run_dir, log

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        name = f"checkpoint-{state.global_step}"
        result = self.evaluate(name)
        if not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "checkpoint": name, "eval/accuracy": result.accuracy, "eval/n": result.n}
        record.update({f"eval/accuracy/{task}": acc for task, acc in getattr(result, "per_task", {}).items()})
        append_record(self.run_dir / "metrics.jsonl", record)
        folder = self.run_dir / name
        if folder.is_dir():
            (folder / "eval.json").write_text(json.dumps(asdict(result), indent=2))
        self.log(record)


class EvalOnSaveSlurm(TrainerCallback):
    """``callbacks.eval_on_save=slurm``: rank 0 submits ``slurm/evaluate.sbatch`` for every saved checkpoint and
    gathers the results that have arrived into ``metrics.jsonl`` (and wandb) at every log step and at the end of
    training; results arriving later are gathered by the evaluation jobs themselves (``rlvr.evaluation.on_save``).
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        sbatch_args: list[str],
        overrides: list[str],
        log: Callable[[dict[str, Any]], None],
    ) -> None:
        self.run_dir, self.name, self.sbatch_args, self.overrides, self.log = run_dir, name, sbatch_args, overrides, log

    def _gather(self) -> None:
        from rlvr.evaluation.on_save import gather

        for record in gather(self.run_dir):
            self.log(record)

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero:
            return
        from rlvr.evaluation.on_save import submit

        name = f"checkpoint-{state.global_step}"
        submit(self.run_dir, name, state.global_step, self.sbatch_args, self.overrides, f"{self.name}-eval")

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if state.is_world_process_zero:
            self._gather()

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if state.is_world_process_zero:
            self._gather()


class TokenBudget(TrainerCallback):
    """``callbacks.max_generated_tokens``: stop training at the first optimizer step where the generated tokens
    (``generated_tokens()``: the count over all processes, equal on every rank) reach ``budget``."""

    def __init__(self, budget: int, generated_tokens: Callable[[], int]) -> None:
        self.budget, self.generated_tokens = budget, generated_tokens

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if self.generated_tokens() >= self.budget:
            control.should_training_stop = True
