"""Run the real command-line entry points (``exp/*.py``) in a subprocess, as a user would.

One helper for the benchmarks (``exp/bench_*.py``) and the tests (``tests/helpers/cli.py``): the same
interpreter, the repository root as the default working directory, offline hub access, and an optional
thread budget per process for benchmarks that run several arms side by side on few cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = "exp/grpo_train.py"


def cli_env(cache_dir: str | Path | None = None, threads: int | None = None, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: offline hub and wandb, a tiny-model cache, an optional torch thread count."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "HF_HUB_OFFLINE": "1"}
    if cache_dir is not None:
        env["RLVR_CACHE_DIR"] = str(cache_dir)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(max(1, threads))
    env.update(extra)
    return env


def run_script(
    overrides: Sequence[str],
    *,
    script: str = TRAIN_SCRIPT,
    env: Mapping[str, str] | None = None,
    cwd: str | Path = ROOT,
    timeout: float | None = None,
    merge_output: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python <script> <overrides>`` from ``cwd``; output captured as text (stderr into stdout if ``merge_output``)."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *overrides],
        cwd=cwd,
        env=dict(env) if env is not None else cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


def failure_tail(proc: subprocess.CompletedProcess[str], chars: int = 3000) -> str:
    """The end of a failed run's output, for an error message."""
    return (proc.stdout or "")[-chars:] + (proc.stderr or "")[-chars:]
