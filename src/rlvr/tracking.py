"""Experiment tracking: Weights & Biases set up from the ``logging`` group, and always closed."""

from __future__ import annotations

import os
from pathlib import Path

from loguru import logger

from rlvr.config import LoggingConfig


def setup_wandb(cfg: LoggingConfig, run_dir: Path, tags: list[str]) -> None:
    """Point wandb (used through TRL's ``report_to``) at the run directory; offline unless WANDB_MODE says so."""
    if cfg.backend != "wandb":
        return
    os.environ.setdefault("WANDB_MODE", cfg.mode)
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ["WANDB_PROJECT"] = cfg.project
    if cfg.entity:
        os.environ["WANDB_ENTITY"] = cfg.entity
    if cfg.group:
        os.environ["WANDB_RUN_GROUP"] = cfg.group
    if tags:
        os.environ["WANDB_TAGS"] = ",".join(tags)


def close_wandb() -> None:
    """Always finish a wandb run so one failed job does not sink the rest of a multirun.

    Also tears wandb's session down: it reads WANDB_* once per process, so the next job of a sweep in this process
    (basic launcher) would otherwise log into this job's directory, group and name."""
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
        wandb.teardown()
    except Exception as err:  # never let logging teardown hide the real outcome
        logger.warning(f"wandb.finish failed: {err}")


def wandb_location() -> str | None:
    """The current wandb run's URL (online) or local directory (offline), if a run is open."""
    try:
        import wandb
    except ImportError:
        return None
    if wandb.run is None:
        return None
    return wandb.run.url or wandb.run.dir


def log_to_wandb(record: dict[str, object]) -> None:
    """Log ``record`` to the open wandb run, if any (metrics logged outside the trainer's own log calls)."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.log({k: v for k, v in record.items() if k != "step"})
