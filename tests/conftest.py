"""Session fixtures. Helpers (the CLI runner, FAST overrides, paths) live in ``tests/helpers/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tiny models are built: ``RLVR_CACHE_DIR`` when set (CI sets it), else a session temp dir."""
    given = os.environ.get("RLVR_CACHE_DIR")
    return Path(given) if given else tmp_path_factory.mktemp("rlvr-cache")
