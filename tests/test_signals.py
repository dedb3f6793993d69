"""Real signals to a real ``exp/grpo_train.py`` process, in each phase of a run: outside the optimizer loop a SIGTERM
stops at once (one line, status 143); inside it a Ctrl-C checkpoints at the step end and exits 75 saying where to
resume, and a second Ctrl-C stops at once (one line, status 130)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlvr.cli_runner import ROOT, TRAIN_SCRIPT
from tests.helpers.cli import FAST, cli_env

pytestmark = pytest.mark.slow


class Running:
    """The CLI in a subprocess, its merged output collected line by line as it comes."""

    def __init__(self, overrides: list[str], cache_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / TRAIN_SCRIPT), *overrides],
            cwd=ROOT,
            env=cli_env(cache_dir, PYTHONUNBUFFERED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, done, timeout: float, what: str) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not done():
            assert self.proc.poll() is None, f"exited ({self.proc.returncode}) before {what}:\n{self.text[-3000:]}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s:\n{self.text[-3000:]}"
            time.sleep(0.1)

    def stopped_within(self, seconds: float) -> int:
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"still running {seconds} s after the signal:\n{self.text[-3000:]}") from None
        self._reader.join(timeout=10)
        return code

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def errors(self) -> list[str]:
        return [line for line in self.text.splitlines() if "| ERROR" in line]


def loss_steps(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    return [r["step"] for r in rows if "loss" in r]


def test_sigterm_while_the_model_is_built_stops_at_once(tmp_path: Path) -> None:
    """A fresh cache: the tiny model's warm start runs (no training step yet) when SIGTERM arrives."""
    run = Running([*FAST, "model.tiny.warmup_steps=2000", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path / "cache")
    run.wait_for(lambda: "warm start for 2000 steps" in run.text, 300, "warm start")
    run.proc.send_signal(signal.SIGTERM)
    assert run.stopped_within(20) == 128 + signal.SIGTERM, run.text[-3000:]
    errors = run.errors()
    assert len(errors) == 1 and "stopped by SIGTERM outside training steps" in errors[0], run.text[-3000:]
    assert "Traceback" not in run.text


def test_ctrl_c_in_training_checkpoints_then_a_second_one_stops_at_once(tmp_path: Path, cache_dir: Path) -> None:
    overrides = [*FAST, "training.max_steps=200", "training.save_steps=1000", "eval.before=false"]
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"

    run = Running([*overrides, f"hydra.run.dir={first_dir}"], cache_dir)
    run.wait_for(lambda: loss_steps(first_dir), 300, "a training step")
    run.proc.send_signal(signal.SIGINT)
    assert run.stopped_within(60) == 75, run.text[-3000:]
    marker = json.loads((first_dir / "preempted.json").read_text())
    assert marker["reason"] == "SIGINT" and 1 <= marker["step"] < 200
    assert (first_dir / f"checkpoint-{marker['step']}" / "rlvr_complete.json").exists()
    assert "training.resume_from_checkpoint=auto to continue" in run.text and "Traceback" not in run.text

    # steps of a second or more, so that both presses land inside one step
    slow = ["training.per_device_train_batch_size=128", "model.generation_kwargs.max_new_tokens=64"]
    run = Running([*overrides, *slow, f"hydra.run.dir={second_dir}"], cache_dir)
    run.wait_for(lambda: loss_steps(second_dir), 300, "a training step")
    run.proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    run.proc.send_signal(signal.SIGINT)
    assert run.stopped_within(20) == 130, run.text[-3000:]
    errors = run.errors()
    assert len(errors) == 1 and "interrupted (second Ctrl-C): stopped at once" in errors[0], run.text[-3000:]
    assert "Traceback" not in run.text
