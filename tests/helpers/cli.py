"""Run the real CLI in a subprocess from the tests, through :mod:`rlvr.cli_runner` (the benchmarks use it too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rlvr.cli_runner import ROOT, TRAIN_SCRIPT, run_script
from rlvr.cli_runner import cli_env as _runner_env
from tests.helpers.net import free_port

CONF_DIR = ROOT / "conf"
# A quick tiny model (20 warm-start steps) and a few GRPO steps: exercises the whole path in seconds.
FAST = [
    "model.tiny.warmup_steps=20",
    "training.max_steps=2",
    "training.per_device_train_batch_size=16",
    "training.save_steps=2",
    "eval.max_samples=16",
    "print_config=none",
]


def cli_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    return _runner_env(cache_dir, **extra)


def run_cli(
    overrides: list[str], cache_dir: Path, cwd: Path = ROOT, timeout: int = 600, script: str = TRAIN_SCRIPT
) -> subprocess.CompletedProcess:
    """Run ``python exp/grpo_train.py <overrides>`` as a user would (from ``cwd``)."""
    return run_script(overrides, script=script, env=cli_env(cache_dir), cwd=cwd, timeout=timeout)


def run_accelerate(
    overrides: list[str], cache_dir: Path, *, processes: int = 2, timeout: int = 900
) -> subprocess.CompletedProcess:
    """``accelerate launch`` of ``exp/grpo_train.py`` with the DDP config (gloo on a CPU machine), one thread each,
    on a free port (tests run in parallel: a fixed port would collide)."""
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "conf/accelerate/ddp.yaml"),
        "--num_processes",
        str(processes),
        "--main_process_port",
        str(free_port()),
        str(ROOT / TRAIN_SCRIPT),
        *overrides,
    ]
    env = cli_env(cache_dir, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
