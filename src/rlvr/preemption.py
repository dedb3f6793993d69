"""Preemption: checkpoint at the next step boundary, then stop, so a requeued job resumes exactly.

A stop is requested in either of two ways:

* a signal to the training process: ``SIGUSR1``, ``SIGUSR2`` (submitit's preemption signal)
  or ``SIGTERM`` (what SLURM sends at preemption and at the time limit). The handler only sets
  a flag, so it is safe whatever the process is doing.
* a flag file: when ``RLVR_PREEMPT_FILE`` names a path and that file exists. ``slurm/*.sbatch``
  set it and create the file from their ``USR1``/``TERM`` trap, so no signal has to travel
  through ``srun``, ``uv run`` and ``accelerate launch`` (accelerate's launcher dies on
  ``SIGUSR1`` instead of forwarding it).

``PreemptionCallback`` checks the flag at every optimizer-step end and agrees on it across
ranks (a max all-reduce), so every rank stops after the same step: it sets ``should_save`` and
``should_training_stop``, the Trainer writes a full checkpoint (model, optimizer, scheduler,
RNG, ``rlvr_state.json`` and whatever extensions add) and returns. ``rlvr.train.run`` then
writes ``preempted.json`` in the run directory and raises ``Preempted``; the CLI exits with
``PREEMPTED_EXIT_CODE``. Resuming with ``training.resume_from_checkpoint=auto`` in the same
run directory continues from that step: no step is lost or repeated.

Outside the optimizer loop (building the model, the "before" evaluation, the final evaluation and save) there is
nothing to checkpoint at a step end, so ``SIGTERM`` and ``SIGINT`` (Ctrl-C) stop at once: the handler raises
:class:`Interrupted`, which the CLI reports in one line with the conventional status (128 + the signal). Inside the
loop the first ``SIGINT`` is a stop request like the others (checkpoint, then exit 75 with where to resume); a second
``SIGINT`` stops at once (``KeyboardInterrupt``: the newest complete checkpoint stays the one to resume from).

If another handler was installed before ours (submitit's, in a ``hydra/launcher=slurm`` job),
it is called once the checkpoint is on disk (``chain_previous_handler``), so submitit requeues
the job as it would have done at signal time.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import torch as th
from loguru import logger
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "temporary failure, try again"
PREEMPT_FILE_ENV = "RLVR_PREEMPT_FILE"
MARKER_FILE = "preempted.json"  # present while the run waits to be resumed
HISTORY_FILE = "preemptions.jsonl"
DEFAULT_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT)
STOP_AT_ONCE_OUTSIDE_THE_LOOP = (signal.SIGTERM, signal.SIGINT)

_requested = threading.Event()
_in_loop = threading.Event()  # between the first optimizer step's start and the end of training
_received: list[int] = []
_previous: dict[int, Any] = {}


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not caught by ``except Exception``
    """SIGTERM or SIGINT outside the optimizer loop: the process stops at once (nothing to checkpoint there)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(
            f"stopped by {signal.Signals(signum).name} outside training steps (nothing to checkpoint there); "
            "rerun the same command (with training.resume_from_checkpoint=auto to continue a run)"
        )


class Preempted(Exception):
    """Training stopped early on request after saving a checkpoint; resume to continue."""

    def __init__(self, step: int, checkpoint: str | None, reason: str) -> None:
        self.step, self.checkpoint, self.reason = step, checkpoint, reason
        super().__init__(
            f"preempted ({reason}) after step {step}; checkpoint {checkpoint}; "
            "rerun in the same run dir with training.resume_from_checkpoint=auto to continue"
        )


def _handler(signum: int, frame: FrameType | None) -> None:
    # Outside the loop, at once; but not while a stop request is being handled (a checkpoint written, submitit's
    # handler requeueing the job: SLURM's SIGTERM that ends the requeued job must not cut that handler short).
    if signum in STOP_AT_ONCE_OUTSIDE_THE_LOOP and not _in_loop.is_set() and not _requested.is_set():
        raise Interrupted(signum)
    if signum == signal.SIGINT and signal.SIGINT in _received:
        raise KeyboardInterrupt  # a second Ctrl-C: stop now
    _received.append(signum)
    _requested.set()
    # No logging here: loguru takes a lock the interrupted code may hold. The callback logs.


def install(signals: Iterable[int] = DEFAULT_SIGNALS) -> bool:
    """Install the flag-setting handlers (main thread only; idempotent). Returns whether installed."""
    if threading.current_thread() is not threading.main_thread():
        logger.warning("preemption handlers not installed: not in the main thread (the flag file still works)")
        return False
    for sig in signals:
        current = signal.getsignal(sig)
        if current is _handler:
            continue
        _previous[sig] = current
        signal.signal(sig, _handler)
    return True


def uninstall() -> None:
    """Restore the handlers that were there before ``install`` (for tests and library use)."""
    for sig, previous in list(_previous.items()):
        if signal.getsignal(sig) is _handler:
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        del _previous[sig]


def reset() -> None:
    """Forget any request (a new run in the same process starts clean)."""
    _requested.clear()
    _received.clear()
    _in_loop.clear()


def flag_file() -> Path | None:
    path = os.environ.get(PREEMPT_FILE_ENV)
    return Path(path) if path else None


def requested() -> bool:
    """Whether this process was asked to stop (signal received or flag file present)."""
    if _requested.is_set():
        return True
    path = flag_file()
    return path is not None and path.exists()


def reason() -> str:
    if _received:
        return signal.Signals(_received[0]).name
    path = flag_file()
    if path is not None and path.exists():
        return f"flag file {path}"
    return "request"


def _any_rank(flag: bool, args: TrainingArguments) -> bool:
    """True on every rank when ``flag`` is true on any rank (a no-op outside torch.distributed).

    One tiny all-reduce per optimizer step, so that all ranks stop after the same step even
    when the request reaches them at different moments (or only rank 0 sees the flag file).
    """
    if not (th.distributed.is_available() and th.distributed.is_initialized()):
        return flag
    if th.distributed.get_world_size() == 1:
        return flag
    where = args.device if th.distributed.get_backend() != "gloo" else th.device("cpu")
    value = th.tensor([1 if flag else 0], dtype=th.int32, device=where)
    th.distributed.all_reduce(value, op=th.distributed.ReduceOp.MAX)
    return bool(value.item())


class PreemptionCallback(TrainerCallback):
    """On a stop request: save a checkpoint after the current optimizer step and end training."""

    def __init__(self) -> None:
        self.stopped_at: int | None = None
        self.reason: str | None = None

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        _in_loop.set()  # from here a SIGTERM/SIGINT checkpoints at the step end instead of stopping at once
        return control

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        _in_loop.clear()
        return control

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if not _any_rank(requested(), args):
            return control
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            return control  # the last step: training ends normally anyway
        self.stopped_at = state.global_step
        self.reason = reason() if requested() else "another rank"
        if state.is_world_process_zero:
            logger.warning(f"preemption ({self.reason}): saving a checkpoint at step {state.global_step} and stopping")
        control.should_save = True
        control.should_training_stop = True
        return control


def find_callback(trainer: Any) -> PreemptionCallback | None:
    return next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, PreemptionCallback)), None)


def write_marker(run_dir: Path, step: int, checkpoint: str | None, why: str) -> Path:
    """``preempted.json`` in the run dir (the batch scripts requeue the job when they find it),
    and a line in ``preemptions.jsonl``."""
    path = Path(run_dir) / MARKER_FILE
    record = {
        "step": step,
        "checkpoint": checkpoint,
        "reason": why,
        "time": round(time.time(), 3),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path)
    with (Path(run_dir) / HISTORY_FILE).open("a") as f:  # one line per preemption, never cleared
        f.write(json.dumps(record) + "\n")
    return path


def chain_previous_handler() -> None:
    """Call the handler that ours replaced for the first signal received (e.g. submitit's requeue).

    Called after the checkpoint is written. A previous handler may exit the process.
    """
    if not _received:
        return
    sig = _received[0]
    previous: Callable[[int, FrameType | None], Any] | Any = _previous.get(sig)
    if callable(previous) and previous not in (signal.default_int_handler,):
        logger.info(f"passing {signal.Signals(sig).name} on to the handler installed before ours")
        previous(sig, None)


def start(run_dir: Path, is_main: bool) -> None:
    """Begin a run: forget old requests, install the handlers, drop a stale ``preempted.json``."""
    reset()
    install()
    if is_main:
        (Path(run_dir) / MARKER_FILE).unlink(missing_ok=True)
        path = flag_file()
        if path is not None and path.exists():
            logger.warning(f"{PREEMPT_FILE_ENV}={path} exists already: training will stop after its first step")


def raise_if_stopped(trainer: Any, run_dir: Path, is_main: bool) -> None:
    """After ``trainer.train()``: raise ``Preempted`` (marker written) if training stopped on request."""
    callback = find_callback(trainer)
    if callback is None or callback.stopped_at is None:
        return
    step, why = callback.stopped_at, callback.reason or "request"
    checkpoint = Path(run_dir) / f"checkpoint-{step}"
    if is_main:
        write_marker(run_dir, step, str(checkpoint), why)
        logger.warning(f"preempted ({why}): checkpoint {checkpoint} written; final eval and summary skipped")
    raise Preempted(step, str(checkpoint), why)
