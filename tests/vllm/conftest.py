"""Fixtures of the vLLM tests: the separate vLLM CPU environment (skip when it is absent) and the tiny
model built in it, shared by every test of the session."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import FAST, ROOT
from tests.helpers.vllm_env import ENV_DIR, missing_reason, tiny_model_dir


@pytest.fixture(scope="session")
def vllm_env() -> Path:
    """The vLLM env's directory, built on first use by ``.ci/vllm_env.sh`` (a no-op when it is up to date, and it
    builds nothing when the CPU torch wheel is not on this machine: the tests then skip with the reason)."""
    if missing_reason() and not os.environ.get("RLVR_VLLM_ENV"):
        subprocess.run(["bash", str(ROOT / ".ci" / "vllm_env.sh")], cwd=ROOT, check=False, timeout=1800)
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    return ENV_DIR


@pytest.fixture(scope="session")
def vllm_tiny_model(vllm_env: Path, cache_dir: Path) -> Path:
    """The tiny model of the FAST overrides, as the vLLM env's CLI resolves it (built on first use)."""
    return tiny_model_dir(FAST, cache_dir)
