"""Train GRPO with a composed Hydra config: `uv run python exp/grpo_train.py [overrides]`.

Thin on purpose: compose the config, hand it to `rlvr.run.run`. Errors the user can fix
(config, data, paths) print one line and exit with status 2. A run stopped by preemption
(a signal or $RLVR_PREEMPT_FILE, see rlvr.preemption) exits with status 75 after a checkpoint.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from loguru import logger
from omegaconf import DictConfig

from rlvr.config import moved_key_error, register_configs
from rlvr.errors import UserError
from rlvr.preemption import PREEMPTED_EXIT_CODE, Preempted, chain_previous_handler
from rlvr.run import run

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    try:
        summary = run(cfg, HydraConfig.get().runtime.output_dir)
    except UserError as err:
        logger.error(f"error: {err}")
        sys.exit(2)
    except Preempted as stop:  # checkpoint + preempted.json written; slurm/*.sbatch then requeue the job
        logger.warning(str(stop))
        chain_previous_handler()  # e.g. submitit (hydra/launcher=slurm) requeues the job here
        sys.exit(PREEMPTED_EXIT_CODE)
    return summary["accuracy_after"]  # the value a Hydra sweeper would optimise


if __name__ == "__main__":
    if message := moved_key_error(sys.argv[1:]):
        logger.error(f"error: {message}")
        sys.exit(2)
    main()
