"""Appending JSON lines to a file that several processes write: ``metrics.jsonl`` gets the trainer's log records,
its periodic evaluations and the results of evaluation jobs gathered by another process (``eval_on_save=slurm``).

Every writer goes through :func:`append_record`: an exclusive ``flock`` on the file for the one ``write`` of a whole
line, so lines from different processes never interleave (a record longer than the stream buffer is otherwise
written in several pieces, and another process's line can land between them)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line, whole, under an exclusive lock on the file."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)  # closing releases the lock
