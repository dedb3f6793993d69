"""Checkpoints of a run directory: which are complete, which is newest, what ``resume_from_checkpoint`` means,
and which old ones may be pruned.

A checkpoint folder counts as **complete** only when it holds :data:`COMPLETE_FILE` (``rlvr_complete.json``):
``rlvr.trainers.base.RLVRTrainer`` writes it LAST, atomically, after transformers' files (model, optimizer,
scheduler, RNG, ``trainer_state.json``), after every extension's ``save_extra`` (``rlvr_state.json``,
``replay_buffer.pkl``, ...) and after every rank has finished writing. It records the step and the files the
folder held, and :func:`is_complete` checks they are all still there. A process killed while a checkpoint is
being written therefore leaves a folder without the marker, which ``resume_from_checkpoint=auto`` ignores.

Pruning (``training.save_total_limit``) is done here too (:func:`rotate_checkpoints`), after the marker is
written, and counts only complete checkpoints: the checkpoint just written is never deleted, so there is
always a complete checkpoint to resume from. transformers' own rotation is switched off for rlvr's trainers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from loguru import logger

from rlvr.errors import UserError

OFF = (None, "", False, "false", "False", "none", "None")
COMPLETE_FILE = "rlvr_complete.json"
PREFIX = "checkpoint"


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``checkpoint-<step>`` folder name, or None for any other name."""
    head, _, step = path.name.rpartition("-")
    return int(step) if head == PREFIX and step.isdigit() else None


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Every ``checkpoint-<step>`` folder of ``run_dir`` (complete or not), by step, oldest first."""
    found = [p for p in Path(run_dir).glob(f"{PREFIX}-*") if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p))  # type: ignore[arg-type, return-value]


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion record of ``folder`` (None when absent or unreadable)."""
    try:
        marker = json.loads((Path(folder) / COMPLETE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a checkpoint that finished writing: its marker names its step and every file it
    lists is present."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None or marker.get("step") != checkpoint_step(folder):
        return False
    return all((folder / name).is_file() for name in marker.get("files", []))


def mark_complete(folder: Path, step: int) -> Path:
    """Write ``folder``'s completion marker atomically (temp file, fsync, ``os.replace``); call it LAST."""
    folder = Path(folder)
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != COMPLETE_FILE and not p.name.endswith(".tmp")
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{COMPLETE_FILE}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"step": int(step), "files": files}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / COMPLETE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return folder / COMPLETE_FILE


def clear_complete(folder: Path) -> None:
    """Remove ``folder``'s marker before its files are (re)written: a checkpoint saved again at the same step is
    not complete until its new marker is written."""
    (Path(folder) / COMPLETE_FILE).unlink(missing_ok=True)


def find_last_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step in ``run_dir``, or None. Incomplete folders are skipped
    with a warning (a process stopped while writing them); ``checkpoint-0`` (a model as initialised, never a
    training checkpoint) is skipped silently."""
    folders = checkpoint_folders(run_dir)
    complete = [p for p in folders if is_complete(p)]
    last = complete[-1] if complete else None
    skipped = [p.name for p in folders if p not in complete and checkpoint_step(p) != 0]
    if skipped:
        logger.warning(f"ignoring incomplete checkpoints (no {COMPLETE_FILE}) in {run_dir}: {', '.join(skipped)}")
    return last


def rotate_checkpoints(
    run_dir: Path, save_total_limit: int | None, current: Path, protect: Iterable[str | Path | None] = ()
) -> list[Path]:
    """Prune ``run_dir`` to ``save_total_limit`` complete checkpoints; returns the deleted folders.

    Call after ``current``'s marker is written. Kept: ``current`` (the newest complete checkpoint, never
    deleted), ``protect`` (e.g. the best model checkpoint) and the newest other complete checkpoints up to the
    limit. Deleted: older complete checkpoints beyond the limit, and incomplete folders with a lower step than
    ``current`` (leftovers of a process stopped mid-save, never resumable). Incomplete folders with a higher
    step are left alone. ``checkpoint-0`` (the initial model, ``rlvr.vocab.setup``) is never deleted. Nothing is
    deleted when the limit is None or <= 0.
    """
    if save_total_limit is None or save_total_limit <= 0:
        return []
    current = Path(current)
    cur_step = checkpoint_step(current)
    keep = {current.resolve()} | {Path(p).resolve() for p in protect if p}
    # checkpoint-0 is never pruned: the model as initialised (a reasoning-vocabulary run's reference for drift)
    folders = [p for p in checkpoint_folders(run_dir) if checkpoint_step(p) != 0]
    complete = [p for p in folders if is_complete(p)]
    room = save_total_limit - sum(1 for p in complete if p.resolve() in keep)
    for p in reversed(complete):  # newest first
        if p.resolve() not in keep and room > 0:
            keep.add(p.resolve())
            room -= 1
    doomed = [p for p in complete if p.resolve() not in keep]
    doomed += [
        p
        for p in folders
        if p not in complete and cur_step is not None and checkpoint_step(p) < cur_step and p.resolve() not in keep
    ]
    for p in sorted(doomed, key=lambda p: checkpoint_step(p)):  # type: ignore[arg-type, return-value]
        logger.info(f"deleting checkpoint {p} (training.save_total_limit={save_total_limit})")
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def resolve_resume(value: object, run_dir: Path) -> str | None:
    """``training.resume_from_checkpoint``: off, ``auto``/``true`` (newest complete checkpoint in the run
    directory, or a fresh start when there is none) or a checkpoint directory."""
    if value in OFF:
        return None
    if value is True or str(value).lower() in ("auto", "true"):
        last = find_last_checkpoint(run_dir)
        if last is None:
            logger.info(f"resume_from_checkpoint=auto: no complete checkpoint in {run_dir}, starting fresh")
            return None
        logger.info(f"resume_from_checkpoint=auto: resuming from {last}")
        return str(last)
    if not Path(str(value)).is_dir():
        raise UserError(f"training.resume_from_checkpoint: {value} is not a checkpoint directory")
    if not is_complete(Path(str(value))):
        logger.warning(
            f"training.resume_from_checkpoint: {value} has no {COMPLETE_FILE}: it may be incomplete "
            "(a process stopped while writing it, or written before rlvr marked complete checkpoints)"
        )
    return str(value)
