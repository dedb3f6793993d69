"""Experiment tracking: Weights & Biases set up from the ``logging`` group, and always closed.

A job of a Hydra multirun is named for the dashboard as the sweep's report groups it (``sweep_run``): its wandb
group is the sweep, its job type the overrides that vary across the sweep except ``seed``, its name the job type
and the seed.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from omegaconf import DictConfig, OmegaConf

from rlvr.config import LoggingConfig
from rlvr.credentials import redact_overrides

SEED_KEY = "seed"


@dataclass(frozen=True)
class SweepRun:
    """How one job of a sweep shows up in wandb: ``group`` the sweep, ``job_type`` what varies (None when only the
    seed does), ``name`` the job type and the seed."""

    group: str
    job_type: str | None
    name: str


def swept_keys(multirun: DictConfig) -> list[str]:
    """The keys a sweep varies, in command-line order: its sweep overrides (``a=1,2``, ``range(..)``, ``glob(..)``;
    ``hydra.overrides.task`` of ``multirun.yaml``) and the sweeper's own ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [str(o) for o in OmegaConf.select(multirun, "hydra.overrides.task", default=None) or []]
    params = OmegaConf.select(multirun, "hydra.sweeper.params", default=None)
    if isinstance(params, DictConfig):
        lines += [f"{key}={value}" for key, value in params.items()]
    keys: list[str] = []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override() and override.get_key_element() not in keys:
            keys.append(override.get_key_element())
    return keys


def is_multirun(hydra_cfg: DictConfig) -> bool:
    """Whether ``hydra_cfg`` (a job's ``hydra`` node, live or loaded from ``hydra.yaml``) is a multirun job's."""
    mode = OmegaConf.select(hydra_cfg, "mode", default=None)
    return getattr(mode, "name", mode) == "MULTIRUN"


def sweep_run(
    hydra_cfg: DictConfig, multirun: DictConfig | None, seed: int, group: str | None = None
) -> SweepRun | None:
    """The wandb group, job type and name of a multirun job; None for a plain run (``hydra.mode`` is not MULTIRUN).

    ``hydra_cfg`` is the job's ``hydra`` node (``HydraConfig.get()``, or ``hydra`` of its ``.hydra/hydra.yaml``);
    ``multirun`` the sweep's ``multirun.yaml`` (None if missing: no job type). ``group`` (``logging.group``) wins
    over the sweep's own: the last two parts of ``hydra.sweep.dir`` (``<exp_name>/<timestamp>`` by default).
    The job type lists the job's own values of the swept keys but ``seed``, e.g. ``replay=skip,training.lr=1e-05``.
    """
    if not is_multirun(hydra_cfg):
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweep_dir = Path(str(hydra_cfg.sweep.dir))
    keys = [k for k in (swept_keys(multirun) if multirun is not None else []) if k.lstrip("+~") != SEED_KEY]
    job = OverridesParser.create().parse_overrides([str(o) for o in hydra_cfg.overrides.task])
    values = {o.get_key_element(): (o.input_line or "").lstrip("+") for o in job}
    parts = redact_overrides(values[k] for k in keys if values.get(k))  # a swept secret stays masked
    job_type = ",".join(parts) or None
    name = f"{job_type} {SEED_KEY}={seed}" if job_type else f"{SEED_KEY}={seed}"
    return SweepRun(group or "/".join(sweep_dir.parts[-2:]), job_type, name)


def current_sweep_run(seed: int, group: str | None = None) -> SweepRun | None:
    """``sweep_run`` of the running Hydra job (None outside Hydra or in a plain run). Works in the launching process
    (basic launcher) and in a SLURM job (submitit), which both set ``HydraConfig`` and see ``multirun.yaml``."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    path = Path(str(OmegaConf.select(hydra_cfg, "sweep.dir", default="."))) / "multirun.yaml"
    multirun = OmegaConf.load(path) if path.exists() else None
    assert multirun is None or isinstance(multirun, DictConfig)
    return sweep_run(hydra_cfg, multirun, seed, group)


def setup_wandb(cfg: LoggingConfig, run_dir: Path, tags: list[str], sweep: SweepRun | None = None) -> None:
    """Point wandb (used through TRL's ``report_to``) at the run directory; offline unless WANDB_MODE says so.

    In a sweep (``sweep``), also its group, job type and run name: WANDB_RUN_GROUP and WANDB_JOB_TYPE reach
    ``wandb.init`` from the environment, WANDB_NAME through ``GRPOConfig.run_name`` (``wandb_run_name``)."""
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
    if sweep is not None:  # set for every job: the basic launcher runs them all in one process
        os.environ["WANDB_RUN_GROUP"] = sweep.group
        os.environ["WANDB_NAME"] = sweep.name
        if sweep.job_type:
            os.environ["WANDB_JOB_TYPE"] = sweep.job_type
        else:
            os.environ.pop("WANDB_JOB_TYPE", None)
        logger.info(f"wandb: group {sweep.group!r}, job type {sweep.job_type!r}, name {sweep.name!r}")


def wandb_run_name(default: str) -> str:
    """The run name to give TRL (``GRPOConfig.run_name``, which ``wandb.init`` gets as ``name``): WANDB_NAME when set
    (a sweep job's name, or the user's), else ``default``."""
    return os.environ.get("WANDB_NAME") or default


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


def sweep_sync_command(run_dir: Path) -> str | None:
    """One ``wandb sync`` of every offline run of the running sweep (None outside a multirun): a shell glob over the
    sweep's job directories (``hydra.sweep.subdir`` levels deep)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or not is_multirun(HydraConfig.get()):
        return None
    sweep_dir = Path(str(HydraConfig.get().sweep.dir))
    try:
        depth = len(run_dir.resolve().relative_to(sweep_dir.resolve()).parts)
    except ValueError:
        return None
    return f"wandb sync {shlex.quote(str(sweep_dir))}/{'*/' * depth}wandb/offline-run-*"


def wandb_location(run_dir: Path | None = None) -> list[tuple[str, str]]:
    """The open wandb run for the end banner, as (label, text) lines: its URL (online), or its offline directory and
    the ``wandb sync`` commands that upload it (and, in a sweep, all of the sweep's runs). Empty if no run is open."""
    try:
        import wandb
    except ImportError:
        return []
    run = wandb.run
    if run is None:
        return []
    if not run.offline:
        return [("wandb", run.url or run.dir)]
    lines = [("wandb", f"{run.sync_dir} (offline)"), ("sync", f"wandb sync {shlex.quote(run.sync_dir)}")]
    if run_dir is not None and (sweep := sweep_sync_command(run_dir)):
        lines.append(("sync sweep", sweep))
    return lines


def log_to_wandb(record: dict[str, object]) -> None:
    """Log ``record`` to the open wandb run, if any (metrics logged outside the trainer's own log calls)."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.log({k: v for k, v in record.items() if k != "step"})
