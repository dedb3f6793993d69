"""Train GRPO with a composed Hydra config: `uv run python exp/grpo_train.py [overrides]`.

Thin on purpose: compose the config, validate it (rlvr.config.to_typed), then import the heavy
libraries and hand it to `rlvr.run.run` (= `rlvr.run.train(rlvr.run.prepare(...))`, the path the Python API
`rlvr.api` takes too). Credentials come from the environment or a git-ignored `.env` (rlvr.credentials); a secret
config value (`training.hub_token=...`) is masked in the files Hydra wrote before this code ran and everywhere after. Errors the user can fix (config, data, paths) print one
line and exit with status 2; config errors, unknown rewards and missing local paths do so before torch or TRL is
imported (rlvr.preflight). A run stopped by
preemption (a signal or $RLVR_PREEMPT_FILE, see rlvr.preemption) exits with status 75 after a checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from loguru import logger
from omegaconf import DictConfig

from rlvr.cli import help_text, override_error, run_dir_error
from rlvr.config import register_configs, to_typed
from rlvr.credentials import load_dotenv, redact_overrides, scrub_hydra_output
from rlvr.errors import UserError

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is not None:  # Hydra saved config/overrides before this function ran
        scrub_hydra_output(Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir, cfg)
    if hydra_cfg.mode == RunMode.MULTIRUN:  # the sweep's own record of the command line
        scrub_hydra_output(Path(hydra_cfg.sweep.dir) / "multirun.yaml", cfg)
    sys.argv[1:] = redact_overrides(sys.argv[1:])  # parsed already; wandb records the command line
    try:
        typed = to_typed(cfg)  # every value checked here, before any heavy import
        from rlvr.preflight import check_inputs  # (seconds: data loading and math verification import here)

        check_inputs(typed)  # reward names, local data and model paths, rewards for the declared tasks
    except UserError as err:
        logger.error(f"error: {err}")
        sys.exit(2)
    from rlvr.preemption import PREEMPTED_EXIT_CODE, Interrupted, Preempted, chain_previous_handler
    from rlvr.run import run

    try:
        summary = run(typed, hydra_cfg.runtime.output_dir, raw=cfg)
    except UserError as err:
        logger.error(f"error: {err}")
        sys.exit(2)
    except Interrupted as stop:  # SIGTERM/SIGINT outside training steps
        logger.error(str(stop))
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C inside the loop
        logger.error(
            "interrupted (second Ctrl-C): stopped at once, no checkpoint at this step; continue from the newest "
            "complete one with training.resume_from_checkpoint=auto"
        )
        sys.exit(130)
    except Preempted as stop:  # checkpoint + preempted.json written; slurm/*.sbatch then requeue the job
        logger.warning(str(stop))
        chain_previous_handler()  # e.g. submitit (hydra/launcher=slurm) requeues the job here
        sys.exit(PREEMPTED_EXIT_CODE)
    return summary["accuracy_after"]  # the value a Hydra sweeper would optimise


if __name__ == "__main__":
    load_dotenv()  # HF_TOKEN, WANDB_API_KEY, a judge's key: the environment wins over ./.env and the repo's .env
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(help_text())
        sys.exit(0)
    overrides = [a for a in sys.argv[1:] if not a.startswith("-")]
    multirun = any(a in ("-m", "--multirun") for a in sys.argv[1:])
    if message := override_error(overrides) or (None if multirun else run_dir_error(overrides)):
        logger.error(f"error: {message}")
        sys.exit(2)
    main()
