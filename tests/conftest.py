"""Session fixtures and the suite's layout across pytest-xdist workers. Helpers (the CLI runner, FAST overrides,
paths) live in ``tests/helpers/``.

``uv run pytest`` runs on two workers (``-n 2 --dist loadfile`` in pyproject.toml): a test file runs whole on one
worker, so a module fixture (a shared training run, a vLLM server, a SLURM cluster) is built once. Much of the
suite waits rather than computes (SLURM holding a requeued job, a server starting, a subprocess importing torch),
so a second worker fills those gaps. Files are handed out longest-first: those with SLURM or vLLM tests, then
multi-process ones, then those with other slow ones (or tests that need the tiny model), most such tests first, then
the rest, so a long file never starts last. ``-n 0`` runs in one process.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

# One torch/OpenMP thread per worker (and per process a test starts, which inherit it) unless the caller set it: two
# workers with two threads each on two cores spin against each other. Measured with two concurrent 8-step CLI runs of
# the tiny model on 2 cores: 82.6 s with torch's default threads, 41.7 s with one thread each (one run alone: 33.5 s).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# The order in which files are handed to workers: a file's rank is its most expensive test's.
_COST_MARKS = ("slurm", "vllm", "multiproc", "slow")


def _cost_rank(item: pytest.Item) -> int:
    """0-3 by the first of ``_COST_MARKS`` the test carries; a test that needs the tiny model (``cache_dir``: it
    trains or runs a CLI) counts as slow; 4 for the rest."""
    rank = next((i for i, mark in enumerate(_COST_MARKS) if item.get_closest_marker(mark)), len(_COST_MARKS))
    if rank == len(_COST_MARKS) and "cache_dir" in getattr(item, "fixturenames", ()):
        rank = _COST_MARKS.index("slow")
    return rank


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first: by their costliest test's rank, then by how many tests of that rank they hold; each
    file's tests together and in their order."""
    ranks = {item.nodeid: _cost_rank(item) for item in items}
    rank: dict[Path, int] = {}
    for item in items:
        rank[item.path] = min(rank.get(item.path, len(_COST_MARKS)), ranks[item.nodeid])
    heavy = Counter(item.path for item in items if ranks[item.nodeid] == rank[item.path])
    first_seen = {path: i for i, path in reversed(list(enumerate(item.path for item in items)))}
    items.sort(key=lambda item: (rank[item.path], -heavy[item.path], first_seen[item.path]))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tiny models are built: ``RLVR_CACHE_DIR`` when set (CI sets it), else one temp dir that every xdist
    worker of the session shares (builds of the same model take turns on a lock: ``rlvr.tiny_model``)."""
    given = os.environ.get("RLVR_CACHE_DIR")
    if given:
        return Path(given)
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's root temp dir, above each worker's own
    path = base / "rlvr-cache"
    path.mkdir(exist_ok=True)
    return path
