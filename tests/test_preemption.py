"""Unit tests of rlvr.preemption (signals, flag file, the step-end callback, handler chaining)
and of the vLLM startup check. The end-to-end path (sbatch, requeue, exact resume) is in
tests/test_slurm.py."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch as th
from hydra import compose, initialize_config_dir
from transformers import TrainerControl, TrainerState, TrainingArguments

from rlvr import preemption
from rlvr.config import register_configs
from rlvr.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(preemption.PREEMPT_FILE_ENV, raising=False)
    preemption.reset()
    yield
    preemption.uninstall()
    preemption.reset()


def step_end(callback: preemption.PreemptionCallback, step: int, max_steps: int = 10) -> TrainerControl:
    args = TrainingArguments(output_dir="unused", use_cpu=True, report_to=[])
    state = TrainerState(global_step=step, max_steps=max_steps)
    return callback.on_step_end(args, state, TrainerControl())


def test_no_request_no_stop() -> None:
    control = step_end(preemption.PreemptionCallback(), step=3)
    assert not control.should_save and not control.should_training_stop


def test_flag_file_saves_and_stops_at_the_step_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "stop"
    monkeypatch.setenv(preemption.PREEMPT_FILE_ENV, str(flag))
    callback = preemption.PreemptionCallback()
    assert not step_end(callback, step=3).should_save
    flag.touch()
    control = step_end(callback, step=4)
    assert control.should_save and control.should_training_stop
    assert callback.stopped_at == 4 and callback.reason == f"flag file {flag}"


def test_last_step_is_a_normal_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = tmp_path / "stop"
    flag.touch()
    monkeypatch.setenv(preemption.PREEMPT_FILE_ENV, str(flag))
    callback = preemption.PreemptionCallback()
    control = step_end(callback, step=10, max_steps=10)
    assert not control.should_training_stop and callback.stopped_at is None


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_flag_and_does_not_kill(sig: int) -> None:
    assert preemption.install()
    preemption._in_loop.set()  # inside the optimizer loop: every signal is a stop request at the step end
    os.kill(os.getpid(), sig)  # delivered before os.kill returns (main thread)
    assert preemption.requested() and preemption.reason() == signal.Signals(sig).name
    callback = preemption.PreemptionCallback()
    assert step_end(callback, step=2).should_training_stop


def test_previous_handler_runs_after_the_checkpoint() -> None:
    """submitit's USR2 handler (requeue + exit) must run, but only once the checkpoint exists."""
    calls: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    try:
        preemption.install()
        os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == []  # deferred
        preemption.chain_previous_handler()
        assert calls == [signal.SIGUSR2]
    finally:
        preemption.uninstall()
        signal.signal(signal.SIGUSR2, previous)


def test_uninstall_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    preemption.install()
    assert signal.getsignal(signal.SIGTERM) is not before
    preemption.uninstall()
    assert signal.getsignal(signal.SIGTERM) == before


def test_raise_if_stopped_writes_marker_and_history(tmp_path: Path) -> None:
    callback = preemption.PreemptionCallback()
    trainer = SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[callback]))
    preemption.raise_if_stopped(trainer, tmp_path, is_main=True)  # not stopped: nothing happens
    assert not (tmp_path / preemption.MARKER_FILE).exists()
    callback.stopped_at, callback.reason = 7, "SIGUSR1"
    with pytest.raises(preemption.Preempted) as err:
        preemption.raise_if_stopped(trainer, tmp_path, is_main=True)
    assert err.value.step == 7 and err.value.checkpoint == str(tmp_path / "checkpoint-7")
    marker = json.loads((tmp_path / preemption.MARKER_FILE).read_text())
    assert marker["step"] == 7 and marker["reason"] == "SIGUSR1"
    history = (tmp_path / preemption.HISTORY_FILE).read_text().splitlines()
    assert [json.loads(line)["step"] for line in history] == [7]
    preemption.start(tmp_path, is_main=True)  # a new run clears the marker, keeps the history
    assert not (tmp_path / preemption.MARKER_FILE).exists()
    assert (tmp_path / preemption.HISTORY_FILE).exists()


def _rank_main(rank: int, init_file: str, flags: list[bool], out: str) -> None:
    th.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        args = SimpleNamespace(device=th.device("cpu"))
        Path(out, str(rank)).write_text(json.dumps(preemption._any_rank(flags[rank], args)))
    finally:
        th.distributed.destroy_process_group()


def test_ranks_agree_on_a_request_only_rank_0_saw(tmp_path: Path) -> None:
    """Rank 0 alone sees the flag file (it runs on the batch host): every rank must stop."""
    th.multiprocessing.spawn(_rank_main, args=(str(tmp_path / "init"), [True, False], str(tmp_path)), nprocs=2)
    assert [json.loads((tmp_path / str(r)).read_text()) for r in (0, 1)] == [True, True]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_use_vllm_without_vllm_is_one_clear_error(tmp_path: Path) -> None:
    from rlvr.run import build

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["training.use_vllm=true", "training.vllm_mode=server"])
    with pytest.raises(UserError, match=r"uv sync --extra vllm"):
        build(cfg, tmp_path)


def test_sigterm_outside_the_loop_stops_at_once_unless_a_stop_is_being_handled() -> None:
    """Before the first step a SIGTERM raises ``Interrupted``; after a preemption request (the checkpoint written,
    submitit's handler running ``scontrol requeue``, which makes SLURM send SIGTERM) it is only recorded."""
    assert preemption.install()
    with pytest.raises(preemption.Interrupted) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
    assert stop.value.exit_code == 128 + signal.SIGTERM
    os.kill(os.getpid(), signal.SIGUSR2)  # preempted: the request is being handled from here on
    os.kill(os.getpid(), signal.SIGTERM)  # no exception
    assert preemption.reason() == "SIGUSR2"
