"""Fixtures of the vLLM tests: the separate vLLM CPU environment (skip when it is absent) and the tiny
model built in it, shared by every test of the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import FAST
from tests.helpers.vllm_env import ENV_DIR, missing_reason, tiny_model_dir


@pytest.fixture(scope="session")
def vllm_env() -> Path:
    """The vLLM env's directory; skips the test when ``.ci/vllm_env.sh`` has not built it."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    return ENV_DIR


@pytest.fixture(scope="session")
def vllm_tiny_model(vllm_env: Path, cache_dir: Path) -> Path:
    """The tiny model of the FAST overrides, as the vLLM env's CLI resolves it (built on first use)."""
    return tiny_model_dir(FAST, cache_dir)
