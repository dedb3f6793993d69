"""Shared fixtures: the repository root, a tiny-model cache shared by the whole session, and a
helper that runs the real CLI (``exp/grpo_train.py``) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
# A quick tiny model (20 warm-start steps) and a few GRPO steps: exercises the whole path in seconds.
FAST = [
    "model.tiny.warmup_steps=20",
    "training.max_steps=2",
    "training.per_device_train_batch_size=16",
    "training.save_steps=2",
    "eval.max_samples=16",
    "print_config=false",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tiny models are built: ``RLVR_CACHE_DIR`` when set (CI sets it), else a session temp dir."""
    given = os.environ.get("RLVR_CACHE_DIR")
    return Path(given) if given else tmp_path_factory.mktemp("rlvr-cache")


def cli_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RLVR_CACHE_DIR": str(cache_dir), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    env.update(extra)
    return env


def run_cli(
    overrides: list[str], cache_dir: Path, cwd: Path = ROOT, timeout: int = 600, script: str = "exp/grpo_train.py"
) -> subprocess.CompletedProcess:
    """Run ``python exp/grpo_train.py <overrides>`` as a user would (from ``cwd``)."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *overrides],
        cwd=cwd,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
