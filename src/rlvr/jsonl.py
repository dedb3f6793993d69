"""Appending JSON lines to a file that several processes write: ``metrics.jsonl`` gets the trainer's log records,
its periodic evaluations and the results of evaluation jobs gathered by another process (``eval_on_save=slurm``).

Every writer goes through :func:`append_record`: an exclusive ``flock`` on the file for the write of a whole line.
On a local disk a single ``O_APPEND`` write is already whole (unlocked appends tore 0 of 160 large lines from 4
processes in ``tests/test_jsonl.py``'s setup); the lock is for shared file systems, where appends from two hosts
are not atomic, and for a write the kernel returns short."""

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
