"""Checkpoints of a run directory: which one is complete and newest, and what ``resume_from_checkpoint`` means."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from rlvr.errors import UserError

OFF = (None, "", False, "false", "False", "none", "None")


def find_last_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint with the highest step in ``run_dir`` that finished writing, or None."""
    done = [
        p
        for p in run_dir.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def resolve_resume(value: object, run_dir: Path) -> str | None:
    """``training.resume_from_checkpoint``: off, ``auto``/``true`` (newest complete checkpoint in the run
    directory, or a fresh start when there is none) or a checkpoint directory."""
    if value in OFF:
        return None
    if value is True or str(value).lower() in ("auto", "true"):
        last = find_last_checkpoint(run_dir)
        if last is None:
            logger.info(f"resume_from_checkpoint=auto: no checkpoint in {run_dir}, starting fresh")
            return None
        logger.info(f"resume_from_checkpoint=auto: resuming from {last}")
        return str(last)
    if not Path(str(value)).is_dir():
        raise UserError(f"training.resume_from_checkpoint: {value} is not a checkpoint directory")
    return str(value)
