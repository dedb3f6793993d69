"""What a run directory records about where it came from: the process's role and the code's git commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def is_main_process() -> bool:
    """Rank 0 under ``accelerate launch`` / torchrun, or a single process: the one that writes summaries."""
    return int(os.environ.get("RANK", "0")) == 0


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the repository that holds the code, with ``-dirty`` when it has local changes."""
    where = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha
