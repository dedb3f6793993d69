"""Supervised fine-tuning on generated samples: `uv run python exp/sft_train.py sft.data=FILE [overrides]`
(config: conf/sft.yaml).

    uv run python exp/generate.py generate.base_url=... generate.model=... generate.score=true generate.output=s.jsonl
    uv run python exp/sft_train.py sft.data=s.jsonl sft.min_score=1.0 sft.max_steps=200
    uv run python exp/grpo_train.py model.name_or_path=outputs/sft/<timestamp>/model

Keeps the completions whose `sft.score` (default: correctness) reaches `sft.min_score`, trains TRL's SFTTrainer
(completion-only loss) with the model group, and writes `outputs/<exp_name>/<timestamp>/`: `.hydra/`, `train.log`,
`metrics.jsonl`, `summary.json` and `model/`, which a GRPO run starts from. Bad input prints one line and exits with
status 2. Reference: docs/generation.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from loguru import logger
from omegaconf import DictConfig

from rlvr.cli import entry_preamble
from rlvr.config import to_typed
from rlvr.credentials import scrub_hydra_output
from rlvr.errors import UserError
from rlvr.sft import SFTRunConfig, register_sft_config

register_sft_config()


def fail(message: str) -> None:
    logger.error(f"error: {message}")
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="../conf", config_name="sft")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is not None:
        scrub_hydra_output(Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir, cfg)
    try:
        typed = to_typed(cfg)  # every value checked here, before any heavy import
        if not isinstance(typed, SFTRunConfig):
            raise UserError("conf/sft.yaml must use sft_schema")
        from rlvr.sft import run

        summary = run(typed, hydra_cfg.runtime.output_dir)
    except UserError as err:
        fail(str(err))
    return summary["train_loss"]


if __name__ == "__main__":
    entry_preamble(__doc__, "sft")
    main()
